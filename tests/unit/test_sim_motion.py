"""The car's speed profile."""

from __future__ import annotations

import pytest

from simulators.motion import Run


@pytest.mark.parametrize(("distance", "speed"), [(3.0, 1.75), (30.0, 1.75), (0.5, 2.5), (60.0, 1.0), (-24.0, 2.0)])
def test_profile_reaches_the_target_within_the_speed_and_acceleration(distance: float, speed: float) -> None:
    run = Run(10.0, 6.0, 6.0 + distance, speed, 0.8)
    assert run.position(run.t0) == 6.0
    assert run.position(run.t1) == pytest.approx(6.0 + distance)
    steps = [run.t0 + i * run.duration / 400 for i in range(401)]
    previous = run.position(run.t0)
    for t in steps[1:]:
        x = run.position(t)
        assert (x - previous) * run.sign >= -1e-12  # never backwards
        assert 0 <= run.speed(t) <= speed + 1e-9
        previous = x
    assert run.speed(run.t0) == 0 and run.speed(run.t1) == 0


def test_short_runs_never_reach_rated_speed() -> None:
    run = Run(0.0, 0.0, 1.0, 2.5, 0.8)
    assert run.t_cruise == 0 and run.peak < 2.5
    assert run.duration == pytest.approx(2 * (1.0 / 0.8) ** 0.5)


@pytest.mark.parametrize("s", [0.0, 0.1, 0.9, 1.2, 5.0, 14.9, 15.0])
def test_time_at_inverts_travelled(s: float) -> None:
    run = Run(3.0, 0.0, 15.0, 1.75, 0.8)
    assert run.travelled(run.time_at(s)) == pytest.approx(s, abs=1e-9)
