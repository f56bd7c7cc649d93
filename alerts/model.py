"""Alarms and the changes the engine and the incident desk publish on the live stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from semon.alarm_types import AlarmType


class Severity(StrEnum):
    CRITICAL = "critical"  # people at risk: entrapment
    MAJOR = "major"  # a safety fault; the equipment must stop
    MINOR = "minor"
    WARNING = "warning"


class Source(StrEnum):
    CODE = "code"  # the device's own event code
    TELEMETRY = "telemetry"  # derived from telemetry by a rule
    CONNECTIVITY = "connectivity"


SEVERITY: dict[AlarmType, Severity] = {
    AlarmType.ENTRAPMENT: Severity.CRITICAL,
    AlarmType.UNINTENDED_CAR_MOVEMENT: Severity.CRITICAL,
    AlarmType.OVERRUN_TOP: Severity.MAJOR,
    AlarmType.OVERRUN_BOTTOM: Severity.MAJOR,
    AlarmType.OVERSPEED: Severity.MAJOR,
    AlarmType.SAFETY_CIRCUIT_OPEN: Severity.MAJOR,
    AlarmType.STOPPED_OUTSIDE_DOOR_ZONE: Severity.MAJOR,
    AlarmType.EXTREME_LOW_WATER: Severity.CRITICAL,
    AlarmType.OVER_PRESSURE: Severity.CRITICAL,
    AlarmType.OVER_TEMPERATURE: Severity.MAJOR,
    AlarmType.FLAME_FAILURE: Severity.MAJOR,
    AlarmType.HIGH_WATER: Severity.MAJOR,
    AlarmType.INSPECTION_EXPIRED_RUNNING: Severity.MAJOR,
    AlarmType.DOOR_OPEN_FAULT: Severity.MINOR,
    AlarmType.DOOR_CLOSE_FAULT: Severity.MINOR,
    AlarmType.MOTOR_RUNTIME_LIMITER: Severity.MINOR,
    AlarmType.FLOOR_POSITION_LOST: Severity.MINOR,
    AlarmType.PREVENT_RESTART_FAULT: Severity.MINOR,
    AlarmType.MAIN_POWER_LOST: Severity.MINOR,
    AlarmType.ALARM_BUTTON: Severity.MINOR,
    AlarmType.OFFLINE: Severity.WARNING,
    AlarmType.SILENT: Severity.WARNING,
}


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

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "device_id": self.device_id, "kind": self.kind, "type": str(self.type),
            "severity": str(self.severity), "source": str(self.source), "state": self.state,
            "raised_at": self.raised_at.isoformat(), "raised_seen_at": self.raised_seen_at.isoformat(),
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
            "clear_reason": self.clear_reason, "district_code": self.district_code, "details": self.details,
        }


ALARM_COLUMNS = ("id, device_id, kind, type, severity, source, state, raised_at, raised_seen_at, cleared_at, "
                 "clear_reason, district_code, details")


def alarm_from_row(row: tuple[Any, ...]) -> Alarm:
    (id_, device_id, kind, type_, severity, source, state, raised_at, seen_at, cleared_at, reason, district,
     details) = row
    return Alarm(id_, device_id, kind, AlarmType(type_), Severity(severity), Source(source), state, raised_at,
                 seen_at, cleared_at, reason, district, details or {})
