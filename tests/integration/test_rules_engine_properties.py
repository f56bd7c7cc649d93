"""Property-based tests of the rules engine's real path, checkpoint included, on a real PostgreSQL:
whatever sequence of messages devices send (any first message, statuses, events with any code,
telemetry with odd but decodable values, duplicates, reordering, clock steps, garbage), no
message raises, every checkpoint commits, and an engine restored from the database carries on
without raising again an alarm already open.

The engine is driven directly (``_on_message``, ``tick``, ``checkpoint``) rather than through a
broker, so that many sequences fit in a few seconds."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alerts.engine import RulesEngine
from alerts.hub import LiveHub
from assembly.alerts_service import rules_engine
from semon.db.pool import open_pool
from semon.metrics import series, value
from semon.mqtt.client import Message
from tests.integration.helpers import ingest_settings

pytestmark = pytest.mark.integration

DEVICES = ("E-1", "E-2", "B-1")  # E: elevators, B: a boiler
BASE_MS = int(time.time() * 1000) - 3_600_000  # an hour ago: inside the decoder's clock window
_packet_ids = itertools.count(1)


def _topic(device: str, channel: str) -> str:
    return f"se/{'boiler' if device.startswith('B') else 'elevator'}/{device}/{channel}"


ts_ms = st.integers(-600_000, 600_000).map(lambda d: BASE_MS + d)  # clock steps back and forth
seqs = st.integers(0, 2**40)
odd_text = st.text(alphabet=st.sampled_from("a\x00\u00e9\u56f0\ufffd\n\""), max_size=6)
vendor_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=6,
)
vendor = st.dictionaries(st.sampled_from(["x_note", "x_v", "x_board"]), vendor_value, max_size=2)
finite = st.floats(-1e6, 1e6, allow_nan=False)


def _frame(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()  # orjson refuses integers beyond 64 bits


status = st.sampled_from([b"online", b"offline", b'{"state":"offline","reason":"shutdown"}',
                          b'{"state":"online","reason":"shutdown"}', b"  offline\r\n",
                          b'{"state":"offline","x_note":"\\u0000"}']) | st.builds(
    lambda state, ms: _frame(state=state, ts=ms), st.sampled_from(["online", "offline"]), ts_ms)
event = st.builds(
    lambda ts, seq, code, detail, extra: _frame(ts=ts, seq=seq, code=code, detail=detail, **extra),
    ts_ms, seqs, st.sampled_from([11, 90, 40, 140, 1, 2, 3, 101, 102]) | st.integers(-2, 1001), odd_text, vendor)
elevator = st.builds(
    lambda ts, seq, flags, floor, speed, trips, power, extra: _frame(
        ts=ts, seq=seq, running=flags[0], door_locked=flags[1], door_zone=flags[2], passenger=flags[3],
        direction="stop" if not flags[0] else "up", floor=floor, mode="normal", power=power, speed_mps=speed,
        trip_count=trips, run_hours=1.0, **extra),
    ts_ms, seqs, st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()), st.integers(-5, 200),
    st.floats(0, 20), st.integers(0, 2**40), st.sampled_from(["main", "battery", "none"]), vendor)
boiler = st.builds(
    lambda ts, seq, burner, flame, values, extra: _frame(
        ts=ts, seq=seq, burner_on=burner, flame=flame, pressure_mpa=values[0], water_level_mm=values[1],
        outlet_temp_c=values[2], return_temp_c=values[3], flue_temp_c=values[4], feedwater_flow_m3h=values[5],
        fuel_flow_m3h=values[6], **extra),
    ts_ms, seqs, st.booleans(), st.booleans(), st.tuples(*[finite] * 7), vendor)
garbage = st.binary(max_size=40)


@st.composite
def message(draw: st.DrawFn) -> tuple[str, bytes]:
    device = draw(st.sampled_from(DEVICES))
    channel = draw(st.sampled_from(["status", "event", "telemetry", "telemetry"]))
    if draw(st.integers(0, 9)) == 0:
        return _topic(device, channel), draw(garbage)
    if channel == "status":
        return _topic(device, channel), draw(status)
    if channel == "event":
        return _topic(device, channel), draw(event)
    return _topic(device, channel), draw(boiler if device.startswith("B") else elevator)


@st.composite
def sequences(draw: st.DrawFn) -> tuple[list[tuple[str, bytes]], list[tuple[int, float]]]:
    """Messages (with duplicates, in any order) and the points where time passes and a
    checkpoint runs: (after this many messages, seconds passed)."""
    messages = draw(st.lists(message(), min_size=1, max_size=25))
    duplicates = draw(st.lists(st.sampled_from(messages), max_size=5))
    order = draw(st.permutations(messages + duplicates))
    pauses = draw(st.lists(st.tuples(st.integers(0, len(order)), st.floats(0, 3600)), max_size=4))
    return order, sorted(pauses)


def _feed(engine: RulesEngine, messages: list[tuple[str, bytes]]) -> None:
    for topic, payload in messages:
        engine._on_message(1, Message(topic, payload, 1, False, False, next(_packet_ids) % 65_535 + 1))


async def _alarms(database_url: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT id, device_id, type, state FROM alarms ORDER BY id")
        return await cur.fetchall()


async def _run(database_url: str, messages: list[tuple[str, bytes]], pauses: list[tuple[int, float]]) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("TRUNCATE alarms, incidents, rule_state CASCADE")
    s = ingest_settings(rules_client_id="test-rules-properties")
    async with open_pool(database_url, min_size=1, max_size=4, name="test-properties") as pool:
        engine = rules_engine(s, "mqtt://127.0.0.1:1", pool, LiveHub(10))
        await engine._restore()
        writer = asyncio.create_task(engine._write_changes())
        try:
            start = engine.now()
            done = 0
            for at, passed in pauses:
                _feed(engine, messages[done:at])
                done = max(done, at)
                engine.tick(start + passed)
                assert await engine.checkpoint()
            _feed(engine, messages[done:])
            assert await engine.checkpoint()
            m = engine.metrics
            assert value(m.message_errors, "rule_error") == 0
            assert series(m.errors) == {}
            assert value(m.state_refused) == 0 and value(m.changes_refused) == 0
            assert value(m.checkpoint_retries) == 0
        finally:
            writer.cancel()
        before = await _alarms(database_url)
        open_in_db = {(str(d), str(t)) for _, d, t, state in before if state == "open"}

        # A new engine from the database: it knows every open alarm, and the redelivery of what
        # it has seen (telemetry and events; statuses carry no position) raises none again.
        again = rules_engine(s, "mqtt://127.0.0.1:1", pool, LiveHub(10))
        await again._restore()
        assert value(again.metrics.restore_skipped) == 0
        known = {(d, str(t)) for d, rules in again.devices.items() for t in rules.open}
        assert known == open_in_db
        writer = asyncio.create_task(again._write_changes())
        try:
            _feed(again, [(t, p) for t, p in messages if not t.endswith("/status")])
            assert await again.checkpoint()
        finally:
            writer.cancel()
        after = await _alarms(database_url)
        assert [a for a in after if a[3] == "open"] == [a for a in before if a[3] == "open"]
        assert len(after) == len(before), "an alarm raised again after the restore"


_PAIR_ON_ONE_SEQ = [
    (_topic("E-1", "telemetry"), _frame(ts=BASE_MS, seq=0, running=True, door_locked=False, door_zone=False,
                                        passenger=False, direction="up", floor=0, mode="normal", power="main",
                                        speed_mps=0.0, trip_count=0, run_hours=1.0)),
    (_topic("E-1", "event"), _frame(ts=BASE_MS - 1, seq=0, code=1, detail="")),
]

_STOPPED = {"running": False, "door_locked": False, "passenger": False, "direction": "stop", "floor": 0,
            "mode": "normal", "power": "main", "speed_mps": 0.0, "trip_count": 0, "run_hours": 1.0}
_TWO_RESTARTS = [
    (_topic("E-1", "event"), _frame(ts=BASE_MS, seq=1, code=11, detail="")),  # trapped
    (_topic("E-1", "telemetry"), _frame(ts=BASE_MS, seq=32, door_zone=True, **_STOPPED)),  # freed
    (_topic("E-1", "telemetry"), _frame(ts=BASE_MS, seq=0, door_zone=False, **_STOPPED)),  # restarted
    (_topic("E-1", "telemetry"), _frame(ts=BASE_MS + 1, seq=0, door_zone=True, **_STOPPED)),  # and again
]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(sequences())
# Found by this test: a frame and an event under one seq (a restarted counter), redelivered
# after the restore, were taken as another restart: an alarm cleared, or raised again.
@example((_PAIR_ON_ONE_SEQ, []))
@example((_PAIR_ON_ONE_SEQ[::-1], []))
# Also found: the counter restarted twice; the replay's first messages were older than the one
# session kept for duplicates, and the entrapment of code 11 was raised again.
@example((_TWO_RESTARTS, []))
def test_any_message_sequence_keeps_the_engine_and_its_checkpoints_whole(
        database_url: str, case: tuple[list[tuple[str, bytes]], list[tuple[int, float]]]) -> None:
    messages, pauses = case
    with asyncio.Runner() as runner:
        runner.run(_run(database_url, messages, pauses))
