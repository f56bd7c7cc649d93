"""Property-based tests of the rules over generated elevator histories that real devices and
brokers mangle (issue "Rules that hear real devices").

A history is generated in *true* time, with its ground truth (an entrapment, or none), as a car
would live it: trips, stops at landings, short stops between floors, a stuck empty car, a
technician working in inspection mode, the alarm button pressed in an idle car, and, in the
entrapment histories, a car stuck between floors (or at a landing with the doors closed) with
someone inside, then the rescue. Frames come every 1-5 s. Then it is transformed as devices
and brokers do: the device's clock steps back and ahead (up to 300 s); events are stamped a few
ms before the frame they follow; the device restarts its ``seq`` counter; messages are
duplicated, swapped with their neighbours, held back by a broker pause and redelivered; the
rules themselves restart from a stored snapshot (through the engine's JSON path) and get the
unacknowledged messages again. The rules get each message at its arrival (true time of
delivery) and a tick every second, and must raise exactly one entrapment, in time, for a
history with one, and none for a history without.

The bounds are stated where they are checked (``check_entrapment``) with why they hold; the
generators keep every message inside what the ingester lets through (a clock at most 5 minutes
ahead)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import Phase, given, note, settings
from hypothesis import strategies as st

from alerts.engine import json_safe
from alerts.model import Source
from alerts.rules import Change, DeviceRules, RuleSettings
from semon.alarm_types import AlarmType
from semon.profile import DeviceProfile
from semon.protocol.models import ElevatorTelemetry
from semon.protocol.topics import Kind
from tests.unit.rules_driver import T0, lift
from tests.unit.rules_driver import Device as DriverDevice

RULES = RuleSettings()
W_OUT = RULES.entrapment.outside_door_zone_s  # 15 s: stopped outside the door zone
W_LANDING = RULES.entrapment.in_door_zone_s  # 90 s: stopped at a landing, doors closed
TOL = RULES.clock_tolerance_s  # 2 s
SILENT_AFTER = RULES.silent_after_s  # 15 s: the engine hears the present this long after a restart
MAX_GAP = 5.0  # frames every 1-5 s
JITTER = 0.2  # network delay of a message delivered at once, s
NEARBY = 1.5  # messages sent this close together may be swapped, s
MAX_PAUSE = 3.0  # a broker pause or an engine restart's downtime, s
AHEAD_LIMIT = 300.0  # the ingester refuses a clock further ahead (docs/protocol.md 4.1)
# A failing history is printed whole (``note``) with the blob that replays it; shrinking one of
# a few hundred messages would take minutes on this machine. The smallest inputs found are the
# plain tests at the end.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)

# --- a car's life in true time ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarState:
    running: bool = False
    door_locked: bool = True
    door_zone: bool = True
    passenger: bool = False
    mode: str = "normal"
    floor: int = 3

    def between_floors(self, passenger: bool) -> CarState:
        return replace(self, running=False, door_locked=True, door_zone=False, passenger=passenger)

    def moving(self, passenger: bool) -> CarState:
        return replace(self, running=True, door_locked=True, door_zone=False, passenger=passenger)

    def landing(self, *, doors_open: bool, passenger: bool) -> CarState:
        return replace(self, running=False, door_locked=not doors_open, door_zone=True, passenger=passenger)


@cache
def model(state: CarState) -> ElevatorTelemetry:
    direction = "up" if state.running else "stop"
    return lift(running=state.running, direction=direction, door_locked=state.door_locked,
                door_zone=state.door_zone, passenger=state.passenger, mode=state.mode, floor=state.floor,
                speed_mps=1.0 if state.running else 0.0)


@dataclass(frozen=True, slots=True)
class Sent:
    """One message as the device sent it: ``t`` true time, ``ts`` its stamp on the device's
    clock (both seconds after T0), ``seq`` its counter, ``session`` which counter run."""

    t: float
    seq: int
    ts: float
    state: CarState | None  # a telemetry frame, or None for an event
    code: int | None = None
    session: int = 0


@dataclass(slots=True)
class Truth:
    """What really happened: for a history with an entrapment, when it became one."""

    trapped: bool
    stuck_start: float = 0.0  # true time of the first frame of the stuck period
    window: float = W_OUT
    due: float = 0.0  # true time at which it is an entrapment: stuck_start + window, or the button/code 11
    max_gap: float = 0.0  # the largest frame gap from the stuck start to the rescue
    rescue: float = 0.0  # true time of the frame that shows the car freed
    button: bool = False  # an alarm button pressed in an idle car (a minor alarm, not entrapment)


class Life:
    """Builds a car's frames in true time. ``hold`` sends the state every 1-5 s for a duration;
    the next state's first frame comes exactly when the duration ends (a device sends on change)."""

    def __init__(self, rnd: random.Random, short_stop: float) -> None:
        self.rnd = rnd
        self.short_stop_s = short_stop
        self.t = 0.0
        self.state = CarState()
        self.frames: list[tuple[float, CarState]] = []
        self.events: list[tuple[float, int]] = []  # (true time, code)
        self.stops: list[float] = []  # when the car stopped with its doors closed (where clock steps hurt)

    def gap(self) -> float:
        return round(self.rnd.uniform(1.0, MAX_GAP), 3)

    def hold(self, state: CarState, duration: float, passenger: Callable[[float], bool] | None = None) -> float:
        """Frames of ``state`` for ``duration`` s; ``passenger(t)`` may vary the presence sensor.
        Returns the true time of the first frame."""
        start, end = self.t, round(self.t + duration, 3)
        if not state.running and state.door_locked and end > start:
            self.stops.append(start)
        t = start
        while t < end:
            s = state if passenger is None else replace(state, passenger=passenger(t))
            self.frames.append((t, s))
            t = round(min(t + self.gap(), end), 3)
        self.t, self.state = end, state
        return start

    def event(self, code: int) -> None:
        """An event sent just after the latest frame (its stamp is decided with the clock)."""
        self.events.append((self.frames[-1][0] + round(self.rnd.uniform(0.001, 0.3), 3), code))

    # -- normal service (no entrapment in any of these) -------------------------------------

    def board(self, rider: bool) -> None:
        """At the landing the doors open, whoever rides gets in, the doors close: the car leaves."""
        s = self.state
        self.hold(s.landing(doors_open=True, passenger=rider), self.rnd.uniform(2, 8))
        self.hold(s.landing(doors_open=False, passenger=rider), self.rnd.uniform(1, 3))

    def trip(self) -> None:
        rider = self.rnd.random() < 0.6
        s = self.state
        self.board(rider)
        self.hold(s.moving(rider), self.rnd.uniform(3, 15))
        arrived = replace(s, floor=self.rnd.randint(-1, 20))
        self.hold(arrived.landing(doors_open=False, passenger=rider), self.rnd.uniform(0.5, 2))
        self.hold(arrived.landing(doors_open=True, passenger=rider), self.rnd.uniform(2, 8))
        self.hold(arrived.landing(doors_open=True, passenger=False), self.rnd.uniform(2, 10))

    def short_stop(self, longest: float) -> None:
        """Running, a stop between floors shorter than ``longest`` (first stopped frame to the
        first frame running again), running on, to a landing."""
        rider = self.rnd.random() < 0.8
        self.board(rider)
        self.hold(self.state.moving(rider), self.rnd.uniform(2, 6))
        self.hold(self.state.between_floors(rider), self.rnd.uniform(0.5, longest),
                  passenger=lambda _t: rider and self.rnd.random() < 0.8)
        self.hold(self.state.moving(rider), self.rnd.uniform(2, 6))
        self.hold(self.state.landing(doors_open=True, passenger=rider), self.rnd.uniform(2, 6))
        self.hold(self.state.landing(doors_open=True, passenger=False), self.rnd.uniform(2, 6))

    def parked(self, longest: float = 120) -> None:
        """Idle at a landing, doors closed, nobody in."""
        self.hold(self.state.landing(doors_open=False, passenger=False), self.rnd.uniform(5, longest))

    def waiting_rider(self, longest: float) -> None:
        """Someone gets in at a landing, the doors close, they have not pressed a call yet
        (shorter than ``longest``), then the doors open and they walk out."""
        self.hold(self.state.landing(doors_open=True, passenger=True), self.rnd.uniform(2, 5))
        self.hold(self.state.landing(doors_open=False, passenger=True), self.rnd.uniform(2, longest))
        self.hold(self.state.landing(doors_open=True, passenger=True), self.rnd.uniform(1, 4))
        self.hold(self.state.landing(doors_open=True, passenger=False), self.rnd.uniform(2, 6))

    def stuck_empty(self) -> None:
        """Stopped between floors, doors closed, nobody inside: a fault, not an entrapment."""
        self.board(False)
        self.hold(self.state.moving(False), self.rnd.uniform(2, 6))
        self.hold(self.state.between_floors(False), self.rnd.uniform(20, 150))
        self.hold(self.state.moving(False), self.rnd.uniform(2, 6))
        self.hold(self.state.landing(doors_open=True, passenger=False), self.rnd.uniform(2, 6))

    def inspection(self) -> None:
        """A technician in inspection mode (检修): in at a landing, the mode switched (code 43),
        stops between floors with the doors closed and a person inside for minutes, back to a
        landing, out, back to normal (code 40)."""
        self.hold(self.state.landing(doors_open=True, passenger=True), self.rnd.uniform(2, 5))
        tech = replace(self.state, mode="inspection")
        self.hold(tech.landing(doors_open=True, passenger=True), self.rnd.uniform(1, 4))
        self.event(43)
        for _ in range(self.rnd.randint(1, 3)):
            self.hold(tech.moving(True), self.rnd.uniform(2, 10))
            self.hold(tech.between_floors(True), self.rnd.uniform(30, 180),
                      passenger=lambda _t: self.rnd.random() < 0.9)
        self.hold(tech.landing(doors_open=False, passenger=True), self.rnd.uniform(1, 3))
        self.hold(tech.landing(doors_open=True, passenger=True), self.rnd.uniform(2, 5))
        self.hold(tech.landing(doors_open=True, passenger=False), self.rnd.uniform(2, 5))
        self.event(40)
        self.hold(replace(tech, mode="normal").landing(doors_open=True, passenger=False), self.rnd.uniform(2, 5))

    def idle_button(self) -> None:
        """Someone presses the alarm button of an idle, empty car (a test, a child): minor."""
        self.hold(self.state.landing(doors_open=self.rnd.random() < 0.5, passenger=False), self.rnd.uniform(25, 40))
        self.event(90)
        self.hold(self.state, self.rnd.uniform(5, 30))

    # -- the entrapment ----------------------------------------------------------------------

    def trapped(self, truth: Truth, *, kind: str, button: bool, code11: bool) -> None:
        """Stuck with someone inside, well past the window: between floors (``outside``) or at a
        landing with the doors closed (``landing``), detected at least once in every half
        window; or between floors with a sensor that sees nobody, the button pressed
        (``unseen``, issue input 5). Maybe the button pressed or the device's own code 11 too;
        then the rescue."""
        landing = kind == "landing"
        window = W_LANDING if landing else W_OUT
        sensed = kind != "unseen"
        if landing:
            self.hold(self.state.landing(doors_open=True, passenger=True), self.rnd.uniform(2, 5))
            stuck = self.state.landing(doors_open=False, passenger=True)
            span = self.rnd.uniform(100, 150)
        else:
            self.board(sensed)
            self.hold(self.state.moving(sensed), self.rnd.uniform(2, 6))
            stuck = self.state.between_floors(sensed)
            span = self.rnd.uniform(25, 60)
        start = self.t
        last_seen = [start]
        rate = self.rnd.uniform(0.2, 1.0)

        def seen(t: float) -> bool:
            # A detection at least every half window: the frame after this one may be 5 s on.
            if sensed and (self.rnd.random() < rate or t + MAX_GAP - last_seen[0] > window / 2):
                last_seen[0] = t
                return True
            return False

        end = start + span
        marks: list[tuple[float, int]] = []
        if button or not sensed:  # often just after the frame that showed the stop
            marks.append((start + self.rnd.choice([self.rnd.uniform(0.01, 2), self.rnd.uniform(1, span - 5)]), 90))
        if code11:
            marks.append((start + window + self.rnd.uniform(0, 2), 11))
        due = start + window if sensed else end
        for mark, code in sorted(marks):
            self.hold(stuck, max(0.0, mark - self.t), passenger=seen)
            self.event(code)
            due = min(due, self.events[-1][0])
        self.hold(stuck, end - self.t, passenger=seen)
        # The rescue: the doors opened at the landing, or the car moved to one (in normal
        # service, or by the technician in inspection mode); the passengers walk out.
        how = self.rnd.choice(["doors", "moved", "inspection"] if landing else ["moved", "inspection"])
        car = self.state
        if how != "doors":
            if how == "inspection":
                car = replace(car, mode="inspection")
                self.hold(replace(stuck, mode="inspection"), self.rnd.uniform(1, 3))
                self.event(43)
            self.hold(car.moving(True), self.rnd.uniform(2, 8))
        self.hold(car.landing(doors_open=True, passenger=True), self.rnd.uniform(2, 5))
        truth.rescue = self.hold(car.landing(doors_open=True, passenger=False), self.rnd.uniform(3, 10))
        if how == "inspection":
            self.event(40)
            self.hold(replace(car, mode="normal").landing(doors_open=True, passenger=False), self.rnd.uniform(2, 5))
        truth.trapped, truth.stuck_start, truth.window, truth.due = True, start, window, due
        frames = [t for t, _ in self.frames if start <= t <= truth.rescue]
        truth.max_gap = max(b - a for a, b in pairwise(frames))


NORMAL_SERVICE = ("trip", "trip", "short_stop", "parked", "waiting_rider", "stuck_empty", "inspection", "idle_button")
SHORT_WAIT = W_LANDING - 30.0  # the longest wait at a landing, doors closed, someone in


def short_stop_limit(delay: float) -> float:
    """The longest stop between floors (first stopped frame to the first frame running again)
    that must not become an entrapment when no message is delivered more than ``delay`` s
    after it was sent. The rules see a stop end when a frame after it arrives, up to ``delay``
    late, and device time may run up to TOL ahead of the engine's clock at arrival; a clock
    step among held-back messages lets the engine's clock stand in for the device's across it,
    which can carry device time up to ``delay`` further. So: the window less TOL + 2 * delay."""
    return W_OUT - TOL - 2 * delay


@st.composite
def lives(draw: st.DrawFn, *, trapped: bool, short_stop: float) -> tuple[Life, Truth]:
    """A car's frames and events in true time, with the truth: ``trapped`` histories hold one
    entrapment (with normal service before and after it), the others only normal service, with
    stops between floors shorter than ``short_stop``."""
    life = Life(draw(st.randoms(use_true_random=False)), short_stop)
    truth = Truth(trapped=False)
    before = draw(st.lists(st.sampled_from(NORMAL_SERVICE), min_size=0 if trapped else 1, max_size=4))
    after = draw(st.lists(st.sampled_from(NORMAL_SERVICE), max_size=2)) if trapped else []
    for what in before:
        run_segment(life, truth, what)
    if trapped:
        kind = draw(st.sampled_from(["outside", "landing", "unseen"]))
        life.trapped(truth, kind=kind, button=kind == "outside" and draw(st.booleans()), code11=draw(st.booleans()))
    for what in after:
        run_segment(life, truth, what)
    life.parked(30)
    return life, truth


def run_segment(life: Life, truth: Truth, what: str) -> None:
    if what == "short_stop":
        life.short_stop(life.short_stop_s)
    elif what == "waiting_rider":
        life.waiting_rider(SHORT_WAIT)
    elif what == "idle_button":
        life.idle_button()
        truth.button = True
    else:
        getattr(life, what)()


# --- what the device makes of it: its clock, its counter ----------------------------------------


@dataclass(frozen=True, slots=True)
class Device:
    """How the device stamps and counts: clock steps (true time, seconds the clock moves), the
    first ``seq``, where its counter restarts (index into the messages in the order sent), and
    which events are stamped a few ms before the frame they follow."""

    steps: tuple[tuple[float, float], ...] = ()
    first_seq: int = 0
    restart_at: int | None = None
    skews: tuple[float, ...] = ()  # per event, in order: ms before the preceding frame (0: its own clock)


@st.composite
def devices(draw: st.DrawFn, life: Life, truth: Truth, *, wrong_from_start: bool = False) -> Device:
    """The device's clock is right at its first message (``wrong_from_start``: off by 10-300 s
    either way) and steps 10-300 s back or ahead up to three times after it, never further
    ahead than the ingester takes."""
    steps: list[tuple[float, float]] = []
    offset = 0.0
    # Anywhere, but often within a window of a stop (where a step can fake or hide time passing).
    when = st.floats(0.5, life.t) | st.sampled_from(life.stops or [0.5]).flatmap(
        lambda k: st.floats(max(0.5, k), k + W_OUT))
    times = sorted(draw(st.lists(when, max_size=3)))
    for at in [0.0, *times] if wrong_from_start else times:
        size = draw(st.floats(10, 300))
        ahead = draw(st.booleans()) and offset + size <= AHEAD_LIMIT - 1
        offset += size if ahead else -size
        steps.append((round(at, 3), round(size if ahead else -size, 3)))
    restart_at: int | None = None
    if draw(st.booleans()):
        times = sorted([t for t, _ in life.frames] + [t for t, _ in life.events])
        outside = [i for i, t in enumerate(times) if i > 0 and not (
            truth.trapped and truth.stuck_start - MAX_GAP <= t <= truth.rescue + MAX_GAP)]
        if outside:
            restart_at = draw(st.sampled_from(outside))
    skews = tuple(draw(st.lists(st.sampled_from([0.0, 0.001, 0.003, 0.05]), min_size=len(life.events),
                                max_size=len(life.events))))
    return Device(tuple(steps), draw(st.sampled_from([0, 1, 7_000])), restart_at, skews)


def send(life: Life, device: Device) -> list[Sent]:
    """The messages as the device sends them, in true-time order."""
    def clock(t: float) -> float:
        return t + sum(size for at, size in device.steps if at <= t)

    merged: list[tuple[float, CarState | None, int | None]] = [(t, s, None) for t, s in life.frames]
    merged += [(t, None, code) for t, code in life.events]
    merged.sort(key=lambda m: (m[0], m[1] is None))
    out: list[Sent] = []
    seq, session, events, last_frame_ts = device.first_seq, 0, 0, 0.0
    for i, (t, state, code) in enumerate(merged):
        if i == device.restart_at:
            seq, session = 0, session + 1
        if state is not None:
            ts = round(clock(t), 3)
            last_frame_ts = ts
        else:
            skew = device.skews[events]
            events += 1
            ts = round(last_frame_ts - skew, 3) if skew else round(clock(t), 3)
        out.append(Sent(t, seq, ts, state, code, session))
        seq += 1
    return out


# --- what the broker makes of it: delivery -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the messages reach the engine: network jitter, swaps of messages sent close together,
    duplicates re-sent a little later, a broker pause after which a run of messages comes again,
    and a restart of the rules (checkpoint, crash, downtime, the unacknowledged run replayed)."""

    jitter: tuple[float, ...] = ()
    swaps: tuple[int, ...] = ()
    duplicates: tuple[tuple[int, int], ...] = ()  # (message, how many messages later)
    pause: tuple[int, float, int] | None = None  # (before delivery, seconds, run length redelivered)
    restart: tuple[int, int, float] | None = None  # (after delivery, unacknowledged, downtime s)


@dataclass(frozen=True, slots=True)
class Held:
    """How long a broker pause and a restart's downtime hold messages back (together at most
    MAX_PAUSE), drawn before the history: it decides how long a harmless stop may be."""

    pause: float | None
    downtime: float | None

    @property
    def delay(self) -> float:
        """The most a message's first delivery can be late: held back, overtaken, jittered."""
        return (self.pause or 0.0) + (self.downtime or 0.0) + NEARBY + JITTER


@st.composite
def helds(draw: st.DrawFn) -> Held:
    pause = draw(st.none() | st.floats(0.5, MAX_PAUSE))
    downtime = draw(st.none() | st.floats(0, MAX_PAUSE - (pause or 0.0)))
    return Held(pause, downtime)


@st.composite
def deliveries(draw: st.DrawFn, sent: list[Sent], held: Held) -> Delivery:
    n = len(sent)
    # Anywhere, but often where something happens (the car changes state, an event): that is
    # where a swap, a pause or a restart can hurt.
    changes = [i for i in range(1, n) if sent[i].state is None or sent[i].state != sent[i - 1].state]
    index = st.integers(0, n - 1) | st.sampled_from(changes or [0]).flatmap(
        lambda i: st.integers(max(0, i - 3), min(n - 1, i + 6)))
    jitter = tuple(draw(st.lists(st.sampled_from([0.0, 0.005, 0.05, JITTER]), min_size=n, max_size=n)))
    swaps = tuple(draw(st.lists(index, max_size=8)))
    duplicates = tuple(draw(st.lists(st.tuples(index, st.integers(1, 10)), max_size=6)))
    pause = None if held.pause is None else (draw(index), held.pause, draw(st.integers(0, 8)))
    restart = None if held.downtime is None else (draw(index), draw(st.integers(0, 6)), held.downtime)
    return Delivery(jitter, swaps, duplicates, pause, restart)


def deliver(sent: list[Sent], how: Delivery) -> list[tuple[Sent, float]]:
    """The messages in the order the engine gets them, each with its arrival (true time)."""
    plan = [(m, m.t + j) for m, j in zip(sent, how.jitter, strict=True)]
    for i in how.swaps:  # a message overtaken by the next one, sent close after it
        if i + 1 < len(plan):
            (first, _), (second, _) = plan[i], plan[i + 1]
            if first.session == second.session and abs(second.t - first.t) <= NEARBY:
                plan[i], plan[i + 1] = plan[i + 1], plan[i]
    for i, later in sorted(how.duplicates, reverse=True):  # re-sent: same seq, same ts
        j = min(i + later, len(plan))
        if all(m.session == plan[i][0].session for m, _ in plan[i:j]):
            copy = plan[i][0]
            plan.insert(j, (copy, max(copy.t, plan[j - 1][1])))
    if how.pause is not None:
        at, seconds, run = how.pause
        at = min(at, len(plan) - 1)
        resume = plan[at - 1][1] + seconds if at > 0 else plan[0][1] + seconds
        plan[at:] = [(m, max(a, resume)) for m, a in plan[at:]]
        plan[at:at] = [(m, resume) for m, _ in plan[max(0, at - run):at]]  # redelivered after the pause
    out: list[tuple[Sent, float]] = []
    last = -1e18
    for m, a in plan:  # arrivals are monotone in delivery order
        last = max(last, a, m.t)
        out.append((m, round(last, 3)))
    return out


# --- the engine's part: arrival, ticks, a restart through the stored state -----------------------


@dataclass(slots=True)
class Run:
    changes: list[tuple[float, Change]] = field(default_factory=list)  # (engine time, change)
    delay: float = 0.0  # the largest arrival - true time of any delivery
    replayed: float = 0.0  # true time spanned by the messages a restart replays at once

    def raised(self, alarm: AlarmType) -> list[tuple[float, Change]]:
        return [(at, c) for at, c in self.changes if c.raised and c.type is alarm]

    def cleared(self, alarm: AlarmType) -> list[tuple[float, Change]]:
        return [(at, c) for at, c in self.changes if not c.raised and c.type is alarm]


def fresh() -> DeviceRules:
    return DeviceRules("E-PROP", DeviceProfile(Kind.ELEVATOR), RULES)


def play(plan: list[tuple[Sent, float]], restart: tuple[int, int, float] | None = None) -> Run:
    """Feed the plan to the rules as the engine does, with a tick every second of the engine's
    clock, and keep the alarm changes the database would. ``restart`` (after delivery r, k
    unacknowledged, downtime s): the state was checkpointed after delivery r - k; after delivery
    r the engine dies, comes back ``s`` later, restores that state (snapshot -> json_safe -> JSON
    -> restore) with the alarms open in the database, and gets deliveries r-k+1..r again before
    the rest."""
    run = Run()
    rules = fresh()
    open_: dict[AlarmType, Source] = {}
    next_tick = float(int(plan[0][1]))

    raised_at: dict[AlarmType, list[float]] = {}

    def note(at: float, changes: list[Change]) -> None:
        """What the database keeps of each change (alerts/alarm_store.py): a raise of an alarm
        open already, or stamped at or before an earlier raise of it (a replay after a restart),
        is none; nor is a clear of an alarm not open."""
        for c in changes:
            if c.raised:
                if c.type in open_ or any(earlier >= c.at for earlier in raised_at.get(c.type, [])):
                    continue
                raised_at.setdefault(c.type, []).append(c.at)
                open_[c.type] = c.source
            elif open_.pop(c.type, None) is None:
                continue
            run.changes.append((at, c))

    seen: set[tuple[int, int, float]] = set()

    def give(m: Sent, arrival: float) -> None:
        nonlocal next_tick
        while next_tick < arrival:
            note(next_tick, rules.tick(T0 + next_tick, current=next_tick >= current_from))
            next_tick += 1.0
        if (m.session, m.seq, m.ts) not in seen:  # a copy of one delivered before tells nothing new
            seen.add((m.session, m.seq, m.ts))
            run.delay = max(run.delay, arrival - m.t)
        if m.state is not None:
            note(arrival, rules.on_telemetry(T0 + m.ts, m.seq, model(m.state), T0 + arrival))
        else:
            assert m.code is not None
            note(arrival, rules.on_event(T0 + m.ts, m.seq, m.code, T0 + arrival))

    # The engine judges time passing only once it has heard the present for the silence
    # limit again after a restart (alerts/engine.py, hears_the_present).
    current_from = -1.0
    r, k, downtime = restart if restart is not None else (-1, 0, 0.0)
    r = min(r, len(plan) - 1)
    k = min(k, r + 1)
    checkpoint = json.loads(json.dumps(json_safe(rules.snapshot())))
    back_at = 0.0
    for i, (m, arrival) in enumerate(plan):
        give(m, max(arrival, back_at))
        if i == r - k:
            checkpoint = json.loads(json.dumps(json_safe(rules.snapshot())))
        if i == r:
            back_at = round(max(arrival, back_at) + downtime, 3)
            current_from = back_at + SILENT_AFTER
            rules = fresh()
            rules.restore(checkpoint, dict(open_), T0 + back_at, {t: raised_at[t][-1] for t in open_})
            next_tick = max(next_tick, float(int(back_at)))
            run.delay += downtime
            if k:
                times = [m.t for m, _ in plan[r - k + 1:r + 1]]
                run.replayed = max(times) - min(times)
            for again, _ in plan[r - k + 1:r + 1]:
                give(again, back_at)
    last = max(a for _, a in plan) if plan else 0.0
    while next_tick < last + 5:
        note(next_tick, rules.tick(T0 + next_tick, current=next_tick >= current_from))
        next_tick += 1.0
    return run


# --- the properties -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    life: Life
    truth: Truth
    device: Device
    delivery: Delivery
    sent: list[Sent]
    plan: list[tuple[Sent, float]]

    def __repr__(self) -> str:  # short: hypothesis shows it with every failure
        d = self.delivery
        return (f"Case({self.truth}, clock steps {self.device.steps}, first seq {self.device.first_seq}, counter "
                f"restart at {self.device.restart_at}, swaps {d.swaps}, duplicates {d.duplicates}, pause {d.pause}, "
                f"restart {d.restart}, {len(self.plan)} deliveries)")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis prints with this
        printer.text(repr(self))

    def deliveries(self) -> str:
        """One line a delivery: arrival, true time, seq, stamp, what (for ``note``)."""
        def what(m: Sent) -> str:
            if m.state is None:
                return f"event {m.code}"
            s = m.state
            return (f"{'running' if s.running else 'stopped'} {'locked' if s.door_locked else 'open'} "
                    f"{'zone' if s.door_zone else 'between'} {'passenger' if s.passenger else 'empty'} {s.mode}")
        return "\n".join(f"{a:9.3f} t={m.t:9.3f} seq={m.seq} ts={m.ts:.3f} {what(m)}" for m, a in self.plan)


@st.composite
def cases(draw: st.DrawFn, *, trapped: bool, wrong_from_start: bool = False, held_back: bool = True) -> Case:
    """A history, what the device and the broker make of it, and the deliveries. Without
    ``held_back``, no broker pause and a restart without downtime: every message arrives within
    JITTER of being sent, or NEARBY if overtaken."""
    held = draw(helds()) if held_back else Held(None, draw(st.none() | st.just(0.0)))
    life, truth = draw(lives(trapped=trapped, short_stop=short_stop_limit(held.delay)))
    device = draw(devices(life, truth, wrong_from_start=wrong_from_start))
    sent = send(life, device)
    delivery = draw(deliveries(sent, held))
    return Case(life, truth, device, delivery, sent, deliver(sent, delivery))


def check_entrapment(case: Case, run: Run, *, held_until: float = 0.0) -> None:
    """Exactly one entrapment, raised in time, cleared by the rescue.

    Raised (engine time, i.e. true time of the delivery or tick that raised it) no earlier than
    ``due - TOL`` and no later than ``due + G + TOL + D``, where ``due`` is the stuck start plus
    the window (or the button press or code 11, if earlier), G the largest frame gap from the
    stuck start to the rescue and D the largest delay of a message's first delivery (jitter, a
    swap, a pause, a restart's downtime). Why: device time is never more than TOL ahead of the
    engine's clock at arrival, so the window cannot be seen to pass earlier than TOL before it
    really has; and once it has passed, the frame after it (at most G later, its detections
    are at least every half window) reaches the rules at most D after it was sent, and a tick
    every second matures it even without a frame.

    Its stamp (device time) is never ahead of the engine's clock by more than TOL; when the
    device's clock never stepped it is the due time, less up to 0.35 s (an event is stamped up
    to 50 ms before the frame it follows and sent up to 0.3 s after it), plus up to D (the
    first stuck frame the rules took may be one sent at most D after the first) and TOL (an
    event stamped before its frame moves device time ahead by its arrival gap, up to TOL:
    docs/alerts.md, "Device order and device time").

    One allowance more, when the device's clock stepped and a restart replays messages at once:
    across a step the rules carry device time by the arrival gap, which a replayed burst does
    not have, so device time may fall behind by up to the span the replay covers and the
    entrapment come that much later (never earlier: a guess of the time passed could mature a
    stop into a false entrapment). docs/alerts.md, "Device order and device time"."""
    truth = case.truth
    raised = run.raised(AlarmType.ENTRAPMENT)
    assert len(raised) == 1, f"{len(raised)} entrapments raised: {raised}"
    when, change = raised[0]
    late = truth.max_gap + TOL + run.delay + (run.replayed if case.device.steps else 0.0)
    assert truth.due - TOL <= when <= truth.due + late, (
        f"raised at {when}, due {truth.due}, gap {truth.max_gap}, delay {run.delay}, replayed {run.replayed}")
    assert change.at - T0 <= when + TOL + 1e-6, f"stamped {change.at - T0}, ahead of the engine at {when}"
    if not case.device.steps:
        stamp = change.at - T0
        assert truth.due - 0.35 - 1e-6 <= stamp <= truth.due + run.delay + TOL, f"stamped {stamp}, due {truth.due}"
    cleared = run.cleared(AlarmType.ENTRAPMENT)
    assert len(cleared) == 1, f"cleared {len(cleared)} times: {cleared}"
    assert truth.rescue <= cleared[0][0] <= max(truth.rescue + run.delay, held_until) + 1e-6, (
        cleared[0][0], truth.rescue, held_until)


@settings(max_examples=400, deadline=None, phases=NO_SHRINK)
@given(cases(trapped=True))
def test_a_history_with_one_entrapment_raises_exactly_one_in_time(case: Case) -> None:
    note(case.deliveries())
    check_entrapment(case, play(case.plan, case.delivery.restart))


@settings(max_examples=300, deadline=None, phases=NO_SHRINK)
@given(cases(trapped=False))
def test_a_history_without_an_entrapment_raises_none(case: Case) -> None:
    note(case.deliveries())
    check_no_entrapment(case, play(case.plan, case.delivery.restart))


def check_no_entrapment(case: Case, run: Run) -> None:
    assert run.raised(AlarmType.ENTRAPMENT) == [], f"entrapment raised: {run.raised(AlarmType.ENTRAPMENT)}"
    if case.truth.button:
        assert run.raised(AlarmType.ALARM_BUTTON), "the button in an idle car is a minor alarm"


@settings(max_examples=200, deadline=None, phases=NO_SHRINK)
@given(cases(trapped=True, wrong_from_start=True))
def test_a_clock_wrong_from_the_first_message_still_gives_one_entrapment_in_time(case: Case) -> None:
    """The same as for a clock right at first, with the device's clock 10-300 s off (either
    way) from its first message, then stepping: device time must not take a step ahead for
    time passing, wherever the clock stood before it."""
    note(case.deliveries())
    check_entrapment(case, play(case.plan, case.delivery.restart))


@settings(max_examples=200, deadline=None, phases=NO_SHRINK)
@given(cases(trapped=False, wrong_from_start=True))
def test_a_clock_wrong_from_the_first_message_raises_no_entrapment(case: Case) -> None:
    note(case.deliveries())
    check_no_entrapment(case, play(case.plan, case.delivery.restart))


@settings(max_examples=150, deadline=None, phases=NO_SHRINK)
@given(st.booleans().flatmap(lambda trapped: cases(trapped=trapped, wrong_from_start=True, held_back=False)))
def test_frames_arriving_at_least_every_5_s_are_never_silent_whatever_the_clock(case: Case) -> None:
    """Frames every 1-5 s, each delivered within JITTER (or NEARBY, overtaken), a tick every
    second, the clock wrong from the start and stepping back and ahead, duplicates, a restarted
    counter, a restart of the rules: never ``silent``, never ``offline``."""
    note(case.deliveries())
    run = play(case.plan, case.delivery.restart)
    assert run.raised(AlarmType.SILENT) == []
    assert run.raised(AlarmType.OFFLINE) == []


# --- the smallest inputs the properties found ------------------------------------------------------

RUNNING: dict[str, Any] = {"running": True, "door_zone": False, "direction": "up", "speed_mps": 1.0}


def test_a_clock_behind_from_the_start_corrected_forward_does_not_turn_a_short_stop_into_an_entrapment() -> None:
    """docs/alerts.md: a clock that jumps ahead does not turn a 10 s stop into an entrapment,
    wherever the clock stood before (here 300 s behind from the first message, then put right
    by 120 s during the stop)."""
    d = DriverDevice()
    d.frame(-300, arrival=0, passenger=True, **RUNNING)
    for t in range(1, 11):  # stopped between floors, doors closed, someone in: 10 s
        d.frame(t - 300 + (120 if t >= 5 else 0), arrival=t, door_zone=False, passenger=True)
    d.frame(11 - 180, arrival=11, passenger=True, **RUNNING)
    d.tick(12)
    assert d.log() == []


def test_a_clock_corrected_forward_inside_a_restarts_replay_does_not_turn_a_short_stop_into_an_entrapment() -> None:
    """Found by the property above: a clock 277 s behind from the first message is put right by
    182 s during a 10 s stop at a landing with the doors closed and someone in. The engine dies
    and replays the stop from a checkpoint taken before it could learn the clock's delay from
    messages received at their pace, so the step comes in a burst: consecutive messages 182 s
    apart on the device's clock, none at the engine. That is a step, not time passing
    (alerts/rules.py, DeviceRules._leaps)."""
    stop = CarState().landing(doors_open=False, passenger=True)
    plan = [(Sent(0.0, 0, -277.2, CarState().landing(doors_open=True, passenger=True)), 0.2)]
    plan += [(Sent(t, seq, t - 277.2 + (182.0 if t >= 4 else 0.0), stop), t) for seq, t in
             enumerate((1.9, 3.0, 4.4, 7.2, 12.0), start=1)]
    plan += [(Sent(t, seq, t - 95.2, CarState().landing(doors_open=True, passenger=False)), t) for seq, t in
             enumerate((13.0, 14.0, 15.0), start=6)]
    assert play(plan).raised(AlarmType.ENTRAPMENT) == []  # received at their pace: a step
    assert play(plan, restart=(5, 5, 0.0)).raised(AlarmType.ENTRAPMENT) == []  # replayed at once


def test_frames_replayed_at_once_at_their_period_still_measure_the_stop() -> None:
    """The other side of the rule above: frames sent every 5 s (the protocol's idle period) and
    replayed together after a restart are time passing, whatever their arrival: a car stuck
    between floors with someone in is an entrapment 15 s into the stop, by the frames' own time."""
    plan = [(Sent(0.0, 0, 0.0, CarState().moving(passenger=True)), 0.0)]
    plan += [(Sent(t, seq, t, CarState().between_floors(passenger=True)), t) for seq, t in
             enumerate((1.0, 6.0, 11.0, 16.0, 21.0), start=1)]
    run = play(plan, restart=(5, 4, 0.0))  # checkpoint after the first stopped frame
    assert [(c.raised, c.at - T0) for _, c in run.raised(AlarmType.ENTRAPMENT)] == [(True, 16.0)]


def test_a_device_that_reports_every_8_s_and_sends_its_backlog_at_once_is_measured_by_its_clock() -> None:
    """A device slower than the protocol's idle rate (every 8 s, under the silence limit) whose
    frames of a stuck car come at once, first heard that way (after an outage of the device or
    of the engine): the entrapment is raised as the frames arrive, at the time they say, not a
    window later."""
    plan = [(Sent(t, seq, t, CarState().between_floors(passenger=True)), 60.0) for seq, t in
            enumerate((0.0, 8.0, 16.0), start=1)]
    run = play(plan)
    assert [(at, c.at - T0) for at, c in run.raised(AlarmType.ENTRAPMENT)] == [(60.0, 15.0)]


def test_a_restart_replaying_an_entrapment_raised_and_cleared_since_the_checkpoint_raises_nothing() -> None:
    """The engine commits alarm changes before it writes the rule state: after a crash between
    the two, the broker redelivers what the stored state has not seen. An entrapment raised and
    cleared in that span is committed already. The rules cannot know (the database says nothing
    is open), so they raise it again; the database takes a raise stamped at or before the last
    raise of that alarm as a replay (alerts/alarm_store.py). So the rules must stamp the replayed
    raise as the first, and the database keeps nothing of the replay."""
    d = DriverDevice()
    for t in range(0, 15):
        d.frame(t, door_zone=False, passenger=True)  # seq 1-15
    state = json.loads(json.dumps(json_safe(d.rules.snapshot())))  # the checkpoint
    d.frame(15, door_zone=False, passenger=True)  # seq 16: raised
    d.frame(16, door_locked=False, passenger=False)  # seq 17: freed, cleared; the engine dies
    assert d.log() == [(True, "entrapment", 15.0), (False, "entrapment", 16.0)]
    restarted = fresh()
    restarted.restore(state, {}, T0 + 17)  # nothing open in the database any more
    again = restarted.on_telemetry(T0 + 15, 16, lift(door_zone=False, passenger=True), T0 + 17)
    again += restarted.on_telemetry(T0 + 16, 17, lift(door_locked=False, passenger=False), T0 + 17)
    assert all(c.at - T0 <= 15.0 for c in again if c.raised), again
    plan = [(Sent(float(t), t + 1, float(t), CarState().between_floors(True)), float(t)) for t in range(0, 16)]
    plan.append((Sent(16.0, 17, 16.0, CarState().landing(doors_open=True, passenger=False)), 16.0))
    run = play(plan, restart=(16, 2, 1.0))  # checkpoint after seq 15, dead after seq 17, back 1 s later
    assert [(c.raised, c.at - T0) for _, c in run.changes] == [(True, 15.0), (False, 16.0)]


def test_a_frame_overtaken_by_the_event_sent_after_it_still_tells_the_car_freed() -> None:
    d = DriverDevice()
    for t in range(0, 20):
        d.frame(t, seq=t + 1, door_zone=False, passenger=True)  # raised at 15
    d.event(19.999, 40, seq=22, arrival=20.01)  # sent just after seq 21, delivered before it
    d.frame(20, seq=21, arrival=20.02, door_locked=False, door_zone=True, passenger=False)  # freed
    for t in (21, 22, 23):
        d.tick(t)
    assert [(raised, alarm) for raised, alarm, _ in d.log()] == [(True, "entrapment"), (False, "entrapment")]
    assert d.log()[1][2] == pytest.approx(20.0, abs=0.002)  # the frame's time (or the event's, 1 ms before)


def test_the_button_delivered_before_the_frame_that_showed_the_stop_is_an_entrapment_that_does_not_lapse() -> None:
    """Issue input 5 with the button's message overtaking the frame sent a few ms before it."""
    d = DriverDevice()
    d.frame(0, seq=1, **RUNNING)
    d.event(0.999, 90, seq=3, arrival=1.02)
    d.frame(1.0, seq=2, arrival=1.03, door_zone=False)  # stopped between floors, nobody detected
    for t in range(2, 700, 5):
        d.frame(t, seq=t + 2, door_zone=False)
        d.tick(t + 1)
    entrapment = [(raised, at) for raised, alarm, at in d.log() if alarm == "entrapment"]
    assert len(entrapment) == 1  # raised, and still open
    assert entrapment[0][0] and abs(entrapment[0][1] - 1.0) <= 0.002  # at the button
    button = [(raised, at) for raised, alarm, at in d.log() if alarm == "alarm_button"]
    # A minor alarm at most for no time at all (until the frame 1 ms after the press's stamp).
    assert button == [] or (button[0] == (True, 0.999) and button[1][0] is False and button[1][1] - 0.999 <= 0.002)


def test_a_redelivered_message_from_before_a_counter_restart_does_not_hide_the_new_frames() -> None:
    """The broker redelivers, in order, what the engine had not acknowledged when it reconnected:
    here the last message before the device's reboot, then the first two after it. Neither the
    old message's state nor its seq may stand: the car stuck from t=32 is an entrapment at 47."""
    d = DriverDevice()
    for s in range(1, 26):
        d.frame(s - 1, seq=s)  # idle at a landing
    d.frame(30, seq=0)  # the device rebooted: its counter starts again
    d.frame(31, seq=1)
    d.frame(24, seq=25, arrival=31.5)  # redelivered ...
    d.frame(30, seq=0, arrival=31.5)
    d.frame(31, seq=1, arrival=31.5)
    for s in range(2, 50):
        d.frame(30 + s, seq=s, door_zone=False, passenger=True)  # stuck between floors, someone in
    assert d.log() == [(True, "entrapment", 47.0)]


def test_a_device_first_heard_through_a_backlog_keeps_the_backlogs_time() -> None:
    """Frames held back (an engine started behind the broker, a broker pause, the device's own
    stored frames) and delivered together are the device's time all the same: the first one's
    delay is no clock running behind."""
    d = DriverDevice()
    for t in range(0, 65, 5):  # stuck between floors, someone in, every 5 s; all delivered at 61
        d.frame(t, arrival=61, door_zone=False, passenger=True)
    for t in range(61, 70):
        d.tick(t + 0.5)
    assert d.log() == [(True, "entrapment", 15.0)]


def test_an_idle_cars_button_alarm_does_not_become_an_entrapment_at_a_later_short_stop() -> None:
    """Someone tries the button of an idle car (a minor alarm, open for up to 10 minutes); half a
    minute later the car carries a rider and stops 3 s between floors: no entrapment (D7)."""
    d = DriverDevice()
    d.frame(0)
    d.event(1, 90)
    d.frame(5)
    d.frame(30, door_locked=False, passenger=True)
    d.frame(33, passenger=True, **RUNNING)
    d.frame(35, door_zone=False, passenger=True)
    d.frame(38, passenger=True, **RUNNING)
    d.frame(40, door_locked=False, passenger=True)
    d.frame(43, door_locked=False, passenger=False)
    assert [alarm for raised, alarm, _ in d.log() if raised] == ["alarm_button"]  # and no entrapment


def test_a_press_ahead_of_its_frames_does_not_lapse_before_they_come() -> None:
    """The button pressed in a car stuck between floors, nobody detected, the press delivered
    at once and the frames sent before it held up longer than the button's lapse (a telemetry
    backlog): the minor alarm judged on the old state must wait for them, not lapse, so that the
    frames showing the stuck car make it the entrapment it is. Lapsed first, the press was lost:
    a stuck car with nobody detected is a fault, not an entrapment."""
    d = DriverDevice(settings=RuleSettings(alarm_button_ttl_s=5.0))
    d.frame(0, seq=1, **RUNNING)
    d.event(3, 90, seq=4, arrival=3.01)  # the press, ahead of seq 2 and 3
    for t in range(4, 30):
        d.tick(t)  # the backlog holds the frames for 26 s, more than the lapse
    d.frame(1, seq=2, arrival=30, door_zone=False)  # stopped between floors, nobody detected
    d.frame(2, seq=3, arrival=30, door_zone=False)
    d.frame(4, seq=5, arrival=30, door_zone=False)
    entrapment = [(raised, at) for raised, alarm, at in d.log() if alarm == "entrapment"]
    assert entrapment == [(True, 3.0)], d.log()
    assert (False, "alarm_button", 8.0) not in d.log()  # not lapsed


def _live_with_clock_behind(d: DriverDevice, behind: float, until: int, seq0: int = 0) -> None:
    """Frames at their pace, the clock ``behind`` s behind from the first (its delay learned)."""
    for t in range(until):
        d.frame(t - behind, seq=seq0 + t + 1, arrival=t + 0.05, passenger=True, **RUNNING)


STUCK: dict[str, Any] = {"door_zone": False, "passenger": True}


def test_events_between_two_frames_do_not_hide_a_clock_step_in_a_burst() -> None:
    """A clock 100 s behind put right during a 3 s stop between floors, the stop delivered in a
    burst; between the two stopped frames the device sent 7 events stamped on the old clock.
    The gap is counted from the newest of them, so the step is a step: no entrapment."""
    d = DriverDevice()
    _live_with_clock_behind(d, 100, 20)
    d.frame(20 - 100, arrival=200, **STUCK)
    for i in range(7):
        d.event(20.2 + 0.1 * i - 100, 40, arrival=200)
    d.frame(22, arrival=200, **STUCK)  # the clock put right by 100 s
    d.frame(23, arrival=200, passenger=True, **RUNNING)
    for t in range(201, 220):
        d.tick(t)
    assert [c for c in d.log() if c[1] == "entrapment"] == []


def test_a_clock_put_right_as_the_device_reboots_in_a_burst_is_a_step() -> None:
    """The device reboots during a 2 s stop between floors: its seq starts again and its clock,
    100 s behind before, comes back right; the frames come in a burst. The first frame of the
    new counter is checked as the next message: no entrapment."""
    d = DriverDevice()
    _live_with_clock_behind(d, 100, 20, seq0=1000)
    d.frame(20 - 100, arrival=200, **STUCK)
    d.frame(22, seq=0, arrival=200, **STUCK)
    d.frame(23, seq=1, arrival=200, passenger=True, **RUNNING)
    for t in range(201, 220):
        d.tick(t)
    assert [c for c in d.log() if c[1] == "entrapment"] == []


def test_a_car_parked_with_its_doors_closed_and_nobody_seen_waits_on_no_tick() -> None:
    """The most common state of a lift: time alone can raise nothing for it (an entrapment at a
    landing needs a presence detection to count), so the engine's tick does not visit it."""
    d = DriverDevice()
    for t in range(0, 200, 5):
        d.frame(t, door_locked=True, door_zone=True, passenger=False)
    assert not d.rules.waits_on_time()
    d.frame(201, door_locked=True, door_zone=True, passenger=True)  # someone inside: now it may mature
    assert d.rules.waits_on_time()


@pytest.mark.parametrize("event_first", [False, True])
def test_a_redelivered_pair_that_showed_a_restarted_counter_changes_nothing_after_a_restore(event_first: bool) -> None:
    """A frame and an event under the same ``seq`` with different stamps: the second is taken
    as a restarted counter, the first kept as the session before. After a restore the broker
    redelivers both, in either order: each is a copy of a message already taken (of this session
    or of the one before) and changes nothing. Taken as another restart, the redelivered frame
    (a running car) cleared the open safety-circuit alarm of the code, or the code raised again
    the alarm that the frame after it had cleared."""
    d = DriverDevice()
    steps: list[Callable[[], list[Change]]] = [
        lambda: d.frame(0, seq=0, running=True, door_locked=False, door_zone=False),
        lambda: d.event(-0.001, 1, seq=0),  # code 1: safety circuit open
    ]
    for step in reversed(steps) if event_first else steps:
        step()
    # The code raises the alarm; a running car sent after it (the new session) clears it.
    assert [(raised, kind) for raised, kind, _ in d.log()] == [(True, "safety_circuit_open"),
                                                                *([(False, "safety_circuit_open")] * event_first)]
    state = json.loads(json.dumps(json_safe(d.rules.snapshot())))
    restarted = fresh()
    restarted.restore(state, dict(d.rules.open), T0 + 5)
    again = restarted.on_telemetry(T0, 0, lift(running=True, door_locked=False, door_zone=False), T0 + 5)
    again += restarted.on_event(T0 - 0.001, 0, 1, T0 + 5)
    assert again == [] and restarted.open == d.rules.open


def test_a_replay_across_two_restarts_of_the_counter_raises_nothing_again() -> None:
    """Trapped (code 11, seq 1), freed (seq 32), then the counter restarted twice (seq 0, then
    seq 0 with another stamp). A restore from that state and a redelivery of all four must
    change nothing: the pairs of every recent session are kept, not only the last one's."""
    d = DriverDevice()
    d.event(0, 11, seq=1)
    d.frame(0, seq=32, door_locked=False, door_zone=True, passenger=False)
    d.frame(0, seq=0, door_locked=False, door_zone=False, passenger=False)
    d.frame(0.001, seq=0, door_locked=False, door_zone=True, passenger=False)
    assert [(raised, kind) for raised, kind, _ in d.log()] == [(True, "entrapment"), (False, "entrapment")]
    state = json.loads(json.dumps(json_safe(d.rules.snapshot())))
    restarted = fresh()
    restarted.restore(state, {}, T0 + 5)
    again = restarted.on_event(T0, 1, 11, T0 + 5)
    again += restarted.on_telemetry(T0, 32, lift(door_locked=False, door_zone=True, passenger=False), T0 + 5)
    again += restarted.on_telemetry(T0, 0, lift(door_locked=False, door_zone=False, passenger=False), T0 + 5)
    again += restarted.on_telemetry(T0 + 0.001, 0, lift(door_locked=False, door_zone=True, passenger=False), T0 + 5)
    assert again == [] and not restarted.open


def test_the_pairs_kept_for_duplicates_are_bounded() -> None:
    """Each restart adds its session's pairs; the oldest go first beyond four windows' worth."""
    d = DriverDevice()
    for session in range(10):
        for seq in range(40):
            d.frame(session * 100 + seq * 0.5, seq=seq)
    assert len(d.rules.previous) <= 4 * RULES.reorder_window
    assert (39, T0 + 800 + 19.5) in d.rules.previous  # the session before the last is kept
