"""What the HTTP API accepts: request bodies and query strings, validated with pydantic. The
OpenAPI document takes its request schemas from these models, so the two cannot drift apart."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.incidents import IncidentState
from alerts.kpis import KpiGrouping
from alerts.model import Severity
from semon.alarm_types import AlarmType
from web.inputs import IsoTime

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
