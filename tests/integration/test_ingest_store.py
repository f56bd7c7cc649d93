"""Messages published to a real broker end up as typed rows in a real TimescaleDB."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import psycopg
import pytest

from ingest.store import StoredTelemetry, elevator_telemetry_of
from semon.metrics import parse_text, value
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions, Will
from semon.stack import MosquittoServer
from tests.integration.helpers import (
    boiler,
    elevator,
    ingest_settings,
    query,
    running_ingester,
    wait_for_count,
)

pytestmark = pytest.mark.integration


async def connect(mosquitto: MosquittoServer, client_id: str, will: Will | None = None) -> MqttClient:
    client = MqttClient(ConnectOptions(client_id, will=will))
    await client.connect(BrokerAddress.from_url(mosquitto.url))
    return client


async def test_every_field_is_stored_with_its_type(mosquitto: MosquittoServer, database_url: str) -> None:
    # Fixed timestamps a year old: the retention pass running beside the test must not drop them.
    async with running_ingester(ingest_settings(retention_days=36_500), mosquitto.url, database_url):
        device = await connect(mosquitto, "dev-1")
        ts = "2026-11-27T08:30:15.250+08:00"
        await device.publish("se/elevator/31104403002015060001/telemetry", elevator(
            7, ts=ts, running=True, direction="down", floor=-2, door_locked=True, door_zone=False,
            passenger=True, mode="fire_return", power="battery", speed_mps=1.75, trip_count=123456,
            run_hours=9876.5, device_id="31104403002015060001"))
        await device.publish("se/boiler/B-77/telemetry", boiler(3, ts=1_764_203_415_000))
        await device.publish("se/elevator/31104403002015060001/event",
                             orjson.dumps({"ts": ts, "seq": 8, "code": 11, "floor": 5, "detail": "困人"}))
        await device.publish("se/boiler/B-77/status", b"online", retain=True)
        await device.disconnect()
        await wait_for_count(database_url, "SELECT count(*) FROM device_state WHERE online", 1)
        await wait_for_count(database_url, "SELECT count(*) FROM device_state WHERE last_telemetry_at IS NOT NULL", 2)

    rows = await query(database_url, "SELECT * FROM elevator_telemetry")
    assert len(rows) == 1
    (time, device_id, seq, running, direction, floor, door_locked, door_zone, passenger, mode, power,
     speed, trips, hours, received_at) = rows[0]
    assert time == datetime(2026, 11, 27, 0, 30, 15, 250000, tzinfo=UTC)
    assert (device_id, seq, running, direction, floor) == ("31104403002015060001", 7, True, "down", -2)
    assert (door_locked, door_zone, passenger, mode, power) == (True, False, True, "fire_return", "battery")
    assert speed == pytest.approx(1.75) and isinstance(speed, float)
    assert trips == 123456 and isinstance(trips, int)
    assert hours == 9876.5
    assert isinstance(received_at, datetime) and received_at.tzinfo is not None

    (b,) = await query(database_url, "SELECT * FROM boiler_telemetry")
    assert b[0] == datetime.fromtimestamp(1_764_203_415, tz=UTC)
    assert b[1:5] == ("B-77", 3, True, True)
    assert [round(float(v), 3) for v in b[5:12]] == [0.8, 5.0, 95.5, 70.0, 180.0, 2.5, 120.0]  # type: ignore[arg-type]

    (e,) = await query(database_url, "SELECT device_id, kind, seq, code, floor, detail FROM device_events")
    assert e == ("31104403002015060001", "elevator", 8, 11, 5, "困人")

    state = dict((r[0], r[1:]) for r in await query(
        database_url, "SELECT device_id, kind, last_seq, telemetry, last_event_code, online FROM device_state"))
    assert state["31104403002015060001"][0] == "elevator"
    assert state["31104403002015060001"][1] == 7
    assert state["31104403002015060001"][2]["mode"] == "fire_return"  # type: ignore[index]
    assert state["31104403002015060001"][3] == 11
    assert state["B-77"][4] is True


async def test_last_will_marks_the_device_offline(mosquitto: MosquittoServer, database_url: str) -> None:
    async with running_ingester(ingest_settings(), mosquitto.url, database_url):
        will = Will("se/elevator/E-9/status", b"offline", qos=1, retain=True)
        device = await connect(mosquitto, "E-9", will=will)
        await device.publish("se/elevator/E-9/status", b"online", retain=True)
        await wait_for_count(database_url, "SELECT count(*) FROM device_state WHERE online", 1)
        (before,) = await query(database_url, "SELECT status_changed_at FROM device_state")
        device.abort()  # no DISCONNECT: the broker publishes the Last Will
        n = await wait_for_count(database_url, "SELECT count(*) FROM device_state WHERE NOT online", 1)
        assert n == 1
        (after,) = await query(database_url, "SELECT status_changed_at FROM device_state")
        assert after[0] > before[0]  # type: ignore[operator]


async def test_a_redelivered_message_is_stored_once(mosquitto: MosquittoServer, database_url: str) -> None:
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        device = await connect(mosquitto, "dev-dup")
        frame = elevator(42)
        for _ in range(3):
            await device.publish("se/elevator/E-DUP/telemetry", frame)
        await device.publish("se/elevator/E-DUP/telemetry", elevator(43))
        await wait_for_count(database_url, "SELECT count(*) FROM elevator_telemetry", 2)
        for _ in range(100):  # the counter follows the commit by a moment
            if value(ingester.metrics.duplicates) >= 2:
                break
            await asyncio.sleep(0.05)
        rows = await query(database_url, "SELECT seq FROM elevator_telemetry ORDER BY seq")
        assert rows == [(42,), (43,)]
        assert value(ingester.metrics.duplicates) == 2
        await device.disconnect()


async def test_metrics_are_served_in_prometheus_format(mosquitto: MosquittoServer, database_url: str) -> None:
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        device = await connect(mosquitto, "dev-m")
        await device.publish("se/elevator/E-M/telemetry", elevator(1))
        await device.publish("se/elevator/E-M/telemetry", b"not json")
        await device.disconnect()
        await wait_for_count(database_url, "SELECT count(*) FROM rejected_messages", 1)
        for _ in range(100):  # the counters follow the commit by a moment (another connection sees it first)
            if value(ingester.metrics.acked) >= 2:
                break
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{ingester.metrics_port}/metrics") as resp:
                assert resp.status == 200
                samples = parse_text(await resp.text())
            async with http.get(f"http://127.0.0.1:{ingester.metrics_port}/healthz") as resp:
                assert resp.status == 200
    assert samples["semon_ingest_received_total"] == 2
    assert samples['semon_ingest_stored_total{table="elevator_telemetry"}'] == 1
    assert samples['semon_ingest_rejected_total{reason="not_json"}'] == 1
    assert samples["semon_ingest_acked_total"] == 2
    assert samples["semon_ingest_batch_commit_seconds_count"] >= 1
    assert samples["semon_ingest_backlog"] == 0
    assert samples["semon_mqtt_connected"] == 1


async def test_the_stored_telemetry_of_a_prefix_counts_rows_distinct_frames_and_the_last_arrival(
        database_url: str) -> None:
    now = datetime.now(UTC)
    frames = [("ST_1-A", 1, now), ("ST_1-A", 1, now + timedelta(seconds=1)),  # one seq sent twice
              ("ST_1-B", 1, now), ("ST_1-B", 2, now), ("STX1-C", 1, now),  # `_` is no wildcard
              ("ST_1-D", 1, now - timedelta(days=2))]  # older than asked for
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for device, seq, at in frames:
            await conn.execute(
                "INSERT INTO elevator_telemetry VALUES (%s, %s, %s, false, 'idle', 1, true, true, false,"
                " 'normal', 'mains', 0, 0, 0, %s)", (at, device, seq, at))
        stored = await elevator_telemetry_of(conn, "ST_1-")
        assert (stored.rows, stored.distinct) == (4, 3)
        assert stored.last_received_at == pytest.approx((now + timedelta(seconds=1)).timestamp())
        assert (await elevator_telemetry_of(conn, "ST_1-", timedelta(days=3))).rows == 5
        assert await elevator_telemetry_of(conn, "NONE-") == StoredTelemetry(0, 0, 0.0)
