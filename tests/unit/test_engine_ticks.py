"""The engine's tick visits only the devices it can change (alerts/engine.py, RulesEngine.tick):
the devices waiting on time, and those quiet for the silence limit in the order last heard. It
must give exactly what a tick of every device gives, whatever the devices send and when."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from hypothesis import given, note, settings
from hypothesis import strategies as st

from alerts.engine import rule_settings
from alerts.rules import Change, DeviceRules
from assembly.alerts_service import rules_engine
from semon.mqtt.client import Message
from semon.profile import DeviceProfile
from semon.protocol.decode import Decoded, decode_for_rules
from semon.protocol.models import DeviceEvent, ElevatorTelemetry, StatusMessage
from semon.protocol.topics import Kind
from semon.settings import Settings

DEVICES = 4
SETTINGS = Settings()


@dataclass(frozen=True, slots=True)
class Step:
    device: int
    wait: float  # seconds passing before it (ticks every second in between)
    # "frame", "event", "online", "offline", "shutdown"; or no sign of life: "again" (the
    # device's last frame once more), "stale" (an ``online`` stamped an hour back), "retained"
    # (its retained ``online`` replayed by the broker)
    what: str
    stuck: bool = False  # a frame: stopped between floors, doors closed
    passenger: bool = False
    code: int = 11


steps = st.lists(st.builds(
    Step,
    device=st.integers(0, DEVICES - 1),
    wait=st.sampled_from([0.0, 0.4, 1.0, 3.0, 7.0, 16.0, 40.0]),
    what=st.sampled_from(["frame", "frame", "frame", "event", "online", "offline", "shutdown", "again", "stale",
                          "retained"]),
    stuck=st.booleans(), passenger=st.booleans(), code=st.sampled_from([11, 90, 5, 40, 8])), max_size=40)


def payload(step: Step, seq: int, ts_ms: int) -> tuple[str, bytes]:
    device = f"E-TICK-{step.device}"
    if step.what == "frame":
        body = {"ts": ts_ms, "seq": seq, "running": False, "direction": "stop", "floor": 3,
                "door_locked": True, "door_zone": not step.stuck, "passenger": step.passenger, "mode": "normal",
                "power": "main", "speed_mps": 0.0, "trip_count": 1000, "run_hours": 10.5}
        return f"se/elevator/{device}/telemetry", orjson.dumps(body)
    if step.what == "event":
        return f"se/elevator/{device}/event", orjson.dumps({"ts": ts_ms, "seq": seq, "code": step.code})
    status = {"online": b"online", "offline": b"offline",
              "shutdown": orjson.dumps({"state": "offline", "reason": "shutdown"})}[step.what]
    return f"se/elevator/{device}/status", status


Key = tuple[str, bool, str, float]


def key(device_id: str, change: Change) -> Key:
    return device_id, change.raised, str(change.type), round(change.at, 6)


async def both(history: list[Step]) -> tuple[list[list[Key]], list[list[Key]]]:
    """Each step's alarm changes (sorted), from the engine and from ticking every device."""
    engine = rules_engine(SETTINGS, "mqtt://127.0.0.1:1", None, None)  # type: ignore[arg-type]
    # Hours behind the wall clock: the decoder takes any ts up to 91 days old and the history
    # spans less than that, never the 5 minutes ahead it refuses.
    clock = [float(int(time.time())) - 6 * 3600]
    engine.now = lambda: clock[0]  # type: ignore[method-assign]
    engine.hears_the_present = lambda now: True  # type: ignore[method-assign]
    engine.session.pause_reading = lambda: None  # type: ignore[method-assign]
    seen: list[Key] = []
    engine._enqueue = lambda device_id, kind, change: seen.append(key(device_id, change))  # type: ignore[method-assign]
    reference: dict[str, DeviceRules] = {}
    rules = rule_settings(SETTINGS.rules)
    mine: list[Key] = []
    out_engine: list[list[Key]] = []
    out_reference: list[list[Key]] = []
    seqs = [0] * DEVICES
    last_frame: dict[int, tuple[str, bytes]] = {}
    next_tick = clock[0] + 1.0

    def flush() -> None:
        out_engine.append(sorted(seen))
        out_reference.append(sorted(mine))
        seen.clear()
        mine.clear()

    def tick_both() -> None:
        nonlocal next_tick
        clock[0] = next_tick
        engine.tick(clock[0])
        for device_id, r in reference.items():
            mine.extend(key(device_id, c) for c in r.tick(clock[0], current=True))
        flush()
        next_tick += 1.0

    for step in history:
        target = clock[0] + step.wait
        while next_tick <= target:
            tick_both()
        clock[0] = target
        retain = step.what == "retained"
        if step.what == "again":
            if step.device not in last_frame:
                continue
            topic, body = last_frame[step.device]
        elif step.what == "stale":
            topic = f"se/elevator/E-TICK-{step.device}/status"
            body = orjson.dumps({"state": "online", "ts": int(clock[0] * 1000) - 3_600_000})
        elif retain:
            topic, body = f"se/elevator/E-TICK-{step.device}/status", b"online"
        else:
            seqs[step.device] += 1
            topic, body = payload(step, seqs[step.device], int(clock[0] * 1000) - 50)
            if step.what == "frame":
                last_frame[step.device] = topic, body
        engine._judge(Message(topic, body, 1, retain, False, 1))
        result = decode_for_rules(topic, body, datetime.now(UTC), SETTINGS.telemetry.decode_limits())
        assert isinstance(result, Decoded), result
        device_id = result.topic.device_id
        r = reference.setdefault(device_id, DeviceRules(device_id, DeviceProfile(Kind.ELEVATOR), rules))
        p = result.payload
        if isinstance(p, ElevatorTelemetry):
            changes = r.on_telemetry(p.ts.timestamp(), p.seq, p, clock[0])
        elif isinstance(p, DeviceEvent):
            changes = r.on_event(p.ts.timestamp(), p.seq, p.code, clock[0])
        else:
            assert isinstance(p, StatusMessage)
            at = p.ts.timestamp() if p.ts is not None else None
            changes = r.on_status(p.state == "online", at, clock[0], orderly=p.reason == "shutdown", retained=retain)
        mine.extend(key(device_id, c) for c in changes)
        flush()
    for _ in range(30):  # then quiet: silence, lapses and windows come due
        tick_both()
    return out_engine, out_reference


@settings(max_examples=300, deadline=None)
@given(steps)
def test_a_tick_of_the_devices_due_gives_what_a_tick_of_every_device_gives(history: list[Step]) -> None:
    note(str(history))
    engine, reference = asyncio.run(both(history))
    assert engine == reference


def test_a_quiet_device_falls_silent_on_time_and_a_signed_off_one_does_not() -> None:
    history = [Step(0, 0.0, "online"), Step(0, 0.5, "frame"), Step(1, 0.0, "frame"), Step(1, 1.0, "shutdown")]
    engine, reference = asyncio.run(both(history))
    assert engine == reference
    raised = [c for tick in engine for c in tick if c[1] and c[2] == "silent"]
    assert [c[0] for c in raised] == ["E-TICK-0"]


def test_messages_that_are_no_sign_of_life_do_not_keep_a_device_from_falling_silent() -> None:
    """A device heard once, then only resending that frame, an ``online`` stamped an hour back
    or its retained ``online`` replayed, while others report: silent at 15 s all the same."""
    for noise in ("again", "stale", "retained"):
        history = [Step(0, 0.0, "frame"), Step(1, 0.0, "frame")]
        for _ in range(20):
            history += [Step(1, 1.0, "frame"), Step(0, 0.0, noise)]
        engine, reference = asyncio.run(both(history))
        assert engine == reference
        silent = [c[0] for tick in engine for c in tick if c[1] and c[2] == "silent"]
        assert silent[0] == "E-TICK-0", noise  # while the other still reports (it falls silent after)
