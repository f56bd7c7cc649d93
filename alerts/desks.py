"""Which desk works each alarm type, how severe it is, whether it sounds and whether it endangers
people: the one table the rules engine (severity at raising), the API (``desk`` in the alarm
JSON, ``GET /api/alarms?desk=``, ``GET /api/alarms/types``) and the console (which view lists
it, what is highlighted, what beeps) all read.

Desks (issue 15, "The 96333 operator", after the 96333 centres' platform descriptions):

- ``96333``: the elevator emergency line: entrapments and the elevator faults. Those that
  endanger people (``endangers``) are highlighted on the board: a car moving with the doors
  open (轿厢意外移动), a stop outside the door zone (非平层停梯), overspeed, an overrun, an open
  safety circuit, the prevent-restart fault (防止电梯再启动故障), a pressed alarm button.
- ``boiler``: the boiler desk (TSG 11-2020's protections: water level, pressure, temperature,
  flame).
- ``iot``: connectivity, the IoT view: offline, silent (数据中断).
- ``inspection``: the register's alarms (running with an expired inspection, 准用状态); they go
  to the bureau and the agencies, not to the board.

``sounds``: the console beeps while such an alarm is neither acknowledged nor shelved (an
entrapment: while its incident waits for acknowledgement). ``shelvable``: an entrapment is
never shelved or acknowledged as an alarm; it is worked through its incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from semon.alarm_types import AlarmType


class Severity(StrEnum):
    CRITICAL = "critical"  # people at risk: entrapment
    MAJOR = "major"  # a safety fault; the equipment must stop
    MINOR = "minor"
    WARNING = "warning"


class Desk(StrEnum):
    RESCUE = "96333"  # the elevator emergency line (电梯应急处置服务平台)
    BOILER = "boiler"
    IOT = "iot"
    INSPECTION = "inspection"


@dataclass(frozen=True, slots=True)
class AlarmClass:
    """How the centre handles one alarm type."""

    desk: Desk
    severity: Severity
    sounds: bool = False
    endangers: bool = False  # people may be at risk now: highlighted on its desk
    shelvable: bool = True

    def as_json(self, type_: AlarmType) -> dict[str, Any]:
        return {"type": str(type_), "desk": str(self.desk), "severity": str(self.severity), "sounds": self.sounds,
                "endangers": self.endangers, "shelvable": self.shelvable}


_R, _B, _I, _N = Desk.RESCUE, Desk.BOILER, Desk.IOT, Desk.INSPECTION
_CRIT, _MAJ, _MIN, _WARN = Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.WARNING

ALARM_CLASSES: dict[AlarmType, AlarmClass] = {
    AlarmType.ENTRAPMENT: AlarmClass(_R, _CRIT, sounds=True, endangers=True, shelvable=False),
    AlarmType.UNINTENDED_CAR_MOVEMENT: AlarmClass(_R, _CRIT, sounds=True, endangers=True),
    AlarmType.OVERSPEED: AlarmClass(_R, _MAJ, sounds=True, endangers=True),
    AlarmType.STOPPED_OUTSIDE_DOOR_ZONE: AlarmClass(_R, _MAJ, sounds=True, endangers=True),
    AlarmType.OVERRUN_TOP: AlarmClass(_R, _MAJ, endangers=True),
    AlarmType.OVERRUN_BOTTOM: AlarmClass(_R, _MAJ, endangers=True),
    AlarmType.SAFETY_CIRCUIT_OPEN: AlarmClass(_R, _MAJ, endangers=True),
    AlarmType.PREVENT_RESTART_FAULT: AlarmClass(_R, _MIN, endangers=True),
    AlarmType.ALARM_BUTTON: AlarmClass(_R, _MIN, endangers=True),
    AlarmType.DOOR_OPEN_FAULT: AlarmClass(_R, _MIN),
    AlarmType.DOOR_CLOSE_FAULT: AlarmClass(_R, _MIN),
    AlarmType.MOTOR_RUNTIME_LIMITER: AlarmClass(_R, _MIN),
    AlarmType.FLOOR_POSITION_LOST: AlarmClass(_R, _MIN),
    AlarmType.MAIN_POWER_LOST: AlarmClass(_R, _MIN),
    AlarmType.EXTREME_LOW_WATER: AlarmClass(_B, _CRIT, sounds=True, endangers=True),
    AlarmType.OVER_PRESSURE: AlarmClass(_B, _CRIT, sounds=True, endangers=True),
    AlarmType.OVER_TEMPERATURE: AlarmClass(_B, _MAJ),
    AlarmType.FLAME_FAILURE: AlarmClass(_B, _MAJ),
    AlarmType.HIGH_WATER: AlarmClass(_B, _MAJ),
    AlarmType.OFFLINE: AlarmClass(_I, _WARN),
    AlarmType.SILENT: AlarmClass(_I, _WARN),
    AlarmType.INSPECTION_EXPIRED_RUNNING: AlarmClass(_N, _MAJ),
}
# A type a later version adds before this table knows it: the elevator line sees it.
UNKNOWN = AlarmClass(_R, _MIN)


def alarm_class(type_: AlarmType) -> AlarmClass:
    return ALARM_CLASSES.get(type_, UNKNOWN)


def desk_of(type_: AlarmType) -> Desk:
    return alarm_class(type_).desk


def types_of(desk: Desk) -> list[AlarmType]:
    """The alarm types ``desk`` works, in the table's order."""
    return [t for t, c in ALARM_CLASSES.items() if c.desk is desk]


def table_json(types: Iterable[AlarmType] = AlarmType) -> list[dict[str, Any]]:
    """``GET /api/alarms/types``: one object per type (``AlarmClass.as_json``)."""
    return [alarm_class(t).as_json(t) for t in types]
