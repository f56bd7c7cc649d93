"""``semon bench ingest``: offered load against the running stack, publish-to-commit figures,
beside the same load through the plainest pipe of C tools into the same database.

Uses the ``semon up`` that is running (``var/running.json``), else the broker, database and
ingester metrics configured by ``SEMON_*``, else starts a private stack and ingester of its own.
In the same run, when the binaries are present, the same frames from the same load generator go
through ``mosquitto_sub -q 1 | psql \\copy`` into a jsonb table (the C pipe): ``ratio`` is semon's
stored rate over the pipe's, so a figure measured on a busy machine still says how far semon is
from what the machine can do. The two runs alternate in order from round to round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.procstats import ProcessWatch, Root, self_root
from bench.up_process import semon_up_process
from ingest.store import elevator_telemetry_of
from semon.metrics import parse_text
from semon.mqtt.client import BrokerAddress
from semon.protocol.topics import Channel, Kind, topic_for
from semon.running import read_running
from semon.settings import Settings
from semon.stack import LocalStack, MosquittoServer, free_port
from simulators.loadgen import LoadPlan, planned_total, run_load, run_load_apart

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    rate: int
    duration: float
    connections: int = 0
    devices: int = 10_000
    drain_timeout: float = 60
    rounds: int = 2  # each a semon run and a C pipe run, the order alternating
    c_pipe: bool = True  # run the C pipe too, when its binaries are present


@dataclass(frozen=True, slots=True)
class Target:
    mqtt_url: str
    database_url: str
    metrics_url: str
    kind: str  # "running" (a `semon up`), "configured" (SEMON_* services) or "private" (started here)
    pid: int | None = None  # the running `semon up`


@contextlib.asynccontextmanager
async def bench_target(settings: Settings) -> AsyncIterator[Target]:
    running = read_running(settings)
    if running is not None:
        yield Target(str(running["mqtt_url"]), str(running["database_url"]), str(running["metrics_url"]),
                     "running", int(str(running["pid"])))
        return
    if settings.mqtt.url and settings.database_url:
        yield Target(settings.mqtt.url, settings.database_url,
                     f"http://{settings.metrics.host}:{settings.metrics.port}/metrics", "configured")
        return
    root = Path(tempfile.mkdtemp(prefix="semon-bench-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    try:
        async with LocalStack(root) as stack:
            port = free_port()
            env = {**os.environ, "SEMON_MQTT_URL": stack.ingest_mqtt_url, "SEMON_DATABASE_URL": stack.database_url,
                   "SEMON_METRICS_PORT": str(port), "SEMON_LOG_LEVEL": "WARNING"}
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "ingest", env=env)
            try:
                target = Target(stack.mqtt_url, stack.database_url, f"http://127.0.0.1:{port}/metrics", "private")
                await _wait_metrics(target.metrics_url)
                yield target
            finally:
                proc.terminate()
                await proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _wait_metrics(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            samples = await scrape(url)
            if samples.get("semon_mqtt_connected", 0) >= 1:
                return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"ingester metrics at {url} not ready within {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def _metrics_text(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.text()


async def scrape(url: str) -> dict[str, float]:
    """The ingester's samples at ``url``: a lone ingester's as they are; from `semon up`'s
    metrics of all its parts, the ingest parts' (``part="ingest"`` or ``"ingest-N"``), that label
    taken out and the processes' values added up."""
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return ingest_samples(parse_text(await resp.text()))


_PART_LABEL = re.compile(r'part="([^"]*)",?')


def ingest_samples(samples: dict[str, float]) -> dict[str, float]:
    """See :func:`scrape`."""
    if not any("part=" in key for key in samples):
        return samples
    out: dict[str, float] = {}
    for key, value in samples.items():
        found = _PART_LABEL.search(key)
        if found is None or not (found[1] == "ingest" or found[1].startswith("ingest-")):
            continue
        bare = (key[:found.start()] + key[found.end():]).replace("{}", "").replace(",}", "}")
        out[bare] = out.get(bare, 0.0) + value
    return out


def histogram_quantile(q: float, before: dict[str, float], after: dict[str, float], name: str) -> float:
    """The q-quantile of what a histogram observed between two scrapes, interpolated in its bucket."""
    prefix = f'{name}_bucket{{le="'
    bounds = sorted(
        (math.inf if k[len(prefix):-2] == "+Inf" else float(k[len(prefix):-2]), k)
        for k in after if k.startswith(prefix)
    )
    counts = [(b, after[k] - before.get(k, 0.0)) for b, k in bounds]
    total = counts[-1][1] if counts else 0
    if total <= 0:
        return float("nan")
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if math.isinf(bound):
                return prev_bound
            span = cumulative - prev_count
            return prev_bound + (bound - prev_bound) * ((rank - prev_count) / span if span else 1.0)
        prev_bound, prev_count = bound, cumulative
    return prev_bound



async def stored_counts(database_url: str, prefix: str) -> tuple[int, int, float]:
    """Rows, distinct (device, seq), and when the last of them was taken in (epoch seconds), of the
    telemetry of the devices whose id starts with ``prefix``."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        stored = await elevator_telemetry_of(conn, prefix)
    return stored.rows, stored.distinct, stored.last_received_at


async def wait_stored(database_url: str, prefix: str, sent: int, stall_timeout: float) -> tuple[int, int, float]:
    """:func:`stored_counts` once all ``sent`` messages are stored, or once none more has been
    stored for ``stall_timeout`` seconds (a backlog that still drains is waited for)."""
    rows, distinct, last_in = await stored_counts(database_url, prefix)
    deadline = time.monotonic() + stall_timeout
    while distinct < sent and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        before = distinct
        rows, distinct, last_in = await stored_counts(database_url, prefix)
        if distinct > before:
            deadline = time.monotonic() + stall_timeout
    return rows, distinct, last_in


def _plan(options: BenchOptions, prefix: str) -> LoadPlan:
    connections = options.connections or max(2, math.ceil(options.rate / 5000))
    return LoadPlan(options.rate, options.duration, connections, options.devices, prefix)


async def _semon_run(target: Target, options: BenchOptions, watch: ProcessWatch) -> dict[str, Any]:
    """The load through the system's broker into semon's ingester; figures from the database."""
    prefix = f"BENCH{secrets.token_hex(3).upper()}-"
    before = await scrape(target.metrics_url)
    await asyncio.to_thread(watch.start)
    load = await run_load(BrokerAddress.from_url(target.mqtt_url), _plan(options, prefix))
    rows, distinct, last_in = await wait_stored(target.database_url, prefix, load.sent, options.drain_timeout)
    processes = await asyncio.to_thread(watch.report)
    after = await scrape(target.metrics_url)
    lag = "semon_ingest_lag_seconds"
    # First publish to the last message taken into a committed batch.
    stored_in = max(last_in - load.started, load.elapsed)
    return {
        "achieved_offered_rate": round(load.sent / load.elapsed, 1),
        "sent": load.sent,
        "stored": distinct,
        "stored_rate": round(distinct / stored_in, 1),
        "lost": load.sent - distinct,
        "duplicates": rows - distinct,
        "p50_ms": _finite(histogram_quantile(0.50, before, after, lag) * 1000),
        "p99_ms": _finite(histogram_quantile(0.99, before, after, lag) * 1000),
        # The ingester's own gauge: in a `semon up` of one process, that whole process.
        "ingest_rss_mb": _finite(after.get("process_resident_memory_bytes", math.nan) / 2**20),
        # The load generator runs in this process, the ingester in its own: is the generator cheap?
        "loadgen_cpu_percent": round(load.cpu_s / load.elapsed * 100, 1),
        "loadgen_us_per_message": round(load.cpu_s / max(load.sent, 1) * 1e6, 1),
        "semon_cpu_us_per_message": _us_per_message(_semon_cpu_s(processes), distinct),
        "processes": processes,
    }


# Processes that are not semon's own: the broker (or the cluster's NATS nodes), the database, the
# benchmark and what it started.
_NOT_SEMON = ("mosquitto", "nats", "postgres", "supervisord", "bench")


def _semon_cpu_s(processes: dict[str, dict[str, float]]) -> float | None:
    """CPU seconds of semon's own processes (the parts, or the one `semon up`, or the ingester);
    None where none of them is ours to see (services configured by ``SEMON_*``)."""
    own = [p["cpu_s"] for name, p in processes.items() if not name.startswith(_NOT_SEMON)]
    return sum(own) if own else None


def _us_per_message(cpu_s: float | None, messages: int) -> float | None:
    return round(cpu_s / messages * 1e6, 1) if cpu_s is not None and messages else None


def c_pipe_binaries() -> dict[str, str] | None:
    """mosquitto, mosquitto_sub and psql, if all three are installed."""
    found = {name: shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") for name in
             ("mosquitto", "mosquitto_sub", "psql")}
    return {k: v for k, v in found.items() if v} if all(found.values()) else None


COPY_COMMAND = ("\\copy {table} (payload) FROM pstdin WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')")
"""psql's client-side COPY of one message a line. CSV with a quote and a delimiter no JSON text
holds (control characters appear in JSON only escaped) takes each line verbatim: the text format
would read the backslashes of JSON escapes (``\\"``, ``\\n``, ``\\u00e9``) as its own."""


def _libpq_env(database_url: str) -> dict[str, str]:
    """The database as libpq's environment variables: no password on a command line."""
    params = conninfo_to_dict(database_url)
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
             "dbname": "PGDATABASE", "sslmode": "PGSSLMODE"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({names[k]: str(v) for k, v in params.items() if k in names and v is not None})
    return env


async def _c_pipe_run(database_url: str, options: BenchOptions, binaries: dict[str, str],
                      watch: ProcessWatch) -> dict[str, Any]:
    """The same load, through a broker of its own (same configuration as the stack's, anonymous),
    into ``mosquitto_sub -q 1`` (a persistent session) piped into ``psql \\copy`` of a jsonb table
    in the same database. The rate counts from the first publish to psql's exit (COPY committed)."""
    tag = secrets.token_hex(3)
    table = f"bench_c_pipe_{tag}"
    prefix = f"BENCHC{tag.upper()}-"
    plan = _plan(options, prefix)
    expected = planned_total(plan)
    topic = topic_for(Kind.ELEVATOR, "+", Channel.TELEMETRY)
    client_id = f"semon-bench-c-pipe-{tag}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"CREATE TABLE {table} (payload jsonb NOT NULL)")
    root = Path(tempfile.mkdtemp(prefix="semon-bench-c-pipe-", dir="/var/tmp"))
    broker = MosquittoServer(root / "mosquitto")
    procs: list[asyncio.subprocess.Process] = []
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures: dict[str, Any] = {}
    try:
        await broker.start()
        sub = [binaries["mosquitto_sub"], "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-c",
               "-i", client_id, "-t", topic]
        # The session and its subscription first: from then on the broker keeps every message for it.
        made = await asyncio.create_subprocess_exec(*sub, "-E", stdin=asyncio.subprocess.DEVNULL)
        if await made.wait() != 0:
            raise RuntimeError("bench: mosquitto_sub could not subscribe to the C pipe's broker")
        read_fd, write_fd = os.pipe()
        try:
            receiver = await asyncio.create_subprocess_exec(*sub, "-C", str(expected), stdin=asyncio.subprocess.DEVNULL,
                                                            stdout=write_fd)
            procs.append(receiver)
            writer = await asyncio.create_subprocess_exec(
                binaries["psql"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", COPY_COMMAND.format(table=table),
                stdin=read_fd, stdout=asyncio.subprocess.DEVNULL, env=_libpq_env(database_url))
            procs.append(writer)
        finally:
            os.close(read_fd)
            os.close(write_fd)
        watch.names.update({receiver.pid: "bench:mosquitto_sub", writer.pid: "bench:psql"})
        if (broker_pid := _pid_of(root / "mosquitto" / "mosquitto.pid")) is not None:
            watch.names[broker_pid] = "bench:c-pipe-mosquitto"
        await asyncio.to_thread(watch.start)
        load = await run_load(BrokerAddress.from_url(broker.url), plan, signing_off=False)  # a broker of its own
        # Sampled at the end of the load, while the pipe still runs (its CPU time in full below).
        processes = await asyncio.to_thread(watch.report)
        try:
            async with asyncio.timeout(options.drain_timeout):
                code = await writer.wait()
        except TimeoutError:
            code = None
        done = time.time()
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            cur = await conn.execute(f"SELECT count(*) FROM {table}")
            row = await cur.fetchone()
        stored = int(row[0]) if row else 0
        if code != 0:
            log.warning("bench: the C pipe did not finish (psql exit %s); %d of %d stored", code, stored, load.sent)
        figures = {
            "c_pipe_achieved_offered_rate": round(load.sent / load.elapsed, 1),
            "c_pipe_sent": load.sent,
            "c_pipe_stored": stored,
            "c_pipe_rate": round(stored / max(done - load.started, load.elapsed), 1) if code == 0 else None,
            "c_pipe_lost": load.sent - stored,
            "c_pipe_processes": processes,
        }
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await broker.stop()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        # mosquitto_sub, psql and the pipe's broker, whole: the children this process reaped meanwhile.
        tools_s = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
        figures["c_pipe_tools_cpu_s"] = round(tools_s, 2)
        figures["c_pipe_cpu_us_per_message"] = _us_per_message(tools_s, figures.get("c_pipe_stored", 0))
        shutil.rmtree(root, ignore_errors=True)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
    return figures


def _pid_of(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _finite(value: float) -> float | None:
    """Rounded to 0.1, or None (JSON has no NaN) where there was nothing to measure."""
    return round(value, 1) if math.isfinite(value) else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def _roots(target: Target) -> list[Root]:
    if target.pid is not None:  # a running `semon up`: its processes, then ours
        return [Root(target.pid, "semon-up"), self_root()]
    return [Root(os.getpid(), "bench")]  # ours: the private stack and ingester are our children


async def run_bench(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    """``options.rounds`` rounds of a semon run and a C pipe run (when its binaries are present),
    the order alternating from one round to the next; the final JSON line gives the medians."""
    binaries = c_pipe_binaries() if options.c_pipe else None
    if options.c_pipe and binaries is None:
        print("bench: mosquitto, mosquitto_sub or psql missing: no C pipe run", file=sys.stderr)
    rounds: list[dict[str, Any]] = []
    async with bench_target(settings) as target:
        watch = ProcessWatch(_roots(target))
        for r in range(options.rounds):
            semon_first = r % 2 == 0
            figures: dict[str, Any] = {"order": "semon,c_pipe" if semon_first or binaries is None else "c_pipe,semon"}
            for part in ("semon", "c_pipe") if semon_first else ("c_pipe", "semon"):
                if part == "semon":
                    figures.update(await _semon_run(target, options, watch))
                elif binaries is not None:
                    figures.update(await _c_pipe_run(target.database_url, options, binaries, watch))
            print(f"round {r + 1}: stored {figures['stored']}/{figures['sent']} at {figures['stored_rate']}/s"
                  + (f"; C pipe {figures['c_pipe_rate']}/s" if "c_pipe_rate" in figures else ""), file=sys.stderr)
            rounds.append(figures)

    stored_rate = _median([f["stored_rate"] for f in rounds])
    c_rates = [f["c_pipe_rate"] for f in rounds if f.get("c_pipe_rate") is not None]
    c_pipe_rate = _median(c_rates) if c_rates else None
    last = rounds[-1]
    result: dict[str, Any] = {
        "offered_rate": options.rate,
        "achieved_offered_rate": _median([f["achieved_offered_rate"] for f in rounds]),
        "sent": sum(f["sent"] for f in rounds),
        "stored": sum(f["stored"] for f in rounds),
        "stored_rate": stored_rate,
        "c_pipe_rate": c_pipe_rate,
        "ratio": round(stored_rate / c_pipe_rate, 3) if stored_rate and c_pipe_rate else None,
        "lost": sum(f["lost"] for f in rounds),
        "duplicates": sum(f["duplicates"] for f in rounds),
        "c_pipe_lost": sum(f["c_pipe_lost"] for f in rounds if "c_pipe_lost" in f) if c_rates else None,
        # CPU time per message stored, less noisy than rates on a shared machine. semon's: its own
        # processes, not the broker or the database (a `semon up` of one process includes its rules
        # engine and city); the pipe's: mosquitto_sub, psql and the pipe's broker.
        "semon_cpu_us_per_message": _median([f["semon_cpu_us_per_message"] for f in rounds]),
        "c_pipe_cpu_us_per_message": _median([f.get("c_pipe_cpu_us_per_message") for f in rounds]),
        "p50_ms": _median([f["p50_ms"] for f in rounds]),
        "p99_ms": _median([f["p99_ms"] for f in rounds]),
        "ingest_rss_mb": last["ingest_rss_mb"],
        "loadgen_cpu_percent": _median([f["loadgen_cpu_percent"] for f in rounds]),
        "loadgen_us_per_message": _median([f["loadgen_us_per_message"] for f in rounds]),
        "connections": _plan(options, "").connections,
        "duration_s": options.duration,
        "system": target.kind,
        "processes": last["processes"],
        "rounds": [{k: v for k, v in f.items() if k != "processes"} for f in rounds],
    }
    print(json.dumps(result), flush=True)
    return result


# --- cluster mode: `semon up --cluster N --workers W`, one fresh system per W -------------------


@dataclass(frozen=True, slots=True)
class ClusterBenchOptions:
    workers: tuple[int, ...] = (1, 2, 3)  # ingest workers; one system and one run each
    nodes: int = 3  # NATS nodes (and rules engines)
    duration: float = 30.0  # seconds of publishing
    rate: int = 0  # offered messages per second; 0: as fast as the cluster takes them
    connections: int = 0  # publishing connections, spread over the nodes (0: two per node)
    devices: int = 10_000
    drain_timeout: float = 60.0  # seconds without a row stored before the rest counts as lost
    sample_s: float = 1.0  # how often the ingesters' stored counter is read during the load


MAX_RATE = 1_000_000
"""The plan's rate of a run "as fast as it takes them": far above what a cluster on one machine
stores, so publishing is paced by the brokers' acknowledgements alone, for ``duration`` seconds."""

CLUSTER_SYSTEM = {"SEMON_CITY_ELEVATORS": "0", "SEMON_CITY_BOILERS": "0", "SEMON_REGISTRY_DEMO_UNITS": "0",
                  "SEMON_API_PORT": "0", "SEMON_METRICS_PORT": "0", "SEMON_LOG_LEVEL": "WARNING"}
"""The system of the cluster ingest bench: no simulated city (the load generator is the only
publisher, so every message counted is the bench's), no generated register."""


def cluster_args(nodes: int, workers: int) -> tuple[str, ...]:
    """``semon up``'s arguments for cluster mode."""
    return ("--cluster", str(nodes), "--workers", str(workers))


def stored_by_part(samples: dict[str, float]) -> dict[str, float]:
    """``semon_ingest_stored_total`` of the telemetry table by ingest part, from `semon up`'s
    metrics of all its parts (a part that did not answer this scrape is missing)."""
    out: dict[str, float] = {}
    for key, value in samples.items():
        if key.startswith("semon_ingest_stored_total{") and 'table="elevator_telemetry"' in key:
            found = _PART_LABEL.search(key)
            out[found[1] if found else ""] = value
    return out


async def _sample_stored(url: str, every: float, into: list[tuple[float, float]]) -> None:
    """(wall clock, rows stored so far by the ingesters) every ``every`` seconds, until
    cancelled; a worker missing from a scrape (too busy to answer `semon up` in time) counts
    with its last value read."""
    last: dict[str, float] = {}
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError, ValueError):
            read = stored_by_part(parse_text(await _metrics_text(url)))
            if read:
                last.update(read)
                into.append((time.time(), sum(last.values())))
        await asyncio.sleep(every)


def steady_rate(samples: list[tuple[float, float]], start: float, end: float) -> float | None:
    """Rows per second the ingesters stored between the samples nearest the second fifth and the
    end of the window [start, end] (the ramp-up left out); None with fewer than two samples."""
    inside = [s for s in samples if start + (end - start) / 5 <= s[0] <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return round((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]), 1)


def _stored_at(samples: list[tuple[float, float]], at: float) -> float | None:
    before = [v for t, v in samples if t <= at]
    return before[-1] if before else None


async def cluster_run(state: dict[str, Any], workers: int, options: ClusterBenchOptions) -> dict[str, Any]:
    """One run against a `semon up --cluster` (its running.json ``state``): the load spread over
    the nodes' MQTT listeners, counted in the database and in the ingesters' metrics."""
    urls = [str(u) for u in state["cluster"]["mqtt_urls"]]
    metrics_url = str(state["metrics_url"])
    database_url = str(state["database_url"])
    await _wait_metrics(metrics_url)
    prefix = f"BENCH{secrets.token_hex(3).upper()}-"
    connections = options.connections or 2 * len(urls)
    rate = options.rate or MAX_RATE
    plan = LoadPlan(rate, options.duration, connections, options.devices, prefix, timed=True)
    watch = ProcessWatch([Root(int(state["pid"]), "semon-up"), self_root()])
    before = await scrape(metrics_url)
    base = stored_by_part(parse_text(await _metrics_text(metrics_url)))
    samples: list[tuple[float, float]] = []
    await asyncio.to_thread(watch.start)
    sampler = asyncio.create_task(_sample_stored(metrics_url, options.sample_s, samples), name="bench-sampler")
    try:
        load = await run_load_apart([BrokerAddress.from_url(u) for u in urls], plan)
        load_end = load.started + load.elapsed
        rows, distinct, last_in = await wait_stored(database_url, prefix, load.sent, options.drain_timeout)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    processes = await asyncio.to_thread(watch.report)
    after = await scrape(metrics_url)
    stored_base = sum(base.values())
    at_end = _stored_at(samples, load_end)
    stored_in = max(last_in - load.started, load.elapsed)
    lag = "semon_ingest_lag_seconds"
    return {
        "workers": workers,
        "offered_rate": options.rate or "max",
        "achieved_offered_rate": round(load.sent / load.elapsed, 1),
        "published": load.sent,
        "unacknowledged": load.unacknowledged,
        "stored": distinct,
        "lost": load.sent - distinct,
        "duplicates": rows - distinct,
        # First publish to the last message taken into a committed batch.
        "stored_rate": round(distinct / stored_in, 1),
        "steady_stored_rate": steady_rate(samples, load.started, load_end),
        # Published and not yet stored when the load ended (the ingesters' counter), and how long
        # the rest took to be stored.
        "backlog_at_load_end": None if at_end is None else max(0, load.sent - round(at_end - stored_base)),
        "drain_s": round(max(0.0, last_in - load_end), 1),
        "p50_ms": _finite(histogram_quantile(0.50, before, after, lag) * 1000),
        "p99_ms": _finite(histogram_quantile(0.99, before, after, lag) * 1000),
        "connections": connections,
        "duration_s": options.duration,
        "loadgen_cpu_s": round(load.cpu_s, 2),
        "loadgen_us_per_message": round(load.cpu_s / max(load.sent, 1) * 1e6, 1),
        "semon_cpu_us_per_message": _us_per_message(_semon_cpu_s(processes), distinct),
        "processes": processes,
    }


async def run_cluster_bench(options: ClusterBenchOptions) -> dict[str, Any]:
    """For each number of workers, a fresh ``semon up --cluster N --workers W`` (no city) and
    :func:`cluster_run` against it; the final JSON line holds a result per W."""
    results: list[dict[str, Any]] = []
    for workers in options.workers:
        async with semon_up_process(CLUSTER_SYSTEM, prefix="semon-bench-cluster-",
                                    args=cluster_args(options.nodes, workers)) as state:
            figures = await cluster_run(state, workers, options)
        print(f"cluster of {options.nodes}, {workers} ingest workers: stored {figures['stored']}/"
              f"{figures['published']} at {figures['stored_rate']}/s", file=sys.stderr)
        results.append(figures)
    result = {"bench": "ingest", "cluster": options.nodes, "duration_s": options.duration, "results": results}
    print(json.dumps(result), flush=True)
    return result
