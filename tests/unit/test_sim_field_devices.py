"""What real field devices do, as fault options: clocks that step, events stamped a few
milliseconds before the frame published ahead of them, a presence sensor that misses still
passengers, a technician at work in inspection mode, restarts that begin seq again at 0, and a
reconnection without ``online``. Each is checked on the frames the device publishes."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from simulators import faults as f
from simulators.boiler import Boiler, BoilerSpec
from simulators.core import Frame, LinkChange, LinkEvent, Output, Periods, SimError
from simulators.elevator import INSPECTION_SPEED_MPS, Elevator, ElevatorSpec
from tests.unit.sim_helpers import ORIGIN_MS, assert_valid_on_the_wire, causes, events, frames, run, telemetry

DEV = "E-0012"
BOILER = "B-0001"


def car(seed: int = 1, **spec: Any) -> Elevator:
    return Elevator(DEV, ElevatorSpec(**{"peak_calls_per_hour": 90, **spec}), origin_ms=ORIGIN_MS, seed=seed)


def quiet_car(**spec: Any) -> Elevator:
    return car(**{"peak_calls_per_hour": 0, "highest_floor": 12, **spec})


def boiler() -> Boiler:
    return Boiler(BOILER, BoilerSpec(medium="steam"), origin_ms=ORIGIN_MS, seed=1)


def ts_s(frame: Frame) -> float:
    """The published timestamp, in seconds of simulation time."""
    return float(frame.payload["ts"] - ORIGIN_MS) / 1000


def seqs(out: list[Output]) -> list[int]:
    return [x.payload["seq"] for x in frames(out)]


# --- clock steps -------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset_s", "duration"), [(-30.0, 200.0), (120.0, 200.0), (-30.0, None), (300.0, None)])
def test_a_clock_step_changes_only_the_published_ts(offset_s: float, duration: float | None) -> None:
    true = run(car(), 900)
    stepped_car = car()
    stepped_car.inject(f.ClockStep(at=100, device=DEV, do="clock_step", offset_s=offset_s, duration=duration))
    stepped = run(stepped_car, 900)
    end = 100 + duration if duration is not None else float("inf")
    assert len(frames(stepped)) == len(frames(true))
    for a, b in zip(frames(true), frames(stepped), strict=True):
        assert (a.t, a.channel, a.payload["seq"]) == (b.t, b.channel, b.payload["seq"])
        assert {k: v for k, v in a.payload.items() if k != "ts"} == {k: v for k, v in b.payload.items() if k != "ts"}
        shift = offset_s if 100 <= b.t < end else 0.0
        assert ts_s(b) == pytest.approx(b.t + shift, abs=1e-3)
    assert [o for o in stepped if not isinstance(o, Frame)] == [o for o in true if not isinstance(o, Frame)]
    assert seqs(stepped) == list(range(1, len(frames(stepped)) + 1))


def test_a_clock_stepped_back_repeats_timestamps_it_has_used() -> None:
    elevator = car()
    elevator.inject(f.ClockStep(at=100, device=DEV, do="clock_step", offset_s=-30))
    out = run(elevator, 300)
    published = frames(out)
    before = max(ts_s(x) for x in published if x.t < 100)
    after = [x for x in published if x.t >= 100]
    assert ts_s(after[0]) < before  # older than the last frame before the step, with a higher seq
    assert after[0].payload["seq"] > max(x.payload["seq"] for x in published if x.t < 100)


def test_a_boiler_clock_steps_too() -> None:
    device = boiler()
    device.inject(f.ClockStep(at=60, device=BOILER, do="clock_step", offset_s=-45, duration=120))
    out = run(device, 300)
    for x in frames(out):
        assert ts_s(x) == pytest.approx(x.t - (45 if 60 <= x.t < 180 else 0), abs=1e-3)
    assert causes(out) == []


@pytest.mark.parametrize("offset_s", [0, 301, -86_401])
def test_a_clock_step_out_of_the_ingesters_window_is_refused(offset_s: float) -> None:
    with pytest.raises(ValidationError):
        f.ClockStep(at=1, device=DEV, do="clock_step", offset_s=offset_s)


# --- events stamped before the frame published ahead of them -----------------------------------


def event_skew_case(skew: f.EventSkew) -> list[Output]:
    elevator = quiet_car()
    elevator.inject(skew)
    elevator.inject(f.EntrapmentAtLanding(at=60, device=DEV, do="entrapment_at_landing", floor=9, passengers=1,
                                          release_after=25))
    elevator.inject(f.AlarmButton(at=70, device=DEV, do="alarm_button"))
    elevator.inject(f.ControllerFault(at=200, device=DEV, do="controller_fault", code=7, duration=60))
    return run(elevator, 400)


def test_skewed_events_are_stamped_before_the_frame_published_just_before_them() -> None:
    out = event_skew_case(f.EventSkew(at=0, device=DEV, do="event_skew", skew_ms=1))
    assert_valid_on_the_wire(out)
    published = frames(out)
    evts = [(i, x) for i, x in enumerate(published) if x.channel == "event"]
    assert [x.payload["code"] for _, x in evts] == [3, 90, 40, 7, 40]
    for i, event in evts:
        before = published[i - 1]
        assert before.channel == "telemetry" and before.t == event.t
        assert event.payload["ts"] == before.payload["ts"] - 1
        assert event.payload["seq"] == before.payload["seq"] + 1
    assert seqs(out) == list(range(1, len(published) + 1))
    # The button with a passenger in the car: an entrapment from the event's own stamp.
    assert causes(out) == [(59.999, "door_open_fault"), (69.999, "entrapment"), (199.999, "floor_position_lost")]


def test_event_skew_draws_from_its_range_and_ends_after_its_duration() -> None:
    out = event_skew_case(f.EventSkew(at=0, device=DEV, do="event_skew", duration=150))
    published = frames(out)
    for i, event in enumerate(published):
        if event.channel != "event":
            continue
        if event.t < 150:
            early = published[i - 1].payload["ts"] - event.payload["ts"]
            assert published[i - 1].channel == "telemetry" and 1 <= early <= 50
        else:  # aligned again: stamped at its own time, its frame after it
            assert ts_s(event) == pytest.approx(event.t, abs=1e-3)
    assert causes(out)[-1] == (200.0, "floor_position_lost")


@pytest.mark.parametrize("skew_ms", [0, (50, 10), 1001])
def test_a_bad_event_skew_is_refused(skew_ms: Any) -> None:
    with pytest.raises(ValidationError):
        f.EventSkew(at=0, device=DEV, do="event_skew", skew_ms=skew_ms)


def test_event_skew_reads_from_a_scenario_line() -> None:
    step = TypeAdapter(f.Action).validate_python({"at": 0, "device": DEV, "do": "event_skew", "skew_ms": [2, 9]})
    assert isinstance(step, f.EventSkew) and step.skew_range_ms == (2, 9)


# --- a presence sensor that misses still passengers --------------------------------------------


def test_a_flickering_sensor_misses_still_passengers_and_is_published_every_second() -> None:
    elevator = quiet_car(detects_entrapment=False)
    elevator.inject(f.PresenceFlicker(at=22, device=DEV, do="presence_flicker", duration=200))
    elevator.inject(f.EntrapmentBetweenFloors(at=30, device=DEV, do="entrapment_between_floors", floor=4,
                                              passengers=2, release_after=150))
    out = run(elevator, 400)
    assert_valid_on_the_wire(out)
    tel = [(ts_s(x), x.payload) for x in frames(out, "telemetry")]
    stuck = [(t, p) for t, p in tel if 30 <= t < 180]
    assert stuck and all(not p["running"] and not p["door_zone"] and p["door_locked"] for _, p in stuck)
    # Missed for 1 s in every 10 from 22 s, seen otherwise: the people never left the car.
    for t, p in stuck:
        assert p["passenger"] is not (round(t - 22, 6) % 10 < 1), (t, p)
    assert {t for t, p in stuck if not p["passenger"]} >= {32.0, 42.0, 52.0}
    # At least once a second while the fault lasts, so each miss shows.
    during = [t for t, _ in tel if 22 <= t <= 222]
    assert all(b - a <= 1.0 + 1e-9 for a, b in itertools.pairwise(during))
    # The ground truth is unchanged: trapped 15 s after the stop.
    assert causes(out) == [(30.0, "stopped_outside_door_zone"), (45.0, "entrapment")]
    # After the fault: the idle period again, and the sensor sees everyone.
    after = [t for t, _ in tel if t > 240]
    assert after and all(b - a == pytest.approx(Periods().idle_s) for a, b in itertools.pairwise(after))


def test_a_flickering_sensor_still_sees_a_riding_passenger_and_an_empty_car_as_empty() -> None:
    elevator = quiet_car(highest_floor=20)
    elevator.inject(f.PresenceFlicker(at=0, device=DEV, do="presence_flicker", duration=300, period_s=5, miss_s=2))
    elevator.inject(f.Call(at=1, device=DEV, do="call", origin=1, destination=20))
    out = run(elevator, 300)
    tel = telemetry(out)
    assert all(p["passenger"] for p in tel if p["running"])  # a moving car: the passenger is not missed
    alighted = next(i for i, p in enumerate(tel) if p["floor"] == 20 and not p["door_locked"] and not p["passenger"])
    assert alighted > 0 and not [p for p in tel[alighted:] if p["passenger"]]
    assert causes(out) == []


def test_presence_flicker_is_checked() -> None:
    with pytest.raises(ValidationError, match="shorter than period_s"):
        f.PresenceFlicker(at=0, device=DEV, do="presence_flicker", duration=60, period_s=2, miss_s=2)
    with pytest.raises(SimError, match="does not apply to a boiler"):
        boiler().inject(f.PresenceFlicker(at=0, device=BOILER, do="presence_flicker", duration=60))


# --- a technician at work in inspection mode ---------------------------------------------------


@pytest.mark.parametrize("reports_events", [True, False])
def test_a_technician_in_inspection_mode_stops_outside_the_door_zone_and_traps_nobody(reports_events: bool) -> None:
    elevator = quiet_car(reports_events=reports_events)
    elevator.inject(f.TechnicianInspection(at=60, device=DEV, do="technician_inspection", floor=4))
    out = run(elevator, 400)
    assert_valid_on_the_wire(out)
    assert causes(out) == []
    assert elevator.late_s == 0
    published = frames(out)
    if reports_events:
        codes = [(x.t, x.payload["code"]) for x in published if x.channel == "event"]
        assert [c for _, c in codes] == [43, 40] and codes[0][0] == 60.0
        first_inspection = next(x for x in published if x.channel == "telemetry" and x.payload["mode"] == "inspection")
        assert first_inspection.payload["seq"] > next(x for x in published if x.channel == "event").payload["seq"]
    else:
        assert events(out) == []
    inspection = [p for p in telemetry(out) if p["mode"] == "inspection"]
    assert all(p["passenger"] and p["door_locked"] for p in inspection)
    assert all(p["speed_mps"] <= INSPECTION_SPEED_MPS for p in inspection)
    parked = [(p["ts"] - ORIGIN_MS) / 1000 for p in inspection if not p["running"] and not p["door_zone"]]
    assert parked and parked[-1] - parked[0] >= 120 - Periods().idle_s  # stopped there for its duration
    assert min(parked) >= 60
    last = telemetry(out)[-1]
    assert last["mode"] == "normal" and last["floor"] == 4 and last["door_zone"] and not last["passenger"]


# --- restarts -----------------------------------------------------------------------------------


def test_a_restart_drops_the_link_and_begins_seq_again_at_zero() -> None:
    elevator = car()
    elevator.inject(f.SeqRestart(at=90, device=DEV, do="seq_restart", duration=30, clock_offset_s=-60))
    out = run(elevator, 400)
    assert_valid_on_the_wire(out)
    links = [(o.t, o.event) for o in out if isinstance(o, LinkChange)]
    assert links == [(90.0, LinkEvent.DROP), (120.0, LinkEvent.RESTORE)]
    assert causes(out) == [(90.0, "offline")]
    published = frames(out)
    assert not [x for x in published if 90 <= x.t < 120]  # off: nothing measured, nothing kept
    before = [x.payload["seq"] for x in published if x.t < 90]
    after = [x for x in published if x.t >= 120]
    assert before == list(range(1, len(before) + 1))
    assert [x.payload["seq"] for x in after] == list(range(len(after)))
    assert after[0].t == 120.0 and after[0].channel == "telemetry"
    assert all(ts_s(x) == pytest.approx(x.t - 60, abs=1e-3) for x in after)
    # the restore comes before the first frame of the new session
    restored = next(i for i, o in enumerate(out) if isinstance(o, LinkChange) and o.event is LinkEvent.RESTORE)
    assert restored < out.index(after[0])


def test_a_boiler_restarts_too() -> None:
    device = boiler()
    device.inject(f.SeqRestart(at=100, device=BOILER, do="seq_restart", duration=45))
    out = run(device, 400)
    after = [x for x in frames(out) if x.t >= 145]
    assert after[0].payload["seq"] == 0 and ts_s(after[0]) == pytest.approx(145.0)
    assert causes(out) == [(100.0, "offline")]


# --- the alarm button and where the car is -----------------------------------------------------


def test_the_alarm_button_in_a_car_stuck_between_floors_is_an_entrapment_even_if_nobody_is_seen() -> None:
    elevator = quiet_car()
    elevator.inject(f.StoppedOutsideDoorZone(at=30, device=DEV, do="stopped_outside_door_zone", floor=6,
                                             release_after=700))
    elevator.inject(f.AlarmButton(at=33, device=DEV, do="alarm_button"))
    out = run(elevator, 60)
    assert not [p for p in telemetry(out) if p["passenger"]]
    assert events(out) == [(30.0, 4), (33.0, 90)]
    assert causes(out) == [(30.0, "stopped_outside_door_zone"), (33.0, "entrapment")]


@pytest.mark.parametrize(
    ("fault", "alarm"),
    [
        (None, "alarm_button"),  # an idle car at a landing on mains, nobody in: the minor alarm
        (f.MainPowerLost(at=10, device=DEV, do="main_power_lost", duration=300), "entrapment"),
        (f.ControllerFault(at=10, device=DEV, do="controller_fault", code=1, duration=300), "entrapment"),
    ],
)
def test_the_alarm_button_on_battery_or_with_a_fault_is_an_entrapment(fault: Any, alarm: str) -> None:
    elevator = quiet_car()
    if fault is not None:
        elevator.inject(fault)
    elevator.inject(f.AlarmButton(at=40, device=DEV, do="alarm_button"))
    out = run(elevator, 60)
    assert causes(out)[-1] == (40.0, alarm)


# --- reconnecting without ``online`` -----------------------------------------------------------


@pytest.mark.parametrize("device", [car, boiler])
def test_a_device_can_come_back_without_announcing_online(device: Any) -> None:
    d = device()
    d.inject(f.Disconnect(at=90, device=d.device_id, do="disconnect", duration=60, announce_online=False))
    out = run(d, 300)
    links = [(o.t, o.event) for o in out if isinstance(o, LinkChange)]
    assert links == [(90.0, LinkEvent.DROP), (150.0, LinkEvent.RESTORE_WITHOUT_ONLINE)]
    assert [x for x in frames(out) if 90 <= x.t < 150]  # kept, published once back
    assert causes(out) == [(90.0, "offline")]
