"""``semon part NAME``: one part of ``semon up`` in a process of its own, started by the process
manager ``semon up`` runs (``assembly.part_manager``).

A process per part keeps the alarms away from the telemetry: the rules engine has a core's worth
of scheduling of its own, and neither the ingester's backlog nor the simulated city's load can
hold its event loop. The parts:

| name | what runs in it |
|---|---|
| ``ingest`` | the MQTT → TimescaleDB ingester (several, on a shared subscription, if configured) |
| ``rules`` | the rules engine and the register-profiles refresh |
| ``api`` | the HTTP API with its live stream, the console and the register's routes |
| ``jobs`` | incident deadlines, notice scans and delivery, rate snapshots |
| ``city`` | the simulated city |

Each reads its settings and the stack's URLs (they carry passwords: never on a command line)
from the 0600 file ``semon up`` wrote, serves its own ``/metrics`` and ``/healthz`` on a free
port, and once ready writes ``{run}/parts/{name}.json`` (0600): its pid, metrics port and, for
the API, the API port. Inside, its jobs are supervised as in any semon service: one that fails
is restarted with backoff while the rest go on; the process manager restarts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semon.heap import freeze_periodically, heap_metrics
from semon.metrics import include
from semon.settings import CitySettings, MqttSettings, Settings
from semon.stack.process import write_private
from semon.supervise import Supervisor

if TYPE_CHECKING:  # the parts' modules are imported by the part that runs them only
    from prometheus_client import CollectorRegistry

    from ingest.service import Ingester
    from registry.demo import GivenUnit
    from semon.profile import DeviceProfile
    from simulators.service import SimulationOptions

log = logging.getLogger(__name__)

PART_NAMES = ("ingest", "rules", "api", "jobs", "city")
CONFIG_FILE = "config.json"


@dataclass(frozen=True, slots=True)
class PartsConfig:
    """What ``semon up`` hands its parts, in ``{run}/parts/config.json`` (0600).

    ``settings``: every setting, as JSON; the URLs: each part's own account on the broker
    (``devices_mqtt_url`` for the simulated city), and the database's; ``ingest_processes``:
    how many ingest processes share the subscription; ``rules_processes``: how many rules
    processes share the partitions (cluster mode only, docs/scale.md)."""

    settings: dict[str, Any]
    devices_mqtt_url: str
    ingest_mqtt_url: str
    rules_mqtt_url: str
    database_url: str
    ingest_processes: int = 1
    rules_processes: int = 1

    def as_json(self) -> str:
        return json.dumps({"settings": self.settings, "devices_mqtt_url": self.devices_mqtt_url,
                           "ingest_mqtt_url": self.ingest_mqtt_url, "rules_mqtt_url": self.rules_mqtt_url,
                           "database_url": self.database_url, "ingest_processes": self.ingest_processes,
                           "rules_processes": self.rules_processes})

    @classmethod
    def read(cls, path: Path) -> PartsConfig:
        """Raises OSError, ValueError or TypeError for a missing or malformed file."""
        data = json.loads(path.read_text())
        return cls(**data)


def settings_json(settings: Settings) -> dict[str, Any]:
    """``settings`` as JSON that ``Settings(**...)`` takes back, secrets included (the file is
    0600): ``{"database_url": …, "ingest": {"client_id": …, …}, …}``, a section per key."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    if settings.auth.demo_password is not None:
        data["auth"]["demo_password"] = settings.auth.demo_password.get_secret_value()
    data["cluster"]["password"] = settings.cluster.password.get_secret_value()
    return data


def program_names(ingest_processes: int, rules_processes: int = 1) -> list[str]:
    """The process manager's program names, in start order: ``ingest`` (or ``ingest-1`` …
    ``ingest-N``), ``rules`` (or ``rules-1`` … ``rules-M``), ``api``, ``jobs``, ``city``."""
    def numbered(name: str, count: int) -> list[str]:
        return [name] if count == 1 else [f"{name}-{i}" for i in range(1, count + 1)]

    return [*numbered("ingest", ingest_processes), *numbered("rules", rules_processes), "api", "jobs", "city"]


def ingest_settings(settings: Settings, index: int, processes: int) -> Settings:
    """The settings of ingest process ``index`` (1-based) of ``processes``: with more than one,
    each has a client id of its own and they share one subscription (the configured share
    group, or ``semon-up``)."""
    update: dict[str, Any] = {"metrics": settings.metrics.model_copy(update={"port": 0})}
    if processes > 1:
        update["ingest"] = settings.ingest.model_copy(update={
            "client_id": f"{settings.ingest.client_id}-{index}",
            "share_group": settings.ingest.share_group or "semon-up"})
    return settings.model_copy(update=update)


def city_options(settings: CitySettings) -> SimulationOptions:
    from simulators.core import Periods
    from simulators.service import SimulationOptions

    return SimulationOptions(elevators=settings.elevators, boilers=settings.boilers, seed=settings.seed,
                             fault_interval_s=settings.fault_interval_s, periods=Periods())


def city_units(elevators: int, boilers: int, *, seed: int = 1) -> list[GivenUnit]:
    """The simulated city's devices as the generated register holds them (registry.demo): the
    same registration codes, districts, addresses, positions and rated values as the devices that run."""
    from registry.demo import GivenUnit
    from simulators.boiler import BoilerSpec
    from simulators.city import city_fleet

    units = []
    for device in city_fleet(elevators, boilers, seed=seed):
        spec = device.spec
        if isinstance(spec, BoilerSpec):
            rated: dict[str, Any] = {"medium": spec.medium, "rated_pressure_mpa": spec.rated_pressure_mpa,
                                     "rated_outlet_temp_c": spec.rated_outlet_temp_c}
        else:
            rated = {"floors": len(spec.landings), "rated_speed_mps": spec.rated_speed_mps,
                     "reports_events": spec.reports_events}
        units.append(GivenUnit(device.device_id, str(device.kind), device.district, device.address,
                               device.installed_year, rated, device.location))
    return units


def city_profiles(settings: CitySettings) -> dict[str, DeviceProfile]:
    """The simulated devices' profiles, for the rules until the register holds them."""
    from simulators.city import city_fleet
    from simulators.profiles import profiles_for

    fleet = city_fleet(settings.elevators, settings.boilers, seed=settings.seed)
    return profiles_for((d.device_id, d.spec) for d in fleet)


def new_ingester(settings: Settings, mqtt_url: str, database_url: str) -> Ingester:
    """The ingester on ``mqtt_url`` (its own account) and ``database_url``, with its sections of
    ``settings`` and the register's reader (for ``SEMON_INGEST_REJECT_UNREGISTERED``)."""
    from ingest.service import Ingester
    from registry.store import registration_codes

    source = None
    if settings.cluster.enabled:  # cluster mode: the stream's shared consumer instead of MQTT
        from assembly.cluster import ingest_source

        source = ingest_source(settings, f"{settings.ingest.client_id}-{os.getpid()}")
    return Ingester(settings.ingest, settings.mqtt, mqtt_url, database_url, telemetry=settings.telemetry,
                    metrics=settings.metrics, backoff=settings.backoff, register_codes=registration_codes,
                    register_refresh_s=settings.registry.refresh_s, source=source)


class _Ingest:
    """The ingester, built afresh at each start; ready once subscribed."""

    def __init__(self, settings: Settings, mqtt_url: str, database_url: str) -> None:
        self.settings, self.mqtt_url, self.database_url = settings, mqtt_url, database_url
        self.ingester: Ingester | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        ingester = self.ingester = new_ingester(self.settings, self.mqtt_url, self.database_url)

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

    def registry(self) -> CollectorRegistry | None:
        return self.ingester.metrics.registry if self.ingester is not None else None


class _City:
    """The simulated city, built afresh at each start; ready once its devices first connected."""

    def __init__(self, mqtt_url: str, city: CitySettings, mqtt: MqttSettings) -> None:
        self.mqtt_url, self.city, self.mqtt = mqtt_url, city, mqtt
        self.ready = asyncio.Event()

    async def run(self) -> None:
        from simulators.service import Simulation

        simulation = Simulation(self.mqtt_url, city_options(self.city), tls=self.mqtt)

        async def announce() -> None:
            await simulation.connected.wait()
            self.ready.set()

        announcing = asyncio.create_task(announce())
        try:
            await simulation.run()
        finally:
            announcing.cancel()


@dataclass(slots=True)
class _Started:
    ready: Callable[[], Awaitable[object]]
    api_port: Callable[[], int | None] = lambda: None


def _start(name: str, index: int, config: PartsConfig, settings: Settings, supervisor: Supervisor) -> _Started:
    if name == "ingest":
        ingest = _Ingest(ingest_settings(settings, index, config.ingest_processes), config.ingest_mqtt_url,
                         config.database_url)
        include(supervisor.registry, ingest.registry)
        supervisor.start("ingest", ingest.run, check=ingest.connected)
        return _Started(ingest.ready.wait)
    if name in ("rules", "api", "jobs"):
        from assembly.alerts_service import AlertsService
        from semon.profile import DeviceProfile

        profiles = city_profiles(settings.city) if name == "rules" else {}
        if name == "rules" and config.rules_processes > 1:  # each a member of its own among the engines
            settings = settings.model_copy(update={"rules": settings.rules.model_copy(
                update={"client_id": f"{settings.rules.client_id}-{index}"})})
        alerts = AlertsService(settings, config.rules_mqtt_url, config.database_url,
                               lambda device_id, kind: profiles.get(device_id) or DeviceProfile(kind),
                               supervisor=supervisor, roles=frozenset({name}))
        if name == "rules":
            include(supervisor.registry, lambda: alerts.registry)
            heap = heap_metrics()
            include(supervisor.registry, lambda: heap)
            # the fleet's state out of the collector's walks
            supervisor.start("heap", lambda: freeze_periodically(settings.backoff.backoff()))
        supervisor.start("alerts", alerts.run)
        return _Started(alerts.ready.wait, lambda: alerts.api_port)
    if name == "city":
        city = _City(config.devices_mqtt_url, settings.city, settings.mqtt)
        supervisor.start("simulated-city", city.run)
        return _Started(city.ready.wait)
    raise ValueError(f"no part named {name!r}; the parts are {', '.join(PART_NAMES)}")


# The parts that yield the CPU to the alarm path (rules, api) when it is short: telemetry grows
# stale under overload, an entrapment does not wait (SEMON_UP_TELEMETRY_NICE).
YIELDING = frozenset({"ingest", "jobs", "city"})


def ready_path(config_path: Path, program: str) -> Path:
    return config_path.parent / f"{program}.json"


async def run_part(name: str, config_path: Path, index: int = 1) -> None:
    """Run part ``name`` (``PART_NAMES``) until cancelled; ``index``: which ingest or rules process.
    Raises ValueError for an unknown name, OSError/ValueError for an unreadable config."""
    if name not in PART_NAMES:
        raise ValueError(f"no part named {name!r}; the parts are {', '.join(PART_NAMES)}")
    config = PartsConfig.read(config_path)
    given = Settings(**config.settings)
    settings = given.model_copy(update={
        "metrics": given.metrics.model_copy(update={"port": 0}),
        **({} if name == "api" else {"api": given.api.model_copy(update={"port": 0})})})
    processes = {"ingest": config.ingest_processes, "rules": config.rules_processes}.get(name, 1)
    program = name if processes == 1 else f"{name}-{index}"
    if name in YIELDING and settings.up.telemetry_nice:
        os.setpriority(os.PRIO_PROCESS, 0, settings.up.telemetry_nice)  # (only ever lowered: no privilege needed)
    ready_file = ready_path(config_path, program)
    supervisor = Supervisor(backoff_initial_s=settings.backoff.initial_s, backoff_max_s=settings.backoff.max_s)
    from semon.metrics_http import serve_metrics

    async with supervisor, serve_metrics(supervisor.registry, settings.metrics.host, 0,
                                         healthy=supervisor.healthy, status=supervisor.status) as metrics_port:
        started = _start(name, index, config, settings, supervisor)
        await started.ready()
        write_private(ready_file, json.dumps({"pid": os.getpid(), "part": program, "metrics_port": metrics_port,
                                              "api_port": started.api_port()}))
        log.info("part %s ready (pid %d, metrics on port %d)", program, os.getpid(), metrics_port)
        try:
            await supervisor.wait()
        finally:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(ready_file.read_text()).get("pid") == os.getpid():
                    ready_file.unlink()
