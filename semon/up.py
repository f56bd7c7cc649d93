"""``semon up``: the whole system in one process, on a private stack unless one is configured."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from alerts.rules import DeviceProfile
from alerts.service import AlertsService
from ingest.service import Ingester
from registry.demo import seed_demo_register
from semon.db import apply_migrations
from semon.settings import Settings
from semon.stack import LocalStack
from simulators.profiles import profiles_for
from simulators.service import Simulation, SimulationOptions

log = logging.getLogger(__name__)

STATE_FILE = "running.json"


@contextlib.asynccontextmanager
async def services(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """The configured broker and database, or private ones started in the data directory."""
    if settings.mqtt_url and settings.database_url:
        yield settings.mqtt_url, settings.database_url
        return
    async with LocalStack(settings.data_dir / "stack") as stack:
        yield settings.mqtt_url or stack.mqtt_url, settings.database_url or stack.database_url


def state_path(settings: Settings) -> Path:
    return settings.data_dir / STATE_FILE


def read_running(settings: Settings) -> dict[str, object] | None:
    """What a running ``semon up`` published about itself, if it is still alive."""
    path = state_path(settings)
    try:
        state: dict[str, object] = json.loads(path.read_text())
        pid = state.get("pid")
        if isinstance(pid, int):
            os.kill(pid, 0)
        return state
    except (OSError, ValueError):
        return None


async def _started(task: asyncio.Task[Any], ready: asyncio.Event) -> None:
    """Wait until a service is ready, or raise what stopped it first."""
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiting.cancel()
        await task


async def seed_register(settings: Settings, database_url: str) -> int:
    """A generated register for the demo (the simulated city's devices included), once."""
    if not settings.registry_demo_units:
        return 0
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        count = await seed_demo_register(conn, today=date.today(), total=settings.registry_demo_units,
                                         city_elevators=settings.city_elevators, city_boilers=settings.city_boilers,
                                         city_seed=settings.city_seed)
        await conn.commit()
    if count:
        log.info("equipment register seeded with %d generated units", count)
    return count


async def run_up(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with services(settings) as (mqtt_url, database_url):
        await apply_migrations(database_url)
        seeded = await seed_register(settings, database_url)
        simulation = None
        if settings.city_elevators or settings.city_boilers:
            simulation = Simulation(mqtt_url, SimulationOptions(
                elevators=settings.city_elevators, boilers=settings.city_boilers, seed=settings.city_seed,
                fault_interval_s=settings.city_fault_interval_s))
        # Until the register holds them, the rules know the simulated devices from the simulation.
        profiles = profiles_for((d.device_id, d.spec) for d in simulation.city) if simulation else {}
        ingester = Ingester(settings, mqtt_url, database_url)
        alerts = AlertsService(settings, mqtt_url, database_url,
                               lambda device_id, kind: profiles.get(device_id) or DeviceProfile(kind))
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(ingester.run(), name="ingest"),
                                          asyncio.create_task(alerts.run(), name="alerts")]
        # Announce only once subscribed: from then on the broker keeps every message for us.
        await _started(tasks[0], ingester.session.connected)
        await _started(tasks[1], alerts.ready)
        state = {
            "pid": os.getpid(),
            "mqtt_url": mqtt_url,
            "database_url": database_url,
            "metrics_url": f"http://{settings.metrics_host}:{ingester.metrics_port}/metrics",
            "api_url": f"http://{settings.api_host}:{alerts.api_port}/api",
        }
        city = ""
        if simulation is not None:
            tasks.append(asyncio.create_task(simulation.run(), name="simulated-city"))
            city = (f"  simulated     {settings.city_elevators} elevators and {settings.city_boilers} boilers "
                    "across Xining's 7 districts (SEMON_CITY_ELEVATORS=0 SEMON_CITY_BOILERS=0 for none)\n")
        state_path(settings).write_text(json.dumps(state, indent=2))
        print(
            "semon is up\n"
            f"  MQTT broker   {mqtt_url}\n"
            f"  database      {database_url}\n"
            f"  API           {state['api_url']} (live stream: {state['api_url']}/live)\n"
            f"  metrics       {state['metrics_url']}\n"
            f"  data          {settings.data_dir.resolve()}\n"
            f"{city}"
            f"  register      {'seeded with ' + format(seeded, ',') + ' generated units' if seeded else 'as stored'}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()  # a service that stopped by itself stops everything, loudly
        finally:
            for t in reversed(tasks):  # the devices first, so the ingester stores their last words
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            state_path(settings).unlink(missing_ok=True)
