"""The rules, per device, in the device's own time: pure logic, no I/O.

Real devices do not behave like a simulator. Their clocks step back and jump ahead, their
events and frames are stamped by different tasks a few milliseconds apart, their presence
sensors miss a still passenger, they restart their counters, and their cars spend hours in
inspection mode with a technician inside. The rules take each of these as it comes
(docs/alerts.md, "Device order and device time"):

- **Order is the device's ``seq``**, within a session of its counter. A message with a higher
  ``seq`` than any taken is new; one a little below it, never seen, is late; one seen before
  (same ``seq``, same ``ts``) is a duplicate and changes nothing. A ``seq`` far below, or a
  ``seq`` seen before with another ``ts``, means the device restarted its counter: a new
  session (a copy of a message of the recent sessions before, by its seq and ts, is still a
  duplicate, in whatever order a replay brings them). A late telemetry frame never overwrites
  a newer one; a late event is always judged: an alarm button, a trapped code, a fault
  happened, whenever it arrives.
- **Durations are measured in device time**: the device's ``ts``, made monotone in ``seq``
  order and never more than ``clock_tolerance_s`` ahead of the engine's clock at arrival. A clock
  that steps back or jumps ahead is carried across the step by the time that passed at the
  engine; after it the device's own ``ts`` differences measure time again.
- **Connectivity is what the device does**: any telemetry or event clears ``offline`` and
  ``silent``; a device that said ``online`` and then nothing falls silent like any other.
- **Entrapment** counts presence detections within its window (field firmware does), is not
  judged from telemetry while the car is in a mode in which a technician works in it
  (inspection, a setting), and is raised by the alarm button in a car stopped outside the door
  zone, on battery or with a fault, or with a passenger present.

Device codes are read through the device's code table (``semon.protocol.codes``); each fault
clears by its own recovery rule, not by every "back to automatic mode" (40).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from alerts.model import Source
from semon.alarm_types import AlarmType, EntrapmentThresholds
from semon.profile import DeviceProfile
from semon.protocol.codes import DEFAULT_TABLE, CodeTable, EventClass, EventCode, Recovery, UnknownCodeTable, code_table
from semon.protocol.models import BoilerTelemetry, ElevatorTelemetry, PowerSource, ServiceMode

# Cleared by the car itself, whatever raised them: doors open at a landing, nobody inside.
_CLEAR_AT_ONCE = frozenset({AlarmType.ENTRAPMENT, AlarmType.ALARM_BUTTON})
# Open alarms that are no fault of the car: they do not make an alarm button an entrapment.
_NOT_A_FAULT = frozenset({AlarmType.ENTRAPMENT, AlarmType.ALARM_BUTTON, AlarmType.OFFLINE, AlarmType.SILENT,
                          AlarmType.INSPECTION_EXPIRED_RUNNING})
_INF = float("inf")
# Pairs of earlier sessions kept for duplicates, per pair of the reorder window (four sessions'
# worth when each fills its window).
_EARLIER_PAIRS_PER_WINDOW = 4
_SAME_INSTANT_S = 0.001  # two device times this close are one instant (ts has milliseconds)
_ANY_CODE = -1  # event codes are 1-999 (semon/protocol/models.py, DeviceEvent)


@dataclass(frozen=True, slots=True)
class RuleSettings:
    entrapment: EntrapmentThresholds = field(default_factory=EntrapmentThresholds)
    stopped_outside_door_zone_s: float = 5.0  # telemetry-derived: how long before it is a fault
    clear_after_s: float = 10.0  # a derived fault clears after its condition has been gone this long
    overspeed_factor: float = 1.15  # of the rated speed (the governor trips at 115 %)
    alarm_button_ttl_s: float = 600.0  # a button alarm in a car with nothing wrong lapses after this
    silent_after_s: float = 15.0  # nothing heard for this long while online: silent (3 × the 5 s period)
    pressure_clear_fraction: float = 0.97  # of the rated pressure
    temperature_clear_k: float = 3.0  # below the rated outlet temperature
    level_clear_mm: float = 20.0  # back inside the water-level limit by this much
    # How far device time may run ahead of the engine's clock at arrival. A correct clock is
    # never ahead (a message arrives after it was stamped); this covers clock error only.
    clock_tolerance_s: float = 2.0
    # How far below the highest seq taken a message is still late, not a restarted counter.
    reorder_window: int = 32
    code_table: str = DEFAULT_TABLE  # the code table of devices whose profile names none


@dataclass(frozen=True, slots=True)
class Change:
    raised: bool  # False: cleared
    type: AlarmType
    source: Source
    at: float  # device time, epoch seconds
    details: dict[str, Any] = field(default_factory=dict)


class Order(StrEnum):
    """Where a message stands in its device's stream (by ``seq``, within a session)."""

    NEW = "new"  # above every seq taken in this session
    LATE = "late"  # below the highest taken, within the reorder window, not seen before
    DUPLICATE = "duplicate"  # seen before: the same seq with the same ts
    RESTART = "restart"  # the counter started again: a new session


class Stuck(StrEnum):
    OUTSIDE = "outside"  # stopped outside the door zone, doors closed (非平层)
    LANDING = "landing"  # stopped in the door zone, doors closed, not reopened (平层)


class Car(NamedTuple):
    """The facts of the latest elevator frame taken that the rules look back on (a tuple:
    one is made for every frame)."""

    running: bool
    door_locked: bool
    door_zone: bool
    passenger: bool
    power: str
    floor: int

    @classmethod
    def of(cls, f: ElevatorTelemetry) -> Car:
        return cls(f.running, f.door_locked, f.door_zone, f.passenger, f.power, f.floor)

    @property
    def released(self) -> bool:
        """Doors open at a landing and nobody detected inside: the car is free."""
        return not self.door_locked and self.door_zone and not self.passenger

    def satisfies(self, recovery: Recovery) -> bool:
        if recovery is Recovery.RUNNING:
            return self.running
        if recovery is Recovery.DOORS_LOCKED:
            return self.door_locked
        if recovery is Recovery.DOORS_OPEN:
            return not self.door_locked and self.door_zone
        if recovery is Recovery.IN_DOOR_ZONE:
            return self.door_zone or self.running
        if recovery is Recovery.MAINS_POWER:
            return self.power == PowerSource.MAIN
        return False  # BACK_TO_NORMAL is a code, not a frame


class DeviceRules:
    """One device's conditions, open alarms and position in its own message stream.

    Every entry point takes ``arrival``: when the engine received the message, epoch seconds on
    the engine's clock (monotone while the engine runs). Device times (``ts``) are epoch seconds
    on the device's clock. Each returns the alarm changes it caused, in order."""

    def __init__(self, device_id: str, profile: DeviceProfile, settings: RuleSettings) -> None:
        self.device_id = device_id
        self.settings = settings
        self.open: dict[AlarmType, Source] = {}
        # When the open alarms restored from the database were raised (device time). The
        # replay after a restart may begin before an alarm was raised: a message older than the
        # raise cannot clear it (the car freed before it was trapped is not this entrapment's end).
        self.raised_at: dict[AlarmType, float] = {}
        self.suppressed: set[AlarmType] = set()  # closed by an operator while the condition held
        # The stream: the session's highest seq, the recent (seq, ts) pairs taken, device time.
        self.last_seq = -1
        self.recent: dict[int, float] = {}
        # The recent (seq, ts) pairs of the sessions before the last restarts, oldest first, at
        # most _EARLIER_PAIRS_PER_WINDOW × reorder_window: a redelivered copy of any of them
        # (a replay after a crash that spans several restarts of the counter) is a duplicate.
        self.previous: dict[tuple[int, float], None] = {}
        # The events taken, (seq, ts, code), oldest first, as many as the pairs above: an event
        # is a copy only of an event with the same seq, stamp and code, however long ago in the
        # stream. A frame or another code under its (seq, ts) pair (firmware stamping an event
        # with its frame's seq, a clock standing still across a reboot) does not hide a call
        # for help. (_ANY_CODE: a pair restored from a state that did not keep codes.)
        self.events_taken: dict[tuple[int, float, int], None] = {}
        self.last_ts = -_INF  # device time of the newest message taken (monotone)
        self.clock_offset = 0.0  # device time = ts + clock_offset
        # The least delay (arrival − device time) seen: device time may not gain on the engine's
        # clock by more than the tolerance beyond it (a clock behind, corrected forward).
        self.lag_floor = _INF
        # Arrival of the message before, in this run of the engine only (a restored state's
        # arrivals are another run's: the replay after a restart is a burst).
        self.paced_from = _INF
        self.last_heard = -_INF  # arrival of the newest telemetry or event (for the clock's steps)
        self.last_arrival = -_INF  # arrival of the newest sign of life (silence is counted from it)
        self.offline = False
        self.silent_reported = False
        self.known = False  # heard from, or restored: a retained status is old news then
        # The car.
        self.car: Car | None = None
        self.mode: str | None = None
        self.stuck: Stuck | None = None
        self.stuck_since: float | None = None
        self.detections: list[float] = []  # device times of presence detections while stuck
        self.stuck_judged = False  # an entrapment was raised in this episode (by any rule)
        self.press_adopted = False  # the entrapment a pending press raised became the frames' own
        self.opened = False  # the doors opened at this landing since the car last ran
        self.freed_at = -_INF  # device time the car was last freed from an entrapment
        self.closed_at: dict[AlarmType, float] = {}  # device time an operator closed each alarm
        self.button_at: float | None = None
        self.button_passed = False  # the doors opened at a landing since the press: people came and went
        self.button_seq = -1  # seq of the press
        self.last_press: float | None = None  # device time of the latest press, lapsed or not
        self.trip_count: int | None = None
        # Alarms raised by a device code: the code and the seq of the message that raised it.
        self.by_code: dict[AlarmType, tuple[int, int]] = {}
        self.last_recovery_seq = -1  # seq of the latest back-to-normal code in this session
        self.last_frame_seq = -1  # seq of the newest telemetry frame taken in this session
        # Device time of the newest frame taken: telemetry conditions mature only as far as the
        # frames say (an event ahead of a telemetry backlog says nothing of the car since).
        self.frame_ts = -_INF
        self.frame_heard = -_INF  # its arrival
        self.event_ts = -_INF  # device time of the newest event sent after the newest frame
        self.event_heard = -_INF  # arrival of the newest event
        # seq of the call for help (the device's trapped code, the alarm button) that raised the
        # open entrapment; -1 if none, or raised from telemetry. A frame sent before the call
        # (delivered after it, from behind a telemetry backlog) says nothing of its end.
        self.call_seq = -1
        # The press was judged ahead of frames sent before it (on an older state of the car): it
        # is judged again on the frame it followed, once that is in.
        self.press_pending = False
        # The mode a state code set (its seq, the mode), judged ahead of frames sent before it:
        # set once they are in (they carry the car's history, in the modes it was in).
        self.pending_mode: tuple[int, str] | None = None
        # Telemetry-derived conditions with a minimum duration and hysteresis.
        self.raise_since: dict[AlarmType, float] = {}  # condition holding since (device time)
        self.clear_since: dict[AlarmType, float] = {}  # clearing condition holding since
        self.hold_s: dict[AlarmType, float] = {}  # minimum duration of the condition now holding
        self.details: dict[AlarmType, dict[str, Any]] = {}
        # Set when something worth keeping across a restart changed: a condition began or
        # ended, an alarm opened or closed. The position in the stream alone is not worth a
        # write: after a crash the broker replays it in order and the rules arrive at the same.
        self.changed = False
        self.profile = profile
        self.entrapment = profile.entrapment or settings.entrapment
        self.table = self._table(profile)

    def _table(self, profile: DeviceProfile) -> CodeTable:
        """The profile's code table; the settings' one if the profile names a table not shipped
        (the register is checked when read: this only keeps a bad profile from muting a device)."""
        try:
            return code_table(profile.code_table or self.settings.code_table, profile.kind)
        except UnknownCodeTable:
            return code_table(self.settings.code_table, profile.kind)

    # --- the message stream --------------------------------------------------------------

    def place(self, ts: float, seq: int, *, frame: bool = False) -> Order:
        """Where a message with this ``ts`` (device clock) and ``seq`` stands; changes nothing.

        A ``frame`` is late, not a restarted counter, as long as it is within the window below
        the newest *frame* taken: events come on their own path, ahead of any telemetry backlog,
        and may be any number of messages ahead of the frames sent before them."""
        seen = self.recent.get(seq)
        if seen is not None:
            # Another ts under a seq taken: a restarted counter, unless it is a copy of the
            # message of the session before that the restart was seen on (a redelivery of both).
            return Order.DUPLICATE if seen == ts or (seq, ts) in self.previous else Order.RESTART
        if self.last_seq < 0:
            return Order.NEW if (seq, ts) not in self.previous else Order.DUPLICATE
        if (seq, ts) in self.previous:  # a copy of a session before the counter restarted
            return Order.DUPLICATE
        if seq > self.last_seq:
            return Order.NEW
        if seq > self.last_seq - self.settings.reorder_window:
            return Order.LATE
        if frame and seq > self.last_frame_seq - self.settings.reorder_window:
            return Order.LATE  # overtaken by events only (or by them and a few frames)
        # Far below: a restarted counter. (A message older than the window, stored through an
        # outage or redelivered, looks the same; a device that restarted its counter and its
        # clock must not be deaf, so the restart wins.)
        return Order.RESTART

    def _take(self, ts: float, seq: int, arrival: float, *, frame: bool = False) -> tuple[Order, float]:
        """Place the message, note it, and give its device time (epoch seconds)."""
        recent = self.recent
        # The common case first: the next message of the session, not seen before.
        order = (Order.NEW if seq > self.last_seq >= 0 and seq not in recent and (seq, ts) not in self.previous
                 else self.place(ts, seq, frame=frame))
        if order is Order.DUPLICATE:
            return order, self.last_ts
        if order is Order.RESTART:
            self._restart()
            recent = self.recent
        recent[seq] = ts
        if len(recent) > self.settings.reorder_window:  # the first taken go first
            del recent[next(iter(recent))]
        self._heard(arrival)
        ceiling = arrival + self.settings.clock_tolerance_s - (max(self.lag_floor, 0.0) if self.lag_floor < _INF
                                                              else 0.0)
        if order is Order.LATE:  # older than what is taken: its time, but never past the newest
            return order, min(ts + self.clock_offset, self.last_ts, ceiling)
        at = ts + self.clock_offset
        tolerance = self.settings.clock_tolerance_s
        if self.last_ts - tolerance <= at <= self.last_ts and arrival - self.last_heard <= tolerance:
            # Stamped a moment before (or with) the newest (an event built by another task than
            # the frame it follows): jitter, not a step of the clock. It takes the newest time.
            self.last_seq = seq
            return Order.NEW, self.last_ts
        if at <= self.last_ts or at > ceiling or self._leaps(ts, at, seq, arrival):
            # The clock stepped back or stands still, or gained on the engine's clock (ahead of
            # it, or jumped forward from behind): across the step, the time that passed at the
            # engine stands in for the device's.
            at = ceiling if self.last_ts == -_INF else min(self.last_ts + max(0.0, arrival - self.last_heard),
                                                            ceiling)
            at = max(at, self.last_ts)
        gap = at - self.last_ts
        if abs(arrival - self.paced_from - gap) <= min(self.settings.clock_tolerance_s, gap / 2):
            # Sent and received at the same pace: its delay is the clock's, not a backlog's (a
            # burst of stored, queued or replayed messages arrives faster than it was sent, the
            # first after a pause slower).
            self.lag_floor = min(self.lag_floor, arrival - at)
        self.paced_from = arrival
        self.clock_offset = at - ts
        self.last_seq, self.last_ts, self.last_heard = seq, at, arrival
        return Order.NEW, at

    def _leaps(self, ts: float, at: float, seq: int, arrival: float) -> bool:
        """Whether device time leaps ahead of the next message of the session by more than a
        device that is not silent can have waited between them (``silent_after_s`` per ``seq``:
        one quiet longer is reported ``silent``) when the engine did not see that time pass: a
        clock corrected forward, seen in a burst (a restart's replay, a backlog) before the
        engine could learn the clock's delay from messages received at their pace. Across it
        device time then advances by the engine's time only: a condition may mature later,
        never earlier. Gaps up to the silence limit are taken as time passing: a device that
        reports every 8 s and sends what it kept through an outage at once is measured by its
        own clock. The gap is from the newest message sent before: the last frame, or an event
        sent after it (events carry stamps, not the stream's clock). The first message of a
        restarted counter is taken as the next one (a reboot is when clocks are put right)."""
        if self.last_ts == -_INF or (self.last_seq >= 0 and seq <= self.last_seq):
            return False
        tolerance = self.settings.clock_tolerance_s
        if at - self.last_ts <= arrival - self.last_heard + tolerance:
            return False  # the engine saw that time pass
        limit = self.settings.silent_after_s
        if self.last_seq < 0:  # the first of a restarted counter: as if the next message
            return at - self.last_ts > limit + tolerance
        if at - self.last_ts > (seq - self.last_seq) * limit + tolerance:
            return True
        if seq - self.last_seq == 1:
            return False
        # Events sent in between carry their own stamps: the gap is from the newest of them.
        between = [s for s in self.recent if self.last_seq < s < seq]
        if not between:
            return False
        newest = max(between)
        return ts - self.recent[newest] > (seq - newest) * limit + tolerance

    def _restart(self) -> None:
        """The device restarted its counter: a new session of the stream."""
        previous = self.previous
        previous.update(dict.fromkeys(self.recent.items()))
        excess = len(previous) - _EARLIER_PAIRS_PER_WINDOW * self.settings.reorder_window
        for pair in list(itertools.islice(previous, max(excess, 0))):
            del previous[pair]
        self.recent = {}
        self.last_seq = -1
        self.last_recovery_seq = -1
        self.last_frame_seq = -1
        self.call_seq = -1
        self.button_seq = -1
        self.pending_mode = None
        self.by_code = {alarm: (code, -1) for alarm, (code, _) in self.by_code.items()}
        self.changed = True

    def _ahead(self, seq: int) -> bool:
        """Whether a message sent before ``seq`` and after the newest frame taken is missing: an
        event judged ahead of frames still in a telemetry backlog. (No frame taken in this
        session: nothing to be ahead of.)"""
        if self.last_frame_seq < 0 or seq <= self.last_frame_seq + 1:
            return False
        if seq - self.last_frame_seq > self.settings.reorder_window:
            return True
        return any(s not in self.recent for s in range(self.last_frame_seq + 1, seq))

    def _take_event(self, ts: float, seq: int, code: int, arrival: float) -> tuple[Order, float]:
        """Place an event, note it, and give its device time. Events come on their own path,
        ahead of any telemetry backlog: an event is placed against the frames taken (new: sent
        after the newest of them; late: before it) but moves neither the stream's position nor
        its clock, which only the frames, in their own order, carry. Its time is its ``ts`` on
        the device time the frames have established, never before the newest frame if it was sent
        after it, and never more than the tolerance ahead of the engine's clock. A copy is an event
        taken before with the same seq, stamp and code; one whose pair a frame or another code
        holds is judged, as late (it moves nothing)."""
        taken = self.events_taken
        key = (seq, ts, code)
        if key in taken or (seq, ts, _ANY_CODE) in taken:
            return Order.DUPLICATE, self.last_ts
        order = self.place(ts, seq)
        if order is Order.RESTART:
            self._restart()
            order = Order.NEW
        if order is Order.DUPLICATE:
            order = Order.LATE  # the pair is a frame's or another code's, kept already
        else:
            recent = self.recent
            recent[seq] = ts
            if len(recent) > self.settings.reorder_window:
                del recent[next(iter(recent))]
        taken[key] = None
        if len(taken) > _EARLIER_PAIRS_PER_WINDOW * self.settings.reorder_window:
            del taken[next(iter(taken))]
        self._heard(arrival)
        self.event_heard = max(arrival, self.event_heard)
        ceiling = arrival + self.settings.clock_tolerance_s
        at = ts + self.clock_offset
        if order is Order.LATE:
            return order, min(at, self.last_ts, ceiling)
        at = min(max(at, self.last_ts), ceiling)
        self.event_ts = max(self.event_ts, at)
        return order, at

    def _heard(self, arrival: float) -> None:
        self.last_arrival = max(self.last_arrival, arrival)
        self.known = True

    def _signs_of_life(self, at: float, what: str) -> list[Change]:
        changes: list[Change] = []
        if self.silent_reported:
            self.silent_reported = False
            self.changed = True
            changes += self._clear(AlarmType.SILENT, at, f"{what} again")
        if self.offline:
            self.offline = False
            self.changed = True
            changes += self._clear(AlarmType.OFFLINE, at, f"heard again ({what})")
        return changes

    def on_telemetry(self, ts: float, seq: int, frame: ElevatorTelemetry | BoilerTelemetry,
                     arrival: float) -> list[Change]:
        order, at = self._take(ts, seq, arrival, frame=True)
        if order is Order.DUPLICATE:
            return []
        changes = self._signs_of_life(at, "telemetry")
        if order is Order.LATE and seq <= self.last_frame_seq:
            # A newer frame is taken: only a passenger it saw still counts. (Overtaken by an
            # event only, it is still the newest frame: events carry no state of the car.)
            if isinstance(frame, ElevatorTelemetry) and frame.passenger:
                self._detected(at)
            return changes + self.evaluate(self.frame_ts)
        if self.press_pending and seq > self.button_seq and isinstance(frame, ElevatorTelemetry):
            changes += self._press_again()  # the first frame after the press: all before it are in
        self.last_frame_seq = seq
        if at >= self.frame_ts:
            self.frame_ts, self.frame_heard = at, arrival
        if self.pending_mode is not None and seq > self.pending_mode[0]:
            self.pending_mode = None  # a frame sent after the code: its own mode is newer
        if isinstance(frame, ElevatorTelemetry):
            changes += self._elevator(frame, at, seq)
            if self.press_pending and seq == self.button_seq - 1:
                changes += self._press_again()  # the frame the press followed
        else:
            self._boiler(frame, at)
        if self.pending_mode is not None and not self._ahead(self.pending_mode[0]):
            self._set_mode(self.pending_mode[1], at)  # the frames before the code are in
            self.pending_mode = None
        return changes + self.evaluate(at)

    def on_event(self, ts: float, seq: int, code: int, arrival: float) -> list[Change]:
        """An event is judged whenever it arrives, late or not (a duplicate excepted): an alarm
        button, a trapped code, a fault happened. A code the device's table does not define
        changes nothing but the device's liveness."""
        order, at = self._take_event(ts, seq, code, arrival)
        if order is Order.DUPLICATE:
            return []
        changes = self._signs_of_life(at, "event")
        entry = self.table.get(code)
        if entry is not None:
            changes += self._code(entry, seq, order, at)
        return changes + self.evaluate(self.frame_ts)

    def on_status(self, online: bool, at: float | None, arrival: float, *, orderly: bool = False,
                  retained: bool = False) -> list[Change]:
        """A status (no seq). ``at`` is its own ``ts`` (device clock), None if it has none (the
        plain words, the Last Will). The Last Will (a lost connection) raises ``offline``; an
        orderly shutdown does not. A status older than the newest message taken is stale and
        ignored; so is an undated retained status of a device already heard from: the broker
        replays it at every subscription, and the device's own messages since say more."""
        if at is not None:
            at = min(at + self.clock_offset, arrival + self.settings.clock_tolerance_s)
            if at < self.last_ts - self.settings.clock_tolerance_s:
                return []
        elif retained and self.known:
            return []
        when = arrival if at is None else at
        if online:
            self._heard(arrival)
            return self._signs_of_life(when, "online")
        self.known = True
        if self.offline:
            return []
        self.offline = True
        self.changed = True
        changes = self._clear(AlarmType.SILENT, when, "offline") if self.silent_reported else []
        self.silent_reported = False
        if orderly:
            return changes
        return changes + self._raise(AlarmType.OFFLINE, Source.CONNECTIVITY, when,
                                     {"trigger": "connection lost (Last Will)"})

    def device_now(self, arrival_now: float) -> float:
        """The device's time now, estimated from the newest frame (or message, if it sent no
        frame) and the time since it arrived: an event ahead of a telemetry backlog says nothing
        of how long the car has been in the state its frames show."""
        if self.frame_ts > -_INF:
            estimate = self.frame_ts + max(arrival_now - self.frame_heard, 0.0)
        elif self.event_ts > -_INF:  # a device that sent events only
            estimate = self.event_ts + max(arrival_now - self.event_heard, 0.0)
        else:
            estimate = self.last_ts + max(arrival_now - self.last_heard, 0.0)
        floor = max(self.lag_floor, 0.0) if self.lag_floor < _INF else 0.0
        return min(estimate, arrival_now + self.settings.clock_tolerance_s - floor)

    def tick(self, arrival_now: float, *, current: bool = True) -> list[Change]:
        """Time passing without messages: conditions mature, silence is noticed. Unless
        ``current`` is false: the caller is behind a backlog (or has just restarted) and cannot
        tell what the device did since its newest message, so neither silence nor the time
        since is judged; conditions mature only as far as the messages taken say."""
        if self.last_arrival == -_INF:
            return []
        changes: list[Change] = []
        quiet = arrival_now - self.last_arrival
        if current and not self.offline and not self.silent_reported and quiet >= self.settings.silent_after_s:
            self.silent_reported = True
            self.changed = True
            at = self.device_now(arrival_now) if self.last_ts > -_INF else arrival_now
            changes += self._raise(AlarmType.SILENT, Source.CONNECTIVITY, at,
                                   {"trigger": f"nothing heard for {quiet:.0f} s"})
        if not self.waits_on_time():
            return changes  # ``evaluate`` would find nothing: most devices, most ticks
        return changes + self.evaluate(self.device_now(arrival_now) if current else self.frame_ts)

    def waits_on_time(self) -> bool:
        """Whether time passing alone can change an alarm other than silence: a condition waits
        on its minimum duration, a button press on its lapse, an open alarm on its clearing
        hysteresis, a stuck car on its entrapment window. A device for which it is false needs
        no tick but for silence (``can_fall_silent``)."""
        if self.last_ts == -_INF and self.event_ts == -_INF:
            return False
        # A stuck car matures by time only with presence detections to count (``_trapped_at``):
        # a car parked at a landing with its doors closed and nobody seen waits for nothing.
        return bool(self.raise_since or self.button_at is not None
                    or (self.open and not self.open.keys().isdisjoint(self.clear_since))
                    or (self.stuck is not None and not self.stuck_judged
                        and (self.detections or self.entrapment.min_detections <= 0)))

    def can_fall_silent(self) -> bool:
        """Whether a tick ``silent_after_s`` after the newest message would raise ``silent``:
        heard from, and neither offline nor reported silent already."""
        return self.last_arrival > -_INF and not self.offline and not self.silent_reported

    def update_profile(self, profile: DeviceProfile) -> list[Change]:
        """The register changed (an inspection recorded, a unit stopped, other thresholds or
        code table): re-judge what it decides."""
        before, self.profile, self.table = self.profile, profile, self._table(profile)
        self.entrapment = profile.entrapment or self.settings.entrapment
        if before.inspection_expired and not profile.inspection_expired:
            self.raise_since.pop(AlarmType.INSPECTION_EXPIRED_RUNNING, None)
            self.changed = True
            return self._clear(AlarmType.INSPECTION_EXPIRED_RUNNING, self.last_ts, "inspection recorded")
        return []

    def closed_by_operator(self, alarm: AlarmType, *, while_away: bool = False) -> None:
        """The incident was closed: forget the alarm, and do not raise it again until its
        condition has cleared or a new call for help comes (the operator has judged this one).
        ``while_away``: a close made after the stored state was written (found at a restore),
        taken whether or not the restored state still holds the alarm open."""
        if self.open.pop(alarm, None) is None and not while_away:
            return
        self.suppressed.add(alarm)
        self.closed_at[alarm] = self.last_ts
        self.by_code.pop(alarm, None)
        self.changed = True

    # --- device codes ----------------------------------------------------------------------

    def _code(self, entry: EventCode, seq: int, order: Order, at: float) -> list[Change]:
        cls = entry.event_class
        if cls in (EventClass.ENTRAPMENT, EventClass.ALARM_BUTTON):
            if order is Order.LATE and at <= self.freed_at:
                return []  # a call from before the car was last freed: that episode is over
            if AlarmType.ENTRAPMENT in self.suppressed and at > self.closed_at.get(AlarmType.ENTRAPMENT, _INF):
                # A new call for help after an operator closed the entrapment: a person asks again.
                self.suppressed.discard(AlarmType.ENTRAPMENT)
                self.changed = True
        if cls is EventClass.ENTRAPMENT:
            call = self._raise(AlarmType.ENTRAPMENT, Source.CODE, at,
                               {"trigger": f"device code {entry.code}", "code": entry.code})
            if call:
                self.call_seq = seq
            return call
        if cls is EventClass.ALARM_BUTTON:
            return self._alarm_button(entry.code, at, seq)
        changes: list[Change] = []
        if entry.mode is not None and order is not Order.LATE:
            if self._ahead(seq):  # the frames before it replay the car's history first
                self.pending_mode = (seq, entry.mode)
            else:
                self._set_mode(entry.mode, at)
        if cls is EventClass.RECOVERY:
            if order is not Order.LATE:
                self.last_recovery_seq = max(self.last_recovery_seq, seq)
                self.changed = True
            for alarm, (code, raised_seq) in list(self.by_code.items()):
                rule = self.table.get(code)
                if rule is not None and Recovery.BACK_TO_NORMAL in rule.recovery and raised_seq < seq:
                    changes += self._clear(alarm, at, f"back to normal (device code {entry.code})")
                    self.by_code.pop(alarm, None)
            return changes
        if entry.alarm is None:
            return changes
        changes += self._raise(entry.alarm, Source.CODE, at, {"code": entry.code})
        raised = bool(changes) and changes[-1].raised
        changes += self._button_promoted(at, self.button_seq)
        if raised:
            self.by_code[entry.alarm] = (entry.code, seq)
            if Recovery.BACK_TO_NORMAL in entry.recovery and seq < self.last_recovery_seq:
                # Received after the back-to-normal the device sent after it: over already.
                self.by_code.pop(entry.alarm, None)
                changes += self._clear(entry.alarm, at, "back to normal (device code, received before the fault)")
        return changes

    def _alarm_button(self, code: int, at: float, seq: int) -> list[Change]:
        """The alarm button (报警按钮) is an entrapment in a car stopped outside the door zone, on
        battery or without power, with a fault open, or with a passenger present (the brief's
        entrapment rules, after field firmware and 96333 practice); otherwise a minor alarm."""
        why = self._button_means_trapped(at)
        self.last_press, self.button_passed, self.button_seq = at, False, seq
        self.press_pending = self._ahead(seq)
        self.changed = True
        if why:
            episode = self.stuck_judged, list(self.detections)
            call = self._raise(AlarmType.ENTRAPMENT, Source.CODE, at,
                               {"trigger": f"alarm button ({why})", "code": code})
            if call and self.press_pending:
                # Judged on an older state of the car: the stuck episode the frames still to come
                # show is judged on its own (below, _entrapment adopts this call if it matures).
                self.stuck_judged, self.detections = episode
            # Raised now, or raised by this very press before a restart (the replay of the press
            # that raised the open entrapment, stamped with its time): it is this press's call,
            # to be judged again on the frame it followed.
            if call or abs(self.raised_at.get(AlarmType.ENTRAPMENT, -_INF) - at) < _SAME_INSTANT_S:
                self.call_seq = seq
            return call
        self.button_at = at
        return self._raise(AlarmType.ALARM_BUTTON, Source.CODE, at, {"trigger": "alarm button", "code": code})

    def _pending_call(self) -> bool:
        """Whether the open entrapment is a press's, judged ahead of frames sent before it."""
        return self.press_pending and self.call_seq == self.button_seq and AlarmType.ENTRAPMENT in self.open

    def _press_again(self) -> list[Change]:
        """The press, judged ahead of frames sent before it, judged again on the frame it
        followed (the car's state now): an entrapment it raised on the older state that this
        frame shows nothing wrong for becomes the button alarm it would have been in order. (The
        reverse, a button alarm that the frames show was an entrapment, is ``_button_promoted``.)"""
        self.press_pending = False
        self.changed = True
        at = self.last_press
        if self.press_adopted:  # its entrapment became the frames': the press is judged in order
            self.press_adopted = False
            if at is None or self._button_means_trapped(at) or AlarmType.ALARM_BUTTON in self.open:
                return []
            self.button_at = at
            return self._raise(AlarmType.ALARM_BUTTON, Source.CODE, at,
                               {"trigger": "alarm button", "judged_again": "on the frame it followed"})
        if (at is None or self.call_seq != self.button_seq or AlarmType.ENTRAPMENT not in self.open
                or self._button_means_trapped(at)):
            return []
        changes = self._clear(AlarmType.ENTRAPMENT, at, "the frame the alarm button followed shows nothing wrong")
        if changes:
            self.call_seq = -1
            self.button_at = at
            changes += self._raise(AlarmType.ALARM_BUTTON, Source.CODE, at,
                                   {"trigger": "alarm button", "judged_again": "on the frame it followed"})
        return changes

    def _button_promoted(self, at: float, frame_seq: int) -> list[Change]:
        """A button alarm still open becomes an entrapment once the car is seen stuck between
        floors, off the mains or with a fault, with the doors not opened at a landing since the
        press (the presser is still inside), or once a frame sent before the press (delivered
        after it) shows a passenger: the press is then judged as on the frame it followed."""
        if self.button_at is None or AlarmType.ALARM_BUTTON not in self.open or self.button_passed:
            return []
        why = self._button_means_trapped(at, passenger=frame_seq < self.button_seq)
        if not why:
            return []
        changes = self._raise(AlarmType.ENTRAPMENT, Source.CODE, max(at, self.button_at),
                              {"trigger": f"alarm button ({why})", "button_at": self.button_at})
        if changes:
            self.button_at = None
            self.call_seq = self.button_seq
            changes += self._clear(AlarmType.ALARM_BUTTON, changes[0].at, "an entrapment now")
        return changes

    def _button_means_trapped(self, at: float, *, passenger: bool = True) -> str:
        car = self.car
        if car is not None and not car.running and not car.door_zone:
            return "car stopped outside the door zone"
        if car is not None and car.power != PowerSource.MAIN:
            return "car on battery power" if car.power == PowerSource.BATTERY else "car without power"
        faults = sorted(str(a) for a in self.open if a not in _NOT_A_FAULT)
        if faults:
            return "fault open: " + ", ".join(faults)
        window = self.entrapment.outside_door_zone_s
        if not passenger:
            return ""
        if (car is not None and car.passenger) or any(at - window <= d for d in self.detections):
            return "passenger in the car"
        return ""

    def _recovered_by(self, car: Car, at: float, seq: int) -> list[Change]:
        """Code-raised faults whose recovery rule the car now meets clear; a frame sent before
        the fault's code (``seq`` below it) says nothing of its recovery."""
        changes: list[Change] = []
        for alarm, (code, raised_seq) in list(self.by_code.items()):
            rule = self.table.get(code)
            if rule is None or alarm not in self.open or seq < raised_seq:
                continue
            met = [r for r in sorted(rule.recovery) if car.satisfies(r)]
            if met:
                self.by_code.pop(alarm, None)
                changes += self._clear(alarm, at, f"recovered ({met[0].replace('_', ' ')})")
        return changes

    def _set_mode(self, mode: str, at: float) -> None:
        if mode != self.mode:
            self.mode = mode
            self.changed = True
            if self.held:
                self._unstuck()

    @property
    def held(self) -> bool:
        """In a mode in which a technician works in the car (inspection by default): no
        entrapment and no stopped-outside-the-door-zone fault from telemetry."""
        return self.mode is not None and self.mode in self.entrapment.held_modes

    # --- conditions ----------------------------------------------------------------------

    def _condition(self, alarm: AlarmType, raising: bool, clearing: bool, ts: float, hold_s: float,
                   details: dict[str, Any] | None = None) -> None:
        """Note where ``alarm``'s raising and clearing conditions stand at device time ``ts``."""
        if raising:
            if alarm not in self.raise_since or self.hold_s.get(alarm) != hold_s:
                self.raise_since[alarm] = ts
                self.hold_s[alarm] = hold_s
                self.details[alarm] = details or {}
                self.changed = True
        elif self.raise_since.pop(alarm, None) is not None:
            self.changed = True
        if clearing:
            if alarm not in self.clear_since:
                self.clear_since[alarm] = ts
                self.suppressed.discard(alarm)
                self.changed = True
        elif self.clear_since.pop(alarm, None) is not None:
            self.changed = True

    def evaluate(self, now: float) -> list[Change]:
        changes: list[Change] = []
        for alarm, since in list(self.raise_since.items()):
            hold = self.hold_s.get(alarm, 0.0)
            if now - since >= hold and alarm not in self.open and alarm not in self.suppressed:
                details = {**self.details.get(alarm, {}), "condition_since": since}
                changes += self._raise(alarm, Source.TELEMETRY, since + hold, details)
        for alarm, since in list(self.clear_since.items()):
            source = self.open.get(alarm)
            if source is None:
                continue
            at_once = alarm in _CLEAR_AT_ONCE
            wait = 0.0 if at_once else self.settings.clear_after_s
            if (source is Source.TELEMETRY or at_once) and now - since >= wait:
                changes += self._clear(alarm, since + wait, "condition gone")
        changes += self._entrapment(now)
        # A press judged ahead of frames sent before it waits for them: they may show the stuck
        # car that makes it an entrapment (``_button_promoted``), which a lapse would lose.
        if (self.button_at is not None and AlarmType.ALARM_BUTTON in self.open and not self.press_pending
                and now - self.button_at >= self.settings.alarm_button_ttl_s):
            lapsed, self.button_at = self.button_at + self.settings.alarm_button_ttl_s, None
            changes += self._clear(AlarmType.ALARM_BUTTON, lapsed, "lapsed")
        return changes

    def _raise(self, alarm: AlarmType, source: Source, at: float, details: dict[str, Any]) -> list[Change]:
        if alarm in self.open or alarm in self.suppressed:
            return []
        self.open[alarm] = source
        self.changed = True
        if alarm is AlarmType.ENTRAPMENT:
            self.call_seq = -1  # (a call that raised it sets its seq after)
            if self.stuck is not None:
                self.stuck_judged, self.detections = True, []
        return [Change(True, alarm, source, at, details)]

    def _clear(self, alarm: AlarmType, at: float, reason: str) -> list[Change]:
        if at < self.raised_at.get(alarm, -_INF):
            return []
        source = self.open.pop(alarm, None)
        self.raised_at.pop(alarm, None)
        if source is None:
            return []
        self.changed = True
        return [Change(False, alarm, source, at, {"reason": reason})]

    # --- entrapment from telemetry ---------------------------------------------------------

    def _window(self, stuck: Stuck) -> float:
        e = self.entrapment
        return e.outside_door_zone_s if stuck is Stuck.OUTSIDE else e.in_door_zone_s

    def _unstuck(self) -> None:
        if self.stuck is not None or self.detections:
            self.stuck, self.stuck_since, self.detections, self.stuck_judged = None, None, [], False
            self.changed = True

    def _detected(self, at: float) -> None:
        """A presence detection (a frame that saw a passenger, or the alarm button) at device
        time ``at``; kept only while the car is stuck, and only as long as a window reaches."""
        if (self.stuck_since is None or at < self.stuck_since or self.stuck_judged
                or (AlarmType.ENTRAPMENT in self.open and not self._pending_call())
                or AlarmType.ENTRAPMENT in self.suppressed):
            return
        bisect.insort(self.detections, at)
        self.changed = True

    def _trapped_at(self, now: float) -> float | None:
        """The earliest device time up to ``now`` at which the car had been stuck for the
        whole window with at least the required presence detections within it; None if none."""
        if self.stuck is None or self.stuck_since is None:
            return None
        window = self._window(self.stuck)
        first = self.stuck_since + window
        if first > now:
            return None
        need = self.entrapment.min_detections
        # At a landing the passenger was inside when the doors closed: detections first seen
        # only after the whole window (a car parked for an hour) are a sensor's glitch.
        later = [] if self.stuck is Stuck.LANDING else [d for d in self.detections if first < d <= now]
        for t in [first, *later]:
            lo = bisect.bisect_left(self.detections, t - window)
            hi = bisect.bisect_right(self.detections, t)
            if hi - lo >= need:
                return t
        return None

    def _entrapment(self, now: float) -> list[Change]:
        stuck, since = self.stuck, self.stuck_since
        if stuck is None or since is None or self.stuck_judged:
            return []  # (an episode judged once is not judged again, whatever became of its alarm)
        at = self._trapped_at(now)
        if at is None:
            self._prune(now)
            return []
        if self._pending_call():
            # The frames show the car trapped on their own while the press judged ahead of them
            # holds the entrapment open: it is theirs now, not withdrawn with the press.
            self.stuck_judged, self.detections, self.call_seq = True, [], -1
            self.press_adopted = True
            self.changed = True
            return []
        where = "stopped outside the door zone" if stuck is Stuck.OUTSIDE else "doors not reopened at a landing"
        window = self._window(stuck)
        seen = sum(1 for d in self.detections if at - window <= d <= at)
        floor = self.car.floor if self.car is not None else None
        return self._raise(AlarmType.ENTRAPMENT, Source.TELEMETRY, at,
                           {"trigger": where, "floor": floor, "condition_since": since,
                            "presence_detections": seen, "window_s": window})

    def _prune(self, now: float) -> None:
        """Forget detections no window can reach any more (the condition was not met by now)."""
        if self.stuck is None:
            return
        horizon = now - self._window(self.stuck)
        cut = bisect.bisect_left(self.detections, horizon)
        if cut:
            del self.detections[:cut]
            self.changed = True

    # --- elevator --------------------------------------------------------------------------

    def _elevator(self, f: ElevatorTelemetry, ts: float, seq: int) -> list[Change]:
        car = self.car = Car.of(f)
        if f.mode != self.mode:
            self._set_mode(f.mode, ts)
        # Running (its trip counter rising) while the register says it must not be used.
        ran = self.trip_count is not None and f.trip_count > self.trip_count
        self.trip_count = f.trip_count
        expired = self.profile.inspection_expired
        self._condition(AlarmType.INSPECTION_EXPIRED_RUNNING, expired and ran, not expired, ts, 0.0,
                        {"trip_count": f.trip_count, "reasons": list(self.profile.inspection_expired_reasons)})
        stopped = not f.running
        shut = f.door_locked
        outside = stopped and shut and not f.door_zone
        at_landing = stopped and shut and f.door_zone
        # The car is free when its doors open at a landing and nobody is detected: in one frame,
        # or (the doors open for one frame while people walk out) in a frame after the doors
        # opened on the trapped passengers, before the car runs again.
        # A frame sent before the call for help that raised the open entrapment (delivered after
        # it, the call having overtaken a telemetry backlog) tells nothing of that call's end.
        before_call = seq < self.call_seq and AlarmType.ENTRAPMENT in self.open
        if f.running or AlarmType.ENTRAPMENT not in self.open:
            self.opened = False
        elif f.door_zone and not shut and not before_call:
            self.opened = True
        freed = car.released or (self.opened and f.door_zone and stopped and not f.passenger)
        stuck = None if self.held else Stuck.OUTSIDE if outside else Stuck.LANDING if at_landing else None
        if freed:
            self._unstuck()
        elif f.door_zone and not shut:
            self._unstuck()  # the doors reopened at a landing: whoever is inside can leave
        elif stuck is not None:
            if self.stuck is None or (stuck is Stuck.OUTSIDE and self.stuck is Stuck.LANDING):
                self._unstuck()  # (the car left the landing: a new episode)
                self.stuck, self.stuck_since = stuck, ts
                self.changed = True  # (not at every frame of a car parked at a landing: its state is the same)
            # (a frame in the door zone during an episode outside it: the car at the zone's edge)
        elif self.stuck is not None:
            self._unstuck()
        if f.passenger:
            self._detected(ts)
        changes: list[Change] = []
        if freed and not before_call:
            self.suppressed.discard(AlarmType.ENTRAPMENT)
            why = "doors open at a landing, car empty"
            released = self._clear(AlarmType.ENTRAPMENT, ts, why)
            if released:
                self.freed_at = ts  # the end of that entrapment: calls from before it are its own
            changes += released
            if self.button_at is not None and seq > self.button_seq:
                self.button_at = None
                changes += self._clear(AlarmType.ALARM_BUTTON, ts, why)
        changes += self._recovered_by(car, ts, seq)
        # (By seq, not time: a press that overtook frames across a step of the device's clock is
        # stamped on the clock the frames before it had.)
        if self.last_press is not None and not car.door_locked and car.door_zone and seq > self.button_seq:
            self.button_passed = True
        changes += self._button_promoted(ts, seq)
        if self.profile.reports_events:
            return changes
        # Faults the device does not report itself, from its telemetry.
        s = self.settings
        self._condition(AlarmType.STOPPED_OUTSIDE_DOOR_ZONE, outside and not self.held, not outside, ts,
                        s.stopped_outside_door_zone_s, {"floor": f.floor})
        moving_open = f.running and not f.door_locked
        self._condition(AlarmType.UNINTENDED_CAR_MOVEMENT, moving_open, f.door_locked and f.door_zone, ts, 0.0,
                        {"floor": f.floor, "speed_mps": f.speed_mps})
        off_mains = f.power != "main"
        self._condition(AlarmType.MAIN_POWER_LOST, off_mains, not off_mains, ts, 0.0, {"power": str(f.power)})
        rated = self.profile.rated_speed_mps
        if rated:
            over = f.speed_mps > rated * s.overspeed_factor
            self._condition(AlarmType.OVERSPEED, over, f.speed_mps <= rated, ts, 0.0,
                            {"speed_mps": f.speed_mps, "rated_speed_mps": rated})
        return changes

    # --- boiler ----------------------------------------------------------------------------

    def _boiler(self, f: BoilerTelemetry, ts: float) -> None:
        p, s = self.profile, self.settings
        if p.reports_events:
            return
        if p.rated_pressure_mpa:
            self._condition(AlarmType.OVER_PRESSURE, f.pressure_mpa > p.rated_pressure_mpa,
                            f.pressure_mpa < p.rated_pressure_mpa * s.pressure_clear_fraction, ts, 0.0,
                            {"pressure_mpa": f.pressure_mpa, "rated_pressure_mpa": p.rated_pressure_mpa})
        if p.rated_outlet_temp_c:
            self._condition(AlarmType.OVER_TEMPERATURE, f.outlet_temp_c > p.rated_outlet_temp_c,
                            f.outlet_temp_c < p.rated_outlet_temp_c - s.temperature_clear_k, ts, 0.0,
                            {"outlet_temp_c": f.outlet_temp_c, "rated_outlet_temp_c": p.rated_outlet_temp_c})
        if p.extreme_low_water_mm is not None:
            self._condition(AlarmType.EXTREME_LOW_WATER, f.water_level_mm < p.extreme_low_water_mm,
                            f.water_level_mm > p.extreme_low_water_mm + s.level_clear_mm, ts, 0.0,
                            {"water_level_mm": f.water_level_mm})
        if p.high_water_mm is not None:
            self._condition(AlarmType.HIGH_WATER, f.water_level_mm > p.high_water_mm,
                            f.water_level_mm < p.high_water_mm - s.level_clear_mm, ts, 0.0,
                            {"water_level_mm": f.water_level_mm})
        self._condition(AlarmType.FLAME_FAILURE, f.burner_on and not f.flame and f.fuel_flow_m3h > 0,
                        f.flame or not f.burner_on, ts, 3.0, {})

    # --- persistence of the state across restarts ----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        car = self.car
        return {
            "last_ts": self.last_ts, "last_seq": self.last_seq, "offline": self.offline,
            "recent": [[s, t] for s, t in sorted(self.recent.items())],
            "previous": [[s, t] for s, t in self.previous], "clock_offset": self.clock_offset,
            "events_taken": [[s, t, c] for s, t, c in self.events_taken],
            "last_heard": self.last_heard, "lag_floor": self.lag_floor, "known": self.known, "mode": self.mode,
            "car": None if car is None else [car.running, car.door_locked, car.door_zone, car.passenger,
                                             car.power, car.floor],
            "stuck": None if self.stuck is None else str(self.stuck), "stuck_since": self.stuck_since,
            "detections": list(self.detections), "stuck_judged": self.stuck_judged,
            "opened": self.opened, "freed_at": self.freed_at,
            "closed_at": {str(a): t for a, t in self.closed_at.items()},
            "button_seq": self.button_seq, "last_press": self.last_press,
            "button_at": self.button_at, "button_passed": self.button_passed,
            "trip_count": self.trip_count,
            "by_code": {str(a): [c, s] for a, (c, s) in self.by_code.items()},
            "last_recovery_seq": self.last_recovery_seq, "last_frame_seq": self.last_frame_seq,
            "frame_ts": self.frame_ts, "frame_heard": self.frame_heard, "event_ts": self.event_ts,
            "event_heard": self.event_heard, "call_seq": self.call_seq,
            "press_pending": self.press_pending, "press_adopted": self.press_adopted,
            "pending_mode": None if self.pending_mode is None else list(self.pending_mode),
            "raise_since": {str(k): v for k, v in self.raise_since.items()},
            "clear_since": {str(k): v for k, v in self.clear_since.items()},
            "hold_s": {str(k): v for k, v in self.hold_s.items()},
            "suppressed": sorted(str(a) for a in self.suppressed),
            "silent_reported": self.silent_reported,
        }

    def restore(self, state: dict[str, Any], open_alarms: dict[AlarmType, Source], arrival: float,
                raised_at: dict[AlarmType, float] | None = None) -> None:
        """From a ``snapshot()`` as stored (non-finite numbers come back as null; a state of an
        earlier version lacks the newer keys), with the alarms open in the database and when
        each was raised (device time). Silence is counted from ``arrival`` (the restart).
        Raises ValueError, TypeError or KeyError for a state that is not one."""

        def number(key: str, default: float) -> float:
            value = state.get(key)
            return default if value is None else float(value)

        self.last_ts = number("last_ts", -_INF)  # null: nothing taken yet
        self.last_seq = int(state.get("last_seq", -1))
        self.recent = {int(s): float(t) for s, t in state.get("recent") or []}
        self.previous = dict.fromkeys((int(s), float(t)) for s, t in state.get("previous") or [])
        if "events_taken" in state:
            self.events_taken = dict.fromkeys((int(s), float(t), int(c)) for s, t, c in state["events_taken"] or [])
        else:  # a state that kept no codes: any event under a pair it kept is a copy
            self.events_taken = dict.fromkeys((s, t, _ANY_CODE) for s, t in [*self.previous, *self.recent.items()])
        if self.last_seq >= 0 and not self.recent and self.last_ts > -_INF:
            self.recent = {self.last_seq: self.last_ts}
        self.clock_offset = number("clock_offset", 0.0)
        self.lag_floor = number("lag_floor", _INF)
        self.last_heard = min(number("last_heard", arrival), arrival)
        self.last_arrival = arrival  # silence is counted from the restart
        self.known = bool(state.get("known", self.last_ts > -_INF))
        self.offline = bool(state.get("offline", False))
        mode = state.get("mode")
        self.mode = None if mode is None else str(ServiceMode(mode))
        car = state.get("car")
        if car is not None:
            running, locked, zone, passenger, power, floor = car
            self.car = Car(bool(running), bool(locked), bool(zone), bool(passenger), str(PowerSource(power)),
                           int(floor))
        elif state.get("passenger"):  # a state of the earlier version knew only this
            self.car = Car(False, True, True, True, str(PowerSource.MAIN), 0)
        stuck = state.get("stuck")
        self.stuck = None if stuck is None else Stuck(stuck)
        since = state.get("stuck_since")
        self.stuck_since = None if since is None else float(since)
        self.detections = sorted(float(d) for d in state.get("detections", []))
        self.stuck_judged = bool(state.get("stuck_judged", False))
        self.opened = bool(state.get("opened", False))
        self.freed_at = number("freed_at", -_INF)
        self.closed_at = {AlarmType(a): float(t) for a, t in (state.get("closed_at") or {}).items() if t is not None}
        self.button_seq = int(state.get("button_seq", -1))
        press = state.get("last_press")
        self.last_press = None if press is None else float(press)
        button = state.get("button_at")
        self.button_at = None if button is None else float(button)
        self.button_passed = bool(state.get("button_passed", False))
        trips = state.get("trip_count")
        self.trip_count = None if trips is None else int(trips)
        self.by_code = {AlarmType(a): (int(c), int(s)) for a, (c, s) in state.get("by_code", {}).items()}
        self.last_recovery_seq = int(state.get("last_recovery_seq", -1))
        self.last_frame_seq = int(state.get("last_frame_seq", self.last_seq))
        self.frame_ts = number("frame_ts", self.last_ts)
        self.frame_heard = min(number("frame_heard", self.last_heard), arrival)
        self.event_ts = number("event_ts", -_INF)
        self.event_heard = min(number("event_heard", -_INF), arrival)
        self.call_seq = int(state.get("call_seq", -1))
        self.press_pending = bool(state.get("press_pending", False))
        self.press_adopted = bool(state.get("press_adopted", False))
        pending = state.get("pending_mode")
        self.pending_mode = None if pending is None else (int(pending[0]), str(ServiceMode(pending[1])))
        self.raise_since = {AlarmType(k): float(v) for k, v in state.get("raise_since", {}).items()}
        self.clear_since = {AlarmType(k): float(v) for k, v in state.get("clear_since", {}).items()}
        self.hold_s = {AlarmType(k): float(v) for k, v in state.get("hold_s", {}).items()}
        self.suppressed = {AlarmType(a) for a in state.get("suppressed", [])}
        self.silent_reported = bool(state.get("silent_reported", False))
        self.open = dict(open_alarms)
        self.raised_at = dict(raised_at or {})
        for alarm in [a for a in self.by_code if a not in self.open]:
            del self.by_code[alarm]
        # A state of the earlier version timed entrapment as a plain condition: its start is
        # the stuck episode's, so an engine upgraded mid-episode is not late with the alarm.
        old = self.raise_since.pop(AlarmType.ENTRAPMENT, None)
        hold = self.hold_s.pop(AlarmType.ENTRAPMENT, None)
        self.clear_since.pop(AlarmType.ENTRAPMENT, None)
        if old is not None and self.stuck is None:
            landing = hold is not None and hold == self.settings.entrapment.in_door_zone_s
            self.stuck, self.stuck_since, self.detections = (Stuck.LANDING if landing else Stuck.OUTSIDE), old, [old]

