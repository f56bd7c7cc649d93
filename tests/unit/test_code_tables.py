"""semon.protocol.codes: the shipped code tables load and keep their rules; a bad file is refused
naming the file and the entry."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from semon.alarm_types import AlarmType
from semon.protocol.codes import (
    DEFAULT_TABLE,
    CodeTable,
    CodeTableError,
    EventClass,
    Recovery,
    UnknownCodeTable,
    code_table,
    known_codes,
    load_code_table,
    table_names,
)
from semon.protocol.models import ServiceMode
from semon.protocol.topics import Kind

SHIPPED = resources.files("semon") / "protocol" / "code_tables"
TABLES = [(kind, name) for kind in Kind for name in table_names(kind)]


def shipped_files() -> list[tuple[Kind, str]]:
    return sorted((Kind(d.name), f.name.removesuffix(".toml")) for d in SHIPPED.iterdir() if d.is_dir()
                  for f in d.iterdir() if f.name.endswith(".toml"))


def test_every_shipped_file_is_a_table() -> None:
    assert sorted(TABLES) == shipped_files()
    assert set(table_names(Kind.ELEVATOR)) == {"semon-v1", "gbt24476-2023", "chongqing"}
    assert table_names(Kind.BOILER) == ("semon-v1",)
    for kind in Kind:
        assert table_names(kind)[0] == DEFAULT_TABLE


@pytest.mark.parametrize(("kind", "name"), TABLES)
def test_each_file_loads_as_the_table_it_names(kind: Kind, name: str) -> None:
    table = load_code_table(SHIPPED / kind.value / f"{name}.toml")
    assert table == code_table(name, kind)
    assert hash(table) == hash(code_table(name, kind))  # usable as a key, though its mapping is not hashable
    assert (table.name, table.kind) == (name, kind)
    assert table.title
    assert table.source  # the standard or platform document it follows


@pytest.mark.parametrize(("kind", "name"), TABLES)
def test_each_table_keeps_its_rules(kind: Kind, name: str) -> None:
    table = code_table(name, kind)
    assert table.back_to_normal is not None
    back = table.get(table.back_to_normal)
    assert back is not None
    assert back.event_class is EventClass.RECOVERY
    assert back.mode is (ServiceMode.NORMAL if kind is Kind.ELEVATOR else None)
    for code, entry in table.codes.items():
        assert entry.code == code
        assert 1 <= code <= 999
        if entry.event_class in (EventClass.FAULT, EventClass.ENTRAPMENT):
            assert entry.alarm is not None, entry
        if entry.event_class is EventClass.ENTRAPMENT:
            assert entry.alarm is AlarmType.ENTRAPMENT
            assert entry.recovery == frozenset()  # the car freed, or an operator
        if entry.recovery:
            assert entry.alarm is not None, entry
        if entry.event_class is EventClass.STATE:
            assert entry.mode is not None or entry.alarm is not None, entry
        if entry.mode is not None:
            assert entry.event_class in (EventClass.STATE, EventClass.RECOVERY)
        if entry.event_class in (EventClass.RECOVERY, EventClass.ALARM_BUTTON):
            assert entry.alarm is None
        if entry.event_class is EventClass.RECOVERY:
            assert code == table.back_to_normal
        if kind is Kind.BOILER:
            assert entry.recovery <= {Recovery.BACK_TO_NORMAL}
    assert len({e.name for e in table.codes.values()}) == len(table.codes)


def test_the_default_elevator_table_is_protocol_v1() -> None:
    """docs/protocol.md, section 7.2: the codes and names the protocol always had."""
    table = code_table(DEFAULT_TABLE, Kind.ELEVATOR)
    assert {c: e.name for c, e in table.codes.items()} == {
        1: "safety_circuit_open", 2: "door_close_fault", 3: "door_open_fault", 4: "stopped_outside_unlocking_zone",
        5: "unintended_car_movement", 6: "motor_runtime_limiter", 7: "floor_position_lost",
        8: "prevent_restart_fault", 9: "overrun_top", 10: "overrun_bottom", 11: "passengers_trapped",
        40: "back_to_normal", 41: "main_power_lost", 42: "out_of_service", 43: "inspection_mode",
        44: "fire_return", 45: "firefighter", 46: "emergency_power", 47: "seismic", 90: "alarm_button",
    }
    assert table.back_to_normal == 40
    assert {c: e.mode for c, e in table.codes.items() if e.mode is not None} == {
        40: ServiceMode.NORMAL, 42: ServiceMode.OUT_OF_SERVICE, 43: ServiceMode.INSPECTION,
        44: ServiceMode.FIRE_RETURN, 45: ServiceMode.FIREFIGHTER, 46: ServiceMode.EMERGENCY_POWER,
        47: ServiceMode.SEISMIC,
    }


def test_the_default_boiler_table_is_protocol_v1() -> None:
    table = code_table(DEFAULT_TABLE, Kind.BOILER)
    assert {c: (e.name, e.alarm) for c, e in table.codes.items()} == {
        101: ("extreme_low_water", AlarmType.EXTREME_LOW_WATER), 102: ("high_water", AlarmType.HIGH_WATER),
        103: ("over_pressure", AlarmType.OVER_PRESSURE), 104: ("over_temperature", AlarmType.OVER_TEMPERATURE),
        105: ("flame_failure", AlarmType.FLAME_FAILURE), 140: ("back_to_normal", None),
    }
    assert table.back_to_normal == 140
    assert all(e.recovery == {Recovery.BACK_TO_NORMAL} for e in table.codes.values() if e.alarm is not None)


R = Recovery


@pytest.mark.parametrize(("code", "alarm", "recovery"), [
    (1, AlarmType.SAFETY_CIRCUIT_OPEN, {R.RUNNING, R.BACK_TO_NORMAL}),
    (2, AlarmType.DOOR_CLOSE_FAULT, {R.DOORS_LOCKED}),
    (3, AlarmType.DOOR_OPEN_FAULT, {R.DOORS_OPEN}),
    (4, AlarmType.STOPPED_OUTSIDE_DOOR_ZONE, {R.IN_DOOR_ZONE}),
    (5, AlarmType.UNINTENDED_CAR_MOVEMENT, {R.BACK_TO_NORMAL}),
    (6, AlarmType.MOTOR_RUNTIME_LIMITER, {R.BACK_TO_NORMAL}),
    (7, AlarmType.FLOOR_POSITION_LOST, {R.BACK_TO_NORMAL}),
    (8, AlarmType.PREVENT_RESTART_FAULT, {R.BACK_TO_NORMAL}),
    (9, AlarmType.OVERRUN_TOP, {R.BACK_TO_NORMAL}),
    (10, AlarmType.OVERRUN_BOTTOM, {R.BACK_TO_NORMAL}),
    (11, AlarmType.ENTRAPMENT, set()),
    (41, AlarmType.MAIN_POWER_LOST, {R.MAINS_POWER, R.BACK_TO_NORMAL}),
])
def test_each_elevator_fault_clears_by_its_own_rule(code: int, alarm: AlarmType, recovery: set[Recovery]) -> None:
    rule = frozenset(recovery)
    entry = code_table(DEFAULT_TABLE, Kind.ELEVATOR).get(code)
    assert entry is not None
    assert (entry.alarm, entry.recovery) == (alarm, rule)
    for name in table_names(Kind.ELEVATOR):  # the same meaning clears the same way in every table
        for other in code_table(name, Kind.ELEVATOR).codes.values():
            if other.name == entry.name:
                assert (other.alarm, other.recovery) == (alarm, rule), name


def test_the_national_table_has_only_the_shared_codes() -> None:
    table = code_table("gbt24476-2023", Kind.ELEVATOR)
    assert sorted(table.codes) == [*range(1, 9), *range(40, 48), 90]


def test_chongqing_numbers_overrun_and_entrapment_91_to_93() -> None:
    table = code_table("chongqing", Kind.ELEVATOR)
    assert sorted(table.codes) == [*range(1, 9), *range(40, 48), 90, 91, 92, 93]
    assert [(e.name, e.alarm) for c in (91, 92, 93) if (e := table.get(c)) is not None] == [
        ("overrun_top", AlarmType.OVERRUN_TOP), ("overrun_bottom", AlarmType.OVERRUN_BOTTOM),
        ("passengers_trapped", AlarmType.ENTRAPMENT)]
    assert table.get(9) is None
    assert table.get(11) is None


def test_known_codes_is_the_union_with_the_default_first() -> None:
    for kind in Kind:
        tables = [code_table(n, kind) for n in table_names(kind)]
        known = known_codes(kind)
        assert set(known) == set().union(*(t.codes for t in tables))
        default = code_table(DEFAULT_TABLE, kind)
        for code, entry in known.items():
            assert entry == (default.get(code) or next(t.get(code) for t in tables if t.get(code) is not None))
    assert {91, 92, 93, 9, 10, 11} <= set(known_codes(Kind.ELEVATOR))
    # the default table's entry wins where tables differ (zh of 04 and 05 in the national table)
    assert known_codes(Kind.ELEVATOR)[5] == code_table(DEFAULT_TABLE, Kind.ELEVATOR).get(5)
    assert not set(known_codes(Kind.ELEVATOR)) & set(known_codes(Kind.BOILER))


def test_an_unknown_table_names_the_known_ones() -> None:
    with pytest.raises(UnknownCodeTable) as caught:
        code_table("shanghai", Kind.ELEVATOR)
    message = str(caught.value)
    assert "shanghai" in message
    for name in table_names(Kind.ELEVATOR):
        assert name in message
    assert isinstance(caught.value, KeyError)
    with pytest.raises(KeyError, match="known: semon-v1"):
        code_table("chongqing", Kind.BOILER)


def test_the_default_tables_keep_the_alarms_of_protocol_v1() -> None:
    alarms = {
        **{c: e.alarm for c, e in code_table(DEFAULT_TABLE, Kind.ELEVATOR).codes.items() if e.alarm},
        **{c: e.alarm for c, e in code_table(DEFAULT_TABLE, Kind.BOILER).codes.items() if e.alarm},
    }
    assert sorted(alarms) == [*range(1, 12), 41, *range(101, 106)]


# --- files that break a rule ---------------------------------------------------------------------

HEAD = """
name = "test-table"
kind = "elevator"
title = "Test"
source = "a test"
back_to_normal = 40

[[code]]
code = 40
name = "back_to_normal"
zh = "恢复正常"
class = "recovery"
mode = "normal"
"""

FAULT = """
[[code]]
code = 5
name = "unintended_car_movement"
zh = "开门走车"
class = "fault"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad-table.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    table = load_code_table(write(tmp_path, HEAD + FAULT + 'alarm = "unintended_car_movement"\n'
                                  'recovery = ["back_to_normal"]\nreason = "a lock-out"\n'))
    assert isinstance(table, CodeTable)
    assert sorted(table.codes) == [5, 40]
    entry = table.get(5)
    assert entry is not None
    assert entry.recovery == {Recovery.BACK_TO_NORMAL}


@pytest.mark.parametrize(("text", "says"), [
    (HEAD + FAULT, "entry 2 (code 5): a fault code raises an alarm"),
    (HEAD + FAULT + 'alarm = "unintended_car_movement"\nreason = "x"\nrecovery = ["reboot"]\n',
     "entry 2 (code 5): recovery: 0: Input should be"),
    (HEAD + FAULT + 'alarm = "no_such_alarm"\n', "entry 2 (code 5): alarm: Input should be"),
    (HEAD + FAULT + 'alarm = "unintended_car_movement"\n', "entry 2 (code 5): a code that raises an alarm gives"),
    (HEAD + FAULT + 'alarm = "unintended_car_movement"\nreason = "x"\ncolour = "red"\n',
     "entry 2 (code 5): colour: Extra inputs are not permitted"),
    (HEAD + FAULT.replace('class = "fault"', 'class = "state"'), "entry 2 (code 5): a state code sets a service mode"),
    (HEAD + FAULT.replace('class = "fault"', 'class = "alarm_button"') + 'recovery = ["running"]\n',
     "entry 2 (code 5): `recovery` says how an alarm clears"),
    (HEAD + FAULT.replace("code = 5", 'code = "5"'), "entry 2 (code 5): code: Input should be a valid integer"),
    (HEAD + FAULT.replace("code = 5", "code = 1000") + 'alarm = "overrun_top"\nreason = "x"\n',
     "entry 2 (code 1000): code: Input should be less than or equal to 999"),
    (HEAD + FAULT.replace("code = 5", "code = 40") + 'alarm = "overrun_top"\nreason = "x"\n',
     "entry code 40 (unintended_car_movement): code 40 is given twice"),
    (HEAD + FAULT.replace("code = 5", "code = 6").replace("unintended_car_movement", "back_to_normal")
     + 'alarm = "overrun_top"\nreason = "x"\n', "entry code 6 (back_to_normal): name 'back_to_normal' is already"),
    (HEAD.replace("back_to_normal = 40", "back_to_normal = 41"),
     "entry code 40 (back_to_normal): a recovery code must be the table's back_to_normal"),
    (HEAD.replace('mode = "normal"', 'mode = "inspection"'),
     "entry code 40 (back_to_normal): an elevator's back-to-normal code puts the car in mode 'normal'"),
    (HEAD.replace('kind = "elevator"', 'kind = "boiler"'),
     "entry code 40 (back_to_normal): a boiler has no service mode"),
    (HEAD.replace('kind = "elevator"', 'kind = "boiler"').replace('mode = "normal"\n', "") + FAULT
     + 'alarm = "high_water"\nreason = "x"\nrecovery = ["doors_locked"]\n',
     "entry code 5 (unintended_car_movement): recovery doors_locked reads elevator telemetry"),
    (HEAD.replace("back_to_normal = 40\n", "") .replace('class = "recovery"', 'class = "state"')
     + FAULT + 'alarm = "overrun_top"\nreason = "x"\nrecovery = ["back_to_normal"]\n',
     "entry code 5 (unintended_car_movement): recovery back_to_normal, but the table has no back_to_normal code"),
    (HEAD.replace('source = "a test"\n', ""), "source: Field required"),
    (HEAD.replace('kind = "elevator"', 'kind = "crane"'), "kind: Input should be"),
    (HEAD + "[[code]\n", "not valid TOML"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_entry(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CodeTableError) as caught:
        load_code_table(path)
    message = str(caught.value)
    assert str(path) in message
    assert says in message


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CodeTableError, match=r"cannot read code table .*nowhere\.toml"):
        load_code_table(tmp_path / "nowhere.toml")
