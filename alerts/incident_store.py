"""Rescue incidents in PostgreSQL: opening one with its alarm or from a phone call, linking a
device's later alarm to the open one, the operators' steps under a row lock, the system's notes,
the deadline escalations, the shift's lists and its handover. The rules live in
``alerts.incidents``; this module only reads, locks and writes.

Every function takes a connection and leaves the commit to the caller (the pool's
``connection()`` block, or the engine's transaction), so an incident and its alarm commit
together. Changes are published by the caller after the commit, never before.

One device has at most one open incident: the database holds it (``incidents_one_open``), and
both ways of opening one insert ``ON CONFLICT DO NOTHING`` on that index, so a phone call and the
device's own alarm arriving together make one incident, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from alerts.alarm_store import clear_alarm_by_id
from alerts.filters import where_clause
from alerts.incidents import (
    INCIDENT_FIELDS,
    SYSTEM_ACTOR,
    TIER_MAINTENANCE,
    CauseClass,
    Incident,
    IncidentNotFound,
    IncidentOpen,
    IncidentState,
    IncidentStep,
    Overdue,
    RegisterFacts,
    Source,
    Step,
    StepRequest,
    ack_deadline,
    deadline_plan,
    incident_of,
    no_answer_callee,
    phone_report_refusal,
    plan_step,
    stale_view,
)
from alerts.model import Alarm
from semon.db.errors import is_outage
from semon.settings import IncidentSettings

log = logging.getLogger(__name__)

INCIDENT_COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in INCIDENT_FIELDS)
_STEP_COLUMNS = "id, incident_id, step, actor, at, comment, details"
_OPEN = "state NOT IN ('closed', 'false_alarm')"

# The register's entry of a unit, or None when it is not registered (``RegisterFacts.from_entry``
# reads it); handed over by the composition root (``registry.store.unit_entry``).
RegisterLookup = Callable[[AsyncConnection[Any], str], Awaitable[Mapping[str, Any] | None]]

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
class Opened:
    """An alarm's incident: a new one (step ``raised``), or the device's open one it was linked
    to (step ``alarm_linked``)."""

    incident: Incident
    step: IncidentStep

    @property
    def linked(self) -> bool:
        return self.step.step is Step.ALARM_LINKED


@dataclass(frozen=True, slots=True)
class Escalation:
    """A missed deadline: the incident after it and the steps recorded (the overdue note, then
    ``escalated`` when a next tier was sent)."""

    kind: Overdue
    incident: Incident
    steps: tuple[IncidentStep, ...]


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    state: IncidentState | None = None
    active: bool | None = None  # True: not closed and not a false alarm
    district: str | None = None
    maintenance_unit: str | None = None
    source: Source | None = None
    cause_class: CauseClass | None = None
    q: str | None = None  # text in the device id, address, rescue code, caller, maintenance unit or rescuer
    since: datetime | None = None  # on raised_at, inclusive
    until: datetime | None = None  # on raised_at, exclusive
    limit: int | None = 100
    offset: int = 0


def incident_from_row(row: tuple[Any, ...]) -> Incident:
    return incident_of(dict(zip(INCIDENT_FIELDS, row, strict=True)))


def step_from_row(row: tuple[Any, ...]) -> IncidentStep:
    id_, incident_id, step, actor, at, comment, details = row
    return IncidentStep(id_, incident_id, Step(step), actor, at, comment, details or {})


def _column_value(value: Any) -> Any:
    return str(value) if isinstance(value, StrEnum) else value


async def _insert_open(conn: AsyncConnection, columns: dict[str, Any]) -> Incident | None:
    """Insert an open incident; None when the device has one open already."""
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    marks = sql.SQL(", ").join(sql.Placeholder() for _ in columns)
    cur = await conn.execute(
        sql.SQL("INSERT INTO incidents ({}) VALUES ({}) ON CONFLICT (device_id) WHERE " + _OPEN
                + " DO NOTHING RETURNING {}").format(names, marks, INCIDENT_COLUMNS),
        [_column_value(v) for v in columns.values()],
    )
    row = await cur.fetchone()
    return None if row is None else incident_from_row(row)


async def _facts(conn: AsyncConnection, register: RegisterLookup | None, device_id: str,
                 district_code: str | None) -> tuple[RegisterFacts, bool, str | None]:
    """The register's facts of ``device_id``, whether it is registered, and its category (None when
    not known). Without a lookup, a device the rules placed in a district is taken as registered
    (the district is the register's)."""
    if register is None:
        return RegisterFacts(district_code=district_code), district_code is not None, None
    try:
        async with conn.transaction():  # a savepoint: a failed lookup leaves the alarm's transaction usable
            entry = await register(conn, device_id)
    except psycopg.Error as exc:
        if is_outage(exc):
            raise  # the caller retries the whole change once the database is back
        # The incident opens all the same, without the register's facts: a trapped passenger's
        # alarm never waits for the register's data.
        log.exception("register entry of %s not read for its incident; opened without it", device_id)
        return RegisterFacts(district_code=district_code), district_code is not None, None
    if entry is None:
        return RegisterFacts(district_code=district_code), False, None
    category = entry.get("category")
    return RegisterFacts.from_entry(entry), True, None if category is None else str(category)


async def open_incident(conn: AsyncConnection, alarm: Alarm, settings: IncidentSettings,
                        register: RegisterLookup | None = None) -> Opened:
    """Open the incident of an entrapment alarm, inside the transaction that raised it; if the
    device has an open incident already (a phone call came first, or its earlier alarm cleared
    while the incident stays open), the alarm is linked to that one instead (step
    ``alarm_linked``; one device, one open incident).

    The clock starts when the centre learnt of the alarm (``raised_seen_at``), not at the device's
    own start of the condition: a device clock off by minutes, or a backlog replayed after an
    outage, must not make an incident overdue before anyone could see it.
    """
    raised_at = alarm.raised_seen_at
    facts, registered, _ = await _facts(conn, register, alarm.device_id, alarm.district_code)
    for _ in range(3):  # the open incident may be closed between the two statements: try again
        columns = {**facts.columns(), "alarm_id": alarm.id, "device_id": alarm.device_id,
                   "district_code": facts.district_code or alarm.district_code, "raised_at": raised_at,
                   "ack_deadline": ack_deadline(raised_at, settings), "updated_at": raised_at,
                   "source": Source.DEVICE, "registered": registered}
        incident = await _insert_open(conn, columns)
        if incident is not None:
            step = await _add_step(conn, incident.id, Step.RAISED, SYSTEM_ACTOR, raised_at, None,
                                   {"alarm_id": alarm.id, "type": str(alarm.type),
                                    "device_raised_at": alarm.raised_at.isoformat(), "source": "device"})
            log.info("incident %d opened for alarm %d (%s on %s)", incident.id, alarm.id, alarm.type,
                     alarm.device_id)
            return Opened(incident, step)
        cur = await conn.execute(
            sql.SQL("SELECT {} FROM incidents WHERE device_id = %s AND " + _OPEN + " FOR UPDATE")
            .format(INCIDENT_COLUMNS), (alarm.device_id,))
        row = await cur.fetchone()
        if row is None:
            continue
        current = incident_from_row(row)
        at = max(raised_at, current.updated_at)
        linked = await _update(conn, current.id, {"alarm_id": alarm.id, "updated_at": at})
        step = await _add_step(conn, current.id, Step.ALARM_LINKED, SYSTEM_ACTOR, at, None,
                               {"alarm_id": alarm.id, "type": str(alarm.type), "previous_alarm_id": current.alarm_id,
                                "device_raised_at": alarm.raised_at.isoformat()})
        log.info("alarm %d (%s on %s) linked to open incident %d", alarm.id, alarm.type, alarm.device_id, current.id)
        return Opened(linked, step)
    raise RuntimeError(f"no incident opened or linked for alarm {alarm.id} after three tries")


@dataclass(frozen=True, slots=True)
class PhoneReport:
    """A call to the centre (新建接警): which unit, who called, and what the operator knows."""

    device_id: str
    actor: str
    caller: str | None = None
    caller_phone: str | None = None
    comment: str | None = None
    maintenance_unit: str | None = None  # for an unregistered unit, or to correct the register
    contact: str | None = None
    address: str | None = None  # where the caller says it is (the register's, when registered, counts)


async def open_phone_incident(conn: AsyncConnection, report: PhoneReport, *, now: datetime,
                              settings: IncidentSettings, register: RegisterLookup | None = None) -> Incident:
    """Open an incident reported by phone, without any alarm: answered as it is taken (state
    acknowledged, steps ``raised`` and ``acknowledged`` by the operator). The register's facts
    are copied (an unregistered unit is opened with ``registered`` false); a maintenance unit or
    contact given overrides the register's. Raises ReportRefused for a registered unit that is no
    elevator (``phone_report_refusal``), IncidentOpen when the unit has an open
    incident already (one device, one open incident)."""
    facts, registered, category = await _facts(conn, register, report.device_id, None)
    refused = phone_report_refusal(report.device_id, category)
    if refused is not None:
        raise refused
    columns = {**facts.columns(), "alarm_id": None, "device_id": report.device_id, "raised_at": now,
               "acknowledged_at": now, "state": IncidentState.ACKNOWLEDGED,
               "ack_deadline": ack_deadline(now, settings), "updated_at": now, "source": Source.PHONE,
               "registered": registered, "caller": report.caller, "caller_phone": report.caller_phone}
    if report.maintenance_unit:
        columns["maintenance_unit"] = report.maintenance_unit
    if report.contact:
        columns["maintenance_contact"] = report.contact
    if report.address and not facts.address:
        columns["address"] = report.address
    for _ in range(3):  # the open incident may be closed between the two statements: try again
        incident = await _insert_open(conn, columns)
        if incident is not None:
            break
        cur = await conn.execute("SELECT id FROM incidents WHERE device_id = %s AND " + _OPEN, (report.device_id,))
        row = await cur.fetchone()
        if row is not None:
            raise IncidentOpen(report.device_id, int(row[0]))
    else:
        raise RuntimeError(f"no incident opened for {report.device_id} after three tries")
    await _add_step(conn, incident.id, Step.RAISED, report.actor, now, report.comment,
                    {"source": "phone", "caller": report.caller, "caller_phone": report.caller_phone,
                     "registered": registered})
    await _add_step(conn, incident.id, Step.ACKNOWLEDGED, report.actor, now, None, {})
    log.info("incident %d opened by phone for %s by %s", incident.id, report.device_id, report.actor)
    return incident


def _step_details(step: Step, before: Incident, after: Incident, request: StepRequest) -> dict[str, Any]:
    """What a step's record carries beyond who, when and the comment."""
    if step is Step.DISPATCHED:
        return {"tier": after.tier, "maintenance_unit": after.rescuer, "contact": after.rescuer_contact,
                "response_deadline": _iso(after.response_deadline), "arrival_deadline": _iso(after.arrival_deadline)}
    if step is Step.NO_ANSWER:
        unit, contact = no_answer_callee(before, request)
        return {"maintenance_unit": unit, "contact": contact, "tier": before.tier or TIER_MAINTENANCE}
    if step is Step.RESPONDED:
        return {"tier": after.tier, "late": after.response_late and not before.response_late}
    if step is Step.ON_SITE:
        return {"tier": after.tier, "late": after.arrival_late and not before.arrival_late}
    if step is Step.CLOSED:
        return {"persons_released": after.persons_released, "injuries": after.injuries,
                "cause_class": str(after.cause_class), "self_release": after.self_release,
                "callback_confirmed": after.callback_confirmed}
    return {}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def apply_step(conn: AsyncConnection, incident_id: int, request: StepRequest, *, now: datetime,
                     settings: IncidentSettings) -> StepOutcome:
    """An operator's step. The row lock makes concurrent steps queue: of two operators
    acknowledging at once, the second sees "acknowledged" and gets StepNotAllowed; of two
    dispatching at once, the second's ``expected_state`` (acknowledged) is stale and it gets
    StepNotAllowed naming who dispatched and when (``alerts.incidents.stale_view``)."""
    async with conn.transaction():
        incident = await _locked(conn, incident_id)
        if request.expected_state is not None and request.expected_state is not incident.state:
            last = await _last_step(conn, incident_id)
            refused = stale_view(incident, request, *(last or (None, None)))
            if refused is not None:
                raise refused
        updates = plan_step(incident, request, now, settings)
        updated = await _update(conn, incident_id, updates)
        details = _step_details(request.step, incident, updated, request)
        if "cause" in updates:
            details["cause"] = updates["cause"]
        cleared = None
        reason = CLEAR_REASONS.get(updated.state)
        if reason is not None and updated.alarm_id is not None:
            cleared = await clear_alarm_by_id(conn, updated.alarm_id, cleared_at=updates["updated_at"], reason=reason)
            if cleared is not None:
                details["alarm_cleared"] = cleared.id
        recorded = await _add_step(conn, incident_id, request.step, request.actor, updates["updated_at"],
                                   request.comment, details)
    log.info("incident %d: %s by %s", incident_id, request.step, request.actor)
    return StepOutcome(updated, recorded, cleared)


async def add_comment(conn: AsyncConnection, incident_id: int, actor: str, comment: str, *,
                      now: datetime) -> StepOutcome:
    """A note on an incident in any state, closed ones included (the follow-up often comes later)."""
    cur = await conn.execute(
        sql.SQL("UPDATE incidents SET updated_at = greatest(updated_at, %s) WHERE id = %s RETURNING {}")
        .format(INCIDENT_COLUMNS),
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
        sql.SQL("""UPDATE incidents SET updated_at = greatest(updated_at, %s)
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


def _filter_where(filters: IncidentFilter) -> tuple[sql.Composable, list[Any]]:
    extra: list[sql.Composable] = []
    params_extra: list[Any] = []
    if filters.active is not None:
        extra.append(sql.SQL(_OPEN if filters.active else "state IN ('closed', 'false_alarm')"))
    if filters.q:
        # ILIKE with the user's text taken literally: % and _ escaped.
        needle = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        extra.append(sql.SQL("concat_ws(' ', device_id, address, rescue_code, caller, caller_phone, "
                             "maintenance_unit, rescuer) ILIKE %s"))
        params_extra.append(needle)
    equal = (("state", filters.state), ("district_code", filters.district),
             ("maintenance_unit", filters.maintenance_unit), ("source", filters.source),
             ("cause_class", filters.cause_class))
    where, params = where_clause(equal, filters.since, filters.until, extra)
    # where_clause puts the extra conditions first: their parameters go first too.
    return where, [*params_extra, *params]


async def incident_page(conn: AsyncConnection, filters: IncidentFilter) -> tuple[list[Incident], int]:
    """One page of the incidents ``filters`` select, newest first, and how many it selects in all."""
    where, where_params = _filter_where(filters)
    query = sql.SQL("SELECT {}, count(*) OVER () FROM incidents").format(INCIDENT_COLUMNS) + where
    query = sql.SQL("{} ORDER BY raised_at DESC, id DESC").format(query)
    params = list(where_params)
    if filters.limit is not None:
        query = sql.SQL("{} LIMIT %s").format(query)
        params.append(filters.limit)
    if filters.offset:
        query = sql.SQL("{} OFFSET %s").format(query)
        params.append(filters.offset)
    cur = await conn.execute(query, params)
    rows = await cur.fetchall()
    total = int(rows[0][-1]) if rows else 0
    if not rows and filters.offset:  # past the end: the count still answers
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM incidents") + where, where_params)
        found = await cur.fetchone()
        total = int(found[0]) if found is not None else 0
    return [incident_from_row(r[:-1]) for r in rows], total


async def list_incidents(conn: AsyncConnection, filters: IncidentFilter) -> list[Incident]:
    """Newest first."""
    return (await incident_page(conn, filters))[0]


@dataclass(frozen=True, slots=True)
class Handover:
    """A shift's handover (交接班), over [since, until): every incident still open, those closed
    in the shift, the shift's incidents (open now, or raised or closed in it) counted by state
    and by what was late, and the escalations in it (each: ``incident_id``, ``device_id``,
    ``at``, ``from_tier``, ``to_tier``, ``reason``)."""

    since: datetime
    until: datetime
    open: list[Incident]
    closed: list[Incident]
    by_state: dict[str, int]
    late_acks: int
    late_responses: int
    late_arrivals: int
    escalations: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "open": [i.as_json() for i in self.open], "closed": [i.as_json() for i in self.closed],
                "by_state": self.by_state, "late_acks": self.late_acks, "late_responses": self.late_responses,
                "late_arrivals": self.late_arrivals, "escalations": self.escalations}


_SHIFT = ("(" + _OPEN + " OR (raised_at >= %(since)s AND raised_at < %(until)s)"
          " OR (closed_at >= %(since)s AND closed_at < %(until)s))")


async def handover(conn: AsyncConnection, since: datetime, until: datetime) -> Handover:
    """The handover of the shift [since, until) (``Handover``)."""
    window = {"since": since, "until": until}
    cur = await conn.execute(sql.SQL("SELECT {} FROM incidents WHERE " + _OPEN + " ORDER BY raised_at, id")
                             .format(INCIDENT_COLUMNS))
    open_ = [incident_from_row(r) for r in await cur.fetchall()]
    cur = await conn.execute(sql.SQL("""SELECT {} FROM incidents WHERE state IN ('closed', 'false_alarm')
                                        AND closed_at >= %(since)s AND closed_at < %(until)s
                                        ORDER BY closed_at, id""").format(INCIDENT_COLUMNS), window)
    closed = [incident_from_row(r) for r in await cur.fetchall()]
    cur = await conn.execute("SELECT state, count(*) FROM incidents WHERE " + _SHIFT + " GROUP BY state", window)
    by_state = {str(state): int(n) for state, n in await cur.fetchall()}
    cur = await conn.execute("SELECT count(*) FILTER (WHERE ack_late), count(*) FILTER (WHERE response_late), "
                             "count(*) FILTER (WHERE arrival_late) FROM incidents WHERE " + _SHIFT, window)
    late = await cur.fetchone()
    assert late is not None  # an aggregate always answers
    cur = await conn.execute(
        """SELECT s.incident_id, i.device_id, s.at, s.details FROM incident_steps s
           JOIN incidents i ON i.id = s.incident_id
           WHERE s.step = 'escalated' AND s.at >= %(since)s AND s.at < %(until)s ORDER BY s.at, s.id""", window)
    escalations = [{"incident_id": incident_id, "device_id": device_id, "at": at.isoformat(),
                    "from_tier": details.get("from_tier"), "to_tier": details.get("to_tier"),
                    "reason": details.get("reason")}
                   for incident_id, device_id, at, details in await cur.fetchall()]
    return Handover(since, until, open_, closed, by_state, int(late[0]), int(late[1]), int(late[2]), escalations)


async def escalate_overdue(conn: AsyncConnection, now: datetime, settings: IncidentSettings) -> list[Escalation]:
    """Mark the incidents that have newly missed a deadline at ``now`` (``deadline_plan``):
    unacknowledged past the ack deadline (ack_late, a step "ack_overdue"); dispatched and not
    responded past the response deadline, or not on site past the arrival deadline (the late
    flag, a step "response_overdue" / "arrival_overdue", and the next tier sent: a step
    "escalated"). Each happens once per dispatch; a pass escalates an incident at most once.

    SKIP LOCKED: an incident an operator is stepping right now is left to the next pass, and
    several processes may run this check side by side without doing anything twice.
    """
    escalations: list[Escalation] = []
    async with conn.transaction():
        # The SQL narrows the candidates; ``deadline_plan`` is the one place that decides.
        cur = await conn.execute(
            sql.SQL("""SELECT {} FROM incidents
                       WHERE (state = 'raised' AND NOT ack_late AND ack_deadline < %(now)s)
                          OR (state = 'dispatched' AND NOT response_missed AND response_deadline < %(now)s)
                          OR (state IN ('dispatched', 'responded') AND NOT arrival_missed
                              AND arrival_deadline < %(now)s)
                       ORDER BY id FOR UPDATE SKIP LOCKED""").format(INCIDENT_COLUMNS),
            {"now": now},
        )
        # Rarely more than a handful per pass, so one UPDATE each keeps it plain.
        for candidate in [incident_from_row(r) for r in await cur.fetchall()]:
            plan = deadline_plan(candidate, now, settings)
            if plan is None:
                continue
            updated = await _update(conn, candidate.id, plan.updates)
            at = plan.updates["updated_at"]
            steps = tuple([await _add_step(conn, candidate.id, note.step, SYSTEM_ACTOR, at, None, note.details)
                           for note in plan.notes])
            escalations.append(Escalation(plan.kind, updated, steps))
            log.warning("incident %d on %s: %s at tier %s (%s)%s", candidate.id, candidate.device_id, plan.kind,
                        candidate.tier, candidate.rescuer or candidate.maintenance_unit,
                        f"; tier {updated.tier} sent: {updated.rescuer}" if updated.tier != candidate.tier else "")
    return escalations


async def _last_step(conn: AsyncConnection, incident_id: int) -> tuple[str, datetime] | None:
    """Who took the incident's latest step that was not a comment, and when."""
    cur = await conn.execute("SELECT actor, at FROM incident_steps WHERE incident_id = %s AND step <> 'comment' "
                             "ORDER BY id DESC LIMIT 1", (incident_id,))
    row = await cur.fetchone()
    return None if row is None else (str(row[0]), row[1])


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
    values = [_column_value(v) for v in updates.values()]
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
