"""The alarm path against a real Mosquitto and PostgreSQL, with paho-mqtt devices: a telemetry
backlog of 30,000 frames queued for the rules engine while it was away, then a trapped
passenger's call (code 11). The call is committed while most of the backlog is still unjudged
(counted in messages, not time); nothing is lost, nothing raised twice; and after a restart of
the engine in the middle of the backlog, still nothing raised twice."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from alerts.engine import RulesEngine
from alerts.hub import LiveHub
from alerts.rules import Change
from semon.alarm_types import AlarmType
from semon.db.pool import open_pool
from semon.mqtt.client import Message
from semon.stack import MosquittoServer
from tests.integration.devices import paho_client, stop
from tests.integration.helpers import ingest_settings, query

pytestmark = pytest.mark.integration

DEVICES = 300
FRAMES = 100  # per device: 30,000 in the backlog
TRAPPED = "E-TRAPPED"
CLIENT_ID = "test-rules-event-path"


class ThrottledEngine(RulesEngine):
    """The engine with its telemetry judging slowed (as on a machine busy with other work), and
    a record of how many telemetry messages were judged when each alarm change committed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.telemetry_judged = 0
        self.committed: list[tuple[int, bool, AlarmType]] = []  # (telemetry judged, raised, type)

    def _on_message(self, generation: int, message: Message) -> None:
        time.sleep(0.0001)  # 100 µs more per frame: 3 s or more for the backlog
        self.telemetry_judged += 1
        super()._on_message(generation, message)

    async def _commit(self, device_id: str, kind: str, change: Change) -> list[dict[str, Any]]:
        out = await super()._commit(device_id, kind, change)
        if out:
            self.committed.append((self.telemetry_judged, change.raised, change.type))
        return out


def frame(seq: int, ts_ms: int, **overrides: object) -> bytes:
    body: dict[str, object] = {"ts": ts_ms, "seq": seq, "running": False, "direction": "stop", "floor": 3,
                               "door_locked": True, "door_zone": True, "passenger": False, "mode": "normal",
                               "power": "main", "speed_mps": 0.0, "trip_count": 7, "run_hours": 1.0}
    body.update(overrides)
    return orjson.dumps(body)


@contextlib.asynccontextmanager
async def engine_running(mqtt_url: str, database_url: str) -> AsyncIterator[ThrottledEngine]:
    settings = ingest_settings(rules_client_id=CLIENT_ID, rules_checkpoint_interval_s=0.2)
    async with open_pool(database_url, min_size=1, max_size=4, name="test-event-path") as pool:
        engine = ThrottledEngine(settings.rules, settings.mqtt, mqtt_url, pool, LiveHub(10),
                                 incidents=settings.incidents, telemetry=settings.telemetry, backoff=settings.backoff)
        task = asyncio.create_task(engine.run())
        try:
            await asyncio.wait_for(engine.ready.wait(), 30)
            assert engine.events_session is not None
            await asyncio.wait_for(engine.session.connected.wait(), 30)  # connected and subscribed
            await asyncio.wait_for(engine.events_session.connected.wait(), 30)
            yield engine
        finally:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=30)
            if not done:  # say where it hangs, and let whatever the test raised be seen
                raise AssertionError("the engine did not stop within 30 s of its cancellation:\n" + stacks())
            with contextlib.suppress(asyncio.CancelledError):
                await task


def stacks() -> str:
    out = io.StringIO()
    for t in asyncio.all_tasks():
        out.write(f"--- {t.get_name()}\n")
        t.print_stack(limit=20, file=out)
    return out.getvalue()


def backlog(now_ms: int) -> list[tuple[str, bytes]]:
    """FRAMES frames of each of DEVICES idle cars, then the trapped car's: stuck between floors
    with someone inside for 10 s (short of the 15 s window), then its code 11, then frames of
    it still stuck (the same entrapment: not raised again)."""
    start = now_ms - 60_000
    out = [(f"se/elevator/LOAD-{d:03d}/telemetry", frame(s, start + s * 500)) for s in range(1, FRAMES + 1)
           for d in range(DEVICES)]
    stuck = {"door_zone": False, "passenger": True}
    trapped = [(f"se/elevator/{TRAPPED}/telemetry", frame(s, now_ms - 12_000 + s * 1_000, **stuck))
               for s in range(1, 11)]
    trapped.append((f"se/elevator/{TRAPPED}/event", orjson.dumps({"ts": now_ms - 1_500, "seq": 11, "code": 11})))
    trapped += [(f"se/elevator/{TRAPPED}/telemetry", frame(s, now_ms - 1_000 + (s - 12) * 100, **stuck))
                for s in range(12, 16)]
    # The trapped car's messages go out last: its call is behind the whole backlog.
    return out + trapped


def publish_sync(url: str, messages: list[tuple[str, bytes]]) -> None:
    """From one paho-mqtt device client, QoS 1, in order; returns once the broker has them all."""
    client = paho_client(url, "test-event-path-devices", inflight=1000)
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(60)
            assert info.is_published()
    finally:
        stop(client)


async def entrapments(database_url: str) -> int:
    rows = await query(database_url, "SELECT count(*) FROM alarms WHERE device_id = %s AND type = 'entrapment'",
                       (TRAPPED,))
    count = rows[0][0]
    assert isinstance(count, int)
    return count


async def drained(engine: RulesEngine, timeout: float = 120) -> None:
    """Every device's newest frame judged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rules = [engine.devices.get(f"LOAD-{d:03d}") for d in range(DEVICES)] + [engine.devices.get(TRAPPED)]
        if all(r is not None for r in rules) and all(
                r.last_frame_seq == (15 if r.device_id == TRAPPED else FRAMES) for r in rules if r is not None):
            return
        await asyncio.sleep(0.2)
    behind = {r.device_id: (r.last_frame_seq, r.last_seq) for r in rules if r is not None and r.last_frame_seq != (
        15 if r.device_id == TRAPPED else FRAMES)}
    raise AssertionError(f"backlog not drained: {engine.messages} messages judged; behind (frame seq, seq): {behind}, "
                         f"missing: {sum(r is None for r in rules)}")


async def test_a_call_for_help_is_committed_ahead_of_a_telemetry_backlog_and_never_twice(
        mosquitto: MosquittoServer, database_url: str) -> None:
    async with engine_running(mosquitto.url, database_url):
        pass  # both persistent sessions exist: the broker queues for them while the engine is away
    messages = backlog(int(time.time() * 1000))
    await asyncio.to_thread(publish_sync, mosquitto.url, messages)

    async with engine_running(mosquitto.url, database_url) as engine:
        deadline = time.monotonic() + 60
        while not any(t is AlarmType.ENTRAPMENT for _, _, t in engine.committed):
            assert time.monotonic() < deadline, "the call was never committed"
            await asyncio.sleep(0.01)
        judged_at_commit = next(n for n, raised, t in engine.committed if raised and t is AlarmType.ENTRAPMENT)
        # Most of the backlog still unjudged when the alarm committed (counted, not timed).
        assert judged_at_commit < DEVICES * FRAMES // 2, (judged_at_commit, engine.telemetry_judged)
        print(f"telemetry judged when the call committed: {judged_at_commit} of {DEVICES * FRAMES + 14}")
        await drained(engine)
        await asyncio.sleep(0.5)  # a checkpoint: what was judged is acknowledged
        assert engine.telemetry_judged >= DEVICES * FRAMES + 14
        assert [(r, t) for _, r, t in engine.committed] == [(True, AlarmType.ENTRAPMENT)]
    assert await entrapments(database_url) == 1
    rows = await query(database_url, "SELECT count(*) FROM incidents")
    assert rows == [(1,)]


async def test_a_restart_in_the_middle_of_the_backlog_raises_nothing_twice(
        mosquitto: MosquittoServer, database_url: str) -> None:
    async with engine_running(mosquitto.url, database_url):
        pass
    await asyncio.to_thread(publish_sync, mosquitto.url, backlog(int(time.time() * 1000)))

    async with engine_running(mosquitto.url, database_url) as engine:
        deadline = time.monotonic() + 60
        while engine.telemetry_judged < DEVICES * FRAMES // 3 or not engine.committed:
            assert time.monotonic() < deadline, (engine.telemetry_judged, engine.committed)
            await asyncio.sleep(0.01)
        first_run = engine.telemetry_judged
        assert first_run < DEVICES * FRAMES  # stopped in the middle of the backlog
        assert [(r, t) for _, r, t in engine.committed] == [(True, AlarmType.ENTRAPMENT)]

    async with engine_running(mosquitto.url, database_url) as engine:
        await drained(engine)  # what the first run had not acknowledged comes again, and the rest
        await asyncio.sleep(0.5)
        assert engine.committed == []  # the call is committed already: not raised again
        assert first_run + engine.telemetry_judged >= DEVICES * FRAMES + 14  # nothing lost
    assert await entrapments(database_url) == 1
    alarm_rows = await query(database_url, "SELECT type, state FROM alarms WHERE device_id = %s", (TRAPPED,))
    assert alarm_rows == [("entrapment", "open")]

