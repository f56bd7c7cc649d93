"""The rules' duplicates, tried as an adversary would: a new message must never be taken as a
copy (a call for help lost), and a copy never as new (a call for help raised twice). An event is
a copy only of an event taken with the same seq, stamp and code (``DeviceRules.events_taken``),
however far back in the stream; a frame under the same (seq, ts) pair does not hide it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from alerts.engine import json_safe
from alerts.model import Source
from alerts.rules import Change, DeviceRules, RuleSettings
from semon.alarm_types import AlarmType
from semon.profile import DeviceProfile
from semon.protocol.topics import Kind
from tests.unit.rules_driver import T0, Device, lift

ENTRAPMENT = AlarmType.ENTRAPMENT
STUCK = {"running": False, "door_locked": True, "door_zone": False, "passenger": True}
FREED = {"running": False, "door_locked": False, "door_zone": True, "passenger": False}


def kinds(changes: list[Change]) -> list[tuple[bool, str]]:
    return [(c.raised, str(c.type)) for c in changes]


class Recorder(Device):
    """The driver's Device, keeping every message sent so that it can be delivered again exactly
    (same seq, same ts, same payload)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[int, Callable[[float], list[Change]]]] = []

    def frame(self, t: float, seq: int | None = None, arrival: float | None = None, **kw: Any) -> list[Change]:
        out = super().frame(t, seq, arrival, **kw)
        s, frame = self.seq, lift(**kw)

        def again(a: float) -> list[Change]:
            return self.rules.on_telemetry(T0 + t, s, frame, T0 + a)

        self.sent.append((s, again))
        return out

    def event(self, t: float, code: int, seq: int | None = None, arrival: float | None = None) -> list[Change]:
        out = super().event(t, code, seq, arrival)
        s = self.seq

        def again(a: float) -> list[Change]:
            return self.rules.on_event(T0 + t, s, code, T0 + a)

        self.sent.append((s, again))
        return out


# --- copies of events older than the reorder window (32) --------------------------------------


def trapped_then_freed_then_normal(d: Recorder) -> None:
    """seq 1-5 idle at a landing; seq 6 stuck between floors with a passenger; seq 7 code 11
    (entrapment raised); stuck to seq 20; seq 21 freed (cleared); seq 22-60 idle."""
    for t in range(1, 6):
        d.frame(t)
    d.frame(6, **STUCK)
    d.event(6.5, 11)
    for t in range(7, 20):
        d.frame(t, **STUCK)
    d.frame(20, **FREED)
    for t in range(21, 60):
        d.frame(t)
    assert kinds(d.changes) == [(True, "entrapment"), (False, "entrapment")]
    assert d.seq == 60


def test_a_broker_redelivery_deeper_than_the_window_changes_nothing() -> None:
    """The engine judged 60 messages of one device that are not acknowledged yet (they are acked
    only at a checkpoint; the window is 2000 messages, and a database outage holds every ack).
    Its connection to the broker drops and comes back with the session present: the broker
    redelivers all 60, same seq, same ts (alerts/engine.py ``_on_connected``: "judged then, not
    twice"). Copy seq 1 is more than 32 below seq 60 and reads as a restarted counter, but copy 7
    (code 11) is a copy of an event taken: no entrapment raised or cleared again."""
    d = Recorder()
    trapped_then_freed_then_normal(d)
    again: list[Change] = []
    for _, deliver in list(d.sent):
        again += deliver(61)
    assert again == [], kinds(again)


def test_a_redelivered_code_11_more_than_32_messages_old_does_not_raise_again() -> None:
    """Only the code-11 event is redelivered (its ack was lost / the events session reconnected
    during a database outage), after 53 more frames were taken: far below the window, still a
    copy of the event taken, and the freed car's entrapment is not raised again."""
    d = Recorder()
    trapped_then_freed_then_normal(d)
    code11 = next(deliver for seq, deliver in d.sent if seq == 7)
    again = code11(61)
    assert again == [], kinds(again)


def test_a_copy_of_an_event_that_overtook_a_long_backlog_is_still_a_duplicate() -> None:
    """The event path overtakes a telemetry backlog (docs/alerts.md "The alarm path"): code 11 at
    seq 60 is judged while frames are at seq 10; the operator closes the incident; the 49 backlog
    frames (seq 11-59, all sent before the call) come, pushing seq 60 out of ``recent``; then the
    broker redelivers code 11 (same seq, same ts). Above the newest frame, it could read as a new
    call for help after the close; it is a copy of the event taken, and nothing is raised."""
    d = Recorder()
    for t in range(1, 11):
        d.frame(t)
    d.event(60, 11, seq=60, arrival=60)
    assert kinds(d.changes) == [(True, "entrapment")]
    d.rules.closed_by_operator(ENTRAPMENT)
    for seq in range(11, 60):
        d.frame(seq, seq=seq, arrival=61)
    code11 = next(deliver for seq, deliver in d.sent if seq == 60)
    again = code11(62)
    assert again == [], kinds(again)


# --- new events under a pair a frame holds -------------------------------------------------------


def test_a_clock_standing_still_across_a_reboot_does_not_hide_the_trapped_code() -> None:
    """A device whose clock stands still (docs/alerts.md: "A clock that stands still (the same ts
    in every frame) is carried on by the engine's time") and whose counter restarts at 0 when it
    reboots (protocol 4.1 allows it). Before the reboot it sent seq 0-9 at the stuck ts; after it,
    a frame seq 0 (stuck, passenger) and code 11 at seq 1, same stuck ts: the pairs are frames'
    taken before, but no event was taken under them, so the code is judged: the entrapment."""
    d = Device()
    for i in range(10):
        d.frame(0, seq=i, arrival=i)
    d.frame(0, seq=0, arrival=30, **STUCK)  # rebooted: counter at 0
    d.event(0, 11, seq=1, arrival=31)
    assert (True, "entrapment") in [(r, k) for r, k, _ in d.log()], d.log()


def test_a_clock_standing_still_across_a_reboot_after_a_long_session() -> None:
    """Same, after a session of 100 messages: the new session's seq 0-67 are taken, but seq 68-99
    are the last 32 pairs of the session before, kept in ``previous``: the frames seq 68-79 read as
    copies, but the code 11 at seq 80 is no copy of an event (frames idle at a landing: only the
    device's code tells of the trapped passenger): the entrapment is raised."""
    d = Device()
    for i in range(100):
        d.frame(0, seq=i, arrival=i)
    for i in range(80):
        d.frame(0, seq=i, arrival=200 + i)  # idle at a landing: only the device's code tells
    d.event(0, 11, seq=80, arrival=280.5)
    assert (True, "entrapment") in [(r, k) for r, k, _ in d.log()], d.log()


def test_an_event_stamped_with_the_seq_and_ts_of_its_frame_is_judged() -> None:
    """Firmware that sends an event with the seq and ts of the frame it belongs to (against
    protocol 4.1, one counter for both, but a common design: the event is 'of' that frame). The
    pair equals the frame's; an event is no copy of a frame: judged."""
    d = Device()
    d.frame(1, seq=1)
    d.frame(2, seq=2, **STUCK)
    d.event(2, 11, seq=2)
    assert (True, "entrapment") in [(r, k) for r, k, _ in d.log()], d.log()


def test_a_press_replayed_after_a_restart_is_still_judged_again_on_the_frame_it_followed() -> None:
    """The alarm button pressed (seq 8) in a car the rules last saw stopped between floors raises
    an entrapment ahead of frames 6-7 still in the backlog. The engine restarts from a checkpoint
    taken before the press, with the entrapment open in the database; the broker replays the
    press, then frames 6-7 show the car at a landing, doors open, nobody inside. The press is
    judged again on the frame it followed, as without the restart: the entrapment it raised is
    withdrawn and the button alarm it would have been in order is raised."""
    d = Device()
    for t in range(1, 6):
        d.frame(t, seq=t, running=False, door_zone=False)  # stopped between floors, nobody seen
    state = json.loads(json.dumps(json_safe(d.rules.snapshot())))  # the checkpoint
    d.event(7.5, 90, seq=8, arrival=7.6)  # ahead of frames 6 and 7
    assert [(r, k) for r, k, _ in d.log()] == [(True, "entrapment")]
    raised = d.changes[-1].at
    restarted = DeviceRules("E-1", DeviceProfile(Kind.ELEVATOR), RuleSettings())
    restarted.restore(state, {ENTRAPMENT: Source.CODE}, T0 + 9, {ENTRAPMENT: raised})
    again = restarted.on_event(T0 + 7.5, 8, 90, T0 + 9)
    assert again == []  # open already
    landing = {"running": False, "door_locked": False, "door_zone": True, "passenger": False}
    again += restarted.on_telemetry(T0 + 6, 6, lift(**landing), T0 + 9.1)
    again += restarted.on_telemetry(T0 + 7, 7, lift(**landing), T0 + 9.2)
    assert kinds(again) == [(False, "entrapment"), (True, "alarm_button")]
    assert again[0].at == raised


def test_a_press_ahead_of_frames_that_show_the_car_trapped_on_their_own_is_not_withdrawn() -> None:
    """The car stops between floors with a passenger inside (t 0). From t 6 its frames fall
    behind a backlog. The alarm button, pressed at t 40 after the passenger was freed at t 30,
    arrives at once, ahead of them, and raises an entrapment on the newest state the rules have
    (stuck). The frames then show the car trapped for the whole window on their own (t 15): that
    entrapment is theirs, and the frame the press followed (freed, empty) does not withdraw it
    as the press's mistake. The frames' freeing clears it, and the press is the button alarm it
    was in order."""
    d = Device()
    stuck = {"running": False, "door_zone": False, "passenger": True}
    for t in range(0, 6):
        d.frame(t, seq=t + 1, arrival=t + 0.1, **stuck)
    d.event(40, 90, seq=42, arrival=40.1)  # ahead of frames 7-41, still in the backlog
    assert kinds(d.changes) == [(True, "entrapment")]
    for t in range(6, 30):
        d.frame(t, seq=t + 1, arrival=40.2 + (t - 6) * 0.1, **stuck)
    freed = {"running": False, "door_locked": False, "door_zone": True, "passenger": False}
    for t in range(30, 41):
        d.frame(t, seq=t + 1, arrival=42.7 + (t - 30) * 0.1, **freed)
    assert kinds(d.changes) == [(True, "entrapment"), (False, "entrapment"), (True, "alarm_button")]
    assert d.changes[1].details["reason"] == "doors open at a landing, car empty"
