"""Rescue incidents in PostgreSQL: opening one with its alarm, the operators' steps under a row
lock, the system's notes, and the deadline escalations. The rules live in ``alerts.incidents``;
this module only reads, locks and writes.

Every function takes a connection and leaves the commit to the caller (the pool's
``connection()`` block, or the engine's transaction), so an incident and its alarm commit
together. Changes are published by the caller after the commit, never before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from alerts.alarm_store import clear_alarm_by_id
from alerts.filters import where_clause
from alerts.incidents import (
    INCIDENT_FIELDS,
    SYSTEM_ACTOR,
    Incident,
    IncidentNotFound,
    IncidentState,
    IncidentStep,
    Overdue,
    Step,
    StepRequest,
    ack_deadline,
    escalation_updates,
    overdue,
    plan_step,
)
from alerts.model import Alarm
from semon.settings import IncidentSettings

log = logging.getLogger(__name__)

INCIDENT_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in INCIDENT_FIELDS)
_STEP_COLUMNS = "id, incident_id, step, actor, at, comment, details"

# Why the desk cleared an alarm, by the step that ended the incident.
CLEAR_REASONS: dict[IncidentState, str] = {
    IncidentState.CLOSED: "closed by operator",
    IncidentState.FALSE_ALARM: "false alarm",
}


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What a step did: the incident after it, the recorded step, and the alarm it cleared (the
    caller tells the rules engine, which otherwise still holds the alarm as open)."""

    incident: Incident
    step: IncidentStep
    cleared_alarm: Alarm | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    kind: Overdue
    incident: Incident
    step: IncidentStep


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    state: IncidentState | None = None
    active: bool | None = None  # True: not closed and not a false alarm
    district: str | None = None
    maintenance_unit: str | None = None
    since: datetime | None = None  # on raised_at, inclusive
    until: datetime | None = None  # on raised_at, exclusive
    limit: int | None = 100


def incident_from_row(row: tuple[Any, ...]) -> Incident:
    values = dict(zip(INCIDENT_FIELDS, row, strict=True))
    values["state"] = IncidentState(values["state"])
    return Incident(**values)


def step_from_row(row: tuple[Any, ...]) -> IncidentStep:
    id_, incident_id, step, actor, at, comment, details = row
    return IncidentStep(id_, incident_id, Step(step), actor, at, comment, details or {})


async def open_incident(conn: AsyncConnection, alarm: Alarm, settings: IncidentSettings) -> Incident:
    """Open the incident of an entrapment alarm, inside the transaction that raised it.

    The clock starts when the centre learnt of the alarm (``raised_seen_at``), not at the device's
    own start of the condition: a device clock off by minutes, or a backlog replayed after an
    outage, must not make an incident overdue before anyone could see it.
    """
    raised_at = alarm.raised_seen_at
    cur = await conn.execute(
        sql.SQL("""INSERT INTO incidents (alarm_id, device_id, district_code, raised_at, ack_deadline, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s) RETURNING {}""").format(INCIDENT_COLUMNS),
        (alarm.id, alarm.device_id, alarm.district_code, raised_at, ack_deadline(raised_at, settings), raised_at),
    )
    row = await cur.fetchone()
    assert row is not None  # INSERT ... RETURNING always returns its row
    incident = incident_from_row(row)
    await _add_step(conn, incident.id, Step.RAISED, SYSTEM_ACTOR, raised_at, None,
                    {"alarm_id": alarm.id, "type": str(alarm.type), "device_raised_at": alarm.raised_at.isoformat()})
    log.info("incident %d opened for alarm %d (%s on %s)", incident.id, alarm.id, alarm.type, alarm.device_id)
    return incident


async def apply_step(conn: AsyncConnection, incident_id: int, step: Step, actor: str, comment: str | None = None,
                     *, maintenance_unit: str | None = None, contact: str | None = None, cause: str | None = None,
                     now: datetime, settings: IncidentSettings) -> StepOutcome:
    """An operator's step. The row lock makes concurrent steps queue: of two operators
    acknowledging at once, the second sees "acknowledged" and gets StepNotAllowed."""
    request = StepRequest(step, actor, comment, maintenance_unit, contact, cause)
    async with conn.transaction():
        incident = await _locked(conn, incident_id)
        updates = plan_step(incident, request, now, settings)
        updated = await _update(conn, incident_id, updates)
        details: dict[str, Any] = {}
        if step is Step.DISPATCHED:
            details = {"maintenance_unit": updated.maintenance_unit, "contact": updated.maintenance_contact,
                       "arrival_deadline": updated.arrival_deadline.isoformat() if updated.arrival_deadline else None}
        if "cause" in updates:
            details["cause"] = updates["cause"]
        cleared = None
        reason = CLEAR_REASONS.get(updated.state)
        if reason is not None:
            cleared = await clear_alarm_by_id(conn, updated.alarm_id, cleared_at=now, reason=reason)
            if cleared is not None:
                details["alarm_cleared"] = cleared.id
        recorded = await _add_step(conn, incident_id, step, actor, now, comment, details)
    log.info("incident %d: %s by %s", incident_id, step, actor)
    return StepOutcome(updated, recorded, cleared)


async def add_comment(conn: AsyncConnection, incident_id: int, actor: str, comment: str, *,
                      now: datetime) -> StepOutcome:
    """A note on an incident in any state, closed ones included (the follow-up often comes later)."""
    cur = await conn.execute(
        sql.SQL("UPDATE incidents SET updated_at = %s WHERE id = %s RETURNING {}").format(INCIDENT_COLUMNS),
        (now, incident_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise IncidentNotFound(incident_id)
    recorded = await _add_step(conn, incident_id, Step.COMMENT, actor, now, comment, {})
    return StepOutcome(incident_from_row(row), recorded)


async def note_alarm_cleared(conn: AsyncConnection, alarm: Alarm, now: datetime) -> Incident | None:
    """The device shows the passengers are out: a system step "alarm_cleared" on the alarm's open
    incident, whose state stays (an operator still closes it); None if there is no open incident."""
    cur = await conn.execute(
        sql.SQL("""UPDATE incidents SET updated_at = %s
                   WHERE alarm_id = %s AND state NOT IN ('closed', 'false_alarm') RETURNING {}""")
        .format(INCIDENT_COLUMNS),
        (now, alarm.id),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    incident = incident_from_row(row)
    await _add_step(conn, incident.id, Step.ALARM_CLEARED, SYSTEM_ACTOR, now, None,
                    {"alarm_id": alarm.id, "reason": alarm.clear_reason})
    return incident


async def get_incident(conn: AsyncConnection, incident_id: int) -> tuple[Incident, list[IncidentStep]] | None:
    """The incident and its steps in the order they were taken."""
    cur = await conn.execute(sql.SQL("SELECT {} FROM incidents WHERE id = %s").format(INCIDENT_COLUMNS),
                             (incident_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    cur = await conn.execute(f"SELECT {_STEP_COLUMNS} FROM incident_steps WHERE incident_id = %s ORDER BY id",
                             (incident_id,))
    return incident_from_row(row), [step_from_row(r) for r in await cur.fetchall()]


async def list_incidents(conn: AsyncConnection, filters: IncidentFilter) -> list[Incident]:
    """Newest first."""
    active: list[sql.Composable] = []
    if filters.active is not None:
        active.append(sql.SQL("state NOT IN ('closed', 'false_alarm')" if filters.active
                              else "state IN ('closed', 'false_alarm')"))
    equal = (("state", filters.state), ("district_code", filters.district),
             ("maintenance_unit", filters.maintenance_unit))
    where, params = where_clause(equal, filters.since, filters.until, active)
    query = sql.SQL("SELECT {} FROM incidents").format(INCIDENT_COLUMNS) + where
    query = sql.SQL("{} ORDER BY raised_at DESC, id DESC").format(query)
    if filters.limit is not None:
        query = sql.SQL("{} LIMIT %s").format(query)
        params.append(filters.limit)
    cur = await conn.execute(query, params)
    return [incident_from_row(r) for r in await cur.fetchall()]


async def escalate_overdue(conn: AsyncConnection, now: datetime, settings: IncidentSettings) -> list[Escalation]:
    """Mark the incidents that have newly missed a deadline at ``now``: unacknowledged past the
    ack deadline (ack_late, a step "ack_overdue"), or dispatched and not on site past the arrival
    deadline (arrival_late, the second tier, a step "escalated"). Each happens once per incident.

    SKIP LOCKED: an incident an operator is stepping right now is left to the next pass, and
    several API processes may run this check side by side without doing anything twice.
    """
    escalations: list[Escalation] = []
    async with conn.transaction():
        # The SQL narrows the candidates by index; ``overdue`` is the one place that decides.
        cur = await conn.execute(
            sql.SQL("""SELECT {} FROM incidents
                       WHERE (state = 'raised' AND NOT ack_late AND ack_deadline < %(now)s)
                          OR (state = 'dispatched' AND escalated_at IS NULL AND NOT arrival_late
                              AND arrival_deadline < %(now)s)
                       ORDER BY id FOR UPDATE SKIP LOCKED""").format(INCIDENT_COLUMNS),
            {"now": now},
        )
        # Rarely more than a handful per pass, so one UPDATE each keeps it plain.
        for candidate in [incident_from_row(r) for r in await cur.fetchall()]:
            kind = overdue(candidate, now)
            if kind is None:
                continue
            updated = await _update(conn, candidate.id, escalation_updates(kind, now, settings))
            if kind is Overdue.ACK:
                details: dict[str, Any] = {"ack_deadline": candidate.ack_deadline.isoformat()}
            else:
                assert candidate.arrival_deadline is not None  # overdue() checked it
                details = {"arrival_deadline": candidate.arrival_deadline.isoformat(),
                           "maintenance_unit": candidate.maintenance_unit, "second_tier": updated.second_tier}
            recorded = await _add_step(conn, candidate.id, Step(kind.value), SYSTEM_ACTOR, now, None, details)
            escalations.append(Escalation(kind, updated, recorded))
            log.warning("incident %d on %s: %s (maintenance unit %s)", candidate.id, candidate.device_id, kind,
                        candidate.maintenance_unit)
    return escalations


async def _locked(conn: AsyncConnection, incident_id: int) -> Incident:
    cur = await conn.execute(sql.SQL("SELECT {} FROM incidents WHERE id = %s FOR UPDATE").format(INCIDENT_COLUMNS),
                             (incident_id,))
    row = await cur.fetchone()
    if row is None:
        raise IncidentNotFound(incident_id)
    return incident_from_row(row)


async def _update(conn: AsyncConnection, incident_id: int, updates: dict[str, Any]) -> Incident:
    # Column names come from alerts.incidents, never from a request.
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(column)) for column in updates)
    values = [str(v) if isinstance(v, IncidentState) else v for v in updates.values()]
    cur = await conn.execute(
        sql.SQL("UPDATE incidents SET {} WHERE id = %s RETURNING {}").format(assignments, INCIDENT_COLUMNS),
        [*values, incident_id],
    )
    row = await cur.fetchone()
    if row is None:
        raise IncidentNotFound(incident_id)
    return incident_from_row(row)


async def _add_step(conn: AsyncConnection, incident_id: int, step: Step, actor: str, at: datetime,
                    comment: str | None, details: dict[str, Any]) -> IncidentStep:
    cur = await conn.execute(
        f"""INSERT INTO incident_steps (incident_id, step, actor, at, comment, details)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_STEP_COLUMNS}""",
        (incident_id, str(step), actor, at, comment, Jsonb(details)),
    )
    row = await cur.fetchone()
    assert row is not None  # INSERT ... RETURNING always returns its row
    return step_from_row(row)
