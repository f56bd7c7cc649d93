"""semon.metrics: the exposition of prometheus_client registries as semon serves it, a part's
registry included anew at each restart, and the parser the tests and benchmarks read it with."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from semon.metrics import Snapshot, exponential_buckets, include, nearest_rank, parse_text, render, series, value


def test_exponential_buckets() -> None:
    assert exponential_buckets(0.001, 2, 4) == [0.001, 0.002, 0.004, 0.008]
    assert exponential_buckets(1, 1.5, 3) == [1, 1.5, 2.25]


def test_nearest_rank() -> None:
    assert nearest_rank([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert nearest_rank([5.0, 1.0, 3.0, 2.0, 4.0], 0.99) == 5.0
    assert nearest_rank([5.0, 1.0], 0.0) == 1.0
    assert nearest_rank([], 0.5, empty=0.0) == 0.0
    assert math.isnan(nearest_rank([], 0.5))


def test_a_registry_renders_the_names_it_always_had_and_parses_back() -> None:
    r = CollectorRegistry()
    c = Counter("a_total", "A", registry=r)
    lab = Counter("b_total", "B", ("reason",), registry=r)
    h = Histogram("c_seconds", "C", buckets=[0.001, 0.0015, 2], registry=r)
    Gauge("d", "D", registry=r).set_function(lambda: 42.0)
    c.inc(3)
    lab.labels('we"ird value').inc()
    h.observe(0.0012)
    h.observe(0.0015)  # a value on a bound counts in that bucket (le)
    h.observe(7)

    text = render(r)
    assert text.endswith("\n")
    assert text.count("# TYPE") == 4
    assert "# TYPE a_total counter" in text and "# HELP b_total B" in text  # counters keep _total
    assert "_created" not in text  # no series the old exposition did not have
    assert parse_text(text) == {
        "a_total": 3.0,
        'b_total{reason="we\\"ird value"}': 1.0,
        'c_seconds_bucket{le="0.001"}': 0.0,
        'c_seconds_bucket{le="0.0015"}': 2.0,
        'c_seconds_bucket{le="2.0"}': 2.0,
        'c_seconds_bucket{le="+Inf"}': 3.0,
        "c_seconds_sum": pytest.approx(7.0027),
        "c_seconds_count": 3.0,
        "d": 42.0,
    }


def test_the_lag_buckets_are_exposed_as_before() -> None:
    """The benchmark and dashboards read ``le`` as the old exposition wrote it."""
    r = CollectorRegistry()
    Histogram("lag_seconds", "Lag", buckets=exponential_buckets(0.001, 1.15, 80), registry=r)
    les = [key.split('le="')[1][:-2] for key in parse_text(render(r)) if "_bucket" in key]
    assert les[:3] == ["0.001", "0.00115", "0.001322"] and les[-1] == "+Inf" and len(les) == 81
    assert [float(le) for le in les[:-1]] == exponential_buckets(0.001, 1.15, 80)


def test_an_included_registry_is_read_at_each_render() -> None:
    outer = CollectorRegistry()
    Counter("outer_total", "Outer", registry=outer).inc()
    current: list[CollectorRegistry | None] = [None]
    include(outer, lambda: current[0])
    assert parse_text(render(outer)) == {"outer_total": 1.0}  # no part yet: nothing of it

    first = CollectorRegistry()
    Counter("part_total", "Part", registry=first).inc(5)
    current[0] = first
    assert parse_text(render(outer)) == {"outer_total": 1.0, "part_total": 5.0}

    rebuilt = CollectorRegistry()  # the part restarted: the same names again, counted anew
    Counter("part_total", "Part", registry=rebuilt).inc(2)
    current[0] = rebuilt
    assert parse_text(render(outer)) == {"outer_total": 1.0, "part_total": 2.0}


def test_a_snapshot_renders_the_families_parsed() -> None:
    text = ("# HELP x_total X\n# TYPE x_total counter\nx_total{a=\"1\"} 2.0\n"
            "# HELP h H\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1.0\nh_bucket{le=\"+Inf\"} 1.0\n"
            "h_sum 0.25\nh_count 1.0\n")
    assert render(Snapshot.parse(text)) == text
    with pytest.raises(ValueError):
        Snapshot.parse("# TYPE\n")


def test_parse_text_skips_comments_and_blank_lines_and_reads_inf() -> None:
    text = "# HELP x X\n\n# TYPE x gauge\nx +Inf\ny{a=\"b c\"} -2.5e-3\n"
    assert parse_text(text) == {"x": math.inf, 'y{a="b c"}': -0.0025}


def test_a_metrics_value_is_read_by_its_label_values() -> None:
    r = CollectorRegistry()
    plain = Counter("plain_total", "Plain", registry=r)
    stored = Counter("stored_total", "Stored", ("table", "kind"), registry=r)
    h = Histogram("h_seconds", "H", registry=r)
    assert value(plain) == 0 and series(stored) == {}
    plain.inc(2.5)
    stored.labels("events", "elevator").inc(7)
    h.observe(1)
    assert value(plain) == 2.5
    assert value(stored, "events", "elevator") == 7 and value(stored, "events", "boiler") == 0
    assert series(stored) == {("events", "elevator"): 7}
    assert series(h) == {}  # a histogram's samples are not one value
