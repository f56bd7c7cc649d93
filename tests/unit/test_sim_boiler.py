"""simulators.boiler: frames valid on the wire, consistent physics, faults that develop and trip once."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime

import pytest

from semon.alarm_types import AlarmType
from semon.protocol.decode import Decoded, DecodeLimits, decode
from semon.protocol.models import BoilerTelemetry, DeviceEvent, parse
from semon.protocol.topics import Channel
from simulators import faults as f
from simulators.boiler import Boiler, BoilerSpec, saturation_temp_c
from simulators.core import Cause, Frame, LinkChange, LinkEvent, Output, Periods, SimError

ORIGIN_MS = 1_748_736_000_000  # 2025-06-01T08:00:00+08:00: a morning load
MIDNIGHT_MS = ORIGIN_MS - 8 * 3_600_000  # 2025-06-01T00:00:00+08:00
DEVICE = "11006301052016000042"
STEAM = BoilerSpec()
HOT_WATER = BoilerSpec(medium="hot_water", rated_pressure_mpa=1.0, rated_outlet_temp_c=95.0, rated_fuel_m3h=310.0,
                       rated_feedwater_m3h=0.5)
MEDIA = pytest.mark.parametrize("spec", [STEAM, HOT_WATER], ids=["steam", "hot_water"])
FIELDS = {"burner_on", "flame", "pressure_mpa", "water_level_mm", "outlet_temp_c", "return_temp_c", "flue_temp_c",
          "feedwater_flow_m3h", "fuel_flow_m3h"}
HOUR = 3600.0
DEFAULT_PERIODS = Periods()


def make(spec: BoilerSpec, seed: int = 1, *, origin_ms: int = ORIGIN_MS, periods: Periods = DEFAULT_PERIODS) -> Boiler:
    return Boiler(DEVICE, spec, origin_ms=origin_ms, seed=seed, periods=periods)


def run(b: Boiler, until: float, out: list[Output] | None = None) -> list[Output]:
    out = [] if out is None else out
    b.advance(until, out)
    return out


def telemetry(out: list[Output]) -> list[Frame]:
    return [o for o in out if isinstance(o, Frame) and o.channel is Channel.TELEMETRY]


def events(out: list[Output]) -> list[Frame]:
    return [o for o in out if isinstance(o, Frame) and o.channel is Channel.EVENT]


def causes(out: list[Output]) -> list[Cause]:
    return [o for o in out if isinstance(o, Cause)]


def fault(do: str, at: float, release_after: float | None = None) -> f.BoilerFault:
    return f.BoilerFault.model_validate({"at": at, "device": DEVICE, "do": do, "release_after": release_after})


def crossed(p: dict[str, object], spec: BoilerSpec) -> set[int]:
    """The protection thresholds a telemetry payload is beyond, as the alarm codes they raise."""
    level, pressure, temp = p["water_level_mm"], p["pressure_mpa"], p["outlet_temp_c"]
    assert isinstance(level, float) and isinstance(pressure, float) and isinstance(temp, float)
    codes = set()
    if spec.medium == "steam":
        if level < spec.extreme_low_water_mm:
            codes.add(101)
        if level > spec.high_water_mm:
            codes.add(102)
    elif temp > spec.rated_outlet_temp_c:
        codes.add(104)
    if pressure > spec.rated_pressure_mpa:
        codes.add(103)
    return codes


# --- the wire -----------------------------------------------------------------------------


@MEDIA
def test_every_frame_decodes_and_carries_exactly_the_boiler_fields(spec: BoilerSpec) -> None:
    b = make(spec)
    b.inject(fault("flame_failure", 1800, release_after=600))
    out = run(b, 2 * HOUR)
    now = datetime.fromtimestamp(ORIGIN_MS / 1000 + 2 * 86400, UTC)
    frames = [o for o in out if isinstance(o, Frame)]
    assert len(telemetry(out)) > 2 * HOUR / 5 and len(events(out)) == 2
    for frame in frames:
        decoded = decode(frame.topic, json.dumps(frame.payload).encode(), now, DecodeLimits())
        assert isinstance(decoded, Decoded), (decoded, frame)
        if frame.channel is Channel.TELEMETRY:
            assert isinstance(decoded.payload, BoilerTelemetry)
            assert set(frame.payload) == FIELDS | {"ts", "seq"}
        else:
            assert isinstance(decoded.payload, DeviceEvent)
        assert frame.payload["ts"] == ORIGIN_MS + round(frame.t * 1000)
    assert [fr.payload["seq"] for fr in frames] == list(range(1, len(frames) + 1))


def test_drawn_specs_are_plausible_and_decode() -> None:
    rng = random.Random(7)
    specs = [BoilerSpec.draw(rng) for _ in range(60)]
    assert {s.medium for s in specs} == {"steam", "hot_water"}
    for spec in specs:
        assert spec.extreme_low_water_mm < spec.low_water_mm < 0 < spec.high_water_mm
        if spec.medium == "steam":
            assert spec.rated_outlet_temp_c > saturation_temp_c(spec.rated_pressure_mpa)
            assert 2 <= spec.rated_feedwater_m3h <= 15
        else:
            assert spec.rated_outlet_temp_c in (95.0, 115.0)
        assert 100 <= spec.rated_fuel_m3h <= 800
    for seed, spec in enumerate(specs[:6]):
        for frame in telemetry(run(make(spec, seed), 600)):
            parse(BoilerTelemetry, json.dumps(frame.payload))


def test_an_inconsistent_spec_is_refused() -> None:
    with pytest.raises(SimError):
        BoilerSpec(high_water_mm=-10.0)
    with pytest.raises(SimError):
        BoilerSpec(rated_outlet_temp_c=150.0)  # below saturation at 1.25 MPa
    with pytest.raises(SimError):
        BoilerSpec(medium="oil")  # type: ignore[arg-type]


# --- determinism --------------------------------------------------------------------------


@MEDIA
def test_same_seed_same_frames_other_seed_other_frames(spec: BoilerSpec) -> None:
    a, b, c = (run(make(spec, seed), HOUR) for seed in (5, 5, 6))
    assert a == b
    assert telemetry(a) != telemetry(c)


# --- physics ------------------------------------------------------------------------------


def test_steam_outlet_is_the_saturation_temperature_of_the_pressure() -> None:
    for seed in range(3):
        b = make(STEAM, seed)
        b.inject(fault("over_pressure", 1200, release_after=600))
        frames = [fr.payload for fr in telemetry(run(b, 3 * HOUR))]
        moved = 0
        for prev, cur in itertools.pairwise(frames):
            assert cur["outlet_temp_c"] == round(saturation_temp_c(cur["pressure_mpa"]), 1)
            dp = cur["pressure_mpa"] - prev["pressure_mpa"]
            dt = cur["outlet_temp_c"] - prev["outlet_temp_c"]
            assert dp * dt >= 0, (prev, cur)
            moved += dp != 0
        assert moved > 200


def test_hot_water_pressure_rises_and_falls_with_the_temperature() -> None:
    for seed in range(3):
        b = make(HOT_WATER, seed, origin_ms=MIDNIGHT_MS + 12 * 3_600_000)
        b.inject(fault("over_temperature", 3 * HOUR, release_after=900))
        frames = [fr.payload for fr in telemetry(run(b, 5 * HOUR))]
        together = 0
        for prev, cur in itertools.pairwise(frames):
            dp = cur["pressure_mpa"] - prev["pressure_mpa"]
            dt = cur["outlet_temp_c"] - prev["outlet_temp_c"]
            assert dp * dt >= 0, (prev, cur)
            together += dp * dt > 0
            assert 10 <= cur["outlet_temp_c"] - cur["return_temp_c"] <= 25
            assert abs(cur["water_level_mm"]) <= 5 and cur["feedwater_flow_m3h"] == 0
        assert together > 20


@MEDIA
def test_flame_and_fuel_only_while_the_burner_is_on(spec: BoilerSpec) -> None:
    starts = 0
    for seed in range(4):
        frames = telemetry(run(make(spec, seed, origin_ms=MIDNIGHT_MS), 6 * HOUR))
        started_at: float | None = None
        for prev, cur in itertools.pairwise(frames):
            p = cur.payload
            assert not p["flame"] or p["burner_on"]
            if p["flame"]:
                assert 0.29 * spec.rated_fuel_m3h <= p["fuel_flow_m3h"] <= spec.rated_fuel_m3h
            else:
                assert p["fuel_flow_m3h"] == 0
            if p["burner_on"] and not prev.payload["burner_on"]:
                starts += 1
                started_at = cur.t
                assert not p["flame"]  # pre-purge first
            if p["flame"] and not prev.payload["flame"] and started_at is not None:
                assert 4 <= cur.t - started_at <= 8  # pre-purge and ignition
            if started_at is not None and p["flame"] and cur.t - started_at > 600:
                assert p["flue_temp_c"] >= 100  # the flue has caught up with the firing
            assert 35 <= p["flue_temp_c"] <= 250
    assert starts >= 4


@MEDIA
def test_telemetry_by_period_slow_while_idle_fast_while_firing(spec: BoilerSpec) -> None:
    periods = Periods(idle_s=10.0, active_s=2.0)
    seen = {True: 0, False: 0}
    for seed in range(4):
        frames = telemetry(run(make(spec, seed, origin_ms=MIDNIGHT_MS, periods=periods), 4 * HOUR))
        for prev, cur in itertools.pairwise(frames):
            period = periods.active_s if prev.payload["burner_on"] else periods.idle_s
            if (prev.payload["burner_on"], prev.payload["flame"]) == (cur.payload["burner_on"], cur.payload["flame"]):
                assert cur.t - prev.t == period
                seen[bool(prev.payload["burner_on"])] += 1
            else:  # a change of the burner or the flame goes out at once
                assert cur.t - prev.t <= period
    assert seen[True] > 100 and seen[False] > 100


@MEDIA
def test_normal_running_stays_inside_every_threshold(spec: BoilerSpec) -> None:
    for seed in range(3):
        out = run(make(spec, seed, origin_ms=MIDNIGHT_MS + seed * 7_200_000), 6 * HOUR)
        assert causes(out) == [] and events(out) == []
        frames = telemetry(out)
        assert any(fr.payload["flame"] for fr in frames)
        for fr in frames:
            p = fr.payload
            assert crossed(p, spec) == set()
            assert spec.low_water_mm < p["water_level_mm"] < spec.high_water_mm
            assert 0 < p["pressure_mpa"] < 0.9 * spec.rated_pressure_mpa
            assert p["outlet_temp_c"] < spec.rated_outlet_temp_c - 5


def test_drawn_boilers_run_a_day_without_an_alarm() -> None:
    rng = random.Random(3)
    for seed in range(4):
        spec = BoilerSpec.draw(rng)
        out = run(make(spec, seed, origin_ms=MIDNIGHT_MS), 24 * HOUR)
        assert causes(out) == [] and events(out) == []
        assert all(crossed(fr.payload, spec) == set() for fr in telemetry(out))


def test_steam_demand_follows_local_time() -> None:
    b = make(STEAM, 2, origin_ms=MIDNIGHT_MS)
    assert b.local_hour(0) == 0.0 and b.local_hour(9 * HOUR) == 9.0
    assert make(STEAM, origin_ms=MIDNIGHT_MS + 3_600_000).local_hour(0) == 1.0
    assert Boiler(DEVICE, STEAM, origin_ms=MIDNIGHT_MS, seed=1, local_utc_offset_h=0).local_hour(0) == 16.0
    out: list[Output] = []
    loads: list[tuple[float, float]] = []
    for minute in range(1, 10 * 60):
        run(b, minute * 60.0, out)
        loads.append((minute * 60.0, b.load))
    frames = telemetry(out)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    def between(start_h: float, end_h: float, series: list[tuple[float, float]]) -> list[float]:
        return [v for t, v in series if start_h * HOUR <= t < end_h * HOUR]

    fuel = [(fr.t, float(fr.payload["fuel_flow_m3h"])) for fr in frames]
    assert mean(between(7.5, 9.5, loads)) > 2 * mean(between(2, 5, loads))
    assert mean(between(7.5, 9.5, fuel)) > 1.2 * mean(between(2, 5, fuel))


# --- faults -------------------------------------------------------------------------------

FAULTS = pytest.mark.parametrize(("spec", "do", "code", "alarm"), [
    (STEAM, "extreme_low_water", 101, AlarmType.EXTREME_LOW_WATER),
    (STEAM, "high_water", 102, AlarmType.HIGH_WATER),
    (STEAM, "over_pressure", 103, AlarmType.OVER_PRESSURE),
    (HOT_WATER, "over_pressure", 103, AlarmType.OVER_PRESSURE),
    (HOT_WATER, "over_temperature", 104, AlarmType.OVER_TEMPERATURE),
    (STEAM, "flame_failure", 105, AlarmType.FLAME_FAILURE),
    (HOT_WATER, "flame_failure", 105, AlarmType.FLAME_FAILURE),
], ids=["steam-elw", "steam-hw", "steam-op", "hot-op", "hot-ot", "steam-ff", "hot-ff"])
AT = 1200.0


@FAULTS
def test_a_fault_develops_trips_once_and_locks_out(spec: BoilerSpec, do: str, code: int, alarm: AlarmType) -> None:
    for seed in range(3):
        b = make(spec, seed)
        b.inject(fault(do, AT))
        out = run(b, 4 * HOUR)
        (event,) = events(out)
        assert event.payload["code"] == code and event.payload["detail"]
        assert causes(out) == [Cause(event.t, DEVICE, alarm)]
        trip = event.t
        assert trip >= AT + (1 if code == 105 else 30)  # it develops: never at ``at`` itself
        before, after = telemetry(out[:out.index(event)]), telemetry(out[out.index(event):])
        assert all(crossed(fr.payload, spec) == set() for fr in before)
        assert all(crossed(fr.payload, spec) <= {code} for fr in after)  # no other alarm on the side
        assert after[0].t == trip  # the burner's trip is published at once
        if code != 105:
            assert code in crossed(after[0].payload, spec)  # tripped on the spec's threshold
        assert not any(fr.payload["burner_on"] or fr.payload["flame"] for fr in after)  # locked out for good
        assert b.locked_out


@FAULTS
def test_after_the_operator_reset_the_boiler_runs_normally(spec: BoilerSpec, do: str, code: int,
                                                           alarm: AlarmType) -> None:
    b = make(spec, 4)
    b.inject(fault(do, AT, release_after=900))
    out = run(b, 5 * HOUR)
    trip, back = events(out)
    assert (trip.payload["code"], back.payload["code"]) == (code, 140)
    assert back.t == trip.t + 900
    assert causes(out) == [Cause(trip.t, DEVICE, alarm)]
    frames = telemetry(out)
    assert any(fr.payload["flame"] for fr in frames if fr.t > back.t)
    assert all(crossed(fr.payload, spec) <= {code} for fr in frames)
    settled = [fr.payload for fr in frames if fr.t > back.t + HOUR]
    assert settled and all(crossed(p, spec) == set() for p in settled)
    if spec.medium == "steam":
        assert all(abs(p["water_level_mm"]) < 20 for p in settled)
    assert not b.locked_out


def test_a_flame_failure_with_the_burner_off_waits_for_the_next_ignition() -> None:
    b = make(STEAM, 0, origin_ms=MIDNIGHT_MS)
    out: list[Output] = []
    t = 0.0
    while b.burner_on or t < 60:
        t += 10
        run(b, t, out)
    b.inject(fault("flame_failure", t + 1, release_after=300))
    run(b, t + 2 * HOUR, out)
    trip, back = events(out)
    assert trip.payload["code"] == 105 and back.payload["code"] == 140
    ignition = [fr for fr in telemetry(out) if t < fr.t <= trip.t and fr.payload["burner_on"]]
    assert ignition and trip.t - ignition[0].t >= 4  # purged, tried to light, no flame: lockout
    assert not any(fr.payload["flame"] for fr in ignition)
    assert [c.alarm for c in causes(out)] == [AlarmType.FLAME_FAILURE]


def test_a_flame_failure_while_firing_shows_the_burner_on_without_a_flame() -> None:
    b = make(STEAM, 1)
    out: list[Output] = []
    t = 600.0
    while not b.flame or t < 610:
        t += 10
        run(b, t, out)
    b.inject(fault("flame_failure", t + 0.5))
    run(b, t + 10, out)
    (trip,) = events(out)
    assert t + 1 <= trip.t <= t + 2  # within the safeguard's response time, at the next step
    at_fault = [fr.payload for fr in telemetry(out) if fr.t == t + 0.5]
    assert at_fault[-1]["burner_on"] and not at_fault[-1]["flame"] and at_fault[-1]["fuel_flow_m3h"] == 0


def test_the_same_fault_again_while_in_progress_changes_nothing() -> None:
    b = make(STEAM, 2)
    b.inject(fault("flame_failure", AT))
    b.inject(fault("flame_failure", AT + 5))
    out = run(b, 2 * HOUR)
    assert [e.payload["code"] for e in events(out)] == [105]
    assert len(causes(out)) == 1


@pytest.mark.parametrize(("spec", "action"), [
    (STEAM, fault("over_temperature", 10)),
    (HOT_WATER, fault("high_water", 10)),
    (HOT_WATER, fault("extreme_low_water", 10)),
    (STEAM, f.AlarmButton(at=10, device=DEVICE, do="alarm_button")),
    (HOT_WATER, f.MainPowerLost(at=10, device=DEVICE, do="main_power_lost")),
], ids=["steam-over-temperature", "hot-high-water", "hot-extreme-low", "alarm-button", "main-power"])
def test_a_fault_the_boiler_cannot_have_is_refused(spec: BoilerSpec, action: f.BoilerFault) -> None:
    b = make(spec)
    with pytest.raises(SimError):
        b.inject(action)
    run(b, 5)
    with pytest.raises(SimError):
        b.apply(action, 5, [])


# --- link faults --------------------------------------------------------------------------


@MEDIA
def test_silent_publishes_nothing_and_keeps_seq(spec: BoilerSpec) -> None:
    b = make(spec)
    b.inject(f.Silent(at=600, device=DEVICE, do="silent", duration=300))
    out = run(b, 1800)
    assert causes(out) == [Cause(600, DEVICE, AlarmType.SILENT)]
    frames = [o for o in out if isinstance(o, Frame)]
    assert not any(600 < fr.t < 900 for fr in frames)
    assert any(fr.t == 900 for fr in frames)
    assert [fr.payload["seq"] for fr in frames] == list(range(1, len(frames) + 1))
    gap = [b2.t - b1.t for b1, b2 in itertools.pairwise(frames)]
    assert max(gap) >= 300


@MEDIA
def test_disconnect_drops_and_restores_the_link(spec: BoilerSpec) -> None:
    b = make(spec)
    b.inject(f.Disconnect(at=600, device=DEVICE, do="disconnect", duration=120))
    out = run(b, 1800)
    links = [o for o in out if isinstance(o, LinkChange)]
    assert links == [LinkChange(600, DEVICE, LinkEvent.DROP), LinkChange(720, DEVICE, LinkEvent.RESTORE)]
    assert causes(out) == [Cause(600, DEVICE, AlarmType.OFFLINE)]
    assert any(600 < fr.t < 720 for fr in telemetry(out))  # measured meanwhile, kept for later
