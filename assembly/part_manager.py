"""The process manager of ``semon up``: supervisord (Supervisor 4.3) runs each part
(``assembly.parts``) as a process of its own.

``semon up`` writes supervisord's configuration into ``{data}/run`` and runs supervisord as its
child, in the foreground (``nodaemon``), in a session of its own (a Ctrl-C at the terminal
reaches ``semon up`` only, which stops the parts in order) and under ``setpriv --pdeathsig``
like the private servers, so it gets SIGTERM when ``semon up`` dies, even by SIGKILL, and stops
its children. The parts run under ``setpriv --pdeathsig`` too: if supervisord itself is killed,
they go with it. Nothing starts by itself (``autostart=false``): ``semon up`` starts each
program over supervisord's XML-RPC interface (a unix socket, mode 0700), in order, and waits
until the part says it is ready before the next. A part that dies is started again by
supervisord (``autorestart``); one that keeps failing at start is given up by supervisord
(FATAL) and started again here after a backoff. The configuration holds no password: the parts
read the URLs from a 0600 file.

What supervisord does not do, this module adds: readiness (the parts' own files), and one
``/metrics`` and ``/healthz`` for all of them: per part up (supervisord's state and the part's
own health), restarts, and each part's own metrics, read from its port and served together with
a ``part`` label.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import xmlrpc.client
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from semon.backoff import Backoff
from semon.metrics import Snapshot
from semon.stack.process import (
    DirLock,
    leftover_server,
    parent_death_prefix,
    read_pid_file,
    terminate,
    write_private,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

CONFIG = "supervisord.conf"
PID_FILE = "supervisord.pid"
SOCKET = "supervisord.sock"
LOCK = "parts.lock"
PARTS_DIR = "parts"
# A unix socket's path must fit in sun_path (108 bytes with its terminating NUL).
MAX_SOCKET_PATH = 107

# supervisord's process states (supervisor.states.ProcessStates)
RUNNING = "RUNNING"
FATAL = "FATAL"
LIVE_STATES = frozenset({"STARTING", RUNNING})


@dataclass(frozen=True, slots=True)
class Program:
    """One program of the configuration: ``name`` and the arguments after ``python -m semon``."""

    name: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    """``startsecs``: seconds a part must stay up to count as started; ``startretries``: failed
    starts in a row before supervisord gives up (FATAL); ``stopwaitsecs``: how long a part may
    take to stop after SIGINT before it is killed."""

    startsecs: int = 10  # longer than a part's imports under load: a bad start is caught as one
    startretries: int = 5
    stopwaitsecs: int = 30
    ready_timeout_s: float = 180.0
    poll_interval_s: float = 0.5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0


def _ini_value(value: str) -> str:
    """A value for supervisord's configuration: '%' is its expansion character."""
    if "\n" in value:
        raise ValueError(f"a newline in a supervisord setting: {value!r}")
    return value.replace("%", "%%")


def render_config(run_dir: Path, programs: list[Program], options: ManagerOptions, *,
                  python: str = sys.executable, setpriv: list[str] | None = None, user: str | None = None) -> str:
    """supervisord's configuration for ``programs`` (pure; ``run_dir`` absolute). Each program
    runs ``[setpriv …] python -m semon ARGS``; its output goes to supervisord's stderr."""
    prefix = " ".join(setpriv or [])
    lines = [
        "[supervisord]",
        "nodaemon=true",
        "logfile=/dev/null",  # in the foreground it logs to its stdout: ours, on the terminal
        "logfile_maxbytes=0",
        f"pidfile={_ini_value(str(run_dir / PID_FILE))}",
        "loglevel=info",
        f"childlogdir={_ini_value(str(run_dir))}",
        *([f"user={user}"] if user else []),
        "",
        "[unix_http_server]",
        f"file={_ini_value(str(run_dir / SOCKET))}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
    ]
    for program in programs:
        command = " ".join(part for part in (prefix, python, "-m", "semon", *program.args) if part)
        lines += [
            f"[program:{program.name}]",
            f"command={_ini_value(command)}",
            f"directory={_ini_value(str(Path.cwd()))}",
            "autostart=false",
            "autorestart=true",
            f"startsecs={options.startsecs}",
            f"startretries={options.startretries}",
            "stopsignal=INT",
            f"stopwaitsecs={options.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stderr",
            "stdout_logfile_maxbytes=0",
            "",
        ]
    return "\n".join(lines)


class PartError(Exception):
    """A part did not start, or the process manager is not working."""


@dataclass(slots=True)
class PartState:
    """Where a part stands, as the watch last saw it."""

    name: str
    state: str = "STOPPED"
    pid: int = 0
    starts: int = 0  # distinct pids seen
    ended_noted: bool = False  # the end of the process ``pid`` is in last_error
    last_error: str | None = None
    healthy: bool = False
    health: dict[str, Any] = field(default_factory=dict)
    metrics_port: int | None = None
    api_port: int | None = None

    @property
    def up(self) -> bool:
        """Running (or still within ``startsecs``) and healthy by its own check."""
        return self.state in LIVE_STATES and self.healthy

    @property
    def restarts(self) -> int:
        return max(self.starts - 1, 0)

    def status(self) -> dict[str, Any]:
        return {"up": self.up, "restarts": self.restarts, "last_error": self.last_error, "state": self.state,
                "pid": self.pid or None, "parts": self.health.get("parts", {})}


class _PartsCollector:
    """A collector: ``semon_part_up`` and ``semon_part_restarts_total`` of each part, read at
    each collection."""

    def __init__(self, manager: PartManager) -> None:
        self._manager = manager

    def collect(self) -> list[Metric]:
        up = GaugeMetricFamily("semon_part_up", "1 while a part runs (and passes its health check), else 0",
                               labels=("part",))
        restarts = CounterMetricFamily(
            "semon_part_restarts_total", "Times a part's process was started again after it died or was stopped",
            labels=("part",))
        for p in self._manager.parts.values():
            up.add_metric((p.name,), int(p.up))
            restarts.add_metric((p.name,), p.restarts)
        return [up, restarts]


class PartManager:
    """supervisord and the parts under it. ``await start()``, then ``await start_part(name)`` for
    each in order; ``watch()`` runs beside them (restarts, health); ``await stop()`` stops the
    parts in reverse order, then supervisord."""

    def __init__(self, run_dir: Path, programs: list[Program], options: ManagerOptions | None = None) -> None:
        self.run_dir = run_dir.resolve()
        self.programs = programs
        self.options = options or ManagerOptions()
        self.parts: dict[str, PartState] = {p.name: PartState(p.name) for p in programs}
        self.registry = CollectorRegistry()
        self.registry.register(_PartsCollector(self))
        self.given_up = Counter(
            "semon_part_fatal_total", "Times the process manager gave a part up after failed starts", ("part",),
            registry=self.registry)
        self._lock = DirLock(self.run_dir / LOCK)
        self._proc: asyncio.subprocess.Process | None = None
        self._started: list[str] = []
        self._http: aiohttp.ClientSession | None = None

    @property
    def socket_path(self) -> Path:
        return self.run_dir / SOCKET

    @property
    def parts_dir(self) -> Path:
        return self.run_dir / PARTS_DIR

    # --- supervisord --------------------------------------------------------------------------

    def _rpc(self) -> Any:
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    async def _call(self, call: Callable[[Any], T]) -> T:
        """One XML-RPC call, in a thread (the client blocks)."""
        return await asyncio.to_thread(lambda: call(self._rpc()))

    async def start(self) -> None:
        """Stop a leftover supervisord of this directory, write the configuration, start
        supervisord and wait until it answers. Raises StackError if another live ``semon up``
        holds the directory, PartError if supervisord does not come up."""
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.run_dir, 0o700)
        self.parts_dir.mkdir(exist_ok=True, mode=0o700)
        os.chmod(self.parts_dir, 0o700)
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise PartError(f"{self.socket_path}: too long for a unix socket; use a shorter data directory")
        self._lock.acquire("the parts' directory")
        try:
            await self._stop_leftover()
            for stale in self.parts_dir.glob("*.json"):
                if stale.name != "config.json":
                    stale.unlink(missing_ok=True)
            self.socket_path.unlink(missing_ok=True)
            setpriv = parent_death_prefix(signal.SIGTERM)
            user = "root" if os.geteuid() == 0 else None  # said outright, so supervisord does not warn
            write_private(self.run_dir / CONFIG, render_config(self.run_dir, self.programs, self.options,
                                                               setpriv=setpriv, user=user))
            self._proc = await asyncio.create_subprocess_exec(
                *setpriv, sys.executable, "-m", "supervisor.supervisord", "-c", str(self.run_dir / CONFIG),
                stdin=asyncio.subprocess.DEVNULL, stdout=2, start_new_session=True)  # our stderr: the terminal
            await self._wait_answering()
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        except BaseException:
            await self.stop()
            raise

    async def _stop_leftover(self) -> None:
        """A supervisord of this directory from an earlier ``semon up`` that died without
        stopping it (its parts go with it)."""
        lines = read_pid_file(self.run_dir / PID_FILE)
        if lines is None:
            return
        pid = int(lines[0])
        if leftover_server(pid, Path(sys.executable).name, "-c", self.run_dir / CONFIG):
            log.warning("stopping the process manager (pid %d) left running by an earlier start", pid)
            if not await terminate(pid, signal.SIGTERM, self.options.stopwaitsecs + 10):
                await terminate(pid, signal.SIGKILL, 10)
        (self.run_dir / PID_FILE).unlink(missing_ok=True)

    async def _wait_answering(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            if self._proc is not None and self._proc.returncode is not None:
                raise PartError(f"supervisord exited with status {self._proc.returncode} while starting")
            try:
                state = await self._call(lambda rpc: rpc.supervisor.getState())
                if state["statename"] == RUNNING:
                    return
            except (OSError, xmlrpc.client.Error):
                pass  # not listening yet
            if loop.time() > deadline:
                raise PartError("supervisord did not answer within 30 s")
            await asyncio.sleep(0.05)

    # --- the parts ----------------------------------------------------------------------------

    async def start_part(self, name: str) -> dict[str, Any]:
        """Start program ``name`` and wait until the part is ready; its readiness record (pid,
        metrics_port, api_port). Raises PartError if it fails to start or is not ready in time."""
        ready_file = self.parts_dir / f"{name}.json"
        ready_file.unlink(missing_ok=True)
        await self._call(lambda rpc: rpc.supervisor.startProcess(name, False))
        self._started.append(name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.ready_timeout_s
        while True:
            info = await self._call(lambda rpc: rpc.supervisor.getProcessInfo(name))
            if info["statename"] in (FATAL, "EXITED", "STOPPED"):
                raise PartError(f"part {name} did not start: {info['statename']} {info['spawnerr'] or ''}".strip())
            ready = self._ready_record(name, info["pid"])
            if ready is not None:
                self._note(name, info)
                self.parts[name].healthy = await self._health(self.parts[name])
                return ready
            if loop.time() > deadline:
                raise PartError(f"part {name} not ready within {self.options.ready_timeout_s:.0f} s")
            await asyncio.sleep(0.1)

    def _ready_record(self, name: str, pid: int) -> dict[str, Any] | None:
        """The part's readiness record if the process ``pid`` wrote it."""
        try:
            record: dict[str, Any] = json.loads((self.parts_dir / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        if not pid or record.get("pid") != pid:
            return None
        part = self.parts[name]
        part.metrics_port = record.get("metrics_port")
        part.api_port = record.get("api_port")
        return record

    def _note(self, name: str, info: dict[str, Any]) -> None:
        part = self.parts[name]
        pid = int(info.get("pid") or 0)
        state = info["statename"]
        ended = part.pid and ((pid and pid != part.pid) or (part.state in LIVE_STATES and state not in LIVE_STATES))
        if ended and not part.ended_noted:
            part.last_error = (f"process {part.pid} ended (exit status {info.get('exitstatus')}); now {state} "
                               f"{info.get('spawnerr') or ''}").strip()[:500]
            part.ended_noted = True
        if pid and pid != part.pid:
            part.starts += 1
            part.ended_noted = False
            if part.starts > 1:
                log.warning("part %s runs again (pid %d, was %d)", name, pid, part.pid)
        if pid:
            part.pid = pid
        part.state = info["statename"]

    async def watch(self) -> None:
        """Until cancelled: follows the parts' states and health; starts again, after a backoff,
        a part supervisord gave up (FATAL). Raises PartError if supervisord itself exits. A poll
        of processes with their own states, not ``semon.periodic.every``: an unanswered poll
        marks every part unknown and is tried again at the next poll, not after a backoff."""
        backoffs = {name: Backoff(self.options.backoff_initial_s, self.options.backoff_max_s) for name in self.parts}
        while True:
            if self._proc is not None and self._proc.returncode is not None:
                raise PartError(f"supervisord exited with status {self._proc.returncode}")
            try:
                infos = await self._call(lambda rpc: rpc.supervisor.getAllProcessInfo())
            except (OSError, xmlrpc.client.Error) as exc:
                log.error("process manager not answering (%s)", exc)
                for part in self.parts.values():
                    part.state, part.healthy = "UNKNOWN", False
                await asyncio.sleep(self.options.poll_interval_s)
                continue
            for info in infos:
                name = info["name"]
                if name not in self.parts or name not in self._started:
                    continue
                self._note(name, info)
                part = self.parts[name]
                if info["statename"] == FATAL:
                    await self._restart_given_up(name, backoffs[name])
                    continue
                self._ready_record(name, part.pid)
                part.healthy = await self._health(part)
                if part.up:
                    backoffs[name].reset()
            await asyncio.sleep(self.options.poll_interval_s)

    async def _restart_given_up(self, name: str, backoff: Backoff) -> None:
        part = self.parts[name]
        part.healthy = False
        delay = backoff.next_delay()
        self.given_up.labels(name).inc()
        log.error("part %s failed to start %d times; starting it again in %.1f s", name,
                  self.options.startretries + 1, delay)
        await asyncio.sleep(delay)
        with contextlib.suppress(xmlrpc.client.Fault):  # started meanwhile
            await self._call(lambda rpc: rpc.supervisor.startProcess(name, False))

    async def _health(self, part: PartState) -> bool:
        if self._http is None or part.metrics_port is None or part.state not in LIVE_STATES:
            return False
        try:
            async with self._http.get(f"http://127.0.0.1:{part.metrics_port}/healthz") as resp:
                part.health = await resp.json()
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError, ValueError):
            part.health = {}
            return False

    def healthy(self) -> bool:
        return all(p.up for p in self.parts.values())

    def status(self) -> dict[str, dict[str, Any]]:
        return {name: p.status() for name, p in self.parts.items()}

    async def metrics(self) -> Snapshot:
        """This registry's metrics and every running part's own, read from its port now."""
        texts: dict[str, str] = {}
        if self._http is not None:
            for part in self.parts.values():
                if part.metrics_port is None or part.state not in LIVE_STATES:
                    continue
                try:
                    async with self._http.get(f"http://127.0.0.1:{part.metrics_port}/metrics") as resp:
                        if resp.status == 200:
                            texts[part.name] = await resp.text()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.debug("metrics of part %s not read (%s)", part.name, exc)
        return merge_expositions(self.registry, texts)

    async def stop(self) -> None:
        """The parts in reverse order of their start (each waited for), then supervisord."""
        try:
            if self._proc is not None and self._proc.returncode is None:
                for name in reversed(self._started):
                    try:
                        await self._call(_stopper(name))
                    except xmlrpc.client.Fault as exc:
                        if "NOT_RUNNING" not in exc.faultString:
                            log.error("part %s not stopped in order (%s)", name, exc.faultString)
                    except (OSError, xmlrpc.client.Error) as exc:
                        log.error("part %s not stopped in order (%s)", name, exc)
                        break
                self._proc.send_signal(signal.SIGTERM)  # stops whatever still runs, then exits
                try:
                    async with asyncio.timeout(self.options.stopwaitsecs + 10):
                        await self._proc.wait()
                except TimeoutError:
                    self._proc.kill()
                    await self._proc.wait()
            self._started = []
        finally:
            self._proc = None
            if self._http is not None:
                await self._http.close()
                self._http = None
            self._lock.release()


def _stopper(name: str) -> Callable[[Any], Any]:
    return lambda rpc: rpc.supervisor.stopProcess(name, True)


def _relabelled(labels: dict[str, str], part: str) -> dict[str, str]:
    """``labels`` with the part named: an existing ``part`` label (a job inside the part)
    becomes ``part/job``, else ``part`` is added."""
    job = labels.get("part")
    return {**labels, "part": part if job is None else f"{part}/{job}"}


def merge_expositions(own: Collector, parts: dict[str, str]) -> Snapshot:
    """One exposition of ``own``'s metrics (kept as they are) and each part's text exposition
    (its samples labelled with the part, see ``_relabelled``): each metric family once, with its
    help and type from where it first appears and the samples of all. A part's text that does
    not parse is left out (logged). Pure but for the log."""
    families: dict[str, Metric] = {}

    def take(found: Iterable[Metric], part: str | None) -> None:
        for metric in found:
            family = families.get(metric.name)
            if family is None:
                family = families[metric.name] = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            family.samples += (metric.samples if part is None else
                               [s._replace(labels=_relabelled(s.labels, part)) for s in metric.samples])

    take(own.collect(), None)
    for part, text in parts.items():
        try:
            parsed = Snapshot.parse(text).families
        except ValueError as exc:
            log.warning("metrics of part %s left out: not a text exposition (%s)", part, exc)
            continue
        take(parsed, part)
    return Snapshot(families.values())
