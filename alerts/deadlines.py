"""The deadline watch: every ``deadline_check_interval_s``, mark the incidents that have missed
their acknowledge or arrival deadline and tell the live consoles.

A late maintenance unit means trapped passengers wait for the second tier, so this task must
outlive a database outage: it logs, backs off and carries on; the escalations it could not
write then happen on the first pass that can.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.hub import LiveHub
from alerts.incident_store import Escalation, escalate_overdue
from alerts.incidents import incident_change
from alerts.live_notify import notify_changes
from semon.backoff import Backoff
from semon.settings import Settings

log = logging.getLogger(__name__)


async def check_deadlines(pool: AsyncConnectionPool, hub: LiveHub, settings: Settings) -> list[Escalation]:
    """One pass: escalate in one transaction, announced to the other processes' live streams in
    it (``alerts.live_notify``), then publish what it committed to this process's hub."""
    async with pool.connection() as conn, conn.transaction():
        escalations = await escalate_overdue(conn, datetime.now(UTC), settings)
        changes = [incident_change(str(e.kind), e.incident, e.step) for e in escalations]
        await notify_changes(conn, changes)
    for change in changes:
        hub.publish(change)
    return escalations


async def run_deadlines(pool: AsyncConnectionPool, hub: LiveHub, settings: Settings) -> None:
    """Runs until cancelled."""
    backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
    failing = False
    while True:
        try:
            await check_deadlines(pool, hub, settings)
        except psycopg.OperationalError as exc:  # the database is away (PoolTimeout is one of these)
            log.warning("deadline check: database unavailable (%s); retrying", exc)
            failing = True
            await backoff.sleep()
            continue
        except psycopg.Error:
            # Not an outage: a bug or a schema mismatch. Still keep watching; say it loudly.
            log.exception("deadline check failed; retrying")
            failing = True
            await backoff.sleep()
            continue
        if failing:
            log.info("deadline check: database back")
            failing = False
        backoff.reset()
        await asyncio.sleep(settings.deadline_check_interval_s)
