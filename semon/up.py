"""``semon up``: the whole system in one process, on a private stack unless one is configured.

Its parts (the ingester, the alerts service and each of its jobs, the simulated city) are
supervised (``semon.supervise``): one that fails is logged with its traceback and started again
after a backoff while the others go on. ``/metrics`` and ``/healthz`` on the metrics port cover
them all: ``semon_part_up{part=...}``, ``semon_part_restarts_total{part=...}``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg

from alerts.passwords import hash_password
from alerts.rules import DeviceProfile
from alerts.service import AlertsService
from alerts.users import Role, UserExists, count_users, create_user
from ingest.service import Ingester
from registry.demo import DEMO_AGENCY, seed_demo_register
from semon.db import apply_migrations
from semon.metrics import Registry
from semon.metrics_http import serve_metrics
from semon.settings import Settings
from semon.stack import LocalStack
from semon.supervise import Supervisor
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


def configured_or_running(settings: Settings, name: str) -> str | None:
    """``SEMON_MQTT_URL`` / ``SEMON_DATABASE_URL`` if set, else that of a running ``semon up``."""
    configured = getattr(settings, name)
    if configured:
        return str(configured)
    running = read_running(settings)
    return str(running[name]) if running and running.get(name) else None


class _IngestPart:
    """The ingester as a supervised part: built afresh at each start. Its metrics are served with
    the other parts' (so its own server takes any free port), ``ready`` once one has subscribed."""

    def __init__(self, settings: Settings, mqtt_url: str, database_url: str) -> None:
        self.settings = settings.model_copy(update={"metrics_port": 0})
        self.mqtt_url = mqtt_url
        self.database_url = database_url
        self.ingester: Ingester | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        ingester = self.ingester = Ingester(self.settings, self.mqtt_url, self.database_url)

        async def announce() -> None:
            await ingester.session.connected.wait()
            self.ready.set()

        announcing = asyncio.create_task(announce())
        try:
            await ingester.run()
        finally:
            announcing.cancel()

    def connected(self) -> bool:
        return self.ingester is not None and self.ingester.session.connected.is_set()

    def registry(self) -> Registry | None:
        return self.ingester.metrics.registry if self.ingester is not None else None


async def seed_register(settings: Settings, database_url: str) -> int:
    """A generated register for the demo (the simulated city's devices included), once."""
    if not settings.registry_demo_units:
        return 0
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        count = await seed_demo_register(conn, today=settings.today(), total=settings.registry_demo_units,
                                         city_elevators=settings.city_elevators, city_boilers=settings.city_boilers,
                                         city_seed=settings.city_seed)
        await conn.commit()
    if count:
        log.info("equipment register seeded with %d generated units", count)
    return count


# One user per role, so every part of the console can be tried: (username, role, agency, display name).
DEMO_USERS = (("operator", Role.OPERATOR, None, "96333 值班员 (demo)"),
              ("agency", Role.AGENCY, DEMO_AGENCY, "西宁市特种设备检验所 (demo)"),
              ("bureau", Role.BUREAU, None, "市场监管局 (demo)"),
              ("admin", Role.ADMIN, None, "管理员 (demo)"))


async def seed_demo_users(settings: Settings, database_url: str) -> bool:
    """The demo users, if there are no users at all; True if they were created now."""
    if not settings.auth_demo_users:
        return False
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        if await count_users(conn):
            return False
    password = settings.auth_demo_password.get_secret_value()
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password, password) for _ in DEMO_USERS))
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for (username, role, agency, name), password_hash in zip(DEMO_USERS, hashes, strict=True):
            with contextlib.suppress(UserExists):  # another `semon up` on the same database got there first
                await create_user(conn, username, password_hash, role, agency=agency, display_name=name)
        await conn.commit()
    log.warning("created the demo users %s: change their passwords (semon users passwd) before real use",
                ", ".join(u[0] for u in DEMO_USERS))
    return True


def _users_banner(settings: Settings, created: bool) -> str:
    password = settings.auth_demo_password.get_secret_value()
    if not created:
        demo = f"; the demo users, where unchanged, log in with {password!r}" if settings.auth_demo_users else ""
        return f"  users         as stored (semon users list){demo}\n"
    names = ", ".join(f"{u[0]} ({u[2]})" if u[2] else u[0] for u in DEMO_USERS)
    return (f"  users         {names}; password {password!r}\n"
            "                DEMO CREDENTIALS: anyone who reads this can log in. Before real use, change them\n"
            "                (semon users passwd NAME), or start with SEMON_AUTH_DEMO_USERS=false.\n")


async def run_up(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with services(settings) as (mqtt_url, database_url):
        await apply_migrations(database_url)
        seeded = await seed_register(settings, database_url)
        demo_users = await seed_demo_users(settings, database_url)
        simulation = None
        if settings.city_elevators or settings.city_boilers:
            simulation = Simulation(mqtt_url, SimulationOptions(
                elevators=settings.city_elevators, boilers=settings.city_boilers, seed=settings.city_seed,
                fault_interval_s=settings.city_fault_interval_s))
        # Until the register holds them, the rules know the simulated devices from the simulation.
        profiles = profiles_for((d.device_id, d.spec) for d in simulation.city) if simulation else {}
        supervisor = Supervisor(backoff_initial_s=settings.backoff_initial_s, backoff_max_s=settings.backoff_max_s)
        alerts = AlertsService(settings, mqtt_url, database_url,
                               lambda device_id, kind: profiles.get(device_id) or DeviceProfile(kind),
                               supervisor=supervisor)
        ingest = _IngestPart(settings, mqtt_url, database_url)
        supervisor.registry.include(ingest.registry)
        supervisor.registry.include(lambda: alerts.registry)
        stack = contextlib.AsyncExitStack()  # closed below: the parts stopped, then the metrics server
        metrics_port = await stack.enter_async_context(serve_metrics(
            supervisor.registry, settings.metrics_host, settings.metrics_port,
            healthy=supervisor.healthy, status=supervisor.status))
        stack.push_async_callback(supervisor.stop)  # the last started first: the devices before the ingester
        supervisor.start("ingest", ingest.run, check=ingest.connected)
        supervisor.start("alerts", alerts.run)
        try:  # announce only once subscribed: from then on the broker keeps every message for us
            await ingest.ready.wait()
            await alerts.ready.wait()
        except BaseException:
            await stack.aclose()
            raise
        state = {
            "pid": os.getpid(),
            "mqtt_url": mqtt_url,
            "database_url": database_url,
            "metrics_url": f"http://{settings.metrics_host}:{metrics_port}/metrics",
            "api_url": f"http://{settings.api_host}:{alerts.api_port}/api",
        }
        city = ""
        if simulation is not None:
            options = simulation.options
            supervisor.start("simulated-city", lambda: Simulation(mqtt_url, options).run())
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
            f"{_users_banner(settings, demo_users)}"
            "Ctrl-C stops everything.",
            flush=True,
        )
        try:
            await supervisor.wait()  # a part that fails is restarted; Ctrl-C ends this wait
        finally:
            await stack.aclose()
            state_path(settings).unlink(missing_ok=True)
