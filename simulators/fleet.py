"""Running a fleet of simulated devices in real time, or faster, against their MQTT links.

One loop drives every device: a heap holds each device's next timer, the loop sleeps until
the earliest is due on the (possibly compressed) simulation clock, advances the devices that
are due and hands their frames to their links. Idle devices cost nothing between timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from semon.metrics import nearest_rank
from simulators.core import INF, Cause, Frame, LinkChange, LinkEvent, Output, SimDevice

log = logging.getLogger(__name__)

_MIN_SLEEP_S = 0.005  # coalesce timers due within a few milliseconds into one wake-up


class Link(Protocol):
    def send(self, frame: Frame) -> None: ...

    def drop(self) -> None: ...

    def restore(self, *, announce_online: bool = True) -> None: ...


class SimClock:
    """Simulation seconds since the start, running ``factor`` times faster than the wall clock."""

    def __init__(self, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError("the time factor must be positive")
        self.factor = factor
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()

    def now(self) -> float:
        return (self._loop.time() - self._t0) * self.factor

    def wall_delay(self, sim_t: float) -> float:
        """Wall seconds from now until simulation time ``sim_t``."""
        return sim_t / self.factor - (self._loop.time() - self._t0)


@dataclass(slots=True)
class FleetStats:
    frames: int = 0  # frames the devices produced (and handed to their links)
    events: int = 0
    failed: int = 0  # devices stopped by an error in their model
    causes: list[Cause] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # wall seconds from due to handed over

    def lag_quantile(self, q: float) -> float:
        return nearest_rank(self.lags, q, empty=0.0)


class Fleet:
    def __init__(self, devices: Sequence[SimDevice], links: Mapping[str, Link], clock: SimClock,
                 *, on_cause: Callable[[Cause], None] | None = None, keep_lags: bool = False) -> None:
        missing = [d.device_id for d in devices if d.device_id not in links]
        if missing:
            raise ValueError(f"no link for {len(missing)} device(s), e.g. {missing[0]}")
        self.devices = list(devices)
        self.links = links
        self.clock = clock
        self.stats = FleetStats()
        self._on_cause = on_cause
        self._keep_lags = keep_lags
        self._index = {d.device_id: i for i, d in enumerate(self.devices)}
        self._due = [INF] * len(self.devices)
        self._heap: list[tuple[float, int]] = []
        self._wake = asyncio.Event()
        for i in range(len(self.devices)):
            self._reschedule(i, 0.0)

    def _reschedule(self, i: int, t: float) -> None:
        self._due[i] = t
        if t < INF:
            heapq.heappush(self._heap, (t, i))

    def inject(self, device_id: str, action: Any) -> None:
        """Inject a fault while the fleet runs (the simulated city does this)."""
        i = self._index[device_id]
        device = self.devices[i]
        device.inject(action)
        if device.next_time() < self._due[i]:
            self._reschedule(i, device.next_time())
            self._wake.set()

    async def run(self, until: float = INF) -> None:
        """Drive the fleet to simulation time ``until`` (for ever by default)."""
        out: list[Output] = []
        heap = self._heap
        while True:
            now = min(self.clock.now(), until)
            while heap and heap[0][0] <= now:
                t, i = heapq.heappop(heap)
                if t != self._due[i]:
                    continue  # superseded by an earlier reschedule
                device = self.devices[i]
                try:
                    device.advance(now, out)
                except Exception:  # a bug in one device's model must not stop the city
                    log.exception("device %s failed at t=%.1f s and is stopped", device.device_id, now)
                    self.stats.failed += 1
                    self._due[i] = INF
                    out.clear()
                    continue
                self._dispatch(out, now)
                out.clear()
                self._reschedule(i, device.next_time())
            if now >= until:
                return
            upcoming = min(heap[0][0] if heap else INF, until)
            delay = min(self.clock.wall_delay(upcoming), 3600.0)  # also keeps far timers in range
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, _MIN_SLEEP_S)):
                    await self._wake.wait()

    def _dispatch(self, out: list[Output], now: float) -> None:
        stats = self.stats
        factor = self.clock.factor
        for o in out:
            if isinstance(o, Frame):
                self.links[o.device_id].send(o)
                stats.frames += 1
                if o.channel == "event":
                    stats.events += 1
                if self._keep_lags:
                    stats.lags.append((now - o.t) / factor)
            elif isinstance(o, LinkChange):
                link = self.links[o.device_id]
                if o.event is LinkEvent.DROP:
                    link.drop()
                else:
                    link.restore(announce_online=o.event is LinkEvent.RESTORE)
            else:
                stats.causes.append(o)
                log.info("%s: %s from t=%.1f s", o.device_id, o.alarm, o.t)
                if self._on_cause is not None:
                    self._on_cause(o)
