"""The live stream's fan-out: every alarm and incident change to every subscriber, each with a
bounded queue, so one slow console cannot stall the alarms for the others.

A subscriber whose queue overflows is cut off (``overflowed``); its client reconnects and
reloads the current state, which is how a console never silently misses an alarm.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, hub: LiveHub, maxsize: int) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.overflowed = asyncio.Event()

    def offer(self, change: dict[str, Any]) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            log.warning("live subscriber too slow (%d changes queued): cutting it off", self.queue.qsize())
            self.overflowed.set()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class LiveHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self.published = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self.queue_size)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def publish(self, change: dict[str, Any]) -> None:
        """``change``: ``{"topic": "alarm" | "incident", "op": ..., ...}``; never blocks."""
        self.published += 1
        for sub in list(self._subscribers):
            sub.offer(change)

    def resync(self) -> int:
        """Cut every subscriber off, as an overflow does: their clients reconnect and reload the
        current state (after changes may have been missed). Returns how many were cut off."""
        subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.overflowed.set()
        return len(subscribers)
