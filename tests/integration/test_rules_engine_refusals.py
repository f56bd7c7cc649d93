"""What the rules engine does when PostgreSQL refuses what it writes, or holds what it cannot read:
a refused alarm change is logged, counted and dead-lettered while the next ones commit; a refused
rule-state row is skipped while the others are written and the messages acknowledged; only a
transient error keeps them for the next checkpoint; a corrupt stored state is skipped at start."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
import pytest

from alerts.engine import RulesEngine, instant, json_safe
from alerts.hub import LiveHub
from assembly.alerts_service import rules_engine
from semon.alarm_types import AlarmType
from semon.db.pool import open_pool
from semon.dead_letters import message_key
from semon.metrics import value
from semon.mqtt.client import Message
from tests.integration.helpers import ingest_settings, query

pytestmark = pytest.mark.integration

_packet_ids = itertools.count(1)


async def _sql(database_url: str, statement: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(statement.encode())


def _refuse(table: str, device: str, errcode: str) -> str:
    """A trigger that makes the database refuse ``table``'s rows of ``device`` with ``errcode``."""
    return f"""
        CREATE OR REPLACE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.device_id = '{device}' THEN
                RAISE EXCEPTION 'refused for the test' USING ERRCODE = '{errcode}';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_{table} BEFORE INSERT OR UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION refuse_{table}();"""


@contextlib.asynccontextmanager
async def engine_on(database_url: str) -> AsyncIterator[RulesEngine]:
    s = ingest_settings(rules_client_id="test-rules-refusals")
    async with open_pool(database_url, min_size=1, max_size=4, name="test-refusals") as pool:
        engine = rules_engine(s, "mqtt://127.0.0.1:1", pool, LiveHub(10))
        await engine._restore()
        writer = asyncio.create_task(engine._write_changes())
        try:
            yield engine
        finally:
            writer.cancel()


def _send(engine: RulesEngine, topic: str, payload: bytes) -> None:
    engine._on_message(1, Message(topic, payload, 1, False, False, next(_packet_ids)))


def _trapped(seq: int) -> bytes:
    return orjson.dumps({"ts": int(time.time() * 1000) - 60_000, "seq": seq, "code": 11})


async def test_a_refused_alarm_change_is_dead_lettered_and_the_next_one_commits(database_url: str) -> None:
    await _sql(database_url, _refuse("alarms", "E-REFUSED", "P0001"))
    async with engine_on(database_url) as engine:
        _send(engine, "se/elevator/E-REFUSED/event", _trapped(1))
        _send(engine, "se/elevator/E-OK/event", _trapped(1))
        assert await engine.checkpoint()
        assert value(engine.metrics.changes_refused) == 1
        assert engine._acks == []
    alarms = await query(database_url, "SELECT device_id, type FROM alarms")
    assert alarms == [("E-OK", "entrapment")]
    letters = await query(database_url, "SELECT device_id, reason, detail, payload, topic, message_key, payload_size"
                                        " FROM rejected_messages")
    assert len(letters) == 1
    device, reason, detail, payload, topic, key, size = letters[0]
    assert (device, reason, topic) == ("E-REFUSED", "storage_error", "semon/rules/alarm")
    assert "refused for the test" in str(detail)
    assert isinstance(payload, bytes) and isinstance(topic, str)
    assert (key, size) == (message_key(topic, payload), len(payload))  # the ingester's key of a message
    record: dict[str, Any] = orjson.loads(payload)
    assert (record["raised"], record["type"]) == (True, "entrapment")


async def test_a_refused_rule_state_row_is_skipped_and_the_others_written(database_url: str) -> None:
    await _sql(database_url, _refuse("rule_state", "E-STUCK", "22023"))
    async with engine_on(database_url) as engine:
        for device in ("E-STUCK", "E-FINE", "E-NEW"):
            _send(engine, f"se/elevator/{device}/status", b"offline")
        assert await engine.checkpoint()
        assert value(engine.metrics.state_refused) == 1
        assert engine._acks == [] and engine._dirty == set()
    stored = {str(d) for (d,) in await query(database_url, "SELECT device_id FROM rule_state")}
    assert stored == {"E-FINE", "E-NEW"}


async def test_a_transient_error_keeps_the_messages_for_the_next_checkpoint(database_url: str) -> None:
    await _sql(database_url, _refuse("rule_state", "E-BUSY", "40001"))  # serialization_failure
    async with engine_on(database_url) as engine:
        _send(engine, "se/elevator/E-BUSY/status", b"offline")
        assert not await engine.checkpoint()
        assert len(engine._acks) == 1 and engine._dirty == {"E-BUSY"}
        assert value(engine.metrics.checkpoint_retries) == 1
        await _sql(database_url, "DROP TRIGGER refuse_rule_state ON rule_state")
        assert await engine.checkpoint()
        assert engine._acks == [] and engine._dirty == set()
    assert await query(database_url, "SELECT device_id FROM rule_state") == [("E-BUSY",)]


async def test_a_corrupt_stored_state_is_skipped_at_start(database_url: str) -> None:
    async with engine_on(database_url) as engine:
        _send(engine, "se/elevator/E-GOOD/status", b"offline")
        assert await engine.checkpoint()
    corrupt = {"E-ARRAY": "[]", "E-TS": '{"rules": {"last_ts": "soon"}}', "E-KIND": '{"kind": "crane"}',
               "E-TYPE": '{"rules": {"raise_since": {"meltdown": 1.0}}}', "E-NULL": "null",
               "E-SEQ": '{"rules": {"last_seq": [1]}}'}
    for device, state in corrupt.items():
        await _sql(database_url, f"INSERT INTO rule_state (device_id, state) VALUES ('{device}', '{state}')")
    for device, kind, type_ in (("E-LATER", "elevator", "meltdown"), ("C-1", "crane", "offline")):
        await _sql(database_url, f"""INSERT INTO alarms (device_id, kind, type, severity, source, raised_at)
                                     VALUES ('{device}', '{kind}', '{type_}', 'major', 'code', now())""")
    async with engine_on(database_url) as engine:
        assert value(engine.metrics.restore_skipped) == len(corrupt) + 2
        assert set(engine.devices) == {"E-GOOD"}
        assert engine.devices["E-GOOD"].offline
        assert set(engine.devices["E-GOOD"].open) == {AlarmType.OFFLINE}
        _send(engine, "se/elevator/E-TS/status", b"offline")  # a skipped device starts afresh
        assert await engine.checkpoint()
    offline = {str(d) for (d,) in await query(database_url, "SELECT device_id FROM alarms WHERE type = 'offline'")}
    assert offline == {"E-GOOD", "E-TS", "C-1"}


def test_json_safe_gives_what_postgresql_takes() -> None:
    value = {"a": float("-inf"), "b": [float("nan"), float("inf"), 1.5], "c\x00": "x\x00y\ud800", 3: (1, 2),
             "d": {1, 2} - {1}, "e": 10**400, "f": True, "g": None, "h": object}
    safe = json_safe(value)
    assert safe["a"] is None and safe["b"] == [None, None, 1.5]
    assert safe["c\ufffd"] == "x\ufffdy\ufffd"
    assert safe["3"] == [1, 2] and safe["d"] == [2] and safe["e"] is None
    assert safe["f"] is True and safe["g"] is None and safe["h"] == "<class 'object'>"
    assert value["a"] == float("-inf")  # the input is left as it was


def test_instant() -> None:
    assert instant(0.0).year == 1970
    for odd in (float("-inf"), float("inf"), float("nan"), 1e20):
        assert instant(odd).year >= 2026  # taken as now
