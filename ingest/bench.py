"""``semon bench ingest``: offered load against the running stack, publish-to-commit figures.

Uses the ``semon up`` that is running (``var/running.json``), else the broker, database and
ingester metrics configured by ``SEMON_*``, else starts a private stack and ingester of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg

from semon.metrics import parse_text
from semon.mqtt.client import BrokerAddress
from semon.settings import Settings
from semon.stack import LocalStack, free_port
from semon.up import read_running
from simulators.loadgen import LoadPlan, run_load


@dataclass(frozen=True, slots=True)
class BenchOptions:
    rate: int
    duration: float
    connections: int = 0
    devices: int = 10_000
    drain_timeout: float = 60


@dataclass(frozen=True, slots=True)
class Target:
    mqtt_url: str
    database_url: str
    metrics_url: str


@contextlib.asynccontextmanager
async def bench_target(settings: Settings) -> AsyncIterator[Target]:
    running = read_running(settings)
    if running is not None:
        yield Target(str(running["mqtt_url"]), str(running["database_url"]), str(running["metrics_url"]))
        return
    if settings.mqtt_url and settings.database_url:
        yield Target(settings.mqtt_url, settings.database_url,
                     f"http://{settings.metrics_host}:{settings.metrics_port}/metrics")
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
                target = Target(stack.mqtt_url, stack.database_url, f"http://127.0.0.1:{port}/metrics")
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
            if samples.get("semon_mqtt_connected") == 1:
                return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"ingester metrics at {url} not ready within {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return parse_text(await resp.text())


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


async def _stored_counts(database_url: str, prefix: str) -> tuple[int, int, float]:
    """Rows, distinct (device, seq), and when the last of them was taken in (epoch seconds)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT count(*), count(DISTINCT (device_id, seq)), extract(epoch FROM max(received_at))"
            " FROM elevator_telemetry WHERE device_id LIKE %s AND time > now() - interval '1 day'",
            (prefix.replace("_", r"\_") + "%",),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), float(row[2] or 0)


async def run_bench(settings: Settings, options: BenchOptions) -> dict[str, float | int]:
    connections = options.connections or max(2, math.ceil(options.rate / 5000))
    async with bench_target(settings) as target:
        prefix = f"BENCH{secrets.token_hex(3).upper()}-"
        before = await scrape(target.metrics_url)
        plan = LoadPlan(options.rate, options.duration, connections, options.devices, prefix)
        load = await run_load(BrokerAddress.from_url(target.mqtt_url), plan)

        deadline = time.monotonic() + options.drain_timeout
        rows, distinct, last_in = await _stored_counts(target.database_url, prefix)
        while distinct < load.sent and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            rows, distinct, last_in = await _stored_counts(target.database_url, prefix)
        after = await scrape(target.metrics_url)

    lag = "semon_ingest_lag_seconds"
    # First publish to the last message taken into a committed batch.
    stored_in = max(last_in - load.started, load.elapsed)
    result: dict[str, float | int] = {
        "offered_rate": options.rate,
        "achieved_offered_rate": round(load.sent / load.elapsed, 1),
        "sent": load.sent,
        "stored": distinct,
        "stored_rate": round(distinct / stored_in, 1),
        "lost": load.sent - distinct,
        "duplicates": rows - distinct,
        "p50_ms": round(histogram_quantile(0.50, before, after, lag) * 1000, 1),
        "p99_ms": round(histogram_quantile(0.99, before, after, lag) * 1000, 1),
        "ingest_rss_mb": round(after.get("process_resident_memory_bytes", float("nan")) / 2**20, 1),
        # The load generator runs in this process, the ingester in its own: is the generator cheap?
        "loadgen_cpu_percent": round(load.cpu_s / load.elapsed * 100, 1),
        "loadgen_us_per_message": round(load.cpu_s / max(load.sent, 1) * 1e6, 1),
        "connections": connections,
        "duration_s": options.duration,
    }
    print(f"offered {options.rate}/s for {options.duration:.0f}s over {connections} connections; "
          f"stored {distinct}/{load.sent}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return result
