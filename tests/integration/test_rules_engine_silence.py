"""Silence is judged only while the rules engine hears the present. Behind a backlog (after a
restart, under overload) every device's last message is old on the engine's clock, and judging
silence then raises a false ``silent`` alarm for devices that are sending (issue 10: the engine
killed mid-stream, no false silent alarms)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import orjson
import psycopg
import pytest

from alerts.engine import RulesEngine
from alerts.hub import LiveHub
from assembly.alerts_service import rules_engine
from semon.db.pool import open_pool
from semon.metrics import series
from semon.mqtt.client import Message
from tests.integration.helpers import ingest_settings
from tests.unit.frames import elevator_frame

pytestmark = pytest.mark.integration

_packet_ids = itertools.count(1)
SILENT_AFTER = 15.0


class Clock:
    """The engine's loop clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[tuple[RulesEngine, Clock]]:
    s = ingest_settings(rules_client_id="test-rules-silence", rules_silent_after_s=SILENT_AFTER)
    async with open_pool(database_url, min_size=1, max_size=2, name="test-silence") as pool:
        engine = rules_engine(s, "mqtt://127.0.0.1:1", pool, LiveHub(10))
        clock = Clock()
        engine._loop = clock  # type: ignore[assignment]
        engine._epoch_at_start = time.time() - clock.now  # the engine's clock starts at the real time
        engine.session.connected.set()  # as if connected: the test feeds the messages itself
        yield engine, clock


def _frame(engine: RulesEngine, device: str, seq: int, age_s: float) -> Message:
    payload = orjson.dumps(elevator_frame(ts=int((engine.now() - age_s) * 1000), seq=seq, device_id=device,
                                          running=False, direction="stop", door_zone=True, passenger=False,
                                          speed_mps=0.0))
    return Message(f"se/elevator/{device}/telemetry", payload, 1, False, False, next(_packet_ids))


def _heard(engine: RulesEngine) -> None:
    assert not series(engine.metrics.message_errors), "the test's frames must be valid"


def _silent(engine: RulesEngine) -> set[str]:
    changes: set[str] = set()
    while not engine._changes.empty():
        device, _, change = engine._changes.get_nowait()
        if change.raised and str(change.type) == "silent":
            changes.add(device)
    return changes


def _run(engine: RulesEngine, clock: Clock, seconds: int, senders: list[str], age_s: float,
         seqs: itertools.count[int]) -> set[str]:
    """One frame a second from each sender, ``age_s`` old when it arrives; a tick each second."""
    silent: set[str] = set()
    for _ in range(seconds):
        clock.now += 1
        seq = next(seqs)
        for device in senders:
            engine._on_message(1, _frame(engine, device, seq, age_s))
        engine.tick(engine.now())
        silent |= _silent(engine)
    _heard(engine)
    return silent


async def test_a_device_that_stops_is_silent_while_the_engine_is_current(
        engine: tuple[RulesEngine, Clock]) -> None:
    e, clock = engine
    seqs = itertools.count(1)
    assert _run(e, clock, 20, ["E-A", "E-B"], 0.2, seqs) == set()
    assert _run(e, clock, int(SILENT_AFTER) + 2, ["E-A"], 0.2, seqs) == {"E-B"}


async def test_behind_a_backlog_nobody_is_silent(engine: tuple[RulesEngine, Clock]) -> None:
    e, clock = engine
    seqs = itertools.count(1)
    assert _run(e, clock, 20, ["E-A", "E-B"], 0.2, seqs) == set()
    # The engine falls behind (its frames arrive 30 s old): E-B's frames are still in the
    # backlog, so its quiet on the engine's clock says nothing about the device.
    assert _run(e, clock, 40, ["E-A"], 30.0, seqs) == set()
    # Caught up again: once it has heard the present for the whole limit, silence counts again.
    assert _run(e, clock, int(SILENT_AFTER) - 1, ["E-A"], 0.2, seqs) == set()
    assert _run(e, clock, 3, ["E-A"], 0.2, seqs) == {"E-B"}


async def test_while_reading_is_paused_nobody_is_silent(engine: tuple[RulesEngine, Clock]) -> None:
    e, clock = engine
    seqs = itertools.count(1)
    assert _run(e, clock, 20, ["E-A", "E-B"], 0.2, seqs) == set()
    e.session.pause_reading()
    assert _run(e, clock, 40, ["E-A"], 0.2, seqs) == set()


async def test_disconnected_nobody_is_silent(engine: tuple[RulesEngine, Clock]) -> None:
    e, clock = engine
    seqs = itertools.count(1)
    assert _run(e, clock, 20, ["E-A", "E-B"], 0.2, seqs) == set()
    e.session.connected.clear()
    assert _run(e, clock, 40, [], 0.2, seqs) == set()


async def test_in_a_small_fleet_a_device_that_stops_is_silent(engine: tuple[RulesEngine, Clock]) -> None:
    e, clock = engine  # one device reporting every 5 s: most ticks see no frame at all
    seqs = itertools.count(1)
    silent: set[str] = set()
    for second in range(60):
        clock.now += 1
        if second < 20 and second % 5 == 0:
            e._on_message(1, _frame(e, "E-Q", next(seqs), 0.2))
        e.tick(e.now())
        silent |= _silent(e)
    assert silent == {"E-Q"}


async def test_while_a_checkpoint_cannot_be_written_and_the_window_is_taken_nobody_is_silent(
        database_url: str) -> None:
    """The database away: a checkpoint holds the acknowledgements it took while it waits, the
    broker sends nothing more once the whole window is unacknowledged, and no further message
    comes to pause reading. The engine then hears nothing, and must not judge anyone silent
    (an 80 s outage under `semon up` raised `silent` for all 110 devices)."""
    window = 50
    s = ingest_settings(rules_client_id="test-rules-window", rules_silent_after_s=SILENT_AFTER,
                        rules_receive_maximum=window)
    async with open_pool(database_url, min_size=1, max_size=2, name="test-window") as pool:
        e = rules_engine(s, "mqtt://127.0.0.1:1", pool, LiveHub(10))
        clock = Clock()
        e._loop = clock  # type: ignore[assignment]
        e._epoch_at_start = time.time() - clock.now
        e.session.connected.set()
        database_back = asyncio.Event()

        async def unwritable(rows: object) -> None:
            await database_back.wait()
            raise psycopg.OperationalError("the database is away")

        e._write_states = unwritable  # type: ignore[method-assign]
        unacked = 0  # the broker's count: delivered, not acknowledged

        def deliver(device: str, seq: int) -> None:
            nonlocal unacked
            if unacked < window and not e.session.reading_paused:  # the broker honours the window
                e._on_message(1, _frame(e, device, seq, 0.2))
                unacked += 1

        seqs = itertools.count(1)
        silent: set[str] = set()
        checkpoint: asyncio.Task[None] | None = None
        for second in range(60):
            clock.now += 1
            seq = next(seqs)
            for device in ("E-A", "E-B"):
                deliver(device, seq)
            if second == 5:  # a checkpoint starts and waits for the database
                checkpoint = asyncio.create_task(e._checkpoint())
                await asyncio.sleep(0)
            e.tick(e.now())
            silent |= _silent(e)
        assert unacked == window, "the test must fill the window"
        assert silent == set()
        database_back.set()
        assert checkpoint is not None
        with pytest.raises(psycopg.OperationalError):
            await checkpoint
        assert e.window_taken(), "the acknowledgements go back to the window"
