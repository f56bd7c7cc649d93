"""Keep a process's long-lived objects out of the cycle collector's way: no pause that grows
with the fleet.

CPython's cycle collector stops the process while it walks a generation, and a collection of
the oldest walks every object that has lived long: in the rules engine, every device's state
(a ``DeviceRules`` and its dicts and lists, ~8 tracked objects holding ~200 references). The
messages waiting in the engine's receive window live just long enough to reach that
generation, so at 15,000 messages/s it is collected every few seconds. Measured in the rules
part of `semon up` holding 111,000 devices: collections of 420-590 ms every 2.7 s, each holding
every message and call for help back (docs/alerts.md, "Pauses: ticks and garbage collection").

``gc.freeze`` (Python 3.7) moves every object alive to a permanent generation the collector no
longer walks. Done every ``interval_s``, the oldest generation holds only what was promoted
since the last freeze, so a collection walks that, not the fleet. Frozen objects are still
freed by reference counting when their last reference goes; only garbage held in a reference
cycle among them is never reclaimed. The engine's state holds no cycles
(tests/unit/test_heap.py checks that judging messages leaves none); a lost broker connection
leaves about 17 objects in cycles (its transport and socket), a few kilobytes per reconnect that
a freeze keeps. ``semon_heap_frozen_objects`` shows the count, so that a leak would show.

Only for a process's own entry point (`semon part rules`, `semon alerts`): freezing is
process-wide."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Gauge

from semon.backoff import Backoff
from semon.periodic import every

FREEZE_INTERVAL_S = 1.0
T = TypeVar("T")
log = logging.getLogger(__name__)


def heap_metrics() -> CollectorRegistry:
    """``semon_heap_frozen_objects``: objects in the permanent generation (a count that only
    grows, in a steady fleet, would be a leak), and the collections of each generation."""
    registry = CollectorRegistry()
    Gauge("semon_heap_frozen_objects", "Objects moved out of the cycle collector's walks (gc.freeze)",
          registry=registry).set_function(lambda: float(gc.get_freeze_count()))
    for generation in range(3):
        Gauge(f"semon_heap_gen{generation}_collections", f"Collections of generation {generation}",
              registry=registry).set_function(_collections(generation))
    return registry


def _collections(generation: int) -> Callable[[], float]:
    return lambda: float(gc.get_stats()[generation]["collections"])


async def freeze_periodically(backoff: Backoff, interval_s: float = FREEZE_INTERVAL_S) -> None:
    """Until cancelled: ``gc.freeze()`` now (after the caller's start-up) and every ``interval_s``
    seconds (``semon.periodic``, with ``backoff``). Raises ValueError for an interval that is not positive."""
    if not interval_s > 0:
        raise ValueError(f"the freeze interval must be positive, not {interval_s!r}")
    gc.collect()  # what start-up left behind is reclaimed, not frozen

    async def freeze() -> None:
        gc.freeze()

    await every("heap freeze", interval_s, freeze, log=log, backoff=backoff)


async def with_frozen_heap(main: Callable[[], Awaitable[T]], backoff: Backoff,
                           interval_s: float = FREEZE_INTERVAL_S) -> T:
    """``await main()`` with ``freeze_periodically`` beside it."""
    freezer = asyncio.create_task(freeze_periodically(backoff, interval_s), name="heap-freeze")
    try:
        return await main()
    finally:
        freezer.cancel()
