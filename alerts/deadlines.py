"""The deadline watch: every ``IncidentSettings.check_interval_s``, mark the incidents that have missed
their acknowledge, response or arrival deadline, escalate them to the next tier of rescue, and
tell the live consoles (one change per recorded step).

A late maintenance unit means trapped passengers wait for the second tier, so this task must
outlive a database outage: it logs, backs off and carries on; the escalations it could not
write then happen on the first pass that can.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import NoReturn

from psycopg_pool import AsyncConnectionPool

from alerts.hub import LiveHub
from alerts.incident_store import Escalation, escalate_overdue
from alerts.incidents import incident_change
from alerts.live_notify import notify_changes
from semon.periodic import every
from semon.settings import BackoffSettings, IncidentSettings

log = logging.getLogger(__name__)


async def check_deadlines(pool: AsyncConnectionPool, hub: LiveHub, settings: IncidentSettings) -> list[Escalation]:
    """One pass: escalate in one transaction, announced to the other processes' live streams in
    it (``alerts.live_notify``), then publish what it committed to this process's hub."""
    async with pool.connection() as conn, conn.transaction():
        escalations = await escalate_overdue(conn, datetime.now(UTC), settings)
        changes = [incident_change(str(step.step), e.incident, step) for e in escalations for step in e.steps]
        await notify_changes(conn, changes)
    for change in changes:
        hub.publish(change)
    return escalations


async def run_deadlines(pool: AsyncConnectionPool, hub: LiveHub, settings: IncidentSettings,
                        backoff: BackoffSettings) -> NoReturn:
    """Every ``settings.check_interval_s`` until cancelled (``semon.periodic``: an outage warns
    and backs off, any other error logs its traceback and backs off)."""
    await every("deadline check", settings.check_interval_s, lambda: check_deadlines(pool, hub, settings),
                log=log, backoff=backoff.backoff())
