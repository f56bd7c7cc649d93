"""What the alerts' HTTP API accepts (request bodies and query strings, validated with pydantic)
and what it answers (alarms, incidents and their steps, the KPIs, the health check, the live
stream's messages). The answers mirror the JSON the handlers write (``Alarm.as_json``,
``Incident.as_json``, ``IncidentStep.as_json``, ``RescueKpis.as_json``, ``incident_change``).
The OpenAPI document takes its schemas from these models, so the two cannot drift apart; the
API's tests validate real answers against them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator
from pydantic.json_schema import SkipJsonSchema

from alerts.desks import Desk
from alerts.incidents import IncidentState, Step
from alerts.kpis import KpiGrouping
from alerts.model import Severity, Source
from semon.alarm_types import AlarmType
from web.inputs import IsoTime
from web.models import Answer

MAX_LIMIT = 1000
_ACTOR_NOTE = "only without a session (auth off); with one, the logged-in user is the actor and this is ignored"

OperatorStep = Literal["acknowledged", "dispatched", "on_site", "released", "closed", "false_alarm"]

QueryTime = IsoTime  # ISO 8601 with an offset, never a number (web.inputs)
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StepBody(_Body):
    """An operator's step on an incident."""

    step: OperatorStep
    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)
    comment: str | None = Field(default=None, max_length=2000)
    maintenance_unit: str | None = Field(default=None, max_length=200,
                                         description="required with dispatched (维保单位)")
    contact: str | None = Field(default=None, max_length=100,
                                description="the maintenance unit's contact; required with dispatched")
    cause: str | None = Field(default=None, max_length=500)


MAX_SHELVE_MINUTES = 24 * 60  # a shift and more; longer is a maintenance matter, not a shelving


class AlarmActBody(_Body):
    """Acknowledging or unshelving an alarm (not an entrapment: its incident is worked instead)."""

    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)


class ShelveBody(_Body):
    """Shelving an alarm (not an entrapment): hidden from its desk's list for ``minutes``, then
    shown again by itself."""

    actor: str | None = Field(default=None, min_length=1, max_length=100, description=_ACTOR_NOTE)
    minutes: int = Field(ge=1, le=MAX_SHELVE_MINUTES, description="how long, in minutes")
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
    device_id: str | None = None
    district: str | None = None
    desk: Desk | None = Field(default=None, description="the desk's alarm types (GET /api/alarms/types)")
    acknowledged: bool | None = None
    shelved: bool | None = Field(default=None, description="shelved now")
    q: str | None = Field(default=None, min_length=1, max_length=100,
                          description="text in the device id, the type or the shelving reason")
    limit: Limit = 100


class IncidentQuery(_Window):
    state: IncidentState | None = None
    active: bool | None = None
    district: str | None = None
    maintenance_unit: str | None = None
    limit: Limit = 100


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
    active: bool = Field(description="neither closed nor a false alarm")


class IncidentList(Answer):
    incidents: list[Incident]


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


ANSWERS: tuple[type[BaseModel], ...] = (Health, AlarmList, Alarm, AlarmTypes, IncidentList, IncidentDetail,
                                        IncidentStep, KpiReport, LiveSnapshot, LiveChange)
REQUESTS: tuple[type[BaseModel], ...] = (StepBody, CommentBody, AlarmActBody, ShelveBody, AlarmQuery, IncidentQuery,
                                         KpiQuery)
