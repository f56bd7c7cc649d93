"""``semon bench metrics``: what one metric update costs on the hot path, in nanoseconds.

The ingester observes ``semon_ingest_lag_seconds`` (80 buckets) once per stored message and
counts per batch; the rules engine counts per message. ``prometheus_client`` takes a lock per
update and finds a histogram's bucket by walking the bounds from the smallest, so an observe
costs more the larger the value: it is timed at lags from 10 ms to 10 s. ``plain_*`` is the same
work on plain attributes (a bisected bucket, a sum, a count), as semon's own exposition code
did it before, for comparison. ``core_share_at_20k_per_s``: the share of one core the lag
histogram takes at 20,000 stored messages/s, at the slowest lag timed.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable
from functools import partial

from prometheus_client import CollectorRegistry, Counter, Histogram

from semon.metrics import exponential_buckets

LAGS_S = (0.01, 0.1, 1.0, 10.0)
RATE_PER_S = 20_000


class _Plain:
    """A histogram on plain attributes: the baseline."""

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1


def _ns_per_call(update: Callable[[], object], n: int) -> float:
    """Nanoseconds per ``update()``, the best of three runs of ``n`` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter_ns()
        for _ in range(n):
            update()
        best = min(best, (time.perf_counter_ns() - started) / n)
    return round(best, 1)


def run_metrics_bench(n: int = 200_000) -> dict[str, object]:
    """Each figure: nanoseconds per update, over ``n`` updates (best of three); printed as one
    JSON line and returned. Raises ValueError for ``n`` below 1."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    bounds = exponential_buckets(0.001, 1.15, 80)
    registry = CollectorRegistry()
    lag = Histogram("lag_seconds", "Lag", buckets=bounds, registry=registry)
    plain = _Plain(bounds)
    counter = Counter("messages_total", "Messages", registry=registry)
    labelled = Counter("stored_total", "Stored", ("table",), registry=registry)
    child = labelled.labels("elevator_telemetry")
    count = [0]

    def plain_inc() -> None:
        count[0] += 1

    observe = {f"{lag_s:g}s": _ns_per_call(partial(lag.observe, lag_s), n) for lag_s in LAGS_S}
    plain_observe = {f"{lag_s:g}s": _ns_per_call(partial(plain.observe, lag_s), n) for lag_s in LAGS_S}
    slowest = max(observe.values())
    result: dict[str, object] = {
        "n": n,
        "observe_ns": observe,
        "plain_observe_ns": plain_observe,
        "inc_ns": _ns_per_call(counter.inc, n),
        "labels_inc_ns": _ns_per_call(lambda: labelled.labels("elevator_telemetry").inc(), n),
        "child_inc_ns": _ns_per_call(child.inc, n),
        "plain_inc_ns": _ns_per_call(plain_inc, n),
        "core_share_at_20k_per_s": round(slowest * RATE_PER_S / 1e9, 4),
    }
    print(json.dumps(result), flush=True)
    return result
