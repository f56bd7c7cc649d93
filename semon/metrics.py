"""Metrics through ``prometheus_client``: what semon adds to it.

Each part keeps its own ``CollectorRegistry``, never the library's global one: parts are built
anew at each restart and tests build many, and the global registry refuses a name registered
twice. A registry that must show a part rebuilt at each restart takes it through ``include``
(a collector reading the part's current registry at each scrape); several processes' metrics
served as one (``semon up``) are a ``Snapshot`` of families. Exposition is the library's text
format 0.0.4 (``render``).

The library's ``*_created`` series (the time each series was created) are turned off for the
whole process on import: semon's expositions keep the series they always had.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

disable_created_metrics()  # type: ignore[no-untyped-call]  # (the library leaves it unannotated)


class Included:
    """A collector yielding the metrics of ``source()`` at each collection: the registry of a
    part built anew at each restart (None while there is none: nothing)."""

    def __init__(self, source: Callable[[], Collector | None]) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        current = self._source()
        return current.collect() if current is not None else ()


def include(registry: CollectorRegistry, source: Callable[[], Collector | None]) -> None:
    """Register ``Included(source)`` in ``registry``: its metrics are rendered after those
    registered before."""
    registry.register(Included(source))


class Snapshot:
    """A collector of fixed metric families: one scrape of other processes, merged."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """The families of a text exposition. Raises ValueError for text that does not parse."""
        return cls(text_string_to_metric_families(text))

    def collect(self) -> Iterable[Metric]:
        return list(self.families)


def render(source: Collector) -> str:
    """The text exposition (format 0.0.4) of ``source``'s metrics."""
    return generate_latest(source).decode()


def series(metric: Collector) -> dict[tuple[str, ...], float]:
    """A counter's or gauge's value in each of its series, by label values (in the order the
    metric names its labels), read through its ``collect()``: for tests and tools."""
    found: dict[tuple[str, ...], float] = {}
    for family in metric.collect():
        for s in family.samples:
            if s.name in (family.name, f"{family.name}_total"):
                found[tuple(s.labels.values())] = s.value
    return found


def value(metric: Collector, *labels: str) -> float:
    """A counter's or gauge's value in the series of these label values (0 for a series not yet
    counted): see ``series``."""
    return series(metric).get(labels, 0.0)


def parse_text(text: str) -> dict[str, float]:
    """Samples of a text exposition keyed by name with labels as exposed
    (``'x_bucket{le="0.5"}'``): for tests and the benchmarks. Raises ValueError for text that
    does not parse."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels.items())
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def nearest_rank(values: Iterable[float], q: float, empty: float = float("nan")) -> float:
    """The q-quantile of raw samples by the nearest-rank method (the benchmarks' figures)."""
    ordered = sorted(values)
    if not ordered:
        return empty
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def exponential_buckets(start: float, factor: float, count: int) -> list[float]:
    """``count`` histogram bounds from ``start``, each ``factor`` times the last, rounded to 6 decimals."""
    return [round(start * factor**i, 6) for i in range(count)]
