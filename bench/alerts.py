"""``semon bench alerts``: under a background telemetry load, inject entrapments and time each
from the device's publish to its alarm arriving on the live stream (WebSocket).

The system under test is what users run: the ``semon up`` that is running (``var/running.json``),
its simulated city included; else a ``semon up`` started for the run, with the default city, in
its own process. The injecting device and the live-stream client run in this process, so publish
and arrival share one clock. The background telemetry comes from a load generator in a process of
its own (``simulators.loadgen.run_load_apart``), as a city's devices are not in the operator's
browser: the probe's timestamps are never held up behind the generator's event loop. The
live-stream client logs in as the demo operator (with the running system's demo password, or one
this run chose for the one it started).

``--rate`` several times gives a latency curve (one JSON line per rate). ``--overload`` first
measures the ingest capacity (a short run well above it: the stored rate), then offers twice that
and reports the entrapment latency under it and how long the telemetry backlog takes to drain
afterwards, with lost and duplicated messages counted in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.ingest import wait_stored
from bench.procstats import ProcessWatch, Root, self_root
from bench.up_process import semon_up_process
from semon.metrics import nearest_rank
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.running import demo_password, demo_password_path, read_running
from semon.settings import Settings
from semon.stack import free_port
from simulators.loadgen import SIGN_OFF, LoadPlan, LoadResult, run_load_apart

log = logging.getLogger(__name__)


class BenchError(Exception):
    """The benchmark cannot run against this system (the message says why)."""


# The device ids the benchmarks make up: their incidents are closed after a run.
BENCH_PREFIXES = ("BENCHSETTLE", "BENCHTRAP", "BENCHLOAD", "BENCHPROBE")


@dataclass(frozen=True, slots=True)
class AlertsBenchOptions:
    rates: tuple[int, ...] = (10_000,)  # background telemetry, messages per second; one run each
    duration: float = 30.0
    entrapments: int = 200  # per run
    drain_timeout: float = 15.0  # seconds to wait for the last alarms after the load
    overload: bool = False
    probe_rate: int = 40_000  # the capacity probe's offered rate: well above what is stored
    probe_duration: float = 10.0
    backlog_timeout: float = 120.0  # seconds without progress before a backlog is given up on


@dataclass(frozen=True, slots=True)
class System:
    mqtt_url: str  # the devices' account
    api_url: str
    database_url: str
    operator_password: str  # the demo operator's
    pid: int  # the `semon up` process: its descendants are the system's processes
    running: bool  # True: a `semon up` that was already running; False: started for this run
    # Where the background load publishes: the nodes of a cluster, its connections spread over
    # them (empty: ``mqtt_url``).
    load_urls: tuple[str, ...] = ()

    def load_addresses(self) -> list[BrokerAddress]:
        return [BrokerAddress.from_url(u) for u in self.load_urls or (self.mqtt_url,)]


@contextlib.asynccontextmanager
async def system_under_test(settings: Settings) -> AsyncIterator[System]:
    """The running ``semon up``, else one started with its default city for the run."""
    running = read_running(settings)
    if running is not None:
        if settings.auth.demo_password is None and not demo_password_path(settings).exists():
            raise BenchError(f"the running `semon up` keeps no demo password in {demo_password_path(settings)}: "
                             "give the demo operator's as SEMON_AUTH_DEMO_PASSWORD")
        yield System(str(running["mqtt_url"]), str(running["api_url"]), str(running["database_url"]),
                     demo_password(settings), int(str(running["pid"])), running=True)
        return
    password = secrets.token_urlsafe(16)
    env = {"SEMON_AUTH_DEMO_PASSWORD": password, "SEMON_API_PORT": str(free_port()),
           "SEMON_METRICS_PORT": "0", "SEMON_LOG_LEVEL": "WARNING"}
    print("bench: no `semon up` running; starting one with its simulated city", file=sys.stderr)
    async with semon_up_process(env, prefix="semon-bench-alerts-") as state:
        yield System(state["mqtt_url"], state["api_url"], state["database_url"], password, int(state["pid"]),
                     running=False)


@contextlib.asynccontextmanager
async def cluster_system(nodes: int, workers: int, env: dict[str, str] | None = None) -> AsyncIterator[System]:
    """A ``semon up --cluster N --workers W`` started for the run (with its default city, or
    as ``env``'s ``SEMON_*`` settings say): the background load spread over its nodes, the
    entrapments published to its first node, as the city's devices are."""
    password = secrets.token_urlsafe(16)
    settings = {"SEMON_AUTH_DEMO_PASSWORD": password, "SEMON_API_PORT": str(free_port()),
                "SEMON_METRICS_PORT": "0", "SEMON_LOG_LEVEL": "WARNING", **(env or {})}
    async with semon_up_process(settings, prefix="semon-bench-alerts-cluster-",
                                args=("--cluster", str(nodes), "--workers", str(workers))) as state:
        yield System(state["mqtt_url"], state["api_url"], state["database_url"], password, int(state["pid"]),
                     running=False, load_urls=tuple(state["cluster"]["mqtt_urls"]))


async def _login(http: aiohttp.ClientSession, system: System) -> str:
    """Log in as the demo operator; returns the session's CSRF token."""
    async with http.post(f"{system.api_url}/login",
                         json={"username": "operator", "password": system.operator_password}) as resp:
        if resp.status != 200:
            raise BenchError(f"logging in as the demo operator failed: {resp.status} {await resp.text()}"
                               " (a running system's demo password is read from its data directory)")
        return str((await resp.json())["csrf_token"])


async def close_bench_incidents(http: aiohttp.ClientSession, api_url: str, csrf: str) -> int:
    """The benchmark's own entrapments, closed as an operator would (a false alarm, "benchmark"),
    so a running system's board is left as it was found. Returns how many were closed."""
    async with http.get(f"{api_url}/incidents", params={"active": "true", "limit": "1000"}) as resp:
        resp.raise_for_status()
        incidents = (await resp.json())["incidents"]
    closed = 0
    for incident in incidents:
        if not str(incident.get("device_id", "")).startswith(BENCH_PREFIXES):
            continue
        async with http.post(f"{api_url}/incidents/{incident['id']}/steps", headers={"X-CSRF-Token": csrf},
                             json={"step": "false_alarm", "comment": "benchmark"}) as resp:
            if resp.status == 200:
                closed += 1
            else:
                log.warning("bench: incident %s not closed: %s %s", incident["id"], resp.status,
                            (await resp.text())[:200])
    return closed


@dataclass(slots=True)
class Arrivals:
    """When each entrapment alarm arrived on the live stream (``time.monotonic``), by device."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    reconnects: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, device_id: str, at: float) -> None:
        self.times[device_id].append(at)
        self.changed.set()

    async def wait_for(self, devices: Iterable[str], timeout: float) -> None:
        """Until every device has arrived, or ``timeout`` seconds."""
        wanted = set(devices)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while any(not self.times.get(d) for d in wanted):
                    self.changed.clear()
                    await self.changed.wait()


async def _watch(http: aiohttp.ClientSession, api_url: str, arrivals: Arrivals, connected: asyncio.Event) -> None:
    """Every entrapment raised, from the live stream; reconnects if the server cuts it off."""
    while True:
        async with http.ws_connect(f"{api_url}/live", max_msg_size=0) as ws:  # a snapshot may be large
            connected.set()
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                now = time.monotonic()
                change: dict[str, Any] = orjson.loads(msg.data)
                if change.get("topic") == "alarm" and change.get("op") == "raised":
                    alarm = change["alarm"]
                    if alarm["type"] == "entrapment":
                        arrivals.add(alarm["device_id"], now)
        arrivals.reconnects += 1
        log.warning("bench: the live stream closed (%s); reconnecting", ws.close_code)
        await asyncio.sleep(0.1)


async def _inject(mqtt_url: str, prefix: str, count: int, duration: float, sent: dict[str, float]) -> None:
    """One device after another reports passengers trapped (code 11), spread over ``duration``."""
    client = MqttClient(ConnectOptions(f"{prefix}injector"))
    await client.connect(BrokerAddress.from_url(mqtt_url))
    gap = duration / (count + 1) if duration else 0.0
    acks: list[asyncio.Future[int]] = []
    try:
        for i in range(count):
            await asyncio.sleep(gap)
            device = f"{prefix}{i:05d}"
            payload = orjson.dumps({"ts": int(time.time() * 1000), "seq": 1, "code": 11, "floor": 5})
            await client.wait_for_quota()
            sent[device] = time.monotonic()
            published = client.publish_nowait(f"se/elevator/{device}/event".encode(), payload, 1)
            if published is not None:
                acks.append(published[1])
        await asyncio.gather(*acks)
        # Each signs off as at an orderly shutdown: no `silent` alarm for it afterwards.
        offs = [published[1] for device in sent if device.startswith(prefix) and (published := client.publish_nowait(
            f"se/elevator/{device}/status".encode(), SIGN_OFF, 1)) is not None]
        await asyncio.gather(*offs)
    finally:
        await client.disconnect()


def latency_figures(sent: dict[str, float], arrivals: dict[str, list[float]]) -> dict[str, float | int | None]:
    """p50/p99/max in ms from publish to first arrival; missed (never arrived) and duplicated
    (arrived more than once) among the devices of ``sent``."""
    latencies = [(arrivals[d][0] - t) * 1000 for d, t in sent.items() if arrivals.get(d)]
    return {  # None where nothing arrived (JSON has no NaN)
        "p50_ms": round(nearest_rank(latencies, 0.5), 1) if latencies else None,
        "p99_ms": round(nearest_rank(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "missed": sum(1 for d in sent if not arrivals.get(d)),
        "duplicated": sum(len(arrivals[d]) - 1 for d in sent if arrivals.get(d)),
    }


def _connections(rate: int) -> int:
    return max(2, math.ceil(rate / 5000))


@dataclass(frozen=True, slots=True)
class _Run:
    load: LoadResult
    load_prefix: str
    latency: dict[str, float | int | None]
    processes: dict[str, dict[str, float]]
    settle_s: float


async def settle(system: System, arrivals: Arrivals, timeout: float) -> float:
    """Seconds until one entrapment goes through: whatever the system still had queued from
    before (an earlier run's backlog) is then behind it, so it does not weigh on the next run."""
    sent: dict[str, float] = {}
    t0 = time.monotonic()
    await _inject(system.mqtt_url, f"BENCHSETTLE{secrets.token_hex(3).upper()}-", 1, 0.0, sent)
    await arrivals.wait_for(sent, timeout)
    if any(not arrivals.times.get(d) for d in sent):
        log.warning("bench: the system did not settle within %.0f s; measuring anyway", timeout)
    return round(time.monotonic() - t0, 1)


async def _entrapments_under_load(system: System, arrivals: Arrivals, watch: ProcessWatch, rate: int,
                                  options: AlertsBenchOptions, alarm_timeout: float) -> _Run:
    """``options.entrapments`` spread over ``rate``/s of telemetry; each alarm awaited for up to
    ``alarm_timeout`` seconds after the load."""
    settle_s = await settle(system, arrivals, options.backlog_timeout)
    tag = secrets.token_hex(3).upper()
    load_prefix, trap_prefix = f"BENCHLOAD{tag}-", f"BENCHTRAP{tag}-"
    sent: dict[str, float] = {}
    await asyncio.to_thread(watch.start)
    plan = LoadPlan(rate, options.duration, _connections(rate), 10_000, load_prefix)
    load_task = asyncio.create_task(run_load_apart(system.load_addresses(), plan), name="bench-load")
    await _inject(system.mqtt_url, trap_prefix, options.entrapments, options.duration, sent)
    load = await load_task
    await arrivals.wait_for(sent, alarm_timeout)
    processes = await asyncio.to_thread(watch.report)
    await asyncio.sleep(1.0)  # a duplicate would come right after
    return _Run(load, load_prefix, latency_figures(sent, arrivals.times), processes, settle_s)


async def ingest_capacity(system: System, options: AlertsBenchOptions) -> dict[str, float | int]:
    """A short run well above what the system stores: the rate it stored (first publish to the
    last message taken in), with the offered and achieved rates of the probe."""
    prefix = f"BENCHPROBE{secrets.token_hex(3).upper()}-"
    plan = LoadPlan(options.probe_rate, options.probe_duration, _connections(options.probe_rate), 10_000, prefix)
    load = await run_load_apart(system.load_addresses(), plan)
    rows, distinct, last_in = await wait_stored(system.database_url, prefix, load.sent, options.backlog_timeout)
    stored_in = max(last_in - load.started, load.elapsed)
    return {"probe_offered_rate": options.probe_rate, "probe_achieved_rate": round(load.sent / load.elapsed, 1),
            "ingest_capacity": round(distinct / stored_in, 1), "probe_lost": load.sent - distinct,
            "probe_duplicates": rows - distinct}


def _loadgen_cost(load: LoadResult) -> dict[str, float]:
    """The load generator's CPU (its own process, gone before ``processes`` is sampled): what
    the background load takes from the machine's cores, beside the system's."""
    return {"loadgen_cpu_s": round(load.cpu_s, 2),
            "loadgen_us_per_message": round(load.cpu_s / max(load.sent, 1) * 1e6, 1)}


def _line(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


async def run_alerts_bench(settings: Settings, options: AlertsBenchOptions) -> list[dict[str, Any]]:
    """One JSON line per rate, then one for the overload if asked; returns them."""
    async with system_under_test(settings) as system:
        return await _measure(system, options, print_lines=True)


async def _measure(system: System, options: AlertsBenchOptions, *, print_lines: bool) -> list[dict[str, Any]]:
    """The runs of ``options`` against ``system``: a result per rate, then the overload's if
    asked (each printed as a JSON line with ``print_lines``)."""
    results: list[dict[str, Any]] = []
    arrivals = Arrivals()
    # unsafe: the jar keeps cookies from an IP address (the API is on 127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await _login(http, system)
        watch = ProcessWatch([Root(system.pid, "semon-up"), self_root()])
        connected = asyncio.Event()
        watcher = asyncio.create_task(_watch(http, system.api_url, arrivals, connected), name="bench-live")
        try:
            async with asyncio.timeout(30):
                await connected.wait()
            common: dict[str, Any] = {"system": "running" if system.running else "started",
                                         "duration_s": options.duration, "entrapments": options.entrapments}
            for rate in options.rates:
                run = await _entrapments_under_load(system, arrivals, watch, rate, options, options.drain_timeout)
                result = {"mode": "rate", "offered_rate": rate,
                          "background_rate": round(run.load.sent / run.load.elapsed, 1),
                          **run.latency, **common, "settle_s": run.settle_s, "live_reconnects": arrivals.reconnects,
                          **_loadgen_cost(run.load), "processes": run.processes}
                print(f"{options.entrapments} entrapments under {result['background_rate']}/s of telemetry",
                      file=sys.stderr)
                if print_lines:
                    _line(result)
                results.append(result)
            if options.overload:
                results.append(await _overload(system, arrivals, watch, options, common, print_line=print_lines))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await watcher
            if system.running:
                closed = await close_bench_incidents(http, system.api_url, csrf)
                print(f"bench: {closed} of the benchmark's incidents closed as false alarms", file=sys.stderr)
    return results


async def run_alerts_cluster_bench(options: AlertsBenchOptions, workers: Sequence[int], nodes: int = 3,
                                   env: dict[str, str] | None = None) -> dict[str, Any]:
    """For each number of ingest workers W, a fresh ``semon up --cluster N --workers W``
    (:func:`cluster_system`) and the runs of ``options`` against it; one final JSON line,
    ``{"bench": "alerts", "cluster": N, "results": [...]}``, a result per W (and rate)."""
    results: list[dict[str, Any]] = []
    for w in workers:
        async with cluster_system(nodes, w, env) as system:
            runs = await _measure(system, options, print_lines=False)
        for run in runs:
            print(f"cluster of {nodes}, {w} ingest workers: p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, "
                  f"missed {run['missed']}, duplicated {run['duplicated']}", file=sys.stderr)
        results += [{"workers": w, **run} for run in runs]
    result = {"bench": "alerts", "cluster": nodes, "results": results}
    _line(result)
    return result


async def _overload(system: System, arrivals: Arrivals, watch: ProcessWatch, options: AlertsBenchOptions,
                    common: dict[str, Any], *, print_line: bool = True) -> dict[str, Any]:
    capacity = await ingest_capacity(system, options)
    rate = max(1, round(2 * float(capacity["ingest_capacity"])))
    print(f"ingest capacity {capacity['ingest_capacity']}/s; offering {rate}/s", file=sys.stderr)
    # Under overload the alarms may wait behind the telemetry: awaited as long as the backlog is.
    run = await _entrapments_under_load(system, arrivals, watch, rate, options, options.backlog_timeout)
    rows, distinct, last_in = await wait_stored(system.database_url, run.load_prefix, run.load.sent,
                                                 options.backlog_timeout)
    load_end = run.load.started + run.load.elapsed
    result: dict[str, Any] = {
        "mode": "overload", **capacity, "offered_rate": rate,
        "background_rate": round(run.load.sent / run.load.elapsed, 1),
        **run.latency, **common,
        "sent": run.load.sent, "stored": distinct, "lost": run.load.sent - distinct, "duplicates": rows - distinct,
        # From the last publish to the last of the run's messages taken into a committed batch.
        "drain_s": round(max(0.0, last_in - load_end), 1),
        "settle_s": run.settle_s, "live_reconnects": arrivals.reconnects, **_loadgen_cost(run.load),
        "processes": run.processes,
    }
    if print_line:
        _line(result)
    return result


DEFAULT_RATE = 10_000


def parse_rates(values: Sequence[int] | None, *, overload: bool = False) -> tuple[int, ...]:
    """``--rate`` as given (several allowed); without it the default rate, or none with ``--overload``."""
    if values:
        return tuple(values)
    return () if overload else (DEFAULT_RATE,)
