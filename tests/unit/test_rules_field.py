"""The rules against what field devices do and our simulator did not: events stamped before the
frame they follow, reconnects without ``online``, a technician in inspection mode, a flickering
presence sensor, the alarm button in a stuck car, clock steps, restarted counters, codes of
other platforms (issue "Rules that hear real devices")."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.rules import Order, RuleSettings
from semon.alarm_types import AlarmType, EntrapmentThresholds
from semon.profile import DeviceProfile
from semon.protocol.topics import Kind
from tests.unit.rules_driver import T0, Device

STUCK = {"door_zone": False, "passenger": True}  # stopped between floors, doors closed, someone in
STUCK_EMPTY = {"door_zone": False, "passenger": False}
AT_LANDING = {"passenger": True}  # stopped at a landing, doors closed, someone in
FREED = {"door_locked": False, "passenger": False}  # doors open at the landing, car empty


# --- 1. an event stamped before the frame it follows ---------------------------------------------


@pytest.mark.parametrize(("skew", "at"), [(-0.001, 0.0), (-0.050, 0.0), (0.050, 0.05)])
def test_alarm_button_stamped_before_the_last_frame_is_an_entrapment_at_once(skew: float, at: float) -> None:
    d = Device()
    d.frame(0, seq=3, **AT_LANDING)
    d.event(skew, 90, seq=4, arrival=0.002)
    assert d.log() == [(True, "entrapment", at)]


@pytest.mark.parametrize("code", [11, 2, 9])
def test_any_code_stamped_before_the_last_frame_is_judged(code: int) -> None:
    d = Device()
    d.frame(0, seq=3)
    out = d.event(-0.001, code, seq=4, arrival=0.001)
    assert [c.raised for c in out] == [True]


# --- 2. connectivity from what the device does ------------------------------------------------------


def test_telemetry_after_the_last_will_clears_offline_without_an_online() -> None:
    d = Device()
    d.frame(0)
    d.status(False, 5)  # the Last Will
    for t in range(10, 40):
        d.frame(t)
        d.tick(t + 0.5)
    assert d.log() == [(True, "offline", 5.0), (False, "offline", 10.0)]
    assert not d.rules.offline


def test_an_event_after_the_last_will_clears_offline_too() -> None:
    d = Device()
    d.frame(0)
    d.status(False, 5)
    d.event(8, 2)
    assert [(r, a) for r, a, _ in d.log()] == [(True, "offline"), (False, "offline"), (True, "door_close_fault")]


def test_a_device_that_said_online_and_then_nothing_falls_silent() -> None:
    d = Device()
    d.status(True, 0)
    d.tick(14)
    assert d.changes == []
    d.tick(15)
    assert d.log() == [(True, "silent", 15.0)]
    d.frame(20)
    assert d.log()[-1] == (False, "silent", 20.0)


def test_frames_that_keep_coming_across_a_clock_step_are_never_silent() -> None:
    d = Device()
    for t in range(0, 60):
        d.frame(t - 30 if t >= 10 else t, arrival=t)  # the clock steps back 30 s at 10 s
        d.tick(t + 0.5)
    for t in range(60, 120):
        d.frame(t + 120, arrival=t)  # ... and jumps 150 s ahead at 60 s
        d.tick(t + 0.5)
    assert d.changes == []


def test_a_retained_status_replayed_at_subscription_is_old_news_for_a_known_device() -> None:
    d = Device()
    d.frame(0)
    d.status(False, 5)  # the Will
    d.frame(6)  # back, without online: the retained status still says offline
    assert d.status(False, 100, retained=True) == []  # the engine subscribed again
    assert [(r, a) for r, a, _ in d.log()] == [(True, "offline"), (False, "offline")]
    fresh = Device()
    assert [c.type for c in fresh.status(False, 100, retained=True)] == ["offline"]  # nothing known of it


def test_a_dated_status_older_than_the_last_message_is_stale() -> None:
    d = Device()
    d.frame(10)
    assert d.status(False, 11, ts=2) == []
    assert [str(c.type) for c in d.status(False, 12, ts=11)] == ["offline"]


def test_an_orderly_shutdown_is_neither_offline_alarm_nor_silent() -> None:
    d = Device()
    d.frame(0)
    d.status(False, 1, orderly=True)
    d.tick(100)
    assert d.changes == []
    d.frame(200)  # back again: nothing to clear
    assert d.changes == []


# --- 3. inspection mode: a technician at work -----------------------------------------------------


def test_inspection_mode_holds_entrapment_from_telemetry() -> None:
    d = Device(DeviceProfile(Kind.ELEVATOR, reports_events=False))
    d.event(0, 43)
    for t in range(1, 60):
        d.frame(t, mode="inspection", **STUCK)
        d.tick(t + 0.5)
    assert d.changes == []  # neither entrapment nor the derived stopped-outside-the-door-zone fault


@pytest.mark.parametrize(("code", "trigger"), [(11, "device code 11"),
                                                (90, "alarm button (car stopped outside the door zone)")])
def test_in_inspection_mode_the_devices_own_code_or_the_button_still_raise_it(code: int, trigger: str) -> None:
    d = Device()
    for t in range(0, 31):
        d.frame(t, mode="inspection", **STUCK)
    out = d.event(31, code)
    assert [(str(c.type), c.details["trigger"]) for c in out] == [("entrapment", trigger)]


def test_which_modes_hold_entrapment_is_a_setting() -> None:
    none_held = RuleSettings(entrapment=EntrapmentThresholds(held_modes=frozenset()))
    d = Device(settings=none_held)
    for t in range(0, 31):
        d.frame(t, mode="inspection", **STUCK)
    assert d.log() == [(True, "entrapment", 15.0)]
    fire = Device(DeviceProfile(Kind.ELEVATOR, entrapment=EntrapmentThresholds(
        held_modes=frozenset({"inspection", "firefighter"}))))
    for t in range(0, 31):
        fire.frame(t, mode="firefighter", **STUCK)
    assert fire.changes == []


def test_leaving_inspection_mode_starts_the_window_afresh() -> None:
    d = Device()
    for t in range(0, 20):
        d.frame(t, mode="inspection", **STUCK)
    for t in range(20, 40):
        d.frame(t, **STUCK)  # the technician switched back to normal with someone inside
    assert d.log() == [(True, "entrapment", 35.0)]


# --- 4. a presence sensor that misses a still passenger ---------------------------------------------


def test_a_flickering_presence_sensor_still_gives_entrapment_at_15_s() -> None:
    d = Device()
    for t in range(0, 40):
        d.frame(t, door_zone=False, passenger=t % 10 != 9)  # misses one second in every ten
    assert d.log() == [(True, "entrapment", 15.0)]


def test_one_detection_within_the_window_is_enough_by_default() -> None:
    d = Device()
    d.frame(0, **STUCK_EMPTY)
    d.frame(2, **STUCK)
    d.frame(3, **STUCK_EMPTY)
    d.tick(14.5)
    assert d.changes == []
    d.tick(16)
    assert d.log() == [(True, "entrapment", 15.0)]
    assert d.changes[0].details["presence_detections"] == 1


def test_a_stuck_empty_car_is_no_entrapment() -> None:
    d = Device()
    for t in range(0, 120, 5):
        d.frame(t, **STUCK_EMPTY)
    assert d.changes == []


def test_the_detection_count_is_a_setting_per_device() -> None:
    three = DeviceProfile(Kind.ELEVATOR, entrapment=EntrapmentThresholds(min_detections=3))
    d = Device(three)
    d.frame(0, **STUCK)
    d.frame(5, **STUCK_EMPTY)
    d.frame(20, **STUCK)  # two detections: 0 s and 20 s, more than a window apart
    d.frame(25, **STUCK)
    assert d.changes == []
    d.frame(28, **STUCK)  # three within [13, 28]: 20, 25, 28
    assert d.log() == [(True, "entrapment", 28.0)]


def test_detections_between_frames_mature_on_a_tick_at_the_window_end() -> None:
    d = Device()
    d.frame(0, **STUCK)
    d.frame(1, **STUCK_EMPTY)
    d.tick(14)  # no frame for a while (14 s: not silent yet)
    assert d.changes == []
    d.frame(40, arrival=15.5, **STUCK_EMPTY)  # the window ended at 15 s with one detection in it
    assert d.log() == [(True, "entrapment", 15.0)]


def test_at_a_landing_the_window_is_90_s_and_reopening_the_doors_ends_it() -> None:
    d = Device()
    for t in range(0, 80):
        d.frame(t, passenger=t % 7 == 0)
    d.frame(80, door_locked=False, passenger=True)
    for t in range(81, 171):
        d.frame(t, passenger=t % 7 == 0)
    assert d.changes == []  # the new window began at 81 s
    d.frame(172, passenger=False)
    assert d.log() == [(True, "entrapment", 171.0)]


# --- 5. the alarm button in a stuck car ------------------------------------------------------------


def test_the_button_in_a_car_stuck_between_floors_is_an_entrapment_that_does_not_lapse() -> None:
    d = Device()
    d.frame(0, **STUCK_EMPTY)  # the sensor sees nobody
    d.event(3, 90)
    for t in range(5, 1200, 5):
        d.frame(t, **STUCK_EMPTY)
        d.tick(t + 1)
    assert d.log() == [(True, "entrapment", 3.0)]  # no minor alarm, and it did not lapse
    d.frame(1300, door_locked=True, passenger=False)  # brought to a landing, doors still closed
    d.frame(1310, **FREED)
    assert d.log() == [(True, "entrapment", 3.0), (False, "entrapment", 1310.0)]


@pytest.mark.parametrize(("frame", "why"), [
    ({"power": "battery"}, "car on battery power"),
    ({"power": "off"}, "car without power"),
    ({"passenger": True}, "passenger in the car"),
])
def test_the_button_on_battery_or_with_a_passenger_is_an_entrapment(frame: dict[str, object], why: str) -> None:
    d = Device()
    d.frame(0, **frame)  # type: ignore[arg-type]
    out = d.event(1, 90)
    assert [(str(c.type), c.details["trigger"]) for c in out] == [("entrapment", f"alarm button ({why})")]


def test_the_button_with_a_fault_open_is_an_entrapment() -> None:
    d = Device()
    d.frame(0)
    d.event(1, 3)  # door open fault
    out = d.event(2, 90)
    assert [(str(c.type), c.details["trigger"]) for c in out] == [
        ("entrapment", "alarm button (fault open: door_open_fault)")]


def test_the_button_in_an_idle_car_with_nothing_wrong_is_minor_and_lapses() -> None:
    d = Device()
    d.frame(0)
    d.event(1, 90)
    for t in range(5, 605, 5):
        d.frame(t)  # idle at the landing, doors closed, nobody detected
    d.tick(606)
    assert d.log() == [(True, "alarm_button", 1.0), (False, "alarm_button", 601.0)]


# --- device order and device time -----------------------------------------------------------------


def test_an_entrapment_across_a_clock_step_back_is_timed_by_the_engine_across_the_step() -> None:
    d = Device()
    for t in range(0, 30):
        d.frame(t - 30 if t >= 5 else t, arrival=t, **STUCK)  # stepped back 30 s at 5 s
    assert d.log() == [(True, "entrapment", 15.0)]


def test_a_clock_jumping_ahead_does_not_mature_a_short_stop() -> None:
    d = Device()
    d.frame(0, running=True, door_zone=False, direction="up", speed_mps=1.0, passenger=True)
    for t in range(1, 12):
        d.frame(t + (250 if t >= 5 else 0), arrival=t, **STUCK)  # jumps 250 s ahead at 5 s
    d.frame(262, arrival=12, running=True, door_zone=False, direction="up", speed_mps=1.0, passenger=True)
    d.tick(13)
    assert d.changes == []


def test_a_clock_ahead_from_the_start_is_pulled_back_to_the_engine() -> None:
    d = Device()
    d.frame(200, arrival=0, **STUCK)
    for t in range(1, 20):
        d.frame(200 + t, arrival=t, **STUCK)
    assert d.log() == [(True, "entrapment", 17.0)]  # the 2 s tolerance, then its own differences


def test_seq_far_below_the_last_is_a_restarted_counter() -> None:
    d = Device()
    d.frame(0, seq=500)
    assert d.rules.place(T0 + 10, 0) is Order.RESTART
    d.frame(10, seq=0, **STUCK)
    for t in range(11, 30):
        d.frame(t, seq=t - 10, **STUCK)  # seq 1, 2, ...
    assert d.log() == [(True, "entrapment", 25.0)]


def test_a_late_fault_after_its_back_to_normal_is_recorded_as_over() -> None:
    d = Device()
    d.frame(0, seq=4)
    d.event(4, 40, seq=6)
    d.event(3, 9, seq=5, arrival=4.5)  # overrun sent before the 40, received after it
    assert d.log() == [(True, "overrun_top", 3.0), (False, "overrun_top", 3.0)]


def test_main_power_lost_clears_when_the_mains_are_back() -> None:
    d = Device()
    d.frame(0)
    d.event(1, 41)
    d.frame(2, power="battery")
    d.frame(10)
    assert d.log() == [(True, "main_power_lost", 1.0), (False, "main_power_lost", 10.0)]


def test_a_code_the_devices_table_does_not_define_is_not_judged() -> None:
    national = Device(DeviceProfile(Kind.ELEVATOR, code_table="gbt24476-2023"))
    national.frame(0)
    assert national.event(1, 11) == []  # 11 is not a national code
    chongqing = Device(DeviceProfile(Kind.ELEVATOR, code_table="chongqing"))
    chongqing.frame(0)
    assert [str(c.type) for c in chongqing.event(1, 93)] == ["entrapment"]


def test_a_profile_naming_a_table_not_shipped_falls_back_to_the_default() -> None:
    d = Device(DeviceProfile(Kind.ELEVATOR, code_table="no-such-table"))
    d.frame(0)
    assert [str(c.type) for c in d.event(1, 11)] == ["entrapment"]


def test_a_copy_of_a_message_from_before_the_counter_restarted_is_a_duplicate() -> None:
    d = Device()
    d.frame(0, seq=32, door_locked=False)  # doors open at the landing, empty
    d.event(0, 11, seq=0)  # the counter restarted: the device's own trapped code
    assert d.frame(0, seq=32, door_locked=False) == []  # the broker's copy of the first frame
    assert d.log() == [(True, "entrapment", 0.0)]


RUN: dict[str, Any] = {"running": True, "door_zone": False, "direction": "up", "speed_mps": 1.0}


def test_a_clock_behind_from_the_start_then_corrected_forward_does_not_mature_a_short_stop() -> None:
    d = Device()
    d.frame(-300, arrival=0, passenger=True, **RUN)
    for t in range(1, 11):  # a 10 s stop between floors; NTP puts the clock 120 s forward at 5 s
        d.frame(t - 300 + (120 if t >= 5 else 0), arrival=t, **STUCK)
    d.frame(11 - 180, arrival=11, passenger=True, **RUN)
    d.tick(12)
    assert d.changes == []


def test_a_frame_overtaken_by_the_event_sent_after_it_is_still_the_newest_car_state() -> None:
    d = Device()
    for t in range(0, 20):
        d.frame(t, seq=t + 1, **STUCK)
    d.event(19.999, 40, seq=22, arrival=20.01)  # sent just after seq 21, delivered before it
    d.frame(20, seq=21, arrival=20.02, **FREED)
    # The event moves neither the stream nor its clock: the frame is freed at its own time.
    assert d.log() == [(True, "entrapment", 15.0), (False, "entrapment", 20.0)]


def test_the_button_judged_before_the_frame_it_follows_becomes_an_entrapment_when_that_frame_arrives() -> None:
    d = Device()
    d.frame(0, seq=1, **RUN)
    d.event(0.999, 90, seq=3, arrival=1.02)  # the button, delivered before the frame it follows
    d.frame(1.0, seq=2, arrival=1.03, **STUCK_EMPTY)  # stopped between floors, nobody detected
    for t in range(2, 700, 5):
        d.frame(t, seq=t + 2, **STUCK_EMPTY)
        d.tick(t + 1)
    # At the frame's time, as in order (the press stamped 1 ms before the frame it followed
    # takes the frame's time).
    assert d.log() == [(True, "alarm_button", 0.999), (True, "entrapment", 1.0),
                       (False, "alarm_button", 1.0)]


def test_a_button_pressed_in_a_running_car_is_an_entrapment_once_the_car_stops_between_floors() -> None:
    d = Device()
    d.frame(0, **RUN)
    d.event(1, 90)  # pressed while running: nothing wrong yet
    d.frame(3, **STUCK_EMPTY)
    assert [(r, a) for r, a, _ in d.log()] == [(True, "alarm_button"), (True, "entrapment"),
                                                (False, "alarm_button")]
    assert d.changes[1].details["trigger"] == "alarm button (car stopped outside the door zone)"


def test_events_stamped_a_moment_before_their_frames_do_not_move_device_time() -> None:
    d = Device()
    for i in range(10):
        d.frame(i * 5)  # a correct clock, delivered at once
        d.event(i * 5 - 0.001, 40, arrival=i * 5 + 0.3)  # sent 0.3 s later, stamped 1 ms before the frame
    for t in range(50, 80):
        d.frame(t, **STUCK)
    assert d.log() == [(True, "entrapment", 65.0)]


def test_a_device_first_heard_through_a_backlog_keeps_the_backlogs_time() -> None:
    d = Device()
    for t in range(0, 65, 5):  # stuck between floors with someone in, all delivered at 61 s
        d.frame(t, arrival=61, **STUCK)
    assert d.log() == [(True, "entrapment", 15.0)]


def test_a_button_pressed_long_before_a_short_stop_is_not_that_stops_entrapment() -> None:
    d = Device()
    d.frame(0)
    d.event(1, 90)  # someone tries the button of an idle car: minor
    d.frame(5)
    d.frame(30, door_locked=False, passenger=True)
    d.frame(33, passenger=True, **RUN)
    d.frame(35, door_zone=False, passenger=True)  # a 3 s stop between floors, 34 s after the press
    d.frame(38, passenger=True, **RUN)
    d.frame(40, door_locked=False, passenger=True)
    assert d.log() == [(True, "alarm_button", 1.0)]


# --- found by a fresh attempt to break the rules ----------------------------------------------


def test_a_new_call_for_help_after_an_operator_closed_the_entrapment_raises_it_again() -> None:
    d = Device()
    for t in range(0, 20):
        d.frame(t, **STUCK)
        d.tick(t + 0.5)
    d.rules.closed_by_operator(AlarmType.ENTRAPMENT)  # "false alarm", the car still stuck
    for t in range(20, 60):
        d.frame(t, **STUCK)
        d.tick(t + 0.5)
    assert d.log() == [(True, "entrapment", 15.0)]  # the telemetry does not raise it again
    d.event(60.5, 90)  # but the passenger presses the button
    assert d.log()[-1] == (True, "entrapment", 60.5)


@pytest.mark.parametrize("code", [41, 1, 2, 4])
def test_a_frame_sent_before_a_fault_does_not_clear_it_when_it_arrives_after(code: int) -> None:
    d = Device()
    d.frame(-1, seq=2, **RUN)
    d.event(0.001, code, seq=4, arrival=0.002)
    d.frame(0, seq=3, arrival=0.004, **RUN)  # sampled 1 ms before the fault
    assert [r for r, _, _ in d.log()] == [True]


def test_a_passenger_in_the_frame_the_button_followed_makes_it_an_entrapment_whatever_the_arrival() -> None:
    d = Device()
    d.frame(0, seq=3)  # at a landing, doors closed, nobody detected yet
    d.event(0.5, 90, seq=5)
    d.frame(0.4, seq=4, passenger=True, arrival=0.6)  # the frame the press followed
    assert [(r, a) for r, a, _ in d.log()] == [(True, "alarm_button"), (True, "entrapment"), (False, "alarm_button")]


def test_passengers_leaving_while_still_detected_then_an_empty_car_clears_the_entrapment() -> None:
    d = Device()
    for t in range(0, 20, 5):
        d.frame(t, **STUCK)
        d.tick(t + 1)
    d.frame(600, passenger=True)  # brought to a landing
    d.frame(605, door_locked=False, passenger=True)  # doors open, people walking out, still seen
    d.frame(610)  # doors closed again, the car empty
    assert d.log() == [(True, "entrapment", 15.0), (False, "entrapment", 610.0)]


def test_one_glitch_detection_in_a_car_parked_for_an_hour_is_no_entrapment() -> None:
    d = Device()
    for t in range(0, 3600, 5):
        d.frame(t, passenger=t == 3500)
    assert d.changes == []


def test_a_clock_that_stands_still_still_lets_time_pass() -> None:
    d = Device()
    for t in range(0, 30):
        d.frame(0, arrival=t, **STUCK)  # the same ts in every frame
        d.tick(t + 0.5)
    assert [(r, a) for r, a, _ in d.log()] == [(True, "entrapment")]


def test_the_button_in_a_moving_car_is_an_entrapment_when_it_stops_between_floors_without_opening() -> None:
    d = Device()
    d.frame(0, **RUN)
    d.event(0.5, 90)
    for t in range(1, 16):
        d.frame(t, **RUN)
    for t in range(16, 900, 5):
        d.frame(t, **STUCK_EMPTY)
        d.tick(t + 1)
    assert [(r, a) for r, a, _ in d.log()] == [(True, "alarm_button"), (True, "entrapment"), (False, "alarm_button")]
