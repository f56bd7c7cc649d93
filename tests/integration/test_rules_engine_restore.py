"""An operator's closing that the engine's last checkpoint has not written yet survives a crash:
the replay of the frames that follow does not raise the same entrapment again (issue 10: a
false alarm recorded 0.2 s before a kill -9 came back as a second alarm and incident)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import orjson
import psycopg
import pytest

from alerts.engine import RulesEngine
from alerts.incident_store import apply_step
from alerts.incidents import Step, StepRequest
from semon.mqtt.client import Message
from tests.integration.helpers import ingest_settings, query
from tests.integration.test_rules_engine_refusals import engine_on
from tests.unit.frames import elevator_frame

pytestmark = pytest.mark.integration

_packet_ids = itertools.count(1)
START = time.time() - 120  # the device's time of its first frame, seconds


def _stuck(engine: RulesEngine, seqs: range) -> None:
    """Frames a second apart from a car stopped between floors with a passenger inside."""
    for seq in seqs:
        payload = orjson.dumps(elevator_frame(ts=int((START + seq) * 1000), seq=seq, device_id="E-1", running=False,
                                              direction="stop", door_zone=False, passenger=True, speed_mps=0.0))
        engine._on_message(1, Message("se/elevator/E-1/telemetry", payload, 1, False, False, next(_packet_ids)))


async def _entrapments(database_url: str) -> list[tuple[str, str]]:
    return [(str(r[0]), str(r[1])) for r in await query(
        database_url, "SELECT state, coalesce(clear_reason, '') FROM alarms WHERE type = 'entrapment' ORDER BY id")]


@pytest.mark.parametrize("checkpoint_after_closing", [False, True])
async def test_an_operators_closing_is_not_undone_by_a_crash(database_url: str,
                                                             checkpoint_after_closing: bool) -> None:
    async with engine_on(database_url) as first:
        _stuck(first, range(1, 21))  # trapped for 20 s: the entrapment is raised at 15 s
        assert await first.checkpoint()
        assert [s for s, _ in await _entrapments(database_url)] == ["open"]
        incident_id = int(str((await query(database_url, "SELECT id FROM incidents"))[0][0]))
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            outcome = await apply_step(conn, incident_id, StepRequest(Step.FALSE_ALARM, "operator", "sensor fault"),
                                       now=datetime.now(UTC), settings=ingest_settings().incidents)
        assert outcome.cleared_alarm is not None
        first.closed_by_operator(outcome.cleared_alarm)
        _stuck(first, range(21, 23))  # frames after the closing, taken but not yet checkpointed
        if checkpoint_after_closing:
            assert await first.checkpoint()
        # the engine dies here: without the second checkpoint, what it knew of the closing is lost

    async with engine_on(database_url) as second:  # the replay, and the car still stuck
        _stuck(second, range(21, 40))
        assert await second.checkpoint()
    assert [s for s, _ in await _entrapments(database_url)] == ["cleared"]
    assert await query(database_url, "SELECT count(*) FROM incidents") == [(1,)]


async def test_a_new_call_after_a_close_the_engine_did_not_hear_raises_again(database_url: str) -> None:
    """The operator closes the incident while the engine is down (or deaf to the close): the
    next engine finds the close at its restore, and a later code 11 from the car is a new call
    for help, raised anew; it must not be taken for the closed alarm."""
    async with engine_on(database_url) as first:
        _stuck(first, range(1, 21))
        assert await first.checkpoint()
        # the engine dies here, before it hears of the close below
    incident_id = int(str((await query(database_url, "SELECT id FROM incidents"))[0][0]))
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        outcome = await apply_step(conn, incident_id, StepRequest(Step.FALSE_ALARM, "operator", "sensor fault"),
                                   now=datetime.now(UTC), settings=ingest_settings().incidents)
    assert outcome.cleared_alarm is not None

    async with engine_on(database_url) as second:
        _stuck(second, range(21, 25))  # the car still stuck: the operator's judgement stands
        assert await second.checkpoint()
        assert [s for s, _ in await _entrapments(database_url)] == ["cleared"]
        call = orjson.dumps({"ts": int((START + 25.5) * 1000), "seq": 26, "code": 11})
        second._on_message(1, Message("se/elevator/E-1/event", call, 1, False, False, next(_packet_ids)))
        assert await second.checkpoint()
    assert [s for s, _ in await _entrapments(database_url)] == ["cleared", "open"]
    assert await query(database_url, "SELECT count(*) FROM incidents") == [(2,)]


def _frame(engine: RulesEngine, seq: int, **fields: object) -> None:
    base = {"running": False, "direction": "stop", "door_zone": False, "passenger": True, "speed_mps": 0.0}
    payload = orjson.dumps(elevator_frame(ts=int((START + seq) * 1000), seq=seq, device_id="E-1", **{**base, **fields}))
    engine._on_message(1, Message("se/elevator/E-1/telemetry", payload, 1, False, False, next(_packet_ids)))


async def test_an_entrapment_raised_and_cleared_since_the_checkpoint_is_not_raised_again_by_the_replay(
        database_url: str) -> None:
    async with engine_on(database_url) as first:
        _stuck(first, range(1, 15))
        assert await first.checkpoint()  # the last checkpoint: stuck for 13 s, nothing raised yet
        _frame(first, 16)  # raised at 15 s
        _frame(first, 17, door_locked=False, door_zone=True, passenger=False)  # freed: cleared
        while first._committed < first._enqueued:  # both committed; the engine dies before the checkpoint
            first._progress.clear()
            await first._progress.wait()
        assert [s for s, _ in await _entrapments(database_url)] == ["cleared"]

    async with engine_on(database_url) as second:  # the broker redelivers 16 and 17
        _frame(second, 16)
        _frame(second, 17, door_locked=False, door_zone=True, passenger=False)
        assert await second.checkpoint()
    assert [s for s, _ in await _entrapments(database_url)] == ["cleared"]
    assert await query(database_url, "SELECT count(*) FROM incidents") == [(1,)]
