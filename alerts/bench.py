"""``semon bench alerts``: under a background telemetry load, inject entrapments and time each
from the device's publish to its alarm arriving on the live stream (WebSocket).

The system under test is a whole ``semon up`` (broker, database, ingester, rules engine, API) in
its own process, without the simulated city; the load generator, the injecting device and the
live-stream client run in this process, so publish and arrival share one clock. The live-stream
client logs in as the demo operator, with a password this run chose for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from semon.metrics import nearest_rank
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.stack import free_port
from semon.up_process import semon_up_process
from simulators.loadgen import LoadPlan, run_load


@dataclass(frozen=True, slots=True)
class AlertsBenchOptions:
    rate: int = 10_000  # background telemetry, messages per second
    duration: float = 30.0
    entrapments: int = 200
    drain_timeout: float = 15.0


@dataclass(frozen=True, slots=True)
class System:
    mqtt_url: str
    api_url: str
    operator_password: str  # the demo operator's


@contextlib.asynccontextmanager
async def system_under_test() -> AsyncIterator[System]:
    password = secrets.token_urlsafe(16)
    settings = {"SEMON_CITY_ELEVATORS": "0", "SEMON_CITY_BOILERS": "0", "SEMON_AUTH_DEMO_PASSWORD": password,
                "SEMON_API_PORT": str(free_port()), "SEMON_METRICS_PORT": "0", "SEMON_LOG_LEVEL": "WARNING"}
    async with semon_up_process(settings, prefix="semon-bench-alerts-") as state:
        yield System(state["mqtt_url"], state["api_url"], password)


async def _login(http: aiohttp.ClientSession, system: System) -> None:
    async with http.post(f"{system.api_url}/login",
                         json={"username": "operator", "password": system.operator_password}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"bench: logging in as the demo operator failed: {resp.status} {await resp.text()}")


async def _watch(http: aiohttp.ClientSession, api_url: str, arrivals: dict[str, list[float]],
                 connected: asyncio.Event, expected: int, all_in: asyncio.Event) -> None:
    async with http.ws_connect(f"{api_url}/live") as ws:
        connected.set()
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            now = time.monotonic()
            change: dict[str, Any] = orjson.loads(msg.data)
            if change.get("topic") == "alarm" and change.get("op") == "raised":
                alarm = change["alarm"]
                if alarm["type"] == "entrapment":
                    arrivals[alarm["device_id"]].append(now)
                    if len(arrivals) >= expected:
                        all_in.set()


async def _inject(mqtt_url: str, options: AlertsBenchOptions, sent: dict[str, float]) -> None:
    """One device after another reports passengers trapped (code 11), spread over the run."""
    client = MqttClient(ConnectOptions("bench-alerts-injector"))
    await client.connect(BrokerAddress.from_url(mqtt_url))
    gap = options.duration / (options.entrapments + 1)
    acks: list[asyncio.Future[int]] = []
    try:
        for i in range(options.entrapments):
            await asyncio.sleep(gap)
            device = f"BENCHTRAP-{i:05d}"
            payload = orjson.dumps({"ts": int(time.time() * 1000), "seq": 1, "code": 11, "floor": 5})
            await client.wait_for_quota()
            sent[device] = time.monotonic()
            published = client.publish_nowait(f"se/elevator/{device}/event".encode(), payload, 1)
            if published is not None:
                acks.append(published[1])
        await asyncio.gather(*acks)
    finally:
        await client.disconnect()


async def run_alerts_bench(options: AlertsBenchOptions) -> dict[str, object]:
    arrivals: dict[str, list[float]] = defaultdict(list)
    sent: dict[str, float] = {}
    # unsafe: the jar keeps cookies from an IP address (the API is on 127.0.0.1).
    async with system_under_test() as system, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _login(http, system)
        connected, all_in = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(_watch(http, system.api_url, arrivals, connected, options.entrapments, all_in))
        await asyncio.wait_for(connected.wait(), 30)
        plan = LoadPlan(options.rate, options.duration, max(2, math.ceil(options.rate / 5000)), 10_000, "BENCHLOAD-")
        load_task = asyncio.create_task(run_load(BrokerAddress.from_url(system.mqtt_url), plan))
        await _inject(system.mqtt_url, options, sent)
        load = await load_task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), options.drain_timeout)
        await asyncio.sleep(1.0)  # a duplicate would come right after
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await watcher
    latencies = [(arrivals[d][0] - t) * 1000 for d, t in sent.items() if arrivals.get(d)]
    result: dict[str, object] = {
        "entrapments": len(sent),
        "background_rate": round(load.sent / load.elapsed, 1),
        "p50_ms": round(nearest_rank(latencies, 0.5), 1),
        "p99_ms": round(nearest_rank(latencies, 0.99), 1),
        "max_ms": round(max(latencies, default=float("nan")), 1),
        "missed": sum(1 for d in sent if not arrivals.get(d)),
        "duplicated": sum(len(v) - 1 for v in arrivals.values() if v) + sum(1 for d in arrivals if d not in sent),
    }
    print(f"{len(sent)} entrapments under {result['background_rate']}/s of telemetry", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return result
