"""semon/heap.py: the rules engine's state is frozen out of the cycle collector's walks, which
is sound only while judging messages leaves no garbage in reference cycles."""

from __future__ import annotations

import asyncio
import gc
import time

import orjson
import pytest

from alerts.engine import RulesEngine
from assembly.alerts_service import rules_engine
from semon.backoff import Backoff
from semon.heap import freeze_periodically, heap_metrics, with_frozen_heap
from semon.metrics import parse_text, render
from semon.mqtt.client import Message
from semon.settings import Settings
from simulators.loadgen import elevator_frame


def messages(now_ms: int, devices: int, rounds: int) -> list[Message]:
    """Frames of moving cars, then cars stuck with someone in, trapped codes, button presses,
    faults and their clearing, statuses: every kind of change the rules make."""
    out = []
    for r in range(rounds):
        for d in range(devices):
            device = f"E-HEAP-{d}"
            ts = now_ms - (rounds - r) * 1000
            if r < rounds // 2:
                out.append(Message(f"se/elevator/{device}/telemetry", elevator_frame(r, ts, 3), 1, False, False, 1))
            else:
                stuck = {"ts": ts, "seq": r, "running": False, "direction": "stop", "floor": 3, "door_locked": True,
                         "door_zone": False, "passenger": True, "mode": "normal", "power": "battery",
                         "speed_mps": 0.0, "trip_count": 5, "run_hours": 1.0}
                out.append(Message(f"se/elevator/{device}/telemetry", orjson.dumps(stuck), 1, False, False, 1))
            if r % 3 == 1:
                code = (11, 90, 5, 40)[(r + d) % 4]
                event = orjson.dumps({"ts": ts + 1, "seq": 10_000 + r, "code": code})
                out.append(Message(f"se/elevator/{device}/event", event, 1, False, False, 1))
        out.append(Message(f"se/elevator/E-HEAP-{r % devices}/status", b"offline", 1, False, False, 1))
        out.append(Message(f"se/elevator/E-HEAP-{r % devices}/status", b"online", 1, False, False, 1))
    return out


async def garbage_in_cycles(batch: list[Message]) -> tuple[int, RulesEngine]:
    """Objects only the cycle collector could free, left by judging ``batch`` (and ticking) on
    an engine that has judged it once already (what its start-up builds is not counted)."""
    engine = rules_engine(Settings(), "mqtt://127.0.0.1:1", None, None)  # type: ignore[arg-type]
    engine.session.pause_reading = lambda: None  # type: ignore[method-assign]
    engine.hears_the_present = lambda now: True  # type: ignore[method-assign]

    def judge(messages: list[Message], offset: float) -> None:
        for i, message in enumerate(messages):
            engine._judge_one(message)
            if i % 50 == 0:
                engine.tick(engine.now() + offset + i)

    judge(batch[:len(batch) // 2], 0.0)
    gc.collect()
    gc.disable()
    try:
        judge(batch[len(batch) // 2:], 1000.0)
        return gc.collect(), engine
    finally:
        gc.enable()


def test_judging_messages_leaves_no_garbage_in_reference_cycles() -> None:
    batch = messages(int(time.time() * 1000) - 600_000, devices=20, rounds=40)
    found, engine = asyncio.run(garbage_in_cycles(batch))
    assert engine._calls_enqueued and engine.messages == len(batch)  # the rules judged, and raised calls
    assert found == 0  # nothing unreachable that only the collector could free


async def test_the_heap_is_frozen_at_once_and_again_at_each_interval() -> None:
    gc.unfreeze()
    try:
        task = asyncio.create_task(freeze_periodically(Backoff(0.01, 0.1), 0.05))
        await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 0
        kept = [[n] for n in range(1000)]  # new, long-lived objects: frozen at the next interval
        before = gc.get_freeze_count()
        await asyncio.sleep(0.12)
        assert gc.get_freeze_count() >= before + len(kept)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        text = render(heap_metrics())
        assert parse_text(text)["semon_heap_frozen_objects"] == gc.get_freeze_count()
    finally:
        gc.unfreeze()


async def test_with_frozen_heap_returns_what_main_returns_and_stops_freezing() -> None:
    async def main() -> int:
        await asyncio.sleep(0.02)
        return 7

    try:
        assert await with_frozen_heap(main, Backoff(0.01, 0.1), interval_s=0.01) == 7
        await asyncio.sleep(0)
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "heap-freeze" and not t.done()]
    finally:
        gc.unfreeze()


async def test_an_interval_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        await freeze_periodically(Backoff(0.01, 0.1), 0)
