"""The alerts service: the rules engine, the incident deadlines and the HTTP API with its live
stream, on one connection pool and one live hub, with the register's daily work beside them
(notice scans, their delivery, the rate snapshot). ``semon alerts`` runs it alone; ``semon up``
runs it beside the ingester."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from alerts.api import build_api, serve_api
from alerts.deadlines import run_deadlines
from alerts.engine import ProfileLookup, RulesEngine
from alerts.hub import LiveHub
from alerts.register_profiles import RegisterProfiles
from console import add_console
from registry.api import add_registry_routes
from registry.notices import run_scans
from registry.outbox import run_outbox
from registry.rate import run_snapshots
from semon.db import apply_migrations
from semon.db.pool import open_pool
from semon.settings import Settings

log = logging.getLogger(__name__)


class AlertsService:
    def __init__(self, settings: Settings, mqtt_url: str, database_url: str,
                 profiles: ProfileLookup | None = None) -> None:
        self.settings = settings
        self.mqtt_url = mqtt_url
        self.database_url = database_url
        # The register decides; what it does not know, the given lookup (or defaults by kind).
        self.register = RegisterProfiles(profiles)
        self.hub = LiveHub(settings.live_queue_size)
        self.engine: RulesEngine | None = None
        self.api_port: int | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        await apply_migrations(self.database_url)
        s = self.settings
        async with open_pool(self.database_url, min_size=2, max_size=10, name="semon-alerts") as pool:
            # The first messages are judged with the register's profiles, not the fallback.
            with contextlib.suppress(psycopg.Error, TimeoutError):
                await self.register.load(pool, s.today())
            engine = self.engine = RulesEngine(s, self.mqtt_url, pool, self.hub, self.register)
            app = build_api(pool, self.hub, s, on_alarm_cleared=engine.closed_by_operator)
            add_registry_routes(app, pool)  # the register is served by the same application
            add_console(app, pool)  # the operator console: pages, static files, device cards
            async with serve_api(app, s.api_host, s.api_port) as port, asyncio.TaskGroup() as tg:
                self.api_port = port
                log.info("alerts API on http://%s:%d/api (live stream /api/live)", s.api_host, port)
                tg.create_task(engine.run(), name="rules-engine")
                tg.create_task(run_deadlines(pool, self.hub, s), name="incident-deadlines")
                tg.create_task(self.register.run(pool, s.registry_refresh_s, engine.apply_profiles, s.today),
                               name="register-profiles")
                tg.create_task(run_scans(pool, s), name="notice-scans")
                tg.create_task(run_snapshots(pool, tz=s.notice_timezone), name="rate-snapshots")
                if s.notice_delivery:
                    tg.create_task(run_outbox(pool, s), name="notice-outbox")
                await engine.ready.wait()
                await engine.session.connected.wait()
                self.ready.set()
