"""Jittered, capped exponential backoff for reconnect and retry loops."""

from __future__ import annotations

import asyncio
import random


class Backoff:
    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 30)
        # "equal jitter": never zero, never above the cap, spread so clients do not stampede
        delay: float = ceiling / 2 + random.uniform(0, ceiling / 2)
        return delay

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_delay())

    def reset(self) -> None:
        self._attempt = 0
