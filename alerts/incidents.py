"""The rescue incident as pure logic: its states, which step may follow which, what a step writes,
the three levels of rescue, and when an incident is overdue. No I/O here; ``alerts.incident_store``
applies the results.

raised → acknowledged → dispatched → responded → on_site → released → closed, and false_alarm from
any state before the passengers are released. Every operator step that changes the state is named
after the state it leads to; ``dispatched`` again (from dispatched or responded) re-dispatches or
sends the next tier, ``no_answer`` records a call nobody answered and changes nothing.

Sources of the rules (docs/alerts.md, "Rescue incidents"): TSG T5002 (the maintenance unit's
30-minute arrival in a city's urban area, an hour elsewhere), DB32/T 4130-2021 and DB37/T
3451-2018 (three levels of rescue: the contracted maintenance unit, the nearest second-tier
rescue station 网格救援站, the fire brigade 119; escalation on no response or a missed arrival;
the record at close), and the 96333 centres' published rules (a response within 1-5 minutes).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from alerts.messages import CATEGORY_NAMES, FIELD_NAMES, STATE_NAMES, STEP_NAMES, named
from semon.settings import IncidentSettings, SecondTierStation
from web.i18n import KeyedError


class IncidentState(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    RESPONDED = "responded"
    ON_SITE = "on_site"
    RELEASED = "released"
    CLOSED = "closed"
    FALSE_ALARM = "false_alarm"


class Step(StrEnum):
    """What an incident's history records: the operator's steps, which change the state, and
    the notes that do not (comments, no_answer, the system's deadline and alarm notes)."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    RESPONDED = "responded"
    NO_ANSWER = "no_answer"
    ON_SITE = "on_site"
    RELEASED = "released"
    CLOSED = "closed"
    FALSE_ALARM = "false_alarm"
    COMMENT = "comment"
    ACK_OVERDUE = "ack_overdue"
    RESPONSE_OVERDUE = "response_overdue"
    ARRIVAL_OVERDUE = "arrival_overdue"
    ESCALATED = "escalated"
    ALARM_CLEARED = "alarm_cleared"
    ALARM_LINKED = "alarm_linked"


class Source(StrEnum):
    """How the centre learnt of the incident: a device's entrapment alarm, or a phone call (新建接警)."""

    DEVICE = "device"
    PHONE = "phone"


class Area(StrEnum):
    """The arrival limit's area (the register's ``equipment.area``): the urban core, county seats
    included, or elsewhere."""

    URBAN = "urban"
    OTHER = "other"


class CauseClass(StrEnum):
    """The cause of an entrapment as the 96333 centres' monthly reports class it."""

    HUMAN = "human"
    EXTERNAL = "external"
    DOOR_SYSTEM = "door_system"
    CONTROL_SYSTEM = "control_system"
    OTHER = "other"


# The one table of the cause classes' labels (zh-CN, en), served at GET /api/incidents/causes.
CAUSE_LABELS: dict[CauseClass, tuple[str, str]] = {
    CauseClass.HUMAN: ("人为", "human (misuse)"),
    CauseClass.EXTERNAL: ("外部/停电", "external / power cut"),
    CauseClass.DOOR_SYSTEM: ("门系统", "door system"),
    CauseClass.CONTROL_SYSTEM: ("控制系统", "control system"),
    CauseClass.OTHER: ("其他", "other"),
}

# The three levels of rescue.
TIER_MAINTENANCE = 1  # the contracted maintenance unit (维保单位)
TIER_STATION = 2  # the nearest second-tier rescue station (网格救援站)
TIER_FIRE = 3  # the fire brigade (119)
TIERS = (TIER_MAINTENANCE, TIER_STATION, TIER_FIRE)
FIRE_BRIGADE = "消防救援"  # the third tier's name; its number is IncidentSettings.fire_brigade


class EscalationReason(StrEnum):
    NO_RESPONSE = "no_response"
    LATE_ARRIVAL = "late_arrival"


# The steps an operator takes; all but no_answer lead to the state of the same name.
OPERATOR_STEPS: frozenset[Step] = frozenset({
    Step.ACKNOWLEDGED, Step.DISPATCHED, Step.RESPONDED, Step.NO_ANSWER, Step.ON_SITE, Step.RELEASED, Step.CLOSED,
    Step.FALSE_ALARM,
})
NOTE_STEPS: frozenset[Step] = frozenset({Step.NO_ANSWER})  # recorded, the state stays

ALLOWED: dict[IncidentState, tuple[Step, ...]] = {
    IncidentState.RAISED: (Step.ACKNOWLEDGED, Step.FALSE_ALARM),
    IncidentState.ACKNOWLEDGED: (Step.DISPATCHED, Step.NO_ANSWER, Step.FALSE_ALARM),
    IncidentState.DISPATCHED: (Step.DISPATCHED, Step.RESPONDED, Step.NO_ANSWER, Step.ON_SITE, Step.FALSE_ALARM),
    IncidentState.RESPONDED: (Step.DISPATCHED, Step.NO_ANSWER, Step.ON_SITE, Step.FALSE_ALARM),
    IncidentState.ON_SITE: (Step.RELEASED, Step.FALSE_ALARM),
    IncidentState.RELEASED: (Step.CLOSED,),
    IncidentState.CLOSED: (),
    IncidentState.FALSE_ALARM: (),
}

FINAL_STATES: frozenset[IncidentState] = frozenset({IncidentState.CLOSED, IncidentState.FALSE_ALARM})
# What closing asks for (DB37/T 3451-2018's record of a rescue): all required.
CLOSE_FIELDS = ("persons_released", "injuries", "cause_class", "self_release", "callback_confirmed")

SYSTEM_ACTOR = "system"


class IncidentError(KeyedError):
    """Base of the incident desk's errors; ``key`` and ``params`` name them in ``alerts.messages``."""


class IncidentNotFound(IncidentError):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} not found", key="alerts.incident_not_found",
                         params={"id": incident_id})
        self.incident_id = incident_id


class InvalidStep(IncidentError):
    """A step the desk refuses."""


class StepRequestError(InvalidStep):
    """The request itself is wrong, whatever the incident's state: a missing or misplaced field."""


class StepNotAllowed(InvalidStep):
    """The step does not follow from the incident's current state (a conflict, e.g. a second
    operator acknowledging what the first one already did)."""


class IncidentOpen(IncidentError):
    """The device has an open incident already (one device, one open incident)."""

    def __init__(self, device_id: str, incident_id: int) -> None:
        super().__init__(f"device {device_id} has an open incident already: {incident_id}",
                         key="alerts.incident_open", params={"device_id": device_id, "id": incident_id})
        self.device_id = device_id
        self.incident_id = incident_id


class ReportRefused(IncidentError):
    """A phone report the desk refuses whatever the register's state of incidents (400): a
    registered unit that is no elevator, a device id that is no code."""


# What a 96333 call (an entrapment) may be opened on: the register's elevators, escalators and
# moving walks included (they are registered in the elevator category, TSG 08-2017). A unit the
# register does not hold is allowed: the operator checks it with the caller.
PHONE_REPORT_CATEGORIES: frozenset[str] = frozenset({"elevator"})


def phone_report_refusal(device_id: str, category: str | None) -> ReportRefused | None:
    """Why a phone-reported entrapment on ``device_id`` (registered in ``category``; None: not
    registered or not known) is refused, or None."""
    if category is None or category in PHONE_REPORT_CATEGORIES:
        return None
    return ReportRefused(f"{device_id} is registered as {category}, not an elevator: a 96333 entrapment is opened "
                         f"on an elevator, escalator or moving walk", key="alerts.not_an_elevator",
                         params={"device_id": device_id, "category": named(CATEGORY_NAMES, category)})


@dataclass(frozen=True, slots=True)
class Incident:
    """One row of ``incidents``. The fields after ``updated_at`` came with the rescue workflow
    (migration 0010); their defaults are those of a device incident nobody dispatched yet.

    ``registered``: the device is in the register (False: the operator supplies the maintenance
    unit at dispatch). ``area``, ``place``, ``rescue_code``, ``address``, ``latitude`` /
    ``longitude`` (WGS84): copied from the register at opening. ``tier``: the level of rescue
    now sent (1-3; None before dispatch); ``rescuer`` / ``rescuer_contact``: who that is
    (``maintenance_unit`` / ``maintenance_contact`` stay the contracted unit's). ``response_late``
    / ``arrival_late``: a response or an arrival deadline was missed at some tier (sticky, for
    the KPIs); ``response_missed`` / ``arrival_missed``: the current dispatch's deadline was
    missed and noted (reset by every dispatch)."""

    id: int
    alarm_id: int | None
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
    source: Source = Source.DEVICE
    registered: bool = True
    caller: str | None = None
    caller_phone: str | None = None
    rescue_code: str | None = None
    address: str | None = None
    area: Area | None = None
    place: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    tier: int | None = None
    rescuer: str | None = None
    rescuer_contact: str | None = None
    responded_at: datetime | None = None
    response_deadline: datetime | None = None
    response_late: bool = False
    response_missed: bool = False
    arrival_missed: bool = False
    persons_released: int | None = None
    injuries: int | None = None
    cause_class: CauseClass | None = None
    self_release: bool | None = None
    callback_confirmed: bool | None = None
    callback_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.state not in FINAL_STATES

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, StrEnum):
                value = str(value)
            out[f.name] = value
        out["active"] = self.active
        return out


INCIDENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Incident))
_ENUM_FIELDS: dict[str, type[StrEnum]] = {"state": IncidentState, "source": Source, "area": Area,
                                          "cause_class": CauseClass}


def incident_of(values: Mapping[str, Any]) -> Incident:
    """An ``Incident`` from its columns (by name), the enumerations parsed."""
    parsed = dict(values)
    for name, kind in _ENUM_FIELDS.items():
        if parsed.get(name) is not None:
            parsed[name] = kind(parsed[name])
    return Incident(**parsed)


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
    tier: int | None = None
    persons_released: int | None = None
    injuries: int | None = None
    cause_class: CauseClass | None = None
    self_release: bool | None = None
    callback_confirmed: bool | None = None
    # The state the operator saw when taking the step (None: an API client that does not say):
    # a step based on a stale view is refused (``stale_view``).
    expected_state: IncidentState | None = None


def stale_view(incident: Incident, request: StepRequest, last_actor: str | None,
               last_at: datetime | None) -> StepNotAllowed | None:
    """Why ``request`` is refused as based on a stale view, or None: the operator saw the incident
    in ``expected_state`` but it has moved on since (``last_actor`` took its latest step at
    ``last_at``). Two operators dispatching the same acknowledged incident: the second one's
    first dispatch is refused (409 "already dispatched by X at T"); a re-dispatch is sent by a
    client that saw ``dispatched`` (or ``responded``). Without ``expected_state`` nothing is
    checked (API clients of before keep working)."""
    expected = request.expected_state
    if expected is None or expected is incident.state:
        return None
    who = f" by {last_actor}" if last_actor else ""
    when = f" at {last_at.isoformat(timespec='seconds')}" if last_at is not None else ""
    return StepNotAllowed(f"incident {incident.id} is already {incident.state}{who}{when}; the step was taken on a "
                          f"view that showed it {expected}: look again", key="alerts.stale_view",
                          params={"id": incident.id, "state": named(STATE_NAMES, str(incident.state)),
                                  "expected": named(STATE_NAMES, str(expected)), "who": last_actor or "?",
                                  "at": last_at.isoformat(timespec="seconds") if last_at is not None else "?"})


def _given(value: str | None) -> str | None:
    """Blank counts as missing: a dispatch to "  " reaches nobody."""
    if value is None:
        return None
    return value.strip() or None


def _check_request(incident: Incident, request: StepRequest) -> None:
    """StepRequestError for what is wrong with ``request`` in any state."""
    step = request.step
    if step not in OPERATOR_STEPS:
        raise StepRequestError(f"{step!s} is not a step an operator takes; "
                               f"one of {', '.join(sorted(OPERATOR_STEPS))}", key="alerts.not_operator_step",
                               params={"step": named(STEP_NAMES, str(step)),
                                       "steps": named(STEP_NAMES, sorted(OPERATOR_STEPS))})
    if not _given(request.actor):
        raise StepRequestError("every step needs an actor", key="alerts.actor_needed")
    unit, contact = _given(request.maintenance_unit), _given(request.contact)
    if step is Step.DISPATCHED:
        if request.tier is not None and request.tier not in TIERS:
            raise StepRequestError(f"tier must be one of {', '.join(map(str, TIERS))}, not {request.tier}",
                                   key="alerts.tier_unknown",
                                   params={"tiers": named({}, map(str, TIERS)), "tier": request.tier})
        if dispatch_tier(incident, request) == TIER_MAINTENANCE and (unit is None or contact is None):
            raise StepRequestError("dispatched needs the maintenance unit and its contact", key="alerts.dispatch_needs")
    elif step is not Step.NO_ANSWER and (unit is not None or contact is not None):
        raise StepRequestError("maintenance_unit and contact belong to the dispatched and no_answer steps",
                               key="alerts.dispatch_fields")
    if step is not Step.DISPATCHED and request.tier is not None:
        raise StepRequestError("tier belongs to the dispatched step", key="alerts.tier_field")
    close = {name: getattr(request, name) for name in CLOSE_FIELDS}
    if step is Step.CLOSED:
        missing = [name for name, value in close.items() if value is None]
        if missing:
            raise StepRequestError(f"closed needs {', '.join(missing)} (missing)", key="alerts.close_needs",
                                   params={"fields": named(FIELD_NAMES, missing)})
        for name in ("persons_released", "injuries"):
            if close[name] < 0:
                raise StepRequestError(f"{name} cannot be negative", key="alerts.negative",
                                       params={"field": named(FIELD_NAMES, name)})
        if close["injuries"] > close["persons_released"]:
            # Injuries count the trapped persons hurt, all released by the close (self-released included).
            raise StepRequestError(f"injuries ({close['injuries']}) cannot exceed persons_released "
                                   f"({close['persons_released']}): injuries count the released persons hurt",
                                   key="alerts.injuries_exceed_released",
                                   params={"injuries": close["injuries"], "released": close["persons_released"]})
    elif any(value is not None for value in close.values()):
        raise StepRequestError(f"{', '.join(CLOSE_FIELDS)} belong to the closed step", key="alerts.close_fields",
                               params={"fields": named(FIELD_NAMES, CLOSE_FIELDS)})


def no_answer_callee(incident: Incident, request: StepRequest) -> tuple[str | None, str | None]:
    """Who did not answer, (unit, phone): the request's, else the rescuer now sent, else the
    contracted maintenance unit (before any dispatch the centre calls the unit the register or the
    caller named)."""
    unit, contact = _given(request.maintenance_unit), _given(request.contact)
    return (unit or incident.rescuer or incident.maintenance_unit,
            contact or incident.rescuer_contact or incident.maintenance_contact)


def dispatch_tier(incident: Incident, request: StepRequest) -> int:
    """The tier a dispatch goes to: the one asked for, else the incident's current tier, else 1."""
    if request.tier is not None:
        return request.tier
    return incident.tier or TIER_MAINTENANCE


def step_time(incident: Incident, now: datetime) -> datetime:
    """The time a step is taken at: ``now``, but never before the incident's last change, so a
    clock stepping back cannot reorder its history or move a deadline earlier."""
    return max(now, incident.updated_at)


def plan_step(incident: Incident, request: StepRequest, now: datetime, settings: IncidentSettings) -> dict[str, Any]:
    """The column updates ``request`` makes to ``incident`` at ``now`` (``updated_at`` is the
    step's time, ``step_time``).

    Raises StepRequestError for a malformed request (checked first: it is wrong in any state),
    StepNotAllowed when the step does not follow from the current state (or would send a lower
    tier than the one already sent).
    """
    _check_request(incident, request)
    step = request.step
    allowed = ALLOWED[incident.state]
    if step not in allowed:
        then = ", ".join(allowed) if allowed else "nothing: it is over"
        raise StepNotAllowed(f"incident {incident.id} is {incident.state}: {step} is not allowed "
                             f"(allowed: {then})", key="alerts.step_not_allowed",
                             params={"id": incident.id, "state": named(STATE_NAMES, str(incident.state)),
                                     "step": named(STEP_NAMES, str(step)),
                                     "allowed": named(STEP_NAMES, map(str, allowed), empty_zh="无，事件已结束",
                                                      empty_en=then)})
    if step is Step.NO_ANSWER and None in no_answer_callee(incident, request):
        raise StepRequestError("no_answer needs who did not answer: maintenance_unit and contact (the phone "
                               "called); none is known for this incident yet", key="alerts.no_answer_callee")
    at = step_time(incident, now)
    updates: dict[str, Any] = {"updated_at": at}
    if step not in NOTE_STEPS:
        updates["state"] = IncidentState(step.value)
    if step is Step.ACKNOWLEDGED:
        updates["acknowledged_at"] = at
        # Late even if the deadline check has not run yet (e.g. during a database outage).
        updates["ack_late"] = incident.ack_late or at > incident.ack_deadline
    elif step is Step.DISPATCHED:
        updates.update(_dispatch(incident, request, at, settings))
    elif step is Step.RESPONDED:
        updates["responded_at"] = at
        updates["response_late"] = incident.response_late or _past(incident.response_deadline, at)
    elif step is Step.ON_SITE:
        updates["on_site_at"] = at
        updates["arrival_late"] = incident.arrival_late or _past(incident.arrival_deadline, at)
        if incident.state is IncidentState.DISPATCHED:  # arrived without confirming: arriving answers
            updates["responded_at"] = at
            updates["response_late"] = incident.response_late or _past(incident.response_deadline, at)
    elif step is Step.RELEASED:
        updates["released_at"] = at
    elif step is Step.CLOSED:
        updates["closed_at"] = at
        for name in CLOSE_FIELDS:
            updates[name] = getattr(request, name)
        updates["cause_class"] = CauseClass(str(request.cause_class))
        updates["callback_at"] = at if request.callback_confirmed else None
    elif step is Step.FALSE_ALARM:
        updates["closed_at"] = at
    cause = _given(request.cause)
    if cause is not None:
        updates["cause"] = cause
    return updates


def _past(deadline: datetime | None, at: datetime) -> bool:
    return deadline is not None and at > deadline


def _dispatch(incident: Incident, request: StepRequest, at: datetime, settings: IncidentSettings) -> dict[str, Any]:
    tier = dispatch_tier(incident, request)
    if incident.tier is not None and tier < incident.tier:
        raise StepNotAllowed(f"incident {incident.id} is at tier {incident.tier}: a dispatch cannot go back "
                             f"to tier {tier}", key="alerts.tier_back",
                             params={"id": incident.id, "tier": incident.tier, "to": tier})
    unit, contact = _given(request.maintenance_unit), _given(request.contact)
    default_unit, default_contact = tier_rescuer(tier, incident, settings)
    rescuer, rescuer_contact = unit or default_unit, contact or default_contact
    updates: dict[str, Any] = {"dispatched_at": incident.dispatched_at or at, "tier": tier, "rescuer": rescuer,
                               "rescuer_contact": rescuer_contact, **_deadlines_from(incident, at, settings)}
    if tier == TIER_MAINTENANCE:
        updates["maintenance_unit"], updates["maintenance_contact"] = unit, contact
    elif tier == TIER_STATION:
        updates["second_tier"] = rescuer
    return updates


def _deadlines_from(incident: Incident, at: datetime, settings: IncidentSettings) -> dict[str, Any]:
    """A dispatch's deadlines (each a new dispatch of the rescue): response and arrival from ``at``."""
    return {"response_deadline": at + timedelta(seconds=settings.response_deadline_s),
            "arrival_deadline": arrival_deadline(at, incident.area, settings),
            "response_missed": False, "arrival_missed": False}


def with_updates(incident: Incident, updates: dict[str, Any]) -> Incident:
    return dataclasses.replace(incident, **updates)


# The register's facts an incident copies when it opens


@dataclass(frozen=True, slots=True)
class RegisterFacts:
    """What an incident copies from the register at opening (handed over by the composition root,
    ``registry.store.unit_entry``: alerts never read the register's tables).
    ``maintenance_contact``: the first duty contact as "name phone"."""

    district_code: str | None = None
    address: str | None = None
    area: Area | None = None
    place: str | None = None
    rescue_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    maintenance_unit: str | None = None
    maintenance_contact: str | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> RegisterFacts:
        """From the register's entry: ``district_code``, ``address``, ``area``, ``place``,
        ``rescue_code``, ``latitude``, ``longitude``, ``maintenance_unit`` (``{"name", "phone",
        "contact", "contacts": [{"name", "phone"}]}`` or None). Unknown areas count as unknown."""
        unit = entry.get("maintenance_unit") or {}
        contacts = [c for c in unit.get("contacts") or [] if isinstance(c, Mapping)]
        if contacts:
            first = contacts[0]
            contact = " ".join(str(v) for v in (first.get("name"), first.get("phone")) if v) or None
        else:
            contact = " ".join(str(v) for v in (unit.get("contact"), unit.get("phone")) if v) or None
        area = entry.get("area")
        return cls(district_code=entry.get("district_code"), address=entry.get("address"),
                   area=Area(area) if area in set(Area) else None, place=entry.get("place"),
                   rescue_code=entry.get("rescue_code"), latitude=entry.get("latitude"),
                   longitude=entry.get("longitude"), maintenance_unit=unit.get("name"), maintenance_contact=contact)

    def columns(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# The three levels of rescue


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def nearest_station(stations: tuple[SecondTierStation, ...], latitude: float | None, longitude: float | None,
                    district_code: str | None) -> SecondTierStation | None:
    """The second-tier station to send: the nearest by the unit's coordinates when they and the
    stations' are known, else the first of the unit's district, else the first; None if none."""
    if latitude is not None and longitude is not None:
        placed = [s for s in stations if s.latitude is not None and s.longitude is not None]
        if placed:
            return min(placed, key=lambda s: _distance_km(latitude, longitude, s.latitude or 0.0,
                                                          s.longitude or 0.0))
    same = [s for s in stations if district_code is not None and s.district_code == district_code]
    candidates = same or list(stations)
    return candidates[0] if candidates else None


def tier_rescuer(tier: int, incident: Incident, settings: IncidentSettings) -> tuple[str | None, str | None]:
    """Who a tier is by default, (name, phone): the contracted maintenance unit, the nearest
    second-tier station (``second_tier`` when none is configured), the fire brigade."""
    if tier == TIER_MAINTENANCE:
        return incident.maintenance_unit, incident.maintenance_contact
    if tier == TIER_STATION:
        station = nearest_station(settings.second_tier_stations, incident.latitude, incident.longitude,
                                  incident.district_code)
        return (station.name, station.phone) if station is not None else (settings.second_tier, None)
    return FIRE_BRIGADE, settings.fire_brigade


# Deadlines


def ack_deadline(raised_at: datetime, settings: IncidentSettings) -> datetime:
    return raised_at + timedelta(seconds=settings.ack_deadline_s)


def arrival_limit_s(area: Area | str | None, settings: IncidentSettings) -> float:
    """Seconds a dispatched rescuer has to arrive, by the unit's area: urban (the urban core,
    county seats included) or other. An unknown area gets the urban limit, the stricter."""
    if area == Area.OTHER:
        return settings.arrival_deadline_other_s
    return settings.arrival_deadline_urban_s


def arrival_deadline(dispatched_at: datetime, area: Area | str | None, settings: IncidentSettings) -> datetime:
    return dispatched_at + timedelta(seconds=arrival_limit_s(area, settings))


class Overdue(StrEnum):
    """A missed deadline, named after the step that records it."""

    ACK = "ack_overdue"  # nobody acknowledged in time
    RESPONSE = "response_overdue"  # the dispatched rescuer did not confirm in time
    ARRIVAL = "arrival_overdue"  # the dispatched rescuer did not arrive in time


def overdue(incident: Incident, now: datetime) -> Overdue | None:
    """The deadline ``incident`` has newly missed at ``now``, if any; each is reported once per
    dispatch (a response is due before the arrival, so the response is looked at first)."""
    at = step_time(incident, now)
    if incident.state is IncidentState.RAISED and not incident.ack_late and at > incident.ack_deadline:
        return Overdue.ACK
    if (incident.state is IncidentState.DISPATCHED and not incident.response_missed
            and _past(incident.response_deadline, at)):
        return Overdue.RESPONSE
    if (incident.state in (IncidentState.DISPATCHED, IncidentState.RESPONDED) and not incident.arrival_missed
            and _past(incident.arrival_deadline, at)):
        return Overdue.ARRIVAL
    return None


@dataclass(frozen=True, slots=True)
class SystemNote:
    """A step the system records: what, and its details."""

    step: Step
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeadlinePlan:
    """What a missed deadline does: the column updates and the steps to record, in order."""

    kind: Overdue
    updates: dict[str, Any]
    notes: tuple[SystemNote, ...]


def deadline_plan(incident: Incident, now: datetime, settings: IncidentSettings) -> DeadlinePlan | None:
    """What ``incident`` newly overdue at ``now`` gets, or None: a missed acknowledgement is
    marked (``ack_late``, a step ack_overdue); a missed response or arrival is marked (the late
    flag, a step response_overdue / arrival_overdue) and escalates to the next tier, dispatched
    at once with fresh deadlines (a step escalated {from_tier, to_tier, reason}); at tier 3 there
    is nobody further, so it is only marked. Each tier escalates at most once: tiers only rise."""
    kind = overdue(incident, now)
    if kind is None:
        return None
    at = step_time(incident, now)
    if kind is Overdue.ACK:
        return DeadlinePlan(kind, {"ack_late": True, "updated_at": at},
                            (SystemNote(Step.ACK_OVERDUE, {"ack_deadline": incident.ack_deadline.isoformat()}),))
    response = kind is Overdue.RESPONSE
    deadline = incident.response_deadline if response else incident.arrival_deadline
    assert deadline is not None  # overdue() checked it
    tier = incident.tier or TIER_MAINTENANCE
    updates: dict[str, Any] = {"updated_at": at}
    updates["response_late" if response else "arrival_late"] = True
    updates["response_missed" if response else "arrival_missed"] = True
    notes = [SystemNote(Step(kind.value), {"deadline": deadline.isoformat(), "tier": tier,
                                           "rescuer": incident.rescuer})]
    if tier < TIER_FIRE:
        to_tier = tier + 1
        rescuer, contact = tier_rescuer(to_tier, incident, settings)
        reason = EscalationReason.NO_RESPONSE if response else EscalationReason.LATE_ARRIVAL
        updates.update({"state": IncidentState.DISPATCHED, "tier": to_tier, "rescuer": rescuer,
                        "rescuer_contact": contact, "escalated_at": at, **_deadlines_from(incident, at, settings)})
        if to_tier == TIER_STATION:
            updates["second_tier"] = rescuer
        notes.append(SystemNote(Step.ESCALATED, {"from_tier": tier, "to_tier": to_tier, "reason": str(reason),
                                                 "rescuer": rescuer, "contact": contact}))
    return DeadlinePlan(kind, updates, tuple(notes))


# Live stream messages


def incident_change(op: str, incident: Incident, step: IncidentStep | None = None) -> dict[str, Any]:
    """The hub message for a change to ``incident``; ``op`` is the step that made it."""
    change: dict[str, Any] = {"topic": "incident", "op": op, "incident": incident.as_json()}
    if step is not None:
        change["step"] = step.as_json()
    return change
