"""What the alerts' HTTP API accepts (request bodies and query strings, validated with pydantic)
and what it answers (alarms, incidents and their steps, the KPIs, the health check, the live
stream's messages). The answers mirror the JSON the handlers write (``Alarm.as_json``,
``Incident.as_json``, ``IncidentStep.as_json``, ``RescueKpis.as_json``, ``incident_change``).
The OpenAPI document takes its schemas from these models, so the two cannot drift apart; the
API's tests validate real answers against them."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, RootModel, model_validator
from pydantic.json_schema import SkipJsonSchema

from alerts.desks import Desk
from alerts.incidents import CLOSE_FIELDS, TIERS, Area, CauseClass, IncidentState, Step
from alerts.incidents import Source as IncidentSource
from alerts.kpis import KpiGrouping
from alerts.model import Severity, Source
from semon.alarm_types import AlarmType
from semon.protocol.topics import DEVICE_ID_PATTERN
from web.inputs import IsoDate, IsoMonth, IsoTime
from web.models import Answer

MAX_LIMIT = 1000


def _nfkc(value: Any) -> Any:
    """Text as an operator's keyboard may give it, normalised: NFKC (full-width digits and letters
    of a Chinese input method become ASCII), trimmed."""
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _device_code(value: str) -> str:
    if not DEVICE_ID_PATTERN.fullmatch(value):
        raise ValueError("device_id must be the unit's code as the devices send it (letters, digits, '.', '_', '-'; "
                         "at most 64, the first a letter or digit); an address goes in address")
    return value


# Normalised on the way in (NFKC, trimmed): device ids, phones and search text.
Normalised = BeforeValidator(_nfkc)
DeviceCode = Annotated[str, Normalised, AfterValidator(_device_code)]
_ACTOR_NOTE = "only without a session (auth off); with one, the logged-in user is the actor and this is ignored"

OperatorStep = Literal["acknowledged", "dispatched", "responded", "no_answer", "on_site", "released", "closed",
                       "false_alarm"]
Tier = Literal[1, 2, 3]
assert set(TIERS) == {1, 2, 3}

QueryTime = IsoTime  # ISO 8601 with an offset, never a number (web.inputs)
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StepBody(_Body):
    """An operator's step on an incident."""

    step: OperatorStep
    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)
    comment: str | None = Field(default=None, max_length=2000)
    maintenance_unit: str | None = Field(
        default=None, max_length=200,
        description="who is sent (dispatched) or was called (no_answer); required with a tier-1 dispatch (维保单位); "
                    "a tier 2 or 3 dispatch defaults to the nearest second-tier station or the fire brigade")
    contact: Annotated[str | None, Normalised] = Field(default=None, max_length=100,
                                                       description="their contact; required with a tier-1 dispatch")
    cause: str | None = Field(default=None, max_length=500, description="a free-text note on the cause")
    tier: Tier | None = Field(default=None, description="dispatched only: 1 maintenance unit, 2 second-tier station "
                                                        "(网格救援站), 3 fire brigade (119); default the current tier, "
                                                        "else 1; never lower than the current tier")
    persons_released: int | None = Field(default=None, ge=0, le=10_000, description="closed only; required there")
    injuries: int | None = Field(default=None, ge=0, le=10_000, description="closed only; required there")
    cause_class: CauseClass | None = Field(default=None, description="closed only; required there "
                                                                     "(GET /api/incidents/causes)")
    self_release: bool | None = Field(default=None, description="closed only; required there: the passengers got "
                                                                "out by themselves")
    callback_confirmed: bool | None = Field(default=None, description="closed only; required there: the call-back "
                                                                      "confirmed the release")
    expected_state: IncidentState | None = Field(
        default=None, description="the state the operator saw: when the incident has moved on since, the step is "
                                  "refused with 409 (a first dispatch on an incident someone else dispatched "
                                  "meanwhile); a re-dispatch sends dispatched or responded. Optional: without it "
                                  "only the state machine decides")


assert set(CLOSE_FIELDS) <= set(StepBody.model_fields)


class PhoneReportBody(_Body):
    """A phone call reporting an entrapment (新建接警): the unit (find it with GET
    /api/registry/search), who called, and for an unregistered unit its maintenance unit."""

    device_id: DeviceCode = Field(min_length=1, max_length=64,
                                  description="the unit's registration code (设备代码), as the devices send it "
                                              "(semon.protocol.topics.DEVICE_ID_PATTERN); NFKC-normalised and "
                                              "trimmed, so a code typed full-width finds the registered unit")
    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)
    caller: str | None = Field(default=None, max_length=100)
    caller_phone: Annotated[str | None, Normalised] = Field(default=None, max_length=40,
                                                            description="NFKC-normalised, trimmed")
    comment: str | None = Field(default=None, max_length=2000)
    maintenance_unit: str | None = Field(default=None, max_length=200,
                                         description="overrides the register's (an unregistered unit has none)")
    contact: Annotated[str | None, Normalised] = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300,
                                description="where the lift is, as the caller says (an unregistered unit); a "
                                            "registered unit's address is the register's")


MIN_SHELVE_MINUTES = 15  # the console's shortest choice (alarm-desk.js SHELVE_MINUTES); docs/console.md
MAX_SHELVE_MINUTES = 24 * 60  # a shift and more; longer is a maintenance matter, not a shelving


class AlarmActBody(_Body):
    """Acknowledging or unshelving an alarm (not an entrapment: its incident is worked instead)."""

    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)


class ShelveBody(_Body):
    """Shelving an alarm (not an entrapment): hidden from its desk's list for ``minutes``, then
    shown again by itself."""

    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)
    minutes: int = Field(ge=MIN_SHELVE_MINUTES, le=MAX_SHELVE_MINUTES,
                         description="how long, in minutes: 15 minutes to a day")
    reason: str = Field(min_length=1, max_length=500, description="why (shown with the shelved alarm)")


class CommentBody(_Body):
    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)
    comment: str = Field(min_length=1, max_length=2000)


class _Window(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    since: QueryTime | None = None
    until: QueryTime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class AlarmQuery(_Window):
    state: Literal["open", "cleared"] | None = None
    type: AlarmType | None = None
    severity: Severity | None = None
    kind: Literal["elevator", "boiler"] | None = None
    device_id: Annotated[str | None, Normalised] = None
    district: str | None = None
    desk: Desk | None = Field(default=None, description="the desk's alarm types (GET /api/alarms/types)")
    acknowledged: bool | None = None
    shelved: bool | None = Field(default=None, description="shelved now")
    q: Annotated[str | None, Normalised] = Field(default=None, min_length=1, max_length=100,
                                                 description="text in the device id, the type or the shelving "
                                                             "reason (NFKC-normalised, trimmed)")
    limit: Limit = 100


class IncidentQuery(_Window):
    state: IncidentState | None = None
    active: bool | None = None
    district: str | None = None
    maintenance_unit: str | None = None
    source: IncidentSource | None = None
    cause_class: CauseClass | None = None
    q: Annotated[str | None, Normalised] = Field(default=None, min_length=1, max_length=200,
                                                 description="text in the device id, address, rescue code, caller, "
                                                             "caller's phone, maintenance unit (NFKC-normalised, "
                                                             "trimmed)")
    limit: Limit = 100
    offset: int = Field(default=0, ge=0, le=1_000_000)


class HandoverQuery(_Window):
    """The shift: [since, until); default the last 12 hours up to now."""

    def window(self, now: datetime, hours: int = 12) -> tuple[datetime, datetime]:
        until = self.until or now
        return self.since or until - timedelta(hours=hours), until


class KpiQuery(_Window):
    by: KpiGrouping = KpiGrouping.DISTRICT

    def window(self, now: datetime, days: int = 30) -> tuple[datetime, datetime]:
        """The given ends, else the last ``days`` days up to now; (since, until) may come out empty."""
        until = self.until or now
        since = self.since or until - timedelta(days=days)
        return since, until


# What the alerts' routes answer


class Health(Answer):
    ok: bool
    database: bool
    live_subscribers: int


class Alarm(Answer):
    id: int
    device_id: str
    kind: Literal["elevator", "boiler"]
    type: AlarmType
    severity: Severity
    source: Source
    state: Literal["open", "cleared"]
    raised_at: datetime = Field(description="device time the condition began")
    raised_seen_at: datetime = Field(description="when the engine raised it")
    cleared_at: datetime | None
    clear_reason: str | None
    district_code: str | None
    details: dict[str, Any]
    desk: Desk = Field(description="the desk that works this type (alerts.desks)")
    sounds: bool = Field(description="the console beeps while it is neither acknowledged nor shelved")
    endangers: bool = Field(description="people may be at risk: highlighted")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    shelved_until: datetime | None = Field(description="shelved while in the future; the end of the last shelving")
    shelved_by: str | None
    shelved_reason: str | None


class AlarmTypeClass(Answer):
    type: AlarmType
    desk: Desk
    severity: Severity
    sounds: bool
    endangers: bool
    shelvable: bool = Field(description="may be acknowledged and shelved (an entrapment may not)")


class AlarmTypes(Answer):
    """Each alarm type's desk, severity and sound: the one table (alerts.desks)."""

    types: list[AlarmTypeClass]


class AlarmList(Answer):
    alarms: list[Alarm]


class Incident(Answer):
    """A rescue incident; raised_at is when the centre received the alarm."""

    id: int
    alarm_id: int | None = Field(description="null for a phone-reported incident until a device alarm links")
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
    source: IncidentSource
    registered: bool = Field(description="false: the unit is not in the register")
    caller: str | None
    caller_phone: str | None
    rescue_code: str | None = Field(description="救援识别码, copied from the register")
    address: str | None
    area: Area | None = Field(description="the arrival limit's area")
    place: str | None = Field(description="使用场所 class, from the register")
    latitude: float | None
    longitude: float | None
    tier: Tier | None = Field(description="the level of rescue sent: 1 maintenance unit, 2 second-tier station, "
                                          "3 fire brigade")
    rescuer: str | None = Field(description="who the current tier sent")
    rescuer_contact: str | None
    responded_at: datetime | None
    response_deadline: datetime | None
    response_late: bool = Field(description="a response deadline was missed at some tier")
    response_missed: bool = Field(description="the current dispatch missed its response deadline")
    arrival_missed: bool = Field(description="the current dispatch missed its arrival deadline")
    persons_released: int | None
    injuries: int | None
    cause_class: CauseClass | None
    self_release: bool | None
    callback_confirmed: bool | None
    callback_at: datetime | None
    active: bool = Field(description="neither closed nor a false alarm")


class IncidentList(Answer):
    incidents: list[Incident]
    total: int = Field(description="how many the filters select, whatever the limit")
    limit: int
    offset: int


class CauseClassLabel(Answer):
    cause_class: CauseClass
    zh: str
    en: str


class CauseList(Answer):
    """The cause classes of an entrapment, as closing asks for them."""

    causes: list[CauseClassLabel]


class Escalated(Answer):
    incident_id: int
    device_id: str
    at: datetime
    from_tier: Tier | None
    to_tier: Tier | None
    reason: Literal["no_response", "late_arrival"] | None


class Handover(Answer):
    """A shift's handover: what stays open, what closed in the shift, counts, lateness, escalations."""

    since: datetime
    until: datetime
    open: list[Incident] = Field(description="every incident still open")
    closed: list[Incident] = Field(description="closed or false alarm within the shift")
    by_state: dict[str, int] = Field(description="the shift's incidents (open, or raised or closed in it) by state")
    late_acks: int
    late_responses: int
    late_arrivals: int
    escalations: list[Escalated]


class IncidentStep(Answer):
    """One entry of an incident's history: who did what, and when."""

    id: int
    incident_id: int
    step: Step
    actor: str
    at: datetime
    comment: str | None
    details: dict[str, Any]


class IncidentDetail(Incident):
    """A rescue incident with its history."""

    steps: list[IncidentStep] = Field(description="in the order they were taken")


_SECONDS = "seconds"


class RescueKpis(Answer):
    """Response = acknowledged - raised; arrival = on_site - dispatched; rescue = released - on_site."""

    key: str | None = Field(description="district code or maintenance unit")
    incidents: int
    false_alarms: int
    response_mean_s: float | None = Field(description=_SECONDS)
    response_median_s: float | None = Field(description=_SECONDS)
    arrival_mean_s: float | None = Field(description=_SECONDS)
    arrival_median_s: float | None = Field(description=_SECONDS)
    rescue_mean_s: float | None = Field(description=_SECONDS)
    rescue_median_s: float | None = Field(description=_SECONDS)
    late_acks: int
    late_arrivals: int
    escalations: int
    dispatched: int
    late_responses: int
    response_rate_pct: float | None = Field(description="dispatched incidents whose rescuers all responded within "
                                                        "the response deadline, of those decided (responded, or "
                                                        "late); percent")
    arrival_30min_rate_pct: float | None = Field(description="dispatched incidents on site within 30 minutes of "
                                                             "the first dispatch, of those on site or past the 30 "
                                                             "minutes (false alarms left out); percent")
    tier_2: int = Field(description="incidents that reached the second tier")
    tier_3: int = Field(description="incidents that reached the fire brigade")


class KpiReport(Answer):
    by: KpiGrouping
    since: datetime
    until: datetime
    rows: list[RescueKpis]


class LiveSnapshot(Answer):
    """The live stream's first message."""

    topic: Literal["snapshot"]
    alarms: list[Alarm] = Field(description="every open alarm")
    incidents: list[Incident] = Field(description="every active incident")


class AlarmChange(Answer):
    topic: Literal["alarm"]
    op: Literal["raised", "cleared", "acknowledged", "shelved", "unshelved"]
    alarm: Alarm


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class IncidentChange(Answer):
    topic: Literal["incident"]
    op: Step
    incident: Incident
    # Absent, never null, when no step made the change.
    step: IncidentStep | SkipJsonSchema[None] = Field(default=None, description="the step that made the change",
                                                      json_schema_extra=_no_default)


class LiveChange(RootModel[Annotated[AlarmChange | IncidentChange, Field(discriminator="topic")]]):
    """Every message of the live stream after the snapshot."""


# The monthly 96333 report (alerts.monthly_report; docs/reports.md)


class ReportQuery(BaseModel):
    """A calendar month, or a range of the register's local days [since, until)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    month: IsoMonth | None = Field(default=None, description="YYYY-MM, years 1900-2999 as every period")
    since: IsoDate | None = Field(default=None, description="the first day, in the register's zone")
    until: IsoDate | None = Field(default=None, description="the day after the last one")
    format: Literal["json", "xlsx"] = "json"
    lang: Literal["zh-CN", "en"] = Field(default="zh-CN", description="the workbook's labels")

    @model_validator(mode="after")
    def _one_period(self) -> ReportQuery:
        if (self.month is None) == (self.since is None or self.until is None):
            raise ValueError("give either month, or since and until")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class RankedParty(Answer):
    name: str
    entrapments: int
    lifts: int = Field(description="its elevators in use in the register")
    per_100_lifts: float


class ReportSlot(Answer):
    slot: str = Field(description="HH:00–HH:00 in the register's zone")
    entrapments: int


class MonthlyReport(Answer):
    """The report's figures (docs/reports.md); percentages 0–100, null without a denominator."""

    since: date
    until: date
    timezone: str
    incidents: int
    calls: int = Field(description="phone-reported incidents, false alarms included")
    false_alarms: int
    entrapments: int = Field(description="incidents that were not false alarms")
    persons_released: int
    injuries: int
    dispatched: int
    arrived_30min: int
    arrival_counted: int = Field(description="dispatched entrapments on site or past 30 minutes")
    responded_in_time: int
    response_counted: int = Field(description="dispatched incidents with a response recorded or missed")
    arrival_30min_rate_pct: float | None
    response_rate_pct: float | None
    tiers: dict[str, int] = Field(description="1, 2, 3 and none")
    causes: dict[str, int]
    places: dict[str, int]
    slots: list[ReportSlot]
    lifts: int = Field(description="elevators in use in the register")
    entrapments_per_lift: float | None = Field(description="困人率")
    entrapments_per_100_lifts: float | None
    top_units: list[RankedParty]
    top_owners: list[RankedParty]


ANSWERS: tuple[type[BaseModel], ...] = (Health, AlarmList, Alarm, AlarmTypes, IncidentList, IncidentDetail,
                                        IncidentStep, KpiReport, LiveSnapshot, LiveChange, CauseList, Handover,
                                        MonthlyReport)
REQUESTS: tuple[type[BaseModel], ...] = (StepBody, CommentBody, PhoneReportBody, AlarmActBody, ShelveBody, AlarmQuery,
                                         IncidentQuery, HandoverQuery, KpiQuery, ReportQuery)
