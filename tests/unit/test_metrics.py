"""semon.metrics: Prometheus text exposition and its parser."""

from __future__ import annotations

import math

from semon.metrics import Counter, Gauge, Histogram, Registry, exponential_buckets, parse_text


def test_counter_without_labels_starts_at_zero() -> None:
    c = Counter("jobs_total", "Jobs")
    assert c.render() == ["jobs_total 0"]
    assert c.get() == 0.0
    c.inc()
    c.inc(2.5)
    assert c.get() == 3.5
    assert c.render() == ["jobs_total 3.5"]
    assert c.header() == ["# HELP jobs_total Jobs", "# TYPE jobs_total counter"]


def test_counter_with_labels_renders_each_series_sorted() -> None:
    c = Counter("rejected_total", "Rejected", ("reason",))
    assert c.render() == []  # no series until one is incremented
    c.inc(1, "not_json")
    c.inc(1, "bad_topic")
    c.inc(2, "not_json")
    assert c.get("not_json") == 3
    assert c.get("oversized") == 0
    assert c.render() == ['rejected_total{reason="bad_topic"} 1', 'rejected_total{reason="not_json"} 3']


def test_counter_with_two_labels() -> None:
    c = Counter("stored_total", "Stored", ("table", "kind"))
    c.inc(7, "events", "elevator")
    assert c.render() == ['stored_total{table="events",kind="elevator"} 7']


def test_label_values_are_escaped() -> None:
    c = Counter("x_total", "X", ("detail",))
    c.inc(1, 'say "hi"\\now\nnext')
    assert c.render() == ['x_total{detail="say \\"hi\\"\\\\now\\nnext"} 1']
    assert len(c.render()) == 1 and "\n" not in c.render()[0]


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    h = Histogram("lag_seconds", "Lag", [1.0, 0.25, 2.5])  # unsorted on purpose
    for v in (0.125, 0.25, 0.5, 3.0, 100.0):
        h.observe(v)
    assert h.render() == [
        'lag_seconds_bucket{le="0.25"} 2',  # a value on a bound counts in that bucket (le)
        'lag_seconds_bucket{le="1"} 3',
        'lag_seconds_bucket{le="2.5"} 3',
        'lag_seconds_bucket{le="+Inf"} 5',
        "lag_seconds_sum 103.875",
        "lag_seconds_count 5",
    ]
    assert h.header() == ["# HELP lag_seconds Lag", "# TYPE lag_seconds histogram"]


def test_empty_histogram() -> None:
    h = Histogram("h", "H", [0.5])
    assert h.render() == ['h_bucket{le="0.5"} 0', 'h_bucket{le="+Inf"} 0', "h_sum 0", "h_count 0"]


def test_gauge_reads_on_render() -> None:
    value = [1.0]
    g = Gauge("up", "Up", lambda: value[0])
    assert g.render() == ["up 1"]
    value[0] = 0.5
    assert g.render() == ["up 0.5"]
    value[0] = math.inf
    assert g.render() == ["up +Inf"]


def test_exponential_buckets() -> None:
    assert exponential_buckets(0.001, 2, 4) == [0.001, 0.002, 0.004, 0.008]
    assert exponential_buckets(1, 1.5, 3) == [1, 1.5, 2.25]


def test_registry_render_parses_back() -> None:
    r = Registry()
    c = r.add(Counter("a_total", "A"))
    lab = r.add(Counter("b_total", "B", ("reason",)))
    h = r.add(Histogram("c_seconds", "C", [0.001, 0.0015]))
    r.add(Gauge("d", "D", lambda: 42.0))
    c.inc(3)
    lab.inc(1, 'we"ird value')
    h.observe(0.0012)
    h.observe(7)

    text = r.render()
    assert text.endswith("\n")
    assert text.count("# TYPE") == 4
    assert parse_text(text) == {
        "a_total": 3.0,
        'b_total{reason="we\\"ird value"}': 1.0,
        'c_seconds_bucket{le="0.001"}': 0.0,
        'c_seconds_bucket{le="0.0015"}': 1.0,
        'c_seconds_bucket{le="+Inf"}': 2.0,
        "c_seconds_sum": 7.0012,
        "c_seconds_count": 2.0,
        "d": 42.0,
    }


def test_parse_text_skips_comments_and_blank_lines_and_reads_inf() -> None:
    text = "# HELP x X\n\n# TYPE x gauge\nx +Inf\ny{a=\"b c\"} -2.5e-3\n"
    assert parse_text(text) == {"x": math.inf, 'y{a="b c"}': -0.0025}
