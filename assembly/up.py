"""``semon up``: the whole system, on a private stack unless one is configured, each part in a
process of its own.

The parts (``assembly.parts``: the ingester, the rules engine, the API with the console, the
register's jobs, the simulated city) run under supervisord (``assembly.part_manager``), started in
that order, each ready before the next; one that dies is started again while the others go on;
Ctrl-C stops them in reverse order, then the private servers. ``/metrics`` and ``/healthz`` on
the metrics port cover them all: ``semon_part_up{part=...}``, ``semon_part_restarts_total{part=...}``
and each part's own metrics with its ``part`` label."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pydantic import SecretStr

from assembly.part_manager import PARTS_DIR, ManagerOptions, PartError, PartManager, Program
from assembly.parts import CONFIG_FILE, PartsConfig, city_units, program_names, settings_json
from assembly.startup import StartupProblem, preflight
from registry.demo import DEMO_AGENCY, seed_demo_register
from registry.due import Rules
from semon.backoff import Backoff
from semon.db import apply_migrations
from semon.districts import XINING
from semon.metrics_http import serve_metrics
from semon.running import demo_password, demo_password_path, state_path
from semon.settings import SecondTierStation, Settings
from semon.stack import LocalStack
from semon.stack.nats import NatsCluster
from semon.stack.process import load_secrets, write_private
from web.passwords import hash_password
from web.users import Role, UserExists, count_users, create_user

log = logging.getLogger(__name__)

RUN_DIR = "run"  # the process manager's configuration, socket and pid file; the parts' files


def is_demo(settings: Settings, asked: bool = False) -> bool:
    """A demonstration: the private stack (neither ``SEMON_MQTT_URL`` nor ``SEMON_DATABASE_URL``
    set), or ``semon up --demo``. Against real services ``semon up`` is an installation."""
    return asked or not (settings.mqtt.url or settings.database_url)


def without_demo(settings: Settings) -> Settings:
    """``settings`` for a real installation: no generated register, no simulated city, no demo
    users, whatever ``SEMON_REGISTRY_DEMO_UNITS``, ``SEMON_CITY_*`` and ``SEMON_AUTH_DEMO_*`` say."""
    return settings.model_copy(update={
        "registry": settings.registry.model_copy(update={"demo_units": 0}),
        "city": settings.city.model_copy(update={"elevators": 0, "boilers": 0}),
        "auth": settings.auth.model_copy(update={"demo_users": False}),
    })


def demo_stations() -> tuple[SecondTierStation, ...]:
    """The demo's second-tier rescue stations (网格救援站): one at each district's seat, with a
    made-up duty phone, so the demo's escalations name a station and its phone."""
    return tuple(SecondTierStation(name=f"{d.name}网格救援站", phone=f"0971-96333{i:02d}", district_code=d.code,
                                   latitude=d.seat[0], longitude=d.seat[1]) for i, d in enumerate(XINING, 1))


def with_demo_stations(settings: Settings) -> Settings:
    """``settings`` with the demo's stations where none are configured (SEMON_INCIDENT_SECOND_TIER_STATIONS)."""
    if settings.incidents.second_tier_stations:
        return settings
    return settings.model_copy(update={
        "incidents": settings.incidents.model_copy(update={"second_tier_stations": demo_stations()})})


def console_address(host: str, port: int) -> str:
    """The console's address as a browser on this or another machine opens it: on every address
    (0.0.0.0, ::) the machine's name stands for the host."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"

@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the parts of ``semon up`` connect, each with its own account on a private broker.

    ``mqtt_url`` is the devices' account (the simulated city, and the tools that read
    running.json); the URLs carry passwords: print ``shown_*``, never these.
    """

    mqtt_url: str
    ingest_mqtt_url: str
    rules_mqtt_url: str
    database_url: str
    shown_mqtt_url: str
    shown_database_url: str


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.asynccontextmanager
async def services(settings: Settings) -> AsyncIterator[Endpoints]:
    """The configured broker and database, or private ones started in the data directory."""
    if settings.mqtt.url and settings.database_url:
        rules_url = settings.rules.mqtt_url or settings.mqtt.url  # its own account, where the broker binds ids
        yield Endpoints(settings.mqtt.url, settings.mqtt.url, rules_url, settings.database_url,
                        _without_password(settings.mqtt.url), _without_password(settings.database_url))
        return
    async with LocalStack(settings.data_dir / "stack") as stack:
        if settings.mqtt.url:
            mqtt = (settings.mqtt.url, settings.mqtt.url, settings.rules.mqtt_url or settings.mqtt.url)
            shown_mqtt = _without_password(settings.mqtt.url)
        else:
            mqtt = (stack.mqtt_url, stack.ingest_mqtt_url, stack.rules_mqtt_url)
            shown_mqtt = f"{stack.mosquitto.url} (accounts and passwords in {stack.secrets_path})"
        if settings.database_url:
            database, shown_database = settings.database_url, _without_password(settings.database_url)
        else:
            database = stack.database_url
            shown_database = f"{stack.postgres.safe_url()} (password in {stack.secrets_path})"
        yield Endpoints(*mqtt, database, shown_mqtt, shown_database)


async def seed_register(settings: Settings, database_url: str) -> int:
    """A generated register for the demo (the simulated city's devices included), once."""
    if not settings.registry.demo_units:
        return 0
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        city = city_units(settings.city.elevators, settings.city.boilers, seed=settings.city.seed)
        count = await seed_demo_register(conn, today=settings.registry.today(), total=settings.registry.demo_units,
                                         given=city, rules=Rules.of(settings.registry))
        await conn.commit()
    if count:
        log.info("equipment register seeded with %d generated units", count)
    return count


# One user per role, so every part of the console can be tried: (username, role, agency, display name).
DEMO_USERS = (("operator", Role.OPERATOR, None, "96333 值班员 (demo)"),
              ("agency", Role.AGENCY, DEMO_AGENCY, "西宁市特种设备检验所 (demo)"),
              ("bureau", Role.BUREAU, None, "市场监管局 (demo)"),
              ("admin", Role.ADMIN, None, "管理员 (demo)"))


async def seed_demo_users(settings: Settings, database_url: str) -> str | None:
    """The demo users, if there are no users at all; their password if they were created now."""
    if not settings.auth.demo_users:
        return None
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        if await count_users(conn):
            return None
    password = demo_password(settings)
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password, password) for _ in DEMO_USERS))
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for (username, role, agency, name), password_hash in zip(DEMO_USERS, hashes, strict=True):
            with contextlib.suppress(UserExists):  # another `semon up` on the same database got there first
                await create_user(conn, username, password_hash, role, agency=agency, display_name=name)
        await conn.commit()
    log.warning("created the demo users %s: change their passwords (semon users passwd) before real use",
                ", ".join(u[0] for u in DEMO_USERS))
    return password


async def _has_users(database_url: str) -> bool:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        return await count_users(conn) > 0


FIRST_ADMIN = ("  users         none yet: create the first administrator (it asks for a password), e.g.\n"
               "                  semon users add NAME --role admin --display-name 'Your Name'\n"
               "                then add the others in the console (admin: Users) or with semon users add\n")


def _users_banner(settings: Settings, created_with: str | None, *, has_users: bool = True) -> str:
    """Shows the demo password once, when the demo users are created; later only where it is kept.
    With no user at all (a real installation), how to create the first administrator."""
    if not has_users:
        return FIRST_ADMIN
    if created_with is None:
        path = demo_password_path(settings)
        demo = (f"; the demo users, where unchanged, log in with the password in {path.resolve()} "
                "(JSON key \"password\")"
                if settings.auth.demo_users and settings.auth.demo_password is None and path.exists() else "")
        return f"  users         as stored (semon users list){demo}\n"
    names = ", ".join(f"{u[0]} ({u[2]})" if u[2] else u[0] for u in DEMO_USERS)
    kept = (f" (kept in {demo_password_path(settings).resolve()}, JSON key \"password\")"
            if settings.auth.demo_password is None else " (SEMON_AUTH_DEMO_PASSWORD)")
    return (f"  users         {names}; password {created_with!r}{kept}\n"
            "                DEMO CREDENTIALS, shown only this once. Before real use, change them\n"
            "                (semon users passwd NAME), or start with SEMON_AUTH_DEMO_USERS=false.\n")


# The private NATS cluster's accounts: the devices (the simulated city, the tools), and semon's
# own services (the ingest workers and the rules engines).
NATS_DEVICES = "semon-devices"
NATS_SERVICES = "semon-services"


@contextlib.asynccontextmanager
async def cluster_stack(settings: Settings, nodes: int) -> AsyncIterator[NatsCluster | None]:
    """``semon up --cluster N``: a private N-node NATS cluster in ``SEMON_DATA_DIR/stack/nats``
    (``None`` without ``--cluster``), its passwords generated at its first start and kept in
    ``nats-credentials.json`` (0600) beside it, its nodes' ports kept for the next start
    (``ports.json``: devices keep their addresses); the devices' account may only publish
    device topics; a node that dies is started again."""
    if not nodes:
        yield None
        return
    root = settings.data_dir / "stack" / "nats"
    secrets = load_secrets(root.parent / "nats-credentials.json", [f"nats:{NATS_DEVICES}", f"nats:{NATS_SERVICES}"])
    accounts = {user: secrets[f"nats:{user}"] for user in (NATS_DEVICES, NATS_SERVICES)}
    async with NatsCluster(root, nodes, partitions=settings.cluster.partitions, accounts=accounts,
                           device_accounts=frozenset({NATS_DEVICES}), remember_ports=True) as cluster:
        watching = asyncio.create_task(cluster.watch(), name="nats-watch")  # a node that dies starts again
        try:
            yield cluster
        finally:
            await _cancelled(watching)


def with_cluster(settings: Settings, cluster: NatsCluster, workers: int = 0) -> Settings:
    """The parts' settings on ``cluster``: its addresses and the services' account, replicas as
    many as it has (up to 3), and ``workers`` ingest workers (0: one per node)."""
    nodes = workers or len(cluster.nodes)
    return settings.model_copy(update={
        "cluster": settings.cluster.model_copy(update={
            "nats_urls": ",".join(cluster.nats_urls()), "user": NATS_SERVICES,
            "password": SecretStr(cluster.password(NATS_SERVICES)), "replicas": cluster.replicas}),
        "ingest": settings.ingest.model_copy(update={"processes": nodes}),
    })


def write_running(settings: Settings, state: dict[str, object]) -> None:
    """running.json holds URLs with passwords: mode 0600, like the secrets it repeats."""
    write_private(state_path(settings), json.dumps(state, indent=2))


def programs_for(settings: Settings, config_path: Path, rules_processes: int = 1) -> list[Program]:
    """The parts of ``semon up`` in start order, as the process manager's programs; the city only
    if it has devices."""
    programs = []
    for name in program_names(settings.ingest.processes, rules_processes):
        if name == "city" and not (settings.city.elevators or settings.city.boilers):
            continue
        part, _, index = name.partition("-")
        args = ("part", part, "--config", str(config_path.resolve()), *(("--index", index) if index else ()))
        programs.append(Program(name, args))
    return programs


async def _keep_parts(manager: PartManager, programs: list[Program], ready: dict[str, dict[str, Any]],
                      started: asyncio.Event, on_restarted: Callable[[], None]) -> None:
    """Start the process manager and the parts in order, each ready before the next (subscribed,
    listening, serving), then watch them until cancelled; then stop them in reverse order. Should
    supervisord itself die, its parts die with it: everything is started again after a backoff,
    and ``on_restarted`` told. Raises PartError if the first start fails.

    The process layer, outside ``semon.periodic``'s: it restarts processes (supervisord and
    the parts it gave up), each part's own loops having waited out every outage inside it."""
    backoff = Backoff(manager.options.backoff_initial_s, manager.options.backoff_max_s)
    while True:
        try:
            await manager.start()
            for program in programs:
                ready[program.name] = await manager.start_part(program.name)
            if started.is_set():
                on_restarted()
            started.set()
            await manager.watch()
        except PartError as exc:
            if not started.is_set():
                raise
            log.error("%s: starting the process manager and every part again", exc)
        finally:
            await manager.stop()
        await backoff.sleep()


def _part_state(settings: Settings, ready: dict[str, dict[str, Any]]) -> dict[str, object]:
    """For running.json: the API's address and the parts' pids at their (last) start."""
    return {"api_url": f"http://{settings.api.host}:{ready['api']['api_port']}/api",
            "parts": {name: record["pid"] for name, record in ready.items()}}


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_up(settings: Settings, *, demo: bool = False, cluster: int = 0, workers: int = 0) -> None:
    """Everything, until cancelled. ``demo`` (``--demo``): the generated register, the simulated
    city and the demo users even against configured services; without it they come only with
    the private stack (``is_demo``). ``cluster`` (``--cluster N``): the devices' traffic on a
    private N-node NATS cluster (``cluster_stack``), with N rules engines and ``workers`` ingest
    workers (``--workers``; 0: N) sharing its stream (docs/scale.md). Raises StartupProblem (one
    line naming the setting) for what the start-up checks find (``assembly.startup``), StackError
    or PartError for a private server or a part that does not start."""
    demo = is_demo(settings, demo)
    settings = with_demo_stations(settings) if demo else without_demo(settings)
    await preflight(settings)
    async with services(settings) as endpoints, cluster_stack(settings, cluster) as nats:
        mqtt_url, database_url = endpoints.mqtt_url, endpoints.database_url
        shown_mqtt = endpoints.shown_mqtt_url
        if nats is not None:  # the devices publish to the cluster's MQTT listeners
            settings = with_cluster(settings, nats, workers)
            mqtt_url = nats.mqtt_urls(NATS_DEVICES)[0]
            shown_mqtt = (f"{', '.join(nats.mqtt_urls())} (NATS cluster of {len(nats.nodes)}, JetStream "
                          f"{', '.join(nats.nats_urls())}; accounts in {nats.root.parent / 'nats-credentials.json'})")
        await apply_migrations(database_url)
        seeded = await seed_register(settings, database_url)
        demo_users = await seed_demo_users(settings, database_url)
        has_users = demo_users is not None or await _has_users(database_url)
        run_dir = settings.data_dir / RUN_DIR
        config_path = run_dir / PARTS_DIR / CONFIG_FILE
        rules_processes = len(nats.nodes) if nats is not None else 1
        programs = programs_for(settings, config_path, rules_processes)
        manager = PartManager(run_dir, programs, ManagerOptions(backoff_initial_s=max(settings.backoff.initial_s, 1.0),
                                                                backoff_max_s=max(settings.backoff.max_s, 30.0)))
        # The URLs carry passwords: the parts read them from this 0600 file, never a command line.
        write_private(config_path, PartsConfig(
            settings_json(settings), mqtt_url, endpoints.ingest_mqtt_url, endpoints.rules_mqtt_url, database_url,
            settings.ingest.processes, rules_processes).as_json())
        stack = contextlib.AsyncExitStack()  # closed below: the parts stopped, then the metrics server
        try:
            try:
                metrics_port = await stack.enter_async_context(serve_metrics(
                    manager.registry, settings.metrics.host, settings.metrics.port,
                    healthy=manager.healthy, status=manager.status, collect=manager.metrics))
            except OSError as exc:  # taken since the check
                raise StartupProblem(f"cannot listen on {settings.metrics.host}:{settings.metrics.port} "
                                     f"(SEMON_METRICS_PORT): {exc.strerror or exc}") from None
            ready: dict[str, dict[str, Any]] = {}
            started = asyncio.Event()
            state: dict[str, object] = {}

            def restarted() -> None:  # the API may have a new port (SEMON_API_PORT=0)
                if state:
                    state.update(_part_state(settings, ready))
                    write_running(settings, state)

            parts = asyncio.create_task(_keep_parts(manager, programs, ready, started, restarted), name="parts")
            stack.push_async_callback(_cancelled, parts)  # the parts stop in reverse order
            waiting = asyncio.create_task(started.wait())
            try:
                await asyncio.wait({parts, waiting}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
            if parts.done():
                await parts  # it failed to start: raises why
        except BaseException:
            await stack.aclose()
            raise
        state.update({
            "pid": os.getpid(),
            "mqtt_url": mqtt_url,
            "database_url": database_url,
            **({"cluster": {"nats_urls": nats.nats_urls(), "mqtt_urls": nats.mqtt_urls(NATS_DEVICES),
                            "partitions": settings.cluster.partitions}} if nats is not None else {}),
            "metrics_url": f"http://{settings.metrics.host}:{metrics_port}/metrics",
            **_part_state(settings, ready),
        })
        city = ""
        if "city" in ready:
            city = (f"  simulated     {settings.city.elevators} elevators and {settings.city.boilers} boilers "
                    "across Xining's 7 districts (SEMON_CITY_ELEVATORS=0 SEMON_CITY_BOILERS=0 for none)\n")
        write_running(settings, state)
        console = console_address(settings.api.host, int(ready["api"]["api_port"]))
        sys.stderr.flush()  # the parts' start-up lines before the banner, not inside it
        print(
            f"semon is up{'' if demo else ' (an installation: no demo data, no simulated city)'}\n"
            f"  MQTT broker   {shown_mqtt}\n"
            f"  database      {endpoints.shown_database_url}\n"
            f"  API           {state['api_url']} (live stream: {state['api_url']}/live)\n"
            f"  metrics       {state['metrics_url']}\n"
            f"  data          {settings.data_dir.resolve()}\n"
            f"{city}"
            f"  register      {'seeded with ' + format(seeded, ',') + ' generated units' if seeded else 'as stored'}\n"
            f"  parts         {', '.join(p.name for p in programs)}, a process each (semon part NAME)\n"
            f"{_users_banner(settings, demo_users, has_users=has_users)}"
            f"  CONSOLE       {console}  <- open this in a browser\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        try:
            await parts  # a part that dies is restarted; Ctrl-C ends this wait
        finally:
            await stack.aclose()
            state_path(settings).unlink(missing_ok=True)
