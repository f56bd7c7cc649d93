"""Jittered, capped exponential backoff for reconnect and retry loops."""

from __future__ import annotations

import asyncio
import random


def retry_delay(attempts: int, initial: float, maximum: float) -> float:
    """Seconds before the next try after ``attempts`` failures (1 for the first): ``initial``
    doubling with each failure, capped at ``maximum``, with "equal jitter" (half the ceiling
    fixed, half random): never zero, never above the cap, spread so that clients coming back do
    not stampede."""
    ceiling: float = min(maximum, initial * 2.0 ** min(max(attempts - 1, 0), 30))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Backoff:
    """:func:`retry_delay` with the count of failures kept: ``next_delay`` after each failure,
    ``reset`` after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._attempt = 0

    def next_delay(self) -> float:
        self._attempt = min(self._attempt + 1, 31)
        return retry_delay(self._attempt, self.initial, self.maximum)

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_delay())

    def reset(self) -> None:
        self._attempt = 0
