"""The alerts service, as the composition root assembles it: the rules engine, the incident
deadlines and the HTTP API with its live stream, with the register's routes, the console and
the register's daily work beside them (notice scans, their delivery, the rate snapshot).
``semon alerts`` runs all of it in one process; ``semon up`` runs each role in a process of its
own (``assembly.parts``): ``rules`` (the engine and the register-profiles refresh), ``api``
(the API, the console and the register's routes) and ``jobs`` (incident deadlines, notice scans
and delivery, rate snapshots). Changes reach the live stream of whichever process serves it
through PostgreSQL LISTEN/NOTIFY (``alerts.live_notify``).

Each background job is a supervised part (``semon.supervise``): one that fails is logged with
its traceback and started again after a backoff while the API and the other jobs go on. The
rules engine is built afresh at each start, from the state it checkpointed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, NoReturn

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.alarm_store import open_alarms, open_alarms_of
from alerts.api import alerts_part
from alerts.deadlines import run_deadlines
from alerts.engine import EngineMetrics, ProfileLookup, RulesEngine, rule_settings
from alerts.hub import LiveHub
from alerts.incident_store import IncidentFilter, list_incidents
from alerts.incidents import Incident
from alerts.live_notify import LiveListener
from alerts.model import Alarm
from alerts.monthly_report import LiftRow
from alerts.partitioned import PartitionedRules
from alerts.register_profiles import RegisterProfiles
from alerts.report_api import ReportSources
from assembly.cluster import cluster_rules
from console import DeviceSources, MapSources, console_part
from ingest.state import device_state_of
from registry.api import registry_part
from registry.due import Rules
from registry.notices import Delivery, run_scans
from registry.outbox import run_outbox
from registry.rate import Formula, run_snapshots
from registry.store import elevators_in_use, locations_of, monitored_units, reschedule_if_changed, unit_entry
from semon.db import apply_migrations
from semon.db.pool import open_pool
from semon.periodic import until_done
from semon.profile import DeviceProfile
from semon.settings import Settings
from semon.supervise import Supervisor
from web.app import create_app, serve_app
from web.proxy import TrustedProxies

log = logging.getLogger(__name__)

ROLES = frozenset({"rules", "api", "jobs"})
# The console's device card reads each table through its owner: the register, the ingester, the alarms.
DEVICE_SOURCES = DeviceSources(register=unit_entry, state=device_state_of, open_alarms=open_alarms_of)


async def register_lifts(conn: AsyncConnection[Any]) -> list[LiftRow]:
    """The monthly report's lifts: the register's elevators in use (registry.store.elevators_in_use)."""
    return [LiftRow(code, maint, owner) for code, maint, owner in await elevators_in_use(conn)]


async def active_incidents(conn: psycopg.AsyncConnection) -> list[Incident]:
    """Every incident not closed nor a false alarm, for the console's map."""
    return await list_incidents(conn, IncidentFilter(active=True, limit=None))


# The console's city map: the open alarms and active incidents, and where the register places their units.
MAP_SOURCES = MapSources(open_alarms=open_alarms, active_incidents=active_incidents, locations=locations_of)


def rules_engine(settings: Settings, mqtt_url: str, pool: AsyncConnectionPool, hub: LiveHub,
                 profiles: ProfileLookup | None = None, metrics: EngineMetrics | None = None) -> RulesEngine:
    """The rules engine on ``mqtt_url`` (its own account), with its sections of ``settings``."""
    return RulesEngine(settings.rules, settings.mqtt, mqtt_url, pool, hub, profiles, metrics,
                       incidents=settings.incidents, telemetry=settings.telemetry, backoff=settings.backoff,
                       register=unit_entry)


class AlertsService:
    def __init__(self, settings: Settings, mqtt_url: str, database_url: str,
                 profiles: ProfileLookup | None = None, supervisor: Supervisor | None = None,
                 roles: frozenset[str] = ROLES) -> None:
        """``supervisor``: where the service's jobs are supervised (as ``alerts/<job>``); by
        default one of its own. ``roles``: which of ``ROLES`` this process runs (all by default).
        Raises ValueError for an unknown or missing role."""
        if not roles or not roles <= ROLES:
            raise ValueError(f"roles must be some of {sorted(ROLES)}, not {sorted(roles)}")
        self.roles = roles
        self.settings = settings
        self.mqtt_url = mqtt_url
        self.database_url = database_url
        # The register decides; what it does not know, the given lookup (or defaults by kind).
        self.register = RegisterProfiles(monitored_units, profiles, rule_settings(settings.rules).entrapment)
        self.hub = LiveHub(settings.api.live_queue_size)
        self.supervisor = supervisor or Supervisor(backoff_initial_s=settings.backoff.initial_s,
                                                   backoff_max_s=settings.backoff.max_s)
        self.engine_metrics = EngineMetrics()  # counts across the engine's restarts
        self.registry = self.engine_metrics.registry
        self.engine: RulesEngine | None = None
        self.partitioned: PartitionedRules | None = None  # cluster mode's engines (docs/scale.md)
        self.listener: LiveListener | None = None
        self.api_port: int | None = None
        self.ready = asyncio.Event()
        self._engine_ready = asyncio.Event()

    async def _scan_notices(self, pool: AsyncConnectionPool) -> NoReturn:
        """Bring the stored due dates up to the rules (when the rules or the scheme settings
        changed since they were computed), then scan for notices from then on."""
        s = self.settings

        async def reschedule() -> int:
            async with pool.connection() as conn:
                return await reschedule_if_changed(conn, Rules.of(s.registry))

        await until_done("register rules", reschedule, log=log, backoff=s.backoff.backoff())
        await run_scans(pool, s.notices, s.registry, s.backoff)

    async def run(self) -> None:
        await apply_migrations(self.database_url)
        s = self.settings
        async with open_pool(self.database_url, min_size=2, max_size=10, name="semon-alerts") as pool, \
                self.supervisor.scope("alerts") as parts:
            if "rules" in self.roles:
                # The first messages are judged with the register's profiles, not the fallback.
                with contextlib.suppress(psycopg.Error, TimeoutError):
                    await self.register.load(pool, s.registry.today())
                parts.start("rules-engine", lambda: self._run_engine(pool), check=self._engine_up)
                parts.start("register-profiles",
                            lambda: self.register.run(pool, s.registry.refresh_s, self._apply_profiles,
                                                      s.registry.today, backoff=s.backoff.backoff()))
            if "jobs" in self.roles:
                parts.start("incident-deadlines", lambda: run_deadlines(pool, self.hub, s.incidents, s.backoff))
                parts.start("notice-scans", lambda: self._scan_notices(pool))
                parts.start("rate-snapshots",
                            lambda: run_snapshots(pool, backoff=s.backoff.backoff(), tz=s.registry.timezone,
                                                  formula=Formula(s.registry.rate_formula)))
                if s.notices.delivery:
                    parts.start("notice-outbox", lambda: run_outbox(pool, s.notices, s.smtp, s.backoff))
            if "api" in self.roles:
                listener = self.listener = LiveListener(pool, self.hub, s.backoff.backoff())
                parts.start("live-listener", listener.run, check=listener.listening.is_set)
                # One application: the alerts, the register and the operator console (pages,
                # static files, device cards), each with its own role rules.
                # Each part gets the sections it reads; the shell only the auth section.
                # An incident copies the register's entry of its unit (area, place, rescue code,
                # maintenance unit and its contacts) through the register's own function; the
                # monthly report counts the register's elevators in use.
                report = ReportSources(lifts=register_lifts, timezone=s.registry.timezone)
                routes = [alerts_part(pool, self.hub, s.incidents, register=unit_entry,
                                      on_alarm_cleared=self._closed_by_operator, report=report),
                          registry_part(pool, s.registry, Delivery(s.notices.delivery, s.smtp.host)),
                          console_part(pool, DEVICE_SOURCES, s.registry, maps=MAP_SOURCES)]
                app = create_app(pool, s.auth, routes, backoff=s.backoff.backoff(),
                                 proxies=TrustedProxies.of(s.api.trusted_proxies))
                async with serve_app(app, s.api.host, s.api.port, access_log=s.api.access_log) as port:
                    self.api_port = port
                    log.info("alerts API on http://%s:%d/api (live stream /api/live)", s.api.host, port)
                    await listener.listening.wait()  # no console connects before changes reach it
                    await self._serve()
            else:
                await self._serve()

    async def _serve(self) -> None:
        """Ready once the engine (if this process runs it) has subscribed; then until cancelled,
        while the parts run in their own tasks."""
        if "rules" in self.roles:
            await self._engine_ready.wait()
        self.ready.set()
        await asyncio.Event().wait()

    async def _run_engine(self, pool: AsyncConnectionPool) -> None:
        if self.settings.cluster.enabled:
            await self._run_partitions(pool)
            return
        engine = self.engine = rules_engine(self.settings, self.mqtt_url, pool, self.hub, self.register,
                                            self.engine_metrics)

        async def announce() -> None:  # ready once the first engine has subscribed
            await engine.ready.wait()
            await engine.session.connected.wait()
            self._engine_ready.set()

        announcing = asyncio.create_task(announce())
        try:
            await engine.run()
        finally:
            announcing.cancel()

    async def _run_partitions(self, pool: AsyncConnectionPool) -> None:
        """Cluster mode: an engine for each partition this process holds, built afresh at each start."""
        rules = self.partitioned = cluster_rules(self.settings, pool, self.hub, self.register, self.engine_metrics)

        async def announce() -> None:  # ready once the first round of leases is done
            await rules.ready.wait()
            self._engine_ready.set()

        announcing = asyncio.create_task(announce())
        try:
            await rules.run()
        finally:
            announcing.cancel()

    def _engine_up(self) -> bool:
        if self.partitioned is not None:
            return self.partitioned.ready.is_set()
        return self.engine is not None and self.engine.session.connected.is_set()

    def _closed_by_operator(self, alarm: Alarm) -> None:
        if self.partitioned is not None:
            self.partitioned.closed_by_operator(alarm)
        if self.engine is not None:
            self.engine.closed_by_operator(alarm)

    def _apply_profiles(self, profiles: dict[str, DeviceProfile]) -> None:
        if self.partitioned is not None:
            self.partitioned.apply_profiles(profiles)
        if self.engine is not None:
            self.engine.apply_profiles(profiles)
