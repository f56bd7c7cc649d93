"""bench.ingest.histogram_quantile: quantiles from the difference of two scrapes."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram

from bench.ingest import histogram_quantile, ingest_samples
from semon.metrics import exponential_buckets, parse_text, render

NAME = "semon_ingest_lag_seconds"
BOUNDS = ("0.001", "0.002", "0.004", "+Inf")


def key(le: str) -> str:
    return f'{NAME}_bucket{{le="{le}"}}'


def scrape(*cumulative: float, extra: dict[str, float] | None = None) -> dict[str, float]:
    samples = {key(le): float(n) for le, n in zip(BOUNDS, cumulative, strict=True)}
    samples[f"{NAME}_sum"] = 0.0
    samples[f"{NAME}_count"] = float(cumulative[-1])
    samples.update(extra or {})
    return samples


BEFORE = scrape(5, 5, 7, 7)
# Between the scrapes: 10 observations <= 1 ms, 50 in (1, 2] ms, 40 in (2, 4] ms, none above.
AFTER = scrape(5 + 10, 5 + 60, 7 + 100, 7 + 100)


def test_p50_is_interpolated_within_its_bucket() -> None:
    # rank 50 lies in (1, 2] ms: 40 of that bucket's 50 observations
    assert histogram_quantile(0.50, BEFORE, AFTER, NAME) == pytest.approx(0.001 + 0.001 * 40 / 50, rel=1e-12)


def test_p99_is_interpolated_within_its_bucket() -> None:
    # rank 99 lies in (2, 4] ms: 39 of that bucket's 40 observations
    assert histogram_quantile(0.99, BEFORE, AFTER, NAME) == pytest.approx(0.002 + 0.002 * 39 / 40, rel=1e-12)


def test_first_bucket_interpolates_from_zero() -> None:
    assert histogram_quantile(0.05, BEFORE, AFTER, NAME) == pytest.approx(0.001 * 5 / 10, rel=1e-12)


def test_rank_on_a_bucket_boundary_is_that_bound() -> None:
    assert histogram_quantile(0.60, BEFORE, AFTER, NAME) == pytest.approx(0.002, rel=1e-12)
    assert histogram_quantile(1.0, BEFORE, AFTER, NAME) == pytest.approx(0.004, rel=1e-12)


def test_missing_before_counts_as_zero() -> None:
    after = scrape(10, 60, 100, 100)
    assert histogram_quantile(0.5, {}, after, NAME) == pytest.approx(0.0018, rel=1e-12)


def test_other_metrics_in_the_scrape_are_ignored() -> None:
    noise = {
        'semon_ingest_batch_commit_seconds_bucket{le="0.001"}': 1e6,
        'semon_ingest_batch_commit_seconds_bucket{le="+Inf"}': 1e6,
        "semon_ingest_lag_seconds_count": 12345.0,
    }
    after = {**AFTER, **noise}
    assert histogram_quantile(0.5, BEFORE, after, NAME) == pytest.approx(0.0018, rel=1e-12)


def test_empty_histogram_gives_nan() -> None:
    assert math.isnan(histogram_quantile(0.5, BEFORE, BEFORE, NAME))  # nothing observed in between
    assert math.isnan(histogram_quantile(0.5, {}, {}, NAME))  # no such histogram
    assert math.isnan(histogram_quantile(0.99, {}, {"other": 1.0}, NAME))


def test_everything_in_inf_returns_the_largest_finite_bound() -> None:
    after = scrape(5, 5, 7, 7 + 20)
    assert histogram_quantile(0.5, BEFORE, after, NAME) == 0.004
    assert histogram_quantile(0.99, BEFORE, after, NAME) == 0.004


def test_rank_in_inf_bucket_returns_the_largest_finite_bound() -> None:
    after = scrape(5 + 90, 5 + 90, 7 + 90, 7 + 100)
    assert histogram_quantile(0.5, BEFORE, after, NAME) == pytest.approx(0.001 * 50 / 90, rel=1e-12)
    assert histogram_quantile(0.99, BEFORE, after, NAME) == 0.004


def test_on_scrapes_of_a_real_histogram() -> None:
    bounds = exponential_buckets(0.001, 1.15, 80)
    registry = CollectorRegistry()
    h = Histogram(NAME, "lag", buckets=bounds, registry=registry)
    before = parse_text(render(registry))
    for _ in range(50):
        h.observe(0.0100)
    for _ in range(49):
        h.observe(0.0300)
    h.observe(0.2000)
    after = parse_text(render(registry))

    def bucket_of(value: float) -> tuple[float, float]:
        upper = next(b for b in bounds if b >= value)
        lower = max((b for b in bounds if b < value), default=0.0)
        return lower, upper

    lo, hi = bucket_of(0.0100)
    assert lo < histogram_quantile(0.50, before, after, NAME) <= hi
    lo, hi = bucket_of(0.0300)
    assert lo < histogram_quantile(0.99, before, after, NAME) <= hi
    lo, hi = bucket_of(0.2000)
    assert lo < histogram_quantile(1.0, before, after, NAME) <= hi


def test_semon_ups_metrics_of_every_part_give_the_ingest_parts_figures_added_up() -> None:
    """`semon up` labels each part's samples with ``part``: the benchmark reads the ingest
    processes' lag and memory from them (they were missing, printed as null)."""
    lag = {f'{NAME}_bucket{{part="{part}",le="{le}"}}': float(n)
           for part, counts in (("ingest", (1, 2, 3, 3)), ("ingest-2", (0, 1, 1, 2)))
           for le, n in zip(BOUNDS, counts, strict=True)}
    samples = {**lag, 'process_resident_memory_bytes{part="ingest"}': 100.0,
               'process_resident_memory_bytes{part="ingest-2"}': 50.0,
               'process_resident_memory_bytes{part="rules"}': 999.0, 'semon_part_up{part="rules"}': 1.0}
    got = ingest_samples(samples)
    assert got["process_resident_memory_bytes"] == 150.0
    assert [got[key(le)] for le in BOUNDS] == [1.0, 3.0, 4.0, 5.0]
    assert not any("rules" in k or "part=" in k for k in got)
    assert histogram_quantile(0.5, {}, got, NAME) > 0


def test_a_lone_ingesters_metrics_are_read_as_they_are() -> None:
    assert ingest_samples(AFTER) is AFTER
