"""The rules, pure: proven against every simulator scenario, and against late, duplicated and
out-of-order frames, flapping and restarts."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from alerts.engine import json_safe
from alerts.model import Source
from alerts.rules import Change, DeviceRules, RuleSettings
from semon.alarm_types import AlarmType
from semon.profile import DeviceProfile
from semon.protocol.models import BoilerTelemetry, parse
from semon.protocol.topics import Kind
from simulators.core import Cause
from simulators.scenario import bundled_scenarios, load_scenario
from tests.unit.rules_driver import T0, Device, drive, lift, profiles
from tests.unit.sim_helpers import ORIGIN_MS

SCENARIOS = bundled_scenarios()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_raises_exactly_the_alarms_it_declares(path: Path) -> None:
    scenario = load_scenario(path)
    origin = scenario.origin_ms(ORIGIN_MS)
    devices = scenario.build(origin)
    output = scenario.dry_run(origin)
    raised = [(d, c) for d, c in drive(output, profiles(devices)) if c.raised]
    assert {(d, c.type) for d, c in raised} == scenario.expected()
    # ... each once: no alarm is raised again while it is open
    assert len(raised) == len({(d, c.type) for d, c in raised})
    # ... and not before the simulator says the condition began
    began = {(o.device_id, o.alarm): o.t for o in output if isinstance(o, Cause)}
    for device, change in raised:
        # (stamps are whole milliseconds: across a clock step device time may be 1 ms off)
        assert change.at >= origin / 1000 + began[(device, change.type)] - 0.001 - 1e-6


# --- hand-made streams -----------------------------------------------------------------------

TRAPPED_OUTSIDE = {"door_zone": False, "passenger": True}


def test_entrapment_outside_the_door_zone_after_15_s_and_cleared_when_the_doors_open_empty() -> None:
    d = Device()
    d.frame(0, **TRAPPED_OUTSIDE)
    d.frame(5, **TRAPPED_OUTSIDE)
    d.frame(10, **TRAPPED_OUTSIDE)
    assert d.changes == []
    d.tick(15.2)  # no frame at 15 s: time passing raises it, stamped when it matured
    assert d.log() == [(True, "entrapment", 15.0)]
    d.frame(20, **TRAPPED_OUTSIDE)
    d.frame(300, door_zone=True, door_locked=False, passenger=True)  # rescued to a landing, doors open
    assert d.log() == [(True, "entrapment", 15.0)]
    d.frame(305, door_zone=True, door_locked=False, passenger=False)
    assert d.log() == [(True, "entrapment", 15.0), (False, "entrapment", 305.0)]


def test_entrapment_at_a_landing_needs_90_s_without_the_doors_reopening() -> None:
    d = Device()
    for t in range(0, 85, 5):
        d.frame(t, passenger=True)
    d.frame(86, passenger=True, door_locked=False)  # the doors reopened: not trapped
    for t in range(90, 175, 5):
        d.frame(t, passenger=True)
    assert d.changes == []
    d.frame(180, passenger=True)
    assert d.log() == [(True, "entrapment", 180.0)]


def test_a_short_stop_between_floors_is_no_entrapment() -> None:
    d = Device()
    d.frame(0, **TRAPPED_OUTSIDE)
    d.frame(10, **TRAPPED_OUTSIDE)
    d.frame(12, running=True, direction="up", door_zone=False, passenger=True, speed_mps=1.0)
    d.tick(26)
    assert d.changes == []


def test_alarm_button_with_and_without_a_passenger() -> None:
    d = Device()
    d.frame(0)
    d.event(1, 90)
    d.frame(2, passenger=True)
    d.event(3, 90)
    assert d.log() == [(True, "alarm_button", 1.0), (True, "entrapment", 3.0)]


def test_device_codes_raise_faults_and_each_clears_by_its_own_recovery() -> None:
    d = Device()
    d.frame(0)
    d.event(1, 2)  # door close fault
    d.event(2, 2)  # the same fault again while open: nothing new
    d.event(3, 9)  # overrun at the top: locked out until a person resets it
    d.event(60, 40)  # back to automatic mode: the overrun is over, not the door fault
    d.frame(61, door_locked=False)
    d.frame(65)  # the doors close and lock: the door close fault is over
    d.event(70, 2)  # after it cleared, a new one
    assert d.log() == [(True, "door_close_fault", 1.0), (True, "overrun_top", 3.0),
                       (False, "overrun_top", 60.0), (False, "door_close_fault", 65.0),
                       (True, "door_close_fault", 70.0)]


def test_codes_are_ignored_for_faults_of_a_device_that_does_not_report_them() -> None:
    d = Device(DeviceProfile(Kind.ELEVATOR, reports_events=False, rated_speed_mps=1.0))
    d.frame(0)
    d.frame(1, door_zone=False)  # empty, stopped outside the door zone
    d.frame(7, door_zone=False)
    d.frame(8, running=True, direction="up", door_locked=False, speed_mps=0.2)  # moving with the doors open
    d.frame(9, running=True, direction="up", speed_mps=1.3)  # overspeed: above 115 % of 1.0
    d.frame(10, power="battery")
    assert [(r, a) for r, a, _ in d.log()] == [(True, "stopped_outside_door_zone"), (True, "unintended_car_movement"),
                                                (True, "overspeed"), (True, "main_power_lost")]
    d.frame(30)  # all well again; derived faults clear after 10 s of it
    d.frame(41)
    cleared = {a for r, a, _ in d.log() if not r}
    assert cleared == {"stopped_outside_door_zone", "unintended_car_movement", "overspeed", "main_power_lost"}


def test_late_and_duplicated_frames_change_nothing() -> None:
    d = Device()
    d.frame(0, **TRAPPED_OUTSIDE)  # seq 1
    d.frame(20, seq=3, **TRAPPED_OUTSIDE)
    assert d.log() == [(True, "entrapment", 15.0)]
    # A late frame (seq 2, never seen) showing the doors open and the car empty: a newer frame
    # is taken, so it must not clear anything.
    assert d.frame(10, seq=2, door_zone=True, door_locked=False, passenger=False) == []
    # A redelivered copy of the last frame: nothing.
    assert d.frame(20, seq=3, **TRAPPED_OUTSIDE) == []
    assert d.log() == [(True, "entrapment", 15.0)]


def test_a_late_event_is_judged_and_a_duplicate_is_not() -> None:
    d = Device()
    d.frame(0)  # seq 1
    d.frame(20, seq=3)
    late = d.rules.on_event(T0 + 5, 2, 9, T0 + 25)  # overrun top, sent before the frame at 20 s
    assert [(c.raised, str(c.type), c.at - T0) for c in late] == [(True, "overrun_top", 5.0)]
    assert d.rules.on_event(T0 + 5, 2, 9, T0 + 26) == []  # the broker delivers it again
def test_a_restarted_device_counting_seq_from_zero_is_still_heard() -> None:
    d = Device()
    d.frame(0)
    d.frame(5, seq=90)
    assert d.frame(10, seq=1, **TRAPPED_OUTSIDE) == []  # newer ts, seq from the start again
    d.frame(26, seq=2, **TRAPPED_OUTSIDE)
    assert d.log() == [(True, "entrapment", 25.0)]


def test_a_value_hovering_at_a_limit_does_not_flap() -> None:
    profile = DeviceProfile(Kind.BOILER, reports_events=False, rated_pressure_mpa=1.25)
    rules = DeviceRules("B-1", profile, RuleSettings())
    changes: list[Change] = []
    base = {"burner_on": True, "flame": True, "water_level_mm": 0.0, "outlet_temp_c": 190.0,
            "return_temp_c": 80.0, "flue_temp_c": 200.0, "feedwater_flow_m3h": 3.0, "fuel_flow_m3h": 200.0}
    for i, p in enumerate([1.20, 1.26, 1.24, 1.26, 1.23, 1.26, 1.22, 1.20, 1.10]):
        frame = parse(BoilerTelemetry,
            orjson.dumps({"ts": int((T0 + i) * 1000), "seq": i + 1, "pressure_mpa": p, **base}))
        changes += rules.on_telemetry(T0 + i, i + 1, frame, T0 + i)
    # Raised once above rated; it clears only below 97 % (1.2125) held for 10 s.
    assert [(c.raised, str(c.type)) for c in changes] == [(True, "over_pressure")]
    frame = parse(BoilerTelemetry,
        orjson.dumps({"ts": int((T0 + 30) * 1000), "seq": 20, "pressure_mpa": 1.1, **base}))
    changes += rules.on_telemetry(T0 + 30, 20, frame, T0 + 30)
    assert [(c.raised, str(c.type)) for c in changes] == [(True, "over_pressure"), (False, "over_pressure")]


def test_offline_and_silent_are_kept_apart() -> None:
    d = Device()
    d.frame(0)
    d.tick(10)
    assert d.changes == []
    d.tick(16)
    assert d.log() == [(True, "silent", 16.0)]
    d.frame(17)
    assert d.log()[-1] == (False, "silent", 17.0)
    d.changes += d.rules.on_status(False, None, T0 + 20)
    d.tick(60)  # offline: not also silent
    d.changes += d.rules.on_status(True, None, T0 + 61)
    assert [(r, a) for r, a, _ in d.log()[2:]] == [(True, "offline"), (False, "offline")]


def test_closed_by_an_operator_stays_closed_until_the_condition_clears() -> None:
    d = Device()
    d.frame(0, **TRAPPED_OUTSIDE)
    d.frame(16, **TRAPPED_OUTSIDE)
    d.rules.closed_by_operator(AlarmType.ENTRAPMENT)  # a false alarm: the sensor is stuck
    d.frame(40, **TRAPPED_OUTSIDE)
    assert d.log() == [(True, "entrapment", 15.0)]
    d.frame(50, door_zone=True, door_locked=False, passenger=False)
    d.frame(60, **TRAPPED_OUTSIDE)
    d.frame(76, **TRAPPED_OUTSIDE)
    assert d.log()[-1] == (True, "entrapment", 75.0)


def test_state_survives_a_restart() -> None:
    d = Device()
    d.frame(0, **TRAPPED_OUTSIDE)
    d.frame(10, **TRAPPED_OUTSIDE)
    saved = d.rules.snapshot()
    restored = DeviceRules("E-1", DeviceProfile(Kind.ELEVATOR), RuleSettings())
    restored.restore(saved, {}, T0 + 10)
    # The redelivered frame is recognised, and the condition's start is remembered.
    assert restored.on_telemetry(T0 + 10, 2, lift(**TRAPPED_OUTSIDE), T0 + 11) == []
    changes = restored.on_telemetry(T0 + 15, 3, lift(**TRAPPED_OUTSIDE), T0 + 15)
    assert [(c.raised, c.type, c.at - T0) for c in changes] == [(True, AlarmType.ENTRAPMENT, 15.0)]
    # An alarm open in the database is not raised again.
    again = DeviceRules("E-1", DeviceProfile(Kind.ELEVATOR), RuleSettings())
    again.restore(saved, {AlarmType.ENTRAPMENT: Source.TELEMETRY}, T0 + 10)
    assert again.on_telemetry(T0 + 20, 4, lift(**TRAPPED_OUTSIDE), T0 + 20) == []


def test_running_with_an_expired_inspection_until_it_is_recorded() -> None:
    expired = DeviceProfile(Kind.ELEVATOR, inspection_expired=True, inspection_expired_reasons=("unfit", "overdue"))
    d = Device(expired)
    d.frame(0, trip_count=10)
    d.frame(5, trip_count=10)
    assert d.changes == []  # standing still is allowed
    d.frame(10, trip_count=11)
    assert d.log() == [(True, "inspection_expired_running", 10.0)]
    assert d.changes[0].details["reasons"] == ["unfit", "overdue"]  # why, for the bureau's split
    d.frame(20, trip_count=12)
    assert len(d.changes) == 1  # once
    d.changes += d.rules.update_profile(DeviceProfile(Kind.ELEVATOR))  # the inspection was recorded
    assert d.log()[-1] == (False, "inspection_expired_running", 20.0)
    d.frame(30, trip_count=13)
    assert len(d.changes) == 2


def test_register_profiles_from_rows() -> None:
    from datetime import date

    from alerts.register_profiles import profile_from_row

    today = date(2026, 11, 27)
    ok = profile_from_row("elevator", {"rated_speed_mps": 1.75, "reports_events": False}, "in_use", True,
                          date(2026, 12, 31), today)
    assert ok == DeviceProfile(Kind.ELEVATOR, reports_events=False, rated_speed_mps=1.75)
    assert profile_from_row("elevator", {}, "in_use", True, date(2026, 11, 26), today).inspection_expired
    assert profile_from_row("elevator", {}, "in_use", False, date(2027, 1, 1), today).inspection_expired
    assert profile_from_row("elevator", {}, "stopped", True, date(2027, 1, 1), today).inspection_expired
    # Each reason named, most serious first: stopped (yet running), unfit (failed), overdue.
    reasons = [profile_from_row("elevator", {}, status, fit, due, today).inspection_expired_reasons
               for status, fit, due in (("in_use", True, date(2026, 11, 26)), ("in_use", False, date(2027, 1, 1)),
                                        ("stopped", True, date(2027, 1, 1)), ("stopped", False, date(2026, 1, 1)),
                                        ("in_use", True, date(2026, 11, 27)), ("in_use", True, None))]
    assert reasons == [("overdue",), ("unfit",), ("stopped",), ("stopped", "unfit", "overdue"), (), ()]
    boiler = profile_from_row("boiler", {"rated_pressure_mpa": 1.25}, "in_use", True, None, today)
    assert boiler.rated_pressure_mpa == 1.25 and not boiler.inspection_expired
    # The district is the register's: carried for the alarms, whatever the code's digits say.
    placed = profile_from_row("elevator", {}, "in_use", True, None, today, device="31106301212019000555",
                              district_code="630104")
    assert placed.district_code == "630104" and ok.district_code is None and boiler.district_code is None


def test_a_device_that_sent_only_offline_stores_and_restores_its_state() -> None:
    rules = DeviceRules("X", DeviceProfile(Kind.ELEVATOR), RuleSettings())
    changes = rules.on_status(False, None, 1_764_000_000.0)
    assert [(c.raised, c.type) for c in changes] == [(True, AlarmType.OFFLINE)]
    stored = json.loads(json.dumps(json_safe(rules.snapshot()), allow_nan=False))  # as PostgreSQL keeps it
    assert stored["last_ts"] is None
    again = DeviceRules("X", DeviceProfile(Kind.ELEVATOR), RuleSettings())
    again.restore(stored, {AlarmType.OFFLINE: Source.CONNECTIVITY}, 0.0)
    assert again.last_ts == float("-inf") and again.offline
    assert again.tick(100.0) == []  # offline: not silent as well
    assert again.on_status(False, None, 1_764_000_001.0) == []  # offline already: not raised twice


def test_register_entrapment_values_the_rules_cannot_take_leave_the_citys_setting() -> None:
    from datetime import date

    from alerts.register_profiles import profile_from_row

    today = date(2026, 11, 30)
    for bad in (0, 2.7, -1, "3", True):
        assert profile_from_row("elevator", {"entrapment_min_detections": bad}, "in_use", True, None,
                                today).entrapment is None
    listed = profile_from_row("elevator", {"entrapment_held_modes": ["inspection", "firefighter"]}, "in_use", True,
                              None, today).entrapment
    assert listed is not None and listed.held_modes == frozenset({"inspection", "firefighter"})
    none = profile_from_row("elevator", {"entrapment_held_modes": []}, "in_use", True, None, today).entrapment
    assert none is not None and none.held_modes == frozenset()
    table = profile_from_row("elevator", {"code_table": "no-such"}, "in_use", True, None, today)
    assert table.code_table is None
