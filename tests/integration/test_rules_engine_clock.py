"""A device whose clock is outside the ingester's window (reset to 1970 or 2000 by a power loss,
or far ahead) has every message refused by the decoder. Its alarm button and trapped code are
judged all the same, at their arrival: a trapped passenger's alarm is never lost to a clock."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import orjson
import pytest

from alerts.engine import RulesEngine
from alerts.hub import LiveHub
from alerts.rules import Change
from assembly.alerts_service import rules_engine
from semon.db.pool import open_pool
from semon.metrics import value
from semon.mqtt.client import Message
from tests.integration.helpers import ingest_settings
from tests.unit.frames import elevator_frame

pytestmark = pytest.mark.integration

_packet_ids = itertools.count(1)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[RulesEngine]:
    s = ingest_settings(rules_client_id="test-rules-clock")
    async with open_pool(database_url, min_size=1, max_size=2, name="test-clock") as pool:
        yield rules_engine(s, "mqtt://127.0.0.1:1", pool, LiveHub(10))


def _send(engine: RulesEngine, topic: str, payload: bytes | dict[str, object]) -> list[Change]:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    engine._on_message(1, Message(topic, raw, 1, False, False, next(_packet_ids)))
    out: list[Change] = []
    for lane in (engine._calls, engine._changes):  # entrapments and the button have a lane of their own
        while not lane.empty():
            out.append(lane.get_nowait()[2])
    return out


@pytest.mark.parametrize(("ts", "reason"), [
    (0, "bad_timestamp"),  # epoch 1970: an RTC without its battery
    ("2000-01-01T00:00:00+08:00", "stale_timestamp"),
    ("2999-01-01T00:00:00Z", "future_timestamp"),
])
@pytest.mark.parametrize("code", [11, 90])
async def test_a_trapped_code_or_the_button_with_a_clock_outside_the_window_is_judged_at_arrival(
        engine: RulesEngine, ts: object, reason: str, code: int) -> None:
    device = f"E-CLK-{code}-{reason}"
    if code == 90:  # the button is an entrapment in a car stuck between floors
        now_ms = round(engine.now() * 1000)
        assert _send(engine, f"se/elevator/{device}/telemetry", elevator_frame(
            ts=now_ms, seq=1, device_id=device, running=False, direction="stop", door_zone=False,
            passenger=False, speed_mps=0.0)) == []
    before = engine.now()
    changes = _send(engine, f"se/elevator/{device}/event", {"ts": ts, "seq": 2, "code": code})
    assert [(c.raised, str(c.type)) for c in changes] == [(True, "entrapment")]
    assert before <= changes[0].at <= engine.now() + 2.0
    assert changes[0].details["device_clock"] == f"ts refused ({reason}); judged at its arrival"
    assert value(engine.metrics.message_errors, reason) >= 1


async def test_an_event_with_a_wrong_clock_shows_the_device_alive_and_a_refused_frame_does_not(
        engine: RulesEngine) -> None:
    device = "E-CLK-ALIVE"
    assert [str(c.type) for c in _send(engine, f"se/elevator/{device}/status", b"offline")] == ["offline"]
    stale = elevator_frame(ts="2000-01-01T00:00:00Z", seq=7, device_id=device)
    assert _send(engine, f"se/elevator/{device}/telemetry", stale) == []  # nothing the rules can place
    assert _send(engine, f"se/elevator/{device}/event", b"not json") == []
    changes = _send(engine, f"se/elevator/{device}/event", {"ts": "2000-01-01T00:00:00Z", "seq": 8, "code": 43})
    assert [(c.raised, str(c.type), c.details.get("reason")) for c in changes] == [
        (False, "offline", "heard again (event)")]
