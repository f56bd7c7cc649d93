"""semon.backoff.Backoff: equal-jitter exponential backoff."""

from __future__ import annotations

import itertools
import random

import pytest

from semon.backoff import Backoff


def ceilings(initial: float, maximum: float, n: int) -> list[float]:
    return [min(maximum, initial * 2**i) for i in range(n)]


def test_delays_stay_between_half_the_ceiling_and_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", random.Random(1234).uniform)  # the global state is left alone
    for _ in range(50):
        b = Backoff(0.5, 20.0)
        for ceiling in ceilings(0.5, 20.0, 12):
            d = b.next_delay()
            assert ceiling / 2 <= d <= ceiling
            assert d > 0


def test_jitter_spreads_the_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", random.Random(99).uniform)
    delays = {Backoff(1.0, 10.0).next_delay() for _ in range(20)}
    assert len(delays) == 20
    assert min(delays) < 0.6 and max(delays) > 0.9


@pytest.mark.parametrize(("jitter", "expected"), [
    ("high", [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]),
    ("low", [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]),
])
def test_delays_double_then_cap_at_maximum(
    monkeypatch: pytest.MonkeyPatch, jitter: str, expected: list[float]
) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: b if jitter == "high" else a)
    b = Backoff(0.5, 10.0)
    assert [b.next_delay() for _ in expected] == expected


def test_delays_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: (a + b) / 2)
    b = Backoff(0.1, 60.0)
    delays = [b.next_delay() for _ in range(10)]
    assert all(later > earlier for earlier, later in itertools.pairwise(delays))
    assert delays[-1] == 0.75 * min(60.0, 0.1 * 2**9)


def test_reset_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: b)
    b = Backoff(1.0, 100.0)
    assert [b.next_delay() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    b.reset()
    assert [b.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]


def test_many_attempts_do_not_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: b)
    b = Backoff(1.0, 30.0)
    delays = [b.next_delay() for _ in range(5000)]
    assert delays[-1] == 30.0
    assert max(delays) == 30.0


def test_initial_above_maximum_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: b)
    assert Backoff(50.0, 5.0).next_delay() == 5.0
