"""The desks' table (alerts.desks): every alarm type has its desk, and the board's line is the
elevator line's only."""

from __future__ import annotations

from alerts.desks import ALARM_CLASSES, Desk, desk_of, types_of
from alerts.model import SEVERITY, Severity
from semon.alarm_types import AlarmType


def test_every_alarm_type_has_a_desk_and_a_severity() -> None:
    assert set(ALARM_CLASSES) == set(AlarmType)
    assert {t: c.severity for t, c in ALARM_CLASSES.items()} == SEVERITY


def test_the_desks_split_the_types_as_the_issue_asks() -> None:
    assert desk_of(AlarmType.ENTRAPMENT) is Desk.RESCUE
    for fault in (AlarmType.UNINTENDED_CAR_MOVEMENT, AlarmType.STOPPED_OUTSIDE_DOOR_ZONE, AlarmType.OVERSPEED,
                  AlarmType.PREVENT_RESTART_FAULT):
        assert desk_of(fault) is Desk.RESCUE and ALARM_CLASSES[fault].endangers
    assert set(types_of(Desk.IOT)) == {AlarmType.OFFLINE, AlarmType.SILENT}
    assert types_of(Desk.INSPECTION) == [AlarmType.INSPECTION_EXPIRED_RUNNING]
    assert all(desk_of(t) is Desk.BOILER for t in (AlarmType.EXTREME_LOW_WATER, AlarmType.HIGH_WATER,
                                                    AlarmType.OVER_PRESSURE, AlarmType.OVER_TEMPERATURE,
                                                    AlarmType.FLAME_FAILURE))
    # Only the entrapment is never shelved; whatever sounds is critical or endangers people.
    assert [t for t, c in ALARM_CLASSES.items() if not c.shelvable] == [AlarmType.ENTRAPMENT]
    assert all(c.severity is Severity.CRITICAL or c.endangers for c in ALARM_CLASSES.values() if c.sounds)
