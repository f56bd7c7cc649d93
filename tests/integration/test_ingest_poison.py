"""Poison from devices: values PostgreSQL cannot hold, rows it refuses, redeliveries, bad topics.

The devices are third-party clients: paho-mqtt (MQTT 5, QoS 1) and ``mosquitto_pub``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.batch import Batch
from ingest.writer import prepare_connection, write_batch
from semon.db import apply_migrations
from semon.dead_letters import message_key
from semon.metrics import value
from semon.protocol.decode import RejectReason, decode
from semon.stack import MosquittoServer, PostgresServer
from tests.integration.helpers import elevator, ingest_settings, now_ms, query, running_ingester, wait_for_count
from tests.unit.frames import LIMITS

pytestmark = pytest.mark.integration

MARK = "@@VALUE@@"


def with_raw(payload: bytes, field: str, literal: bytes) -> bytes:
    """A JSON payload with ``field`` set to raw JSON text ``literal`` (NaN cannot be written by a
    JSON encoder; devices with broken firmware send it anyway)."""
    frame = json.loads(payload)
    frame[field] = MARK
    return json.dumps(frame).encode().replace(f'"{MARK}"'.encode(), literal)


def event(seq: int, code: int, **fields: Any) -> bytes:
    return json.dumps({"ts": now_ms(), "seq": seq, "code": code, **fields}).encode()


@contextmanager
def paho_device(mosquitto: MosquittoServer, client_id: str) -> Iterator[paho.Client]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish_all(client: paho.Client, messages: Sequence[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait until the broker has acknowledged every message."""
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(120)
        assert info.is_published()


async def paho_publish(mosquitto: MosquittoServer, client_id: str, messages: Sequence[tuple[str, bytes]]) -> None:
    def run() -> None:
        with paho_device(mosquitto, client_id) as client:
            publish_all(client, messages)
    await asyncio.to_thread(run)


async def mosquitto_pub(mosquitto: MosquittoServer, topic: str, payload: bytes) -> None:
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-q", "1", "-V", "mqttv5",
        "-t", topic, "-s", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate(payload)
    assert proc.returncode == 0, out


async def count(url: str, sql: str) -> int:
    return int(str((await query(url, sql))[0][0]))


async def wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def good_frames(devices: int, per_device: int, start_seq: int = 1) -> list[tuple[str, bytes]]:
    return [(f"se/elevator/E-{d:03d}/telemetry", elevator(start_seq + s, floor=s % 20))
            for s in range(per_device) for d in range(devices)]


def mixed_in(good: list[tuple[str, bytes]], poison: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``poison`` spread evenly through ``good``."""
    out = list(good)
    step = len(good) // (len(poison) + 1)
    for i, message in enumerate(poison):
        out.insert((i + 1) * step + i, message)
    return out


# --- (a) poisoned events among many good frames ------------------------------------------------


async def test_poisoned_events_among_10000_frames_are_all_accounted_for(
        mosquitto: MosquittoServer, database_url: str) -> None:
    good = good_frames(devices=50, per_device=200)  # 10,000 frames
    nul_events = [(f"se/elevator/P-{i}/event", event(1, (90, 11, 1, 5, 90)[i], detail=f"car {i}\u0000stuck"))
                  for i in range(5)]
    nan_events = [(f"se/elevator/Q-{i}/event",
                   with_raw(event(1, 90), "x_battery_v", (b"NaN", b"Infinity", b"-Infinity", b"NaN", b"NaN")[i]))
                  for i in range(5)]
    messages = mixed_in(good, nul_events + nan_events)
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        started = time.perf_counter()
        await asyncio.gather(*(paho_publish(mosquitto, f"fleet-{k}", messages[k::4]) for k in range(4)))
        await wait_for_count(database_url, "SELECT count(*) FROM elevator_telemetry", len(good), timeout=120)
        await wait_for_count(database_url, "SELECT count(*) FROM device_events", 10)
        seconds = time.perf_counter() - started
        print(json.dumps({"test": "poisoned_events", "good": len(good), "poisoned": 10,
                          "seconds": round(seconds, 2)}))
        assert value(ingester.metrics.sanitised, "nul") == 5
        assert value(ingester.metrics.sanitised, "non_finite") == 5
        assert value(ingester.metrics.refused_rows, "batch") == 0

    assert await count(database_url, "SELECT count(*) FROM elevator_telemetry") == len(good)
    events = await query(database_url, "SELECT device_id, code, detail FROM device_events ORDER BY device_id")
    assert events[:5] == [(f"P-{i}", (90, 11, 1, 5, 90)[i], f"car {i}\ufffdstuck") for i in range(5)]
    # an alarm button with junk in a vendor field is kept, the junk stored as null
    assert [(e[0], e[1]) for e in events[5:]] == [(f"Q-{i}", 90) for i in range(5)]
    assert await count(database_url, "SELECT count(*) FROM rejected_messages") == 0
    assert await count(database_url, "SELECT count(*) FROM device_state WHERE left(device_id, 2) = 'E-'") == 50


async def test_rows_the_database_refuses_are_dead_lettered_and_the_rest_stored(
        mosquitto: MosquittoServer, database_url: str) -> None:
    # A refusal the decoder cannot foresee: a constraint the database holds.
    async with await _connect(database_url) as conn:
        await conn.execute("ALTER TABLE device_events ADD CONSTRAINT no_poison "
                           "CHECK (detail IS DISTINCT FROM 'poison')")
    good = good_frames(devices=25, per_device=200)  # 5,000 frames
    poison = [(f"se/elevator/R-{i}/event", event(1, 90, detail="poison")) for i in range(10)]
    fine = [(f"se/elevator/S-{i}/event", event(1, 90, detail="fine")) for i in range(3)]
    messages = mixed_in(good, poison + fine)
    async with running_ingester(ingest_settings(ingest_batch_max=5000), mosquitto.url, database_url) as ingester:
        started = time.perf_counter()
        await asyncio.gather(*(paho_publish(mosquitto, f"fleet-{k}", messages[k::2]) for k in range(2)))
        await wait_for_count(database_url, "SELECT count(*) FROM elevator_telemetry", len(good), timeout=120)
        await wait_for_count(database_url, "SELECT count(*) FROM rejected_messages", 10)
        seconds = time.perf_counter() - started
        print(json.dumps({"test": "refused_rows", "good": len(good), "refused": 10, "seconds": round(seconds, 2)}))
        assert value(ingester.metrics.refused_rows, "batch") == 10
        assert value(ingester.metrics.rejected, "storage_error") == 10
        assert ingester.session.connected.is_set()

    rejected = await query(database_url, "SELECT device_id, reason, detail FROM rejected_messages ORDER BY device_id")
    assert [(r[0], r[1]) for r in rejected] == [(f"R-{i}", "storage_error") for i in range(10)]
    assert all("23514" in str(r[2]) and "no_poison" in str(r[2]) for r in rejected)
    stored_events = await query(database_url, "SELECT device_id FROM device_events ORDER BY 1")
    assert stored_events == [(f"S-{i}",) for i in range(3)]
    assert await count(database_url, "SELECT count(*) FROM elevator_telemetry") == len(good)


# --- (b) the device-state writes keep flowing ----------------------------------------------------


async def test_nul_and_nan_vendor_fields_do_not_freeze_other_devices_state(
        mosquitto: MosquittoServer, database_url: str) -> None:
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        await paho_publish(mosquitto, "broken-firmware", [
            ("se/elevator/E-NUL/telemetry", elevator(1, x_note="\u0000", x_deep={"k\u0000": ["\u0000"]})),
            ("se/elevator/E-NAN/telemetry", with_raw(elevator(1), "x_note", b"NaN")),
            ("se/elevator/E-INF/telemetry", with_raw(elevator(1), "x_temp", b"-Infinity")),
            ("se/elevator/E-BIG/telemetry", with_raw(elevator(1), "x_big", b"1e999999")),
            ("se/elevator/E-SUR/telemetry", with_raw(elevator(1), "x_note", b'"\\ud800"')),
        ])
        await mosquitto_pub(mosquitto, "se/elevator/E-PUB/telemetry", elevator(1, x_note="a\u0000b"))
        await paho_publish(mosquitto, "good", [(f"se/elevator/E-OK{i}/telemetry", elevator(1)) for i in range(3)])
        await wait_for_count(database_url, "SELECT count(*) FROM device_state WHERE left(device_id, 4) = 'E-OK'", 3)
        await wait_for_count(database_url, "SELECT count(*) FROM device_state", 9)

        # and it keeps flowing afterwards
        await paho_publish(mosquitto, "good", [(f"se/elevator/E-OK{i}/telemetry", elevator(2)) for i in range(3)])
        await wait_for_count(database_url, "SELECT count(*) FROM device_state WHERE last_seq = 2", 3)
        assert value(ingester.metrics.refused_rows, "device_state") == 0
        assert value(ingester.metrics.sanitised, "nul") == 2
        assert value(ingester.metrics.sanitised, "surrogate") == 1
        assert value(ingester.metrics.sanitised, "number") == 1
        assert value(ingester.metrics.sanitised, "non_finite") == 2

    state: dict[str, Any] = {str(r[0]): r[1] for r in await query(database_url,
                                                                  "SELECT device_id, telemetry FROM device_state")}
    assert set(state) == {"E-NUL", "E-NAN", "E-INF", "E-BIG", "E-SUR", "E-PUB", "E-OK0", "E-OK1", "E-OK2"}
    assert state["E-NUL"]["x_note"] == "\ufffd"
    assert state["E-NUL"]["x_deep"] == {"k\ufffd": ["\ufffd"]}
    assert state["E-PUB"]["x_note"] == "a\ufffdb"
    assert state["E-SUR"]["x_note"] == "\ufffd"
    assert state["E-BIG"]["x_big"] is None
    assert state["E-NAN"]["x_note"] is None
    assert state["E-INF"]["x_temp"] is None
    assert await count(database_url, "SELECT count(*) FROM rejected_messages") == 0


async def test_a_state_row_the_database_refuses_is_skipped_and_others_flow(
        mosquitto: MosquittoServer, database_url: str) -> None:
    async with await _connect(database_url) as conn:
        await conn.execute("ALTER TABLE device_state ADD CONSTRAINT no_poison CHECK (device_id <> 'E-POISON')")
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        await paho_publish(mosquitto, "mixed", [
            ("se/elevator/E-POISON/telemetry", elevator(1)),
            ("se/elevator/E-POISON/status", b"online"),  # status is written with its batch
            *[(f"se/elevator/E-OK{i}/telemetry", elevator(1)) for i in range(3)],
        ])
        await wait_for_count(database_url, "SELECT count(*) FROM device_state", 3)
        await wait_until(lambda: value(ingester.metrics.refused_rows, "device_state") >= 1)
        for seq in (2, 3):
            await paho_publish(mosquitto, "mixed", [
                ("se/elevator/E-POISON/telemetry", elevator(seq)),
                *[(f"se/elevator/E-OK{i}/telemetry", elevator(seq)) for i in range(3)],
            ])
            await wait_for_count(database_url, f"SELECT count(*) FROM device_state WHERE last_seq = {seq}", 3)
        # refused once per flush that held a new E-POISON row, never retried every 0.1 s for ever
        assert 1 <= value(ingester.metrics.refused_rows, "device_state") <= 3
        assert value(ingester.metrics.rejected, "storage_error") == 1

    assert await count(database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-POISON'") == 3
    assert await count(database_url, "SELECT count(*) FROM device_state WHERE device_id = 'E-POISON'") == 0
    rejected = await query(database_url, "SELECT topic, reason FROM rejected_messages")
    assert rejected == [("se/elevator/E-POISON/status", "storage_error")]


# --- (c) a redelivered rejection is recorded once -------------------------------------------------


async def test_a_redelivered_rejection_is_recorded_once(mosquitto: MosquittoServer, database_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ingest_settings()
    bad = [("se/elevator/E-1/telemetry", b"{not json"), ("se/elevator/E-1/status", b"maybe"),
           ("se/elevator/E-1/telemetry", with_raw(elevator(5), "speed_mps", b"NaN"))]
    async with running_ingester(settings, mosquitto.url, database_url) as first:
        # Stored, but the acknowledgements never reach the broker (as if the ingester died
        # between commit and acknowledgement): the broker delivers the messages again.
        monkeypatch.setattr(first, "_acknowledge", lambda items: None)
        await paho_publish(mosquitto, "device", bad)
        await wait_for_count(database_url, "SELECT count(*) FROM rejected_messages", len(bad))
    async with running_ingester(settings, mosquitto.url, database_url) as second:
        await wait_until(lambda: value(second.metrics.acked) >= len(bad))
        assert value(second.metrics.received) >= len(bad)  # the redelivery did arrive
        # a device resending the same bytes is the same message too
        await mosquitto_pub(mosquitto, "se/elevator/E-1/status", b"maybe")
        await wait_until(lambda: value(second.metrics.acked) >= len(bad) + 1)
    rows = await query(database_url, "SELECT topic, reason FROM rejected_messages ORDER BY reason")
    assert rows == [("se/elevator/E-1/status", "bad_status"), ("se/elevator/E-1/telemetry", "non_finite_number"),
                    ("se/elevator/E-1/telemetry", "not_json")]


async def test_writing_the_same_rejections_twice_records_them_once(database_url: str) -> None:
    batch = Batch()
    for topic, payload in [("se/elevator/E-1/telemetry", b"{"), ("se/elevator/E-1/telemetry", b"{"),
                           ("se/elevator/E-1/telemetry", b"}"), ("se/x/y", b"{")]:
        batch.add(decode(topic, payload, _now(), LIMITS), topic, payload, _now(), 1024)
    async with await _connect(database_url) as conn:
        await prepare_connection(conn)
        first = await write_batch(conn, batch)
        again = await write_batch(conn, batch)
    assert (first.rejected, again.rejected) == (3, 0)
    assert await count(database_url, "SELECT count(*) FROM rejected_messages") == 3


# --- (d) malformed topics reach the ingester ----------------------------------------------------------


async def test_malformed_topics_under_se_are_recorded_as_bad_topic(mosquitto: MosquittoServer,
                                                                   database_url: str) -> None:
    topics = ["se/elevator/E-1/telemetry/extra", "se/elevator/E-1/telemetry/", "se/elevator/E-1/telemetry/a/b/c",
              "se/elevator/E-1", "se/elevator//telemetry", "se"]
    async with running_ingester(ingest_settings(), mosquitto.url, database_url):
        await mosquitto_pub(mosquitto, topics[0], elevator(1))
        await paho_publish(mosquitto, "device", [(t, elevator(1)) for t in topics[1:]])
        await wait_for_count(database_url, "SELECT count(*) FROM rejected_messages", len(topics))
    rows = await query(database_url, "SELECT topic, reason FROM rejected_messages ORDER BY topic")
    assert rows == sorted((t, RejectReason.BAD_TOPIC.value) for t in topics)


# --- helpers -----------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True)


async def test_the_key_migration_keeps_one_of_each_rejection_recorded_before(postgres: PostgresServer) -> None:
    name = f"test_keymig_{os.getpid()}"
    async with await _connect(postgres.url_for("postgres")) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres.url_for(name)
    folder = resources.files("semon.db") / "migrations"
    before = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql") and p.name < "0005")
    async with await _connect(url) as conn:
        await conn.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz "
                           "NOT NULL DEFAULT now())")
        for file in before:
            await conn.execute((folder / file).read_text(encoding="utf-8").encode())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (file,))
        for topic, payload in [("se/elevator/E-1/status", b"maybe"), ("se/elevator/E-1/status", b"maybe"),
                               ("se/elevator/E-2/status", b"maybe")]:
            await conn.execute("INSERT INTO rejected_messages (received_at, topic, reason, detail, payload, "
                               "payload_size) VALUES (now(), %s, 'bad_status', 'x', %s, %s)",
                               (topic, payload, len(payload)))
    assert "0005_rejected_messages_key.sql" in await apply_migrations(url)
    rows = await query(url, "SELECT topic, message_key FROM rejected_messages ORDER BY topic")
    assert rows == [("se/elevator/E-1/status", message_key("se/elevator/E-1/status", b"maybe")),
                    ("se/elevator/E-2/status", message_key("se/elevator/E-2/status", b"maybe"))]
