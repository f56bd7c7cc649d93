"""The rescue incident as pure logic: its states, which step may follow which, what a step writes,
and when an incident is overdue. No I/O here; ``alerts.incident_store`` applies the results.

raised → acknowledged → dispatched → on_site → released → closed, and false_alarm from any state
before the passengers are released. Every step is named after the state it leads to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from semon.settings import IncidentSettings


class IncidentState(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RELEASED = "released"
    CLOSED = "closed"
    FALSE_ALARM = "false_alarm"


class Step(StrEnum):
    """What an incident's history records: the operator's steps, which change the state, and
    the notes that do not (comments, the system's deadline and alarm notes)."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RELEASED = "released"
    CLOSED = "closed"
    FALSE_ALARM = "false_alarm"
    COMMENT = "comment"
    ACK_OVERDUE = "ack_overdue"
    ESCALATED = "escalated"
    ALARM_CLEARED = "alarm_cleared"


# The steps an operator takes; each leads to the state of the same name.
OPERATOR_STEPS: frozenset[Step] = frozenset({
    Step.ACKNOWLEDGED, Step.DISPATCHED, Step.ON_SITE, Step.RELEASED, Step.CLOSED, Step.FALSE_ALARM,
})

ALLOWED: dict[IncidentState, tuple[Step, ...]] = {
    IncidentState.RAISED: (Step.ACKNOWLEDGED, Step.FALSE_ALARM),
    IncidentState.ACKNOWLEDGED: (Step.DISPATCHED, Step.FALSE_ALARM),
    IncidentState.DISPATCHED: (Step.ON_SITE, Step.FALSE_ALARM),
    IncidentState.ON_SITE: (Step.RELEASED, Step.FALSE_ALARM),
    IncidentState.RELEASED: (Step.CLOSED,),
    IncidentState.CLOSED: (),
    IncidentState.FALSE_ALARM: (),
}

FINAL_STATES: frozenset[IncidentState] = frozenset({IncidentState.CLOSED, IncidentState.FALSE_ALARM})

SYSTEM_ACTOR = "system"


class IncidentError(Exception):
    """Base of the incident desk's errors."""


class IncidentNotFound(IncidentError):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} not found")
        self.incident_id = incident_id


class InvalidStep(IncidentError):
    """A step the desk refuses."""


class StepRequestError(InvalidStep):
    """The request itself is wrong, whatever the incident's state: a missing or misplaced field."""


class StepNotAllowed(InvalidStep):
    """The step does not follow from the incident's current state (a conflict, e.g. a second
    operator acknowledging what the first one already did)."""


@dataclass(frozen=True, slots=True)
class Incident:
    """One row of ``incidents``."""

    id: int
    alarm_id: int
    device_id: str
    district_code: str | None
    state: IncidentState
    raised_at: datetime
    acknowledged_at: datetime | None
    dispatched_at: datetime | None
    on_site_at: datetime | None
    released_at: datetime | None
    closed_at: datetime | None
    maintenance_unit: str | None
    maintenance_contact: str | None
    ack_deadline: datetime
    arrival_deadline: datetime | None
    ack_late: bool
    arrival_late: bool
    escalated_at: datetime | None
    second_tier: str | None
    cause: str | None
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.state not in FINAL_STATES

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        out["state"] = str(self.state)
        out["active"] = self.active
        return out


INCIDENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Incident))


@dataclass(frozen=True, slots=True)
class IncidentStep:
    """One row of ``incident_steps``: who did what to an incident, and when."""

    id: int
    incident_id: int
    step: Step
    actor: str
    at: datetime
    comment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "incident_id": self.incident_id, "step": str(self.step), "actor": self.actor,
                "at": self.at.isoformat(), "comment": self.comment, "details": self.details}


@dataclass(frozen=True, slots=True)
class StepRequest:
    step: Step
    actor: str
    comment: str | None = None
    maintenance_unit: str | None = None
    contact: str | None = None
    cause: str | None = None


def _given(value: str | None) -> str | None:
    """Blank counts as missing: a dispatch to "  " reaches nobody."""
    if value is None:
        return None
    return value.strip() or None


def plan_step(incident: Incident, request: StepRequest, now: datetime, settings: IncidentSettings) -> dict[str, Any]:
    """The column updates ``request`` makes to ``incident`` at ``now``.

    Raises StepRequestError for a malformed request (checked first: it is wrong in any state) and
    StepNotAllowed when the step does not follow from the current state.
    """
    step = request.step
    if step not in OPERATOR_STEPS:
        raise StepRequestError(f"{step!s} is not a step an operator takes; "
                               f"one of {', '.join(sorted(OPERATOR_STEPS))}")
    if not _given(request.actor):
        raise StepRequestError("every step needs an actor")
    unit, contact = _given(request.maintenance_unit), _given(request.contact)
    if step is Step.DISPATCHED:
        if unit is None or contact is None:
            raise StepRequestError("dispatched needs the maintenance unit and its contact")
    elif unit is not None or contact is not None:
        raise StepRequestError("maintenance_unit and contact belong to the dispatched step")

    allowed = ALLOWED[incident.state]
    if step not in allowed:
        then = ", ".join(allowed) if allowed else "nothing: it is over"
        raise StepNotAllowed(f"incident {incident.id} is {incident.state}: {step} is not allowed "
                             f"(allowed: {then})")

    updates: dict[str, Any] = {"state": IncidentState(step.value), "updated_at": now}
    if step is Step.ACKNOWLEDGED:
        updates["acknowledged_at"] = now
        # Late even if the deadline check has not run yet (e.g. during a database outage).
        updates["ack_late"] = incident.ack_late or now > incident.ack_deadline
    elif step is Step.DISPATCHED:
        updates["dispatched_at"] = now
        updates["maintenance_unit"] = unit
        updates["maintenance_contact"] = contact
        updates["arrival_deadline"] = arrival_deadline(now, incident.district_code, settings)
    elif step is Step.ON_SITE:
        updates["on_site_at"] = now
        late = incident.arrival_deadline is not None and now > incident.arrival_deadline
        updates["arrival_late"] = incident.arrival_late or late
    elif step is Step.RELEASED:
        updates["released_at"] = now
    else:  # closed or false_alarm: the incident is over either way
        updates["closed_at"] = now
    cause = _given(request.cause)
    if cause is not None:
        updates["cause"] = cause
    return updates


def with_updates(incident: Incident, updates: dict[str, Any]) -> Incident:
    return dataclasses.replace(incident, **updates)


# Deadlines


def ack_deadline(raised_at: datetime, settings: IncidentSettings) -> datetime:
    return raised_at + timedelta(seconds=settings.ack_deadline_s)


def arrival_limit_s(district_code: str | None, settings: IncidentSettings) -> float:
    """Seconds the maintenance unit has to arrive: per district (the counties get longer)."""
    if district_code is None:
        return settings.arrival_deadline_s
    return settings.arrival_deadline_by_district.get(district_code, settings.arrival_deadline_s)


def arrival_deadline(dispatched_at: datetime, district_code: str | None, settings: IncidentSettings) -> datetime:
    return dispatched_at + timedelta(seconds=arrival_limit_s(district_code, settings))


class Overdue(StrEnum):
    """A missed deadline, named after the step that records it."""

    ACK = "ack_overdue"  # nobody acknowledged in time
    ARRIVAL = "escalated"  # the maintenance unit did not arrive in time: the second tier goes


def overdue(incident: Incident, now: datetime) -> Overdue | None:
    """The deadline ``incident`` has newly missed at ``now``, if any; each is reported only once."""
    if incident.state is IncidentState.RAISED and not incident.ack_late and now > incident.ack_deadline:
        return Overdue.ACK
    if (incident.state is IncidentState.DISPATCHED and incident.escalated_at is None
            and not incident.arrival_late and incident.arrival_deadline is not None
            and now > incident.arrival_deadline):
        return Overdue.ARRIVAL
    return None


def escalation_updates(kind: Overdue, now: datetime, settings: IncidentSettings) -> dict[str, Any]:
    if kind is Overdue.ACK:
        return {"ack_late": True, "updated_at": now}
    return {"arrival_late": True, "escalated_at": now, "second_tier": settings.second_tier,
            "updated_at": now}


# Live stream messages


def incident_change(op: str, incident: Incident, step: IncidentStep | None = None) -> dict[str, Any]:
    """The hub message for a change to ``incident``; ``op`` is the step that made it."""
    change: dict[str, Any] = {"topic": "incident", "op": op, "incident": incident.as_json()}
    if step is not None:
        change["step"] = step.as_json()
    return change
