"""Resident memory and CPU time of each process of a running system, named by the part it runs.

A benchmark figure only says something once it says which process paid for it: the ingester,
the rules engine, the API, the broker, the database or the load generator itself. The processes
are found from a root pid (the ``semon up`` that ``var/running.json`` names, or the benchmark's
own process when it started the system under test) by walking its descendants, so this works
whether ``semon up`` runs every part in one process or each part in its own
(``python -m semon part NAME`` under supervisord). Those command lines are the ``semon``
command's, as docs/parts.md describes them: the benchmarks, the only users of this module,
read them as ``ps`` would, importing nothing of the composition root that defines them.

Figures: ``rss_mb`` is the resident set summed over a name's processes (for PostgreSQL this
counts the shared buffers each backend touched once per backend: read ``pss_mb`` there, the
proportional share, which adds up); ``cpu_s`` is user plus system CPU seconds spent between
:meth:`ProcessWatch.start` and :meth:`ProcessWatch.report` (a process that started in between
counts from its start; one that ended in between is not counted).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)

PART_COMMAND = "part"  # `python -m semon part NAME`: the part processes of `semon up`
_SEMON_SERVICES = ("ingest", "alerts")  # `python -m semon ingest` run alone (a benchmark's own ingester)


@dataclass(frozen=True, slots=True)
class Root:
    """Where a walk starts: ``pid`` is named ``name``; its descendants by what they run, each
    name preceded by ``prefix`` (so the processes a benchmark starts are told from the system's)."""

    pid: int
    name: str
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class ProcessSample:
    pid: int
    name: str
    create_time: float  # seconds since the epoch: tells a pid reused in between
    rss_bytes: int
    pss_bytes: int  # 0 where it could not be read
    cpu_s: float  # user + system since the process started


def process_name(cmdline: Sequence[str], exe_name: str) -> str:
    """What a descendant of a root is called in the figures.

    ``… semon part NAME`` → NAME (``ingest``, ``rules``, ``api``, ``jobs``, ``city``), and
    ``… semon part NAME … --index N`` → ``NAME-N`` (``ingest-2``); supervisord → ``supervisord``;
    the broker → ``mosquitto``; a node of a NATS cluster → ``nats-N`` (its directory); a
    PostgreSQL server or backend → ``postgres``; ``… -m semon ingest`` → ``ingest``; anything
    else by its executable's name.
    """
    args = list(cmdline)
    for i, arg in enumerate(args[:-1]):
        if arg == PART_COMMAND and i > 0 and os.path.basename(args[i - 1]) in ("semon", "__main__.py"):
            rest = args[i + 2:]
            index = rest[rest.index("--index") + 1] if "--index" in rest[:-1] else None
            return f"{args[i + 1]}-{index}" if index else args[i + 1]
    base = [os.path.basename(a) for a in args[:3]]
    if exe_name == "supervisord" or any(b.startswith("supervisord") or b.endswith(".supervisord") for b in base):
        return "supervisord"
    if exe_name.startswith("postgres") or (base and base[0] == "postgres"):
        return "postgres"
    if exe_name == "mosquitto" or (base and base[0] == "mosquitto"):
        return "mosquitto"
    if exe_name == "nats-server" or (base and base[0] == "nats-server"):
        # A node of `semon up --cluster`, by its directory (``…/nats-2/nats.conf`` → ``nats-2``).
        config = args[args.index("-c") + 1] if "-c" in args[:-1] else ""
        node = os.path.basename(os.path.dirname(config))
        return node if node.startswith("nats-") else "nats-server"
    for i, arg in enumerate(args[:-1]):
        if arg == "-m" and args[i + 1] == "semon" and i + 2 < len(args) and args[i + 2] in _SEMON_SERVICES:
            return args[i + 2]
    return exe_name or (base[0] if base else "?")


def _sample(proc: psutil.Process, name: str) -> ProcessSample | None:
    try:
        with proc.oneshot():
            times = proc.cpu_times()
            rss = proc.memory_info().rss
            create = proc.create_time()
        try:
            pss = int(getattr(proc.memory_full_info(), "pss", 0))
        except (psutil.AccessDenied, psutil.ZombieProcess):
            pss = 0
        return ProcessSample(proc.pid, name, create, rss, pss, times.user + times.system)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def sample_tree(roots: Iterable[Root], names: Mapping[int, str] | None = None) -> list[ProcessSample]:
    """Every live process under the roots (each pid once, the first root that reaches it naming it;
    ``names`` overrides the name of the pids it holds)."""
    names = names or {}
    seen: set[int] = set()
    samples: list[ProcessSample] = []
    for root in roots:
        try:
            top = psutil.Process(root.pid)
            tree = [(top, root.name), *(
                (p, root.prefix + process_name(_cmdline(p), _exe_name(p))) for p in top.children(recursive=True))]
        except psutil.NoSuchProcess:
            log.warning("process %d (%s) is gone: not in the figures", root.pid, root.name)
            continue
        for proc, name in tree:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            if (sample := _sample(proc, names.get(proc.pid, name))) is not None:
                samples.append(sample)
    return samples


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def _exe_name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def summarise(before: Iterable[ProcessSample], after: Iterable[ProcessSample]) -> dict[str, dict[str, float]]:
    """Per name: ``rss_mb`` and ``pss_mb`` (summed over its processes at ``after``), ``cpu_s``
    spent from ``before`` to ``after``, ``processes`` (how many); names in sorted order."""
    start = {(s.pid, s.create_time): s.cpu_s for s in before}
    out: dict[str, dict[str, float]] = {}
    for s in after:
        entry = out.setdefault(s.name, {"rss_mb": 0.0, "pss_mb": 0.0, "cpu_s": 0.0, "processes": 0})
        entry["rss_mb"] += s.rss_bytes / 2**20
        entry["pss_mb"] += s.pss_bytes / 2**20
        entry["cpu_s"] += max(0.0, s.cpu_s - start.get((s.pid, s.create_time), 0.0))
        entry["processes"] += 1
    return {name: {"rss_mb": round(e["rss_mb"], 1), "pss_mb": round(e["pss_mb"], 1),
                   "cpu_s": round(e["cpu_s"], 2), "processes": int(e["processes"])}
            for name, e in sorted(out.items())}


class ProcessWatch:
    """Samples the processes under ``roots`` at :meth:`start` and at :meth:`report`.

    The walks read /proc of a few dozen processes (milliseconds): call them from a thread
    (``asyncio.to_thread``) where an event loop must not stall.
    """

    def __init__(self, roots: Sequence[Root]) -> None:
        self.roots = tuple(roots)
        self.names: dict[int, str] = {}  # pid → name, for processes the walk cannot tell apart
        self._before: list[ProcessSample] = []

    def start(self) -> None:
        self._before = sample_tree(self.roots, self.names)

    def report(self) -> dict[str, dict[str, float]]:
        """``{name: {"rss_mb", "pss_mb", "cpu_s", "processes"}}`` for the interval since :meth:`start`."""
        return summarise(self._before, sample_tree(self.roots, self.names))


def self_root(name: str = "bench", prefix: str = "bench:") -> Root:
    """This process (the benchmark: load generator, injecting device, live-stream client)."""
    return Root(os.getpid(), name, prefix)
