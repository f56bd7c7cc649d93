"""The simulated elevator: physically consistent frames, traffic, determinism and every fault."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from simulators import faults as f
from simulators.core import LinkChange, LinkEvent, Periods, SimError
from simulators.elevator import Elevator, ElevatorSpec
from simulators.traffic import Building
from tests.unit.sim_helpers import ORIGIN_MS, assert_valid_on_the_wire, causes, events, frames, run, telemetry

DEV = "E-0012"


def car(spec: ElevatorSpec | None = None, seed: int = 1, **kwargs: Any) -> Elevator:
    return Elevator(DEV, spec or ElevatorSpec(peak_calls_per_hour=90), origin_ms=ORIGIN_MS, seed=seed, **kwargs)


SPECS = [
    ElevatorSpec(peak_calls_per_hour=90),
    ElevatorSpec(lowest_floor=-2, highest_floor=33, rated_speed_mps=2.5, building=Building.OFFICE,
                 peak_calls_per_hour=120, night_shutdown=True),
    ElevatorSpec(lowest_floor=1, highest_floor=6, rated_speed_mps=1.0, building=Building.MALL, peak_calls_per_hour=150),
]


def assert_physically_consistent(tel: list[dict[str, Any]], spec: ElevatorSpec, periods: Periods) -> None:
    for prev, cur in itertools.pairwise(tel):
        # seq counts every message (events too), so it only rises here
        assert cur["seq"] > prev["seq"] and cur["ts"] >= prev["ts"]
        if cur["floor"] != prev["floor"]:
            assert cur["running"], ("floor changed while stopped", prev, cur)
            assert (cur["floor"] > prev["floor"]) == (cur["direction"] == "up")
        if cur["passenger"] != prev["passenger"]:
            assert not cur["door_locked"] and not cur["running"], ("passengers changed with doors shut", cur)
        assert cur["trip_count"] >= prev["trip_count"] and cur["run_hours"] >= prev["run_hours"]
        gap = (cur["ts"] - prev["ts"]) / 1000
        assert gap <= (periods.active_s if prev["running"] else periods.idle_s) + 1e-3
    for frame in tel:
        if frame["running"]:
            assert frame["door_locked"], ("moving with the doors open", frame)
            assert frame["direction"] in ("up", "down")
            assert 0 <= frame["speed_mps"] <= spec.rated_speed_mps
        else:
            assert frame["direction"] == "stop" and frame["speed_mps"] == 0
            assert frame["door_zone"], ("stopped away from a landing in normal service", frame)
        if not frame["door_locked"]:
            assert frame["door_zone"] and not frame["running"]
        assert spec.lowest_floor <= frame["floor"] <= spec.highest_floor and frame["floor"] != 0


@pytest.mark.parametrize("spec", SPECS)
def test_a_day_of_traffic_is_physically_consistent_and_valid(spec: ElevatorSpec) -> None:
    periods = Periods()
    out = run(car(spec), 24 * 3600)
    assert_valid_on_the_wire(out)
    assert_physically_consistent(telemetry(out), spec, periods)
    assert causes(out) == []  # normal service raises nothing


def test_every_message_has_the_next_seq() -> None:
    out = run(car(), 3600)
    seqs = [f.payload["seq"] for f in frames(out)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    a = frames(run(car(seed=4), 7200))
    b = frames(run(car(seed=4), 7200))
    c = frames(run(car(seed=5), 7200))
    assert a == b
    assert [x.payload for x in a] != [x.payload for x in c]


def test_advancing_in_small_steps_gives_the_same_frames_as_one_big_step() -> None:
    whole = frames(run(car(seed=2), 1800))
    stepped = car(seed=2)
    out: list[Any] = []
    for k in range(1, 1801):
        stepped.advance(float(k), out)
    assert frames(out) == whole


def test_calls_follow_the_time_of_day() -> None:
    """A residential building is busy at 08:00 and nearly still at 03:00."""
    elevator = car(ElevatorSpec(peak_calls_per_hour=60))
    out = run(elevator, 24 * 3600)
    trips_by_hour = [0] * 24
    last = None
    for frame in telemetry(out):
        if last is not None and frame["trip_count"] > last:
            hour = int((frame["ts"] - ORIGIN_MS) / 3_600_000 + 8) % 24
            trips_by_hour[hour] += frame["trip_count"] - last
        last = frame["trip_count"]
    assert trips_by_hour[8] > 5 * max(trips_by_hour[3], 1)


def test_periods_idle_and_running() -> None:
    out = run(car(periods=Periods(idle_s=10.0, active_s=0.5)), 3600)
    tel = telemetry(out)
    assert_physically_consistent(tel, ElevatorSpec(), Periods(10.0, 0.5))
    assert any(t["running"] for t in tel)


def test_night_shutdown_changes_the_service_mode() -> None:
    spec = ElevatorSpec(building=Building.OFFICE, peak_calls_per_hour=60, night_shutdown=True)
    out = run(car(spec), 24 * 3600)
    codes = [code for _, code in events(out)]
    assert codes == [42, 40]  # out of service at 23:00, back at 06:00
    (t42, _), (t40, _) = events(out)
    assert t42 == 15 * 3600 and t40 == 22 * 3600  # origin is 08:00 local
    night = [t for t in telemetry(out) if ORIGIN_MS + 15 * 3_600_000 < t["ts"] < ORIGIN_MS + 22 * 3_600_000]
    assert night and all(t["mode"] == "out_of_service" and not t["running"] for t in night)


def test_service_visit_runs_in_inspection_mode() -> None:
    out = run(car(ElevatorSpec(peak_calls_per_hour=30, service_visits=True), seed=3), 16 * 86400)
    codes = [code for _, code in events(out)]
    assert 43 in codes and codes[codes.index(43) + 1] == 40
    inspecting = [t for t in telemetry(out) if t["mode"] == "inspection"]
    assert any(t["running"] and t["speed_mps"] <= 0.3 for t in inspecting)
    assert causes(out) == []


# --- faults ------------------------------------------------------------------------------


def quiet_car(**spec: Any) -> Elevator:
    return car(ElevatorSpec(peak_calls_per_hour=0, start_floor=1, **spec))


def at(out: list[Any], t: float) -> dict[str, Any]:
    """The last telemetry frame published at or before t."""
    return [f.payload for f in frames(out, "telemetry") if f.t <= t][-1]


def test_entrapment_between_floors_at_exactly_the_given_time() -> None:
    elevator = quiet_car(lowest_floor=-1, highest_floor=18)
    elevator.inject(f.EntrapmentBetweenFloors(at=30, device=DEV, do="entrapment_between_floors", floor=5,
                                              passengers=2, release_after=600))
    elevator.inject(f.AlarmButton(at=45, device=DEV, do="alarm_button"))
    out = run(elevator, 900)
    assert elevator.late_s == 0
    assert events(out) == [(30.0, 4), (45.0, 90), (45.0, 11), (630.0, 43), (pytest.approx(642.88, abs=0.1), 40)]
    assert causes(out) == [(30.0, "stopped_outside_door_zone"), (45.0, "entrapment"), (45.0, "entrapment")]
    stuck = at(out, 30)
    assert stuck["ts"] == ORIGIN_MS + 30_000
    assert (stuck["running"], stuck["door_zone"], stuck["door_locked"], stuck["passenger"], stuck["floor"]) == (
        False, False, True, True, 5)
    assert at(out, 629)["passenger"]  # still trapped until the rescue
    end = at(out, 900)
    assert end["mode"] == "normal" and not end["passenger"] and end["door_zone"] and end["floor"] == 5
    assert_valid_on_the_wire(out)


def test_a_rescue_before_the_threshold_is_no_entrapment() -> None:
    elevator = quiet_car()
    elevator.inject(f.EntrapmentBetweenFloors(at=30, device=DEV, do="entrapment_between_floors", floor=3,
                                              passengers=1, release_after=10))
    assert [a for _, a in causes(run(elevator, 300))] == ["stopped_outside_door_zone"]


def test_entrapment_at_landing_after_90_seconds_with_doors_shut() -> None:
    elevator = quiet_car(highest_floor=26, rated_speed_mps=2.5)
    elevator.inject(f.EntrapmentAtLanding(at=60, device=DEV, do="entrapment_at_landing", floor=9, passengers=1))
    out = run(elevator, 400)
    assert events(out) == [(60.0, 3), (150.0, 11)]
    assert causes(out) == [(60.0, "door_open_fault"), (150.0, "entrapment")]
    arrived = at(out, 60)
    assert (arrived["floor"], arrived["running"], arrived["door_zone"], arrived["door_locked"],
            arrived["passenger"]) == (9, False, True, True, True)
    assert at(out, 400)["passenger"]  # never released


def test_a_device_without_events_is_known_by_its_telemetry_only() -> None:
    elevator = quiet_car(reports_events=False, detects_entrapment=False)
    elevator.inject(f.EntrapmentBetweenFloors(at=40, device=DEV, do="entrapment_between_floors", floor=3,
                                              passengers=1))
    elevator.inject(f.AlarmButton(at=50, device=DEV, do="alarm_button"))
    out = run(elevator, 200)
    assert events(out) == []
    assert causes(out) == [(40.0, "stopped_outside_door_zone"), (55.0, "entrapment")]


def test_alarm_button_with_and_without_a_passenger() -> None:
    elevator = quiet_car(highest_floor=15)
    elevator.inject(f.AlarmButton(at=2, device=DEV, do="alarm_button"))
    elevator.inject(f.Call(at=5, device=DEV, do="call", origin=1, destination=15))
    elevator.inject(f.AlarmButton(at=25, device=DEV, do="alarm_button"))
    out = run(elevator, 120)
    assert events(out) == [(2.0, 90), (25.0, 90)]
    assert causes(out) == [(2.0, "alarm_button"), (25.0, "entrapment")]


def test_unintended_car_movement_moves_with_the_doors_open() -> None:
    elevator = quiet_car(highest_floor=16)
    elevator.inject(f.UnintendedCarMovement(at=80, device=DEV, do="unintended_car_movement", floor=10,
                                            release_after=300))
    out = run(elevator, 600)
    moving = at(out, 80)
    assert moving["running"] and not moving["door_locked"]
    assert causes(out) == [(80.0, "unintended_car_movement")]
    codes = [c for _, c in events(out)]
    assert codes == [5, 42, 43, 40]
    stopped = at(out, 82)
    assert not stopped["running"] and not stopped["door_zone"] and stopped["mode"] == "out_of_service"
    final = at(out, 600)
    assert final["door_locked"] and final["door_zone"] and final["mode"] == "normal"


@pytest.mark.parametrize(("kind", "code", "edge"), [("overrun_top", 9, 20), ("overrun_bottom", 10, -2)])
def test_overrun_stops_beyond_the_terminal_landing(kind: str, code: int, edge: int) -> None:
    elevator = quiet_car(lowest_floor=-2, highest_floor=20)
    elevator.inject(f.Overrun(at=100, device=DEV, do=kind, release_after=200))  # type: ignore[arg-type]
    out = run(elevator, 500)
    assert elevator.late_s == 0
    assert [c for _, c in events(out)] == [code, 42, 43, 40]
    over = at(out, 100)
    assert (over["floor"], over["running"], over["door_zone"]) == (edge, False, False)
    assert causes(out) == [(100.0, kind)]
    assert at(out, 500)["door_zone"]


def test_door_faults() -> None:
    opening = quiet_car(highest_floor=9)
    opening.inject(f.DoorOpenFault(at=50, device=DEV, do="door_open_fault", floor=4, duration=30))
    out = run(opening, 200)
    assert events(out) == [(50.0, 3), (80.0, 40)]
    assert all(t["door_locked"] for t in telemetry(out) if 50_000 <= t["ts"] - ORIGIN_MS < 80_000)

    closing = quiet_car(highest_floor=9)
    closing.inject(f.DoorCloseFault(at=70, device=DEV, do="door_close_fault", floor=7, duration=120))
    out = run(closing, 300)
    assert events(out) == [(70.0, 2), (pytest.approx(192.5), 40)]
    held_open = [t for t in telemetry(out) if 70_000 <= t["ts"] - ORIGIN_MS < 190_000]
    assert held_open and all(not t["door_locked"] and not t["running"] for t in held_open)


def test_main_power_lost_finishes_the_run_on_battery() -> None:
    elevator = quiet_car(highest_floor=20)
    elevator.inject(f.Call(at=0, device=DEV, do="call", origin=1, destination=20, passengers=3))
    elevator.inject(f.Call(at=1, device=DEV, do="call", origin=20, destination=1, passengers=1))
    elevator.inject(f.MainPowerLost(at=20, device=DEV, do="main_power_lost", duration=120))
    out = run(elevator, 300)
    assert events(out) == [(20.0, 41), (140.0, 40)]
    assert causes(out) == [(20.0, "main_power_lost")]
    on_battery = [t for t in telemetry(out) if 20_000 <= t["ts"] - ORIGIN_MS < 140_000]
    assert all(t["power"] == "battery" for t in on_battery)
    settled = at(out, 139)
    assert settled["floor"] == 20 and not settled["passenger"] and settled["door_zone"]
    # the waiting call is served once the mains are back
    assert at(out, 300)["floor"] == 1


def test_controller_fault_is_out_of_service_for_its_duration() -> None:
    elevator = quiet_car()
    elevator.inject(f.ControllerFault(at=30, device=DEV, do="controller_fault", code=7, duration=200))
    out = run(elevator, 300)
    assert events(out) == [(30.0, 7), (230.0, 40)]
    assert causes(out) == [(30.0, "floor_position_lost")]
    assert at(out, 100)["mode"] == "out_of_service" and at(out, 300)["mode"] == "normal"


def test_silent_publishes_nothing_and_keeps_its_seq() -> None:
    elevator = car()
    elevator.inject(f.Silent(at=60, device=DEV, do="silent", duration=180))
    out = run(elevator, 600)
    published = frames(out)
    assert not [x for x in published if 60 <= x.t < 240]
    seqs = [x.payload["seq"] for x in published]
    assert seqs == list(range(1, len(seqs) + 1))
    assert causes(out) == [(60.0, "silent")]


def test_disconnect_drops_and_restores_the_link_but_keeps_measuring() -> None:
    elevator = car()
    elevator.inject(f.Disconnect(at=90, device=DEV, do="disconnect", duration=120))
    out = run(elevator, 400)
    changes = [(o.t, o.event) for o in out if isinstance(o, LinkChange)]
    assert changes == [(90.0, LinkEvent.DROP), (210.0, LinkEvent.RESTORE)]
    assert [x for x in frames(out) if 90 <= x.t < 210]  # kept, published once back
    assert causes(out) == [(90.0, "offline")]


def test_too_little_time_to_prepare_is_reported_as_lateness() -> None:
    elevator = quiet_car(highest_floor=33, rated_speed_mps=1.0)
    elevator.inject(f.EntrapmentBetweenFloors(at=5, device=DEV, do="entrapment_between_floors", floor=30,
                                              passengers=1))
    run(elevator, 300)
    assert elevator.late_s > 0


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (f.EntrapmentBetweenFloors(at=1, device=DEV, do="entrapment_between_floors", floor=40), "not a landing"),
        (f.Call(at=1, device=DEV, do="call", origin=0, destination=3), "not a landing"),
        (f.BoilerFault(at=1, device=DEV, do="flame_failure"), "does not apply to an elevator"),
    ],
)
def test_impossible_actions_are_refused(action: Any, message: str) -> None:
    with pytest.raises(SimError, match=message):
        quiet_car().inject(action)


@pytest.mark.parametrize("kwargs", [{"lowest_floor": 5, "highest_floor": 3}, {"highest_floor": 0},
                                    {"rated_speed_mps": 0}, {"home_floor": 40}])
def test_bad_specs_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(SimError):
        ElevatorSpec(**kwargs)


def test_a_car_stuck_for_good_stays_stuck_whatever_comes_next() -> None:
    elevator = quiet_car(highest_floor=12)
    elevator.inject(f.EntrapmentBetweenFloors(at=30, device=DEV, do="entrapment_between_floors", floor=4,
                                              passengers=1))
    elevator.inject(f.Call(at=60, device=DEV, do="call", origin=1, destination=9))
    elevator.inject(f.DoorOpenFault(at=200, device=DEV, do="door_open_fault", floor=2, prepare=60))
    out = run(elevator, 900)
    assert [a for _, a in causes(out)] == ["stopped_outside_door_zone", "entrapment"]
    after = [t for t in telemetry(out) if t["ts"] - ORIGIN_MS > 30_000]
    assert after and all(not t["running"] and not t["door_zone"] and t["passenger"] for t in after)
