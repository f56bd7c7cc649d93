"""Every kind of bad message is acknowledged, recorded with its reason, and harms nothing else."""

from __future__ import annotations

import orjson
import pytest

from semon.metrics import value
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.stack import MosquittoServer
from tests.integration.helpers import elevator, ingest_settings, now_ms, query, running_ingester, wait_for_count

pytestmark = pytest.mark.integration

BAD_MESSAGES: list[tuple[str, bytes, str]] = [
    ("se/elevator/E-1/telemetry", b"{not json", "not_json"),
    ("se/elevator/E-1/telemetry", b"[1, 2]", "not_json"),
    ("se/elevator/E-1/telemetry", elevator(1, floor="3"), "wrong_type"),
    ("se/elevator/E-1/telemetry", elevator(2, running=1), "wrong_type"),
    ("se/elevator/E-1/telemetry", elevator(3, speed_mps=99.0), "out_of_range"),
    ("se/elevator/E-1/telemetry", elevator(4, mode="party"), "out_of_range"),
    ("se/elevator/E-1/telemetry", orjson.dumps({"ts": 1_764_000_000_000, "seq": 5}), "missing_field"),
    ("se/escalator/E-1/telemetry", elevator(6), "unknown_kind"),
    ("se/elevator/E-1/pressure", elevator(7), "bad_topic"),
    ("se/elevator/E-1/telemetry", elevator(8, device_id="E-2"), "device_mismatch"),
    ("se/elevator/E-1/telemetry", elevator(9, detail="x" * 20_000), "oversized"),
    ("se/elevator/E-1/telemetry", elevator(10, ts="2099-01-01T00:00:00+08:00"), "future_timestamp"),
    ("se/elevator/E-1/telemetry", elevator(11, ts="2026-11-27 10:00:00"), "bad_timestamp"),
    ("se/elevator/E-1/event", orjson.dumps({"ts": now_ms(), "seq": 12, "code": 77}), "unknown_code"),
    ("se/elevator/E-1/telemetry", elevator(13, v=2), "unsupported_version"),
    ("se/elevator/E-1/status", b"maybe", "bad_status"),
    ("se/elevator/E-1/telemetry", elevator(14, ts="2000-01-02T00:00:00Z"), "stale_timestamp"),
    ("se/elevator/E-1/status", b'{"state":"offline","ts":"2999-12-31T23:59:59+00:00"}', "future_timestamp"),
    ("se/elevator/E-1/status", b'{"state":"online","ts":"2000-01-01T00:00:00+00:00"}', "stale_timestamp"),
    ("se/elevator/E-1/telemetry", elevator(15, ts="2000-01-01T00:00:00+23:59"), "bad_timestamp"),
]


async def test_each_bad_message_is_recorded_with_its_reason(mosquitto: MosquittoServer,
                                                            database_url: str) -> None:
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        client = MqttClient(ConnectOptions("bad-publisher"))
        await client.connect(BrokerAddress.from_url(mosquitto.url))
        for topic, payload, _ in BAD_MESSAGES:
            await client.publish(topic, payload)
        await client.publish("se/elevator/E-1/telemetry", elevator(100))  # a good one after them all
        await client.disconnect()
        await wait_for_count(database_url, "SELECT count(*) FROM rejected_messages", len(BAD_MESSAGES))
        await wait_for_count(database_url, "SELECT count(*) FROM elevator_telemetry", 1)
        assert ingester.session.connected.is_set()
        assert value(ingester.metrics.acked) == len(BAD_MESSAGES) + 1

    rows = await query(
        database_url, "SELECT topic, reason, detail, payload, payload_size, device_id FROM rejected_messages"
    )
    # Two writers commit concurrently, so match rows to messages by content, not by order.
    recorded = sorted((str(r[0]), str(r[1]), int(r[4]), bytes(r[3])) for r in rows)  # type: ignore[call-overload]
    expected = sorted((t, reason, len(p), p[:1024]) for t, p, reason in BAD_MESSAGES)
    assert recorded == expected
    assert all(r[2] for r in rows)  # each with a human-readable detail
    details = {(str(r[1]), str(r[2])) for r in rows}
    assert any(reason == "out_of_range" and detail.startswith("speed_mps") for reason, detail in details)
    assert {r[5] for r in rows if r[1] == "device_mismatch"} == {"E-1"}
    assert await query(database_url, "SELECT seq FROM elevator_telemetry") == [(100,)]
