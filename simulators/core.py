"""The discrete-event core every simulated device is built on.

A device is a set of timers in simulation time (seconds from the scenario's start). Nothing
here touches the clock or the network: ``advance(until)`` runs the timers due by then and
appends what the device would publish to a list, so the same seed gives the same frames
whether the fleet runs against a broker in real time, compressed, or in a unit test.
"""

from __future__ import annotations

import heapq
import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from semon.alarm_types import AlarmType
from semon.protocol.codes import DEFAULT_TABLE, code_table
from semon.protocol.topics import Channel, Kind, topic_for
from simulators import faults as f
from simulators.faults import applies_to

INF = float("inf")


@dataclass(frozen=True, slots=True)
class Frame:
    """A telemetry frame or an event as the device publishes it (``ts`` and ``seq`` included)."""

    t: float  # simulation time it is published (its ``ts`` may differ: a stepped clock, a skewed event)
    device_id: str
    kind: Kind
    channel: Channel
    payload: dict[str, Any]

    @property
    def topic(self) -> str:
        return topic_for(self.kind, self.device_id, self.channel)


class LinkEvent(StrEnum):
    DROP = "drop"  # the connection is lost without DISCONNECT: the broker publishes the Last Will
    RESTORE = "restore"  # connected again: ``online``, then whatever was kept meanwhile
    # Connected again without publishing ``online``: only what was kept, then new frames.
    RESTORE_WITHOUT_ONLINE = "restore_without_online"


@dataclass(frozen=True, slots=True)
class LinkChange:
    t: float
    device_id: str
    event: LinkEvent


@dataclass(frozen=True, slots=True)
class Cause:
    """Ground truth: from ``t`` the device is in a condition that must raise ``alarm``.

    Never published; a scenario's declared alarms are checked against these."""

    t: float
    device_id: str
    alarm: AlarmType


Output = Frame | LinkChange | Cause
Action = Callable[[float, list[Output]], None]


@dataclass(frozen=True, slots=True)
class Periods:
    """Telemetry periods of the device contract: slower while idle, faster while active."""

    idle_s: float = 5.0
    active_s: float = 1.0


class Timer:
    __slots__ = ("action", "cancelled", "t")

    def __init__(self, t: float, action: Action) -> None:
        self.t = t
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimError(ValueError):
    """A fault or action that cannot be applied to this device."""


def alarm_of(code: int, kind: Kind) -> AlarmType:
    """The alarm a fault code of the default table raises (the codes the simulated devices
    send). Raises SimError for a code that raises none."""
    table = code_table(DEFAULT_TABLE, kind)
    entry = table.get(code)
    if entry is None or entry.alarm is None:
        raise SimError(f"{kind} code {code} raises no alarm in code table {table.name}")
    return entry.alarm


def device_rng(seed: int, device_id: str) -> random.Random:
    """Each device its own stream: adding a device never changes another's behaviour."""
    return random.Random(f"{seed}:{device_id}")


class SimDevice(ABC):
    """Timers, seq and timestamps, telemetry on change and by period, and link faults."""

    kind: ClassVar[Kind]

    def __init__(self, device_id: str, *, origin_ms: int, seed: int, periods: Periods) -> None:
        self.device_id = device_id
        self.origin_ms = origin_ms  # epoch milliseconds of simulation time 0
        self.periods = periods
        self.seed = seed
        self.rng = device_rng(seed, device_id)
        self.now = 0.0
        self.seq = 0
        self.muted_until = -INF  # a hung controller: nothing is published, seq stands still
        self.clock_offset_ms = 0  # the device's clock minus the true time (a restart may set it)
        self._clock_steps: list[tuple[float, float, int]] = []  # (from, until, ms) of each clock step
        self.event_skew: f.EventSkew | None = None  # events stamped before the frame published first
        self._skew_rng: random.Random | None = None
        self._skewed: tuple[float, float] | None = None  # (t, seconds) of the last event stamped early
        self._last_telemetry_t = -INF
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._last_snapshot: Hashable = None
        self._periodic: Timer | None = None
        self._started = False

    # --- timers --------------------------------------------------------------------------

    def at(self, t: float, action: Action) -> Timer:
        timer = Timer(max(t, self.now), action)
        heapq.heappush(self._timers, (timer.t, next(self._order), timer))
        return timer

    def next_time(self) -> float:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        return timers[0][0] if timers else INF

    def advance(self, until: float, out: list[Output]) -> None:
        """Run every timer due at or before ``until``, in time order, appending the output."""
        if not self._started:
            self._started = True
            self.start(out)
            self._check_telemetry(self.now, out, force=True)
        timers = self._timers
        while timers and timers[0][0] <= until:
            t, _, timer = heapq.heappop(timers)
            if timer.cancelled:
                continue
            self.now = t
            timer.action(t, out)
            self._check_telemetry(t, out)

    # --- publishing ----------------------------------------------------------------------

    @property
    def muted(self) -> bool:
        return self.now < self.muted_until

    def _stamp(self, t: float, body: dict[str, Any], *, early_ms: int = 0) -> dict[str, Any]:
        self.seq += 1
        offset = self.clock_offset_ms
        for begin, end, step_ms in self._clock_steps:
            if begin <= t < end:
                offset += step_ms
        return {"ts": self.origin_ms + round(t * 1000) + offset - early_ms, "seq": self.seq, **body}

    def emit_event(self, t: float, code: int, out: list[Output], *, floor: int | None = None,
                   detail: str | None = None) -> None:
        if self.muted:
            return
        body: dict[str, Any] = {"code": code}
        if floor is not None:
            body["floor"] = floor
        if detail is not None:
            body["detail"] = detail[:200]
        early_ms = 0
        if self.event_skew is not None:
            # The telemetry task publishes its frame of this instant first; the event task
            # stamped the event a few milliseconds before it.
            if self._last_telemetry_t != t:
                self._publish_telemetry(t, self.snapshot(t), out)
            low, high = self.event_skew.skew_range_ms
            if self._skew_rng is None:
                self._skew_rng = random.Random(f"{self.seed}:{self.device_id}:event-skew")
            early_ms = self._skew_rng.randint(low, high)
            self._skewed = (t, early_ms / 1000)
        out.append(Frame(t, self.device_id, self.kind, Channel.EVENT, self._stamp(t, body, early_ms=early_ms)))

    def cause(self, t: float, alarm: AlarmType, out: list[Output]) -> None:
        """Record that ``alarm`` is due from ``t``. Right after an event stamped early (event
        skew) the condition began at the event's stamp, so that is the time recorded."""
        if self._skewed is not None and self._skewed[0] == t:
            t -= self._skewed[1]
        out.append(Cause(t, self.device_id, alarm))

    def _check_telemetry(self, t: float, out: list[Output], *, force: bool = False) -> None:
        """Publish on a change of the discrete state, or when the period has run out."""
        if self.muted:
            return
        snapshot = self.snapshot(t)
        if force or snapshot != self._last_snapshot:
            self._publish_telemetry(t, snapshot, out)

    def _publish_telemetry(self, t: float, snapshot: Hashable, out: list[Output]) -> None:
        self._last_snapshot = snapshot
        self._last_telemetry_t = t
        out.append(Frame(t, self.device_id, self.kind, Channel.TELEMETRY, self._stamp(t, self.telemetry(t))))
        if self._periodic is not None:
            self._periodic.cancel()
        period = self.periods.active_s if self.active else self.periods.idle_s
        self._periodic = self.at(t + period, self._on_period)

    def hasten_period(self, t: float) -> None:
        """The device has just become active: the next periodic frame is due an active period
        after the last one (at once if that has passed), not an idle period."""
        periodic = self._periodic
        if periodic is None or not self.active:
            return
        due = max(t, self._last_telemetry_t + self.periods.active_s)
        if due < periodic.t:
            periodic.cancel()
            self._periodic = self.at(due, self._on_period)

    def _on_period(self, t: float, out: list[Output]) -> None:
        self._periodic = None
        if self.muted:
            return
        self._publish_telemetry(t, self.snapshot(t), out)

    # --- link faults, common to every kind -----------------------------------------------

    def go_silent(self, t: float, duration: float, out: list[Output]) -> None:
        """The controller hangs: the connection stays up, nothing is published."""
        self.muted_until = t + duration
        self.cause(t, AlarmType.SILENT, out)
        self.at(t + duration, self._unmute)

    def _unmute(self, t: float, out: list[Output]) -> None:
        self._check_telemetry(t, out, force=True)

    def drop_link(self, t: float, duration: float, out: list[Output], *, announce_online: bool = True) -> None:
        """The connection is lost; frames are kept and published, oldest first, once back
        (after ``online``, unless ``announce_online`` is false)."""
        out.append(LinkChange(t, self.device_id, LinkEvent.DROP))
        self.cause(t, AlarmType.OFFLINE, out)
        back = LinkEvent.RESTORE if announce_online else LinkEvent.RESTORE_WITHOUT_ONLINE
        self.at(t + duration, lambda t2, out2: out2.append(LinkChange(t2, self.device_id, back)))

    def step_clock(self, t: float, offset_s: float, duration: float | None) -> None:
        """From ``t`` the published ``ts`` is off by ``offset_s``; corrected back after ``duration``.

        A function of time, not a timer: the device runs exactly as it would without the step."""
        self._clock_steps.append((t, INF if duration is None else t + duration, round(offset_s * 1000)))

    def inject_untimed(self, action: Any) -> bool:
        """Take a fault that needs no timer of its own (a clock step) at once; False for others."""
        if isinstance(action, f.ClockStep):
            self.step_clock(action.at, action.offset_s, action.duration)
            return True
        return False

    def skew_events(self, skew: f.EventSkew, t: float) -> None:
        """Events stamped before the telemetry frame published just before them, from ``t``."""
        self.event_skew = skew

        def aligned(t2: float, out2: list[Output]) -> None:
            if self.event_skew is skew:
                self.event_skew = None

        if skew.duration is not None:
            self.at(t + skew.duration, aligned)

    def restart(self, t: float, duration: float, clock_offset_s: float | None, out: list[Output]) -> None:
        """A power cycle: the Last Will, nothing for ``duration``, then ``online`` and ``seq`` from 0."""
        out.append(LinkChange(t, self.device_id, LinkEvent.DROP))
        self.cause(t, AlarmType.OFFLINE, out)
        self.muted_until = max(self.muted_until, t + duration)

        def booted(t2: float, out2: list[Output]) -> None:
            out2.append(LinkChange(t2, self.device_id, LinkEvent.RESTORE))
            self.seq = -1  # the next message carries seq 0 (docs/protocol.md, seq)
            if clock_offset_s is not None:  # the clock it boots with: off by exactly this
                self.clock_offset_ms = round(clock_offset_s * 1000)
                self._clock_steps = [(b, t2 if b <= t2 < e else e, ms) for b, e, ms in self._clock_steps]
            self._check_telemetry(t2, out2, force=True)

        self.at(t + duration, booted)

    def apply_to_any(self, fault: Any, t: float, out: list[Output]) -> bool:
        """Apply ``fault`` if it is one any kind of device has (``faults.ANY_DEVICE``); False if not."""
        match fault:
            case f.Silent():
                self.go_silent(t, fault.duration, out)
            case f.Disconnect():
                self.drop_link(t, fault.duration, out, announce_online=fault.announce_online)
            case f.ClockStep():
                self.step_clock(t, fault.offset_s, fault.duration)
            case f.EventSkew():
                self.skew_events(fault, t)
            case f.SeqRestart():
                self.restart(t, fault.duration, fault.clock_offset_s, out)
            case _:
                return False
        return True

    def inject(self, action: Any) -> None:
        """Schedule an action from ``simulators.faults``: it starts at ``action.at``."""
        if not applies_to(action, self.kind):
            raise SimError(f"{action.do} does not apply to a {self.kind}")
        if not self.inject_untimed(action):
            self.at(action.at, lambda t, out: self.apply(action, t, out))

    # --- what each kind provides ---------------------------------------------------------

    @abstractmethod
    def start(self, out: list[Output]) -> None:
        """Schedule the first timers (traffic, heating cycle)."""

    @property
    @abstractmethod
    def active(self) -> bool:
        """Running (elevator) or firing (boiler): telemetry at the active period."""

    @abstractmethod
    def snapshot(self, t: float) -> Hashable:
        """The discrete part of the state; a change publishes a frame at once."""

    @abstractmethod
    def telemetry(self, t: float) -> dict[str, Any]:
        """The telemetry fields of the device contract at time ``t`` (without ts and seq)."""

    @abstractmethod
    def apply(self, fault: Any, t: float, out: list[Output]) -> None:
        """Start an injected fault or scripted action (see ``simulators.faults``) at ``t``."""
