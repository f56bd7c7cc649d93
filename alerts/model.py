"""Alarms and the changes the engine and the incident desk publish on the live stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from alerts.desks import ALARM_CLASSES, Severity, alarm_class
from semon.alarm_types import AlarmType

__all__ = ["ALARM_COLUMNS", "SEVERITY", "Alarm", "Severity", "Source", "alarm_from_row"]


class Source(StrEnum):
    CODE = "code"  # the device's own event code
    TELEMETRY = "telemetry"  # derived from telemetry by a rule
    CONNECTIVITY = "connectivity"


# Each type's severity at raising (the one table: alerts.desks).
SEVERITY: dict[AlarmType, Severity] = {t: c.severity for t, c in ALARM_CLASSES.items()}


@dataclass(frozen=True, slots=True)
class Alarm:
    id: int
    device_id: str
    kind: str
    type: AlarmType
    severity: Severity
    source: Source
    state: str  # open | cleared
    raised_at: datetime
    raised_seen_at: datetime
    cleared_at: datetime | None = None
    clear_reason: str | None = None
    district_code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # An operator's handling (migration 0011): acknowledged once; shelved until a time (hidden
    # from the desk's list until then, never an entrapment).
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    shelved_until: datetime | None = None
    shelved_by: str | None = None
    shelved_reason: str | None = None

    def shelved(self, now: datetime) -> bool:
        return self.shelved_until is not None and self.shelved_until > now

    def as_json(self) -> dict[str, Any]:
        handling = alarm_class(self.type)
        return {
            "id": self.id, "device_id": self.device_id, "kind": self.kind, "type": str(self.type),
            "severity": str(self.severity), "source": str(self.source), "state": self.state,
            "raised_at": self.raised_at.isoformat(), "raised_seen_at": self.raised_seen_at.isoformat(),
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
            "clear_reason": self.clear_reason, "district_code": self.district_code, "details": self.details,
            "desk": str(handling.desk), "sounds": handling.sounds, "endangers": handling.endangers,
            "acknowledged_at": _iso(self.acknowledged_at), "acknowledged_by": self.acknowledged_by,
            "shelved_until": _iso(self.shelved_until), "shelved_by": self.shelved_by,
            "shelved_reason": self.shelved_reason,
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


ALARM_COLUMNS = ("id, device_id, kind, type, severity, source, state, raised_at, raised_seen_at, cleared_at, "
                 "clear_reason, district_code, details, acknowledged_at, acknowledged_by, shelved_until, shelved_by, "
                 "shelved_reason")


def alarm_from_row(row: tuple[Any, ...]) -> Alarm:
    (id_, device_id, kind, type_, severity, source, state, raised_at, seen_at, cleared_at, reason, district,
     details, acked_at, acked_by, shelved_until, shelved_by, shelved_reason) = row
    return Alarm(id_, device_id, kind, AlarmType(type_), Severity(severity), Source(source), state, raised_at,
                 seen_at, cleared_at, reason, district, details or {}, acked_at, acked_by, shelved_until, shelved_by,
                 shelved_reason)
