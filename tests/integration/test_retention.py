"""Raw telemetry older than the retention period goes by whole chunks; recent data stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.retention import drop_expired, has_policies
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.stack import MosquittoServer
from tests.integration.helpers import elevator, ingest_settings, query, running_ingester, wait_for_count

pytestmark = pytest.mark.integration


async def test_expired_chunks_are_dropped(mosquitto: MosquittoServer, database_url: str) -> None:
    now = datetime.now(UTC)
    ages = [timedelta(days=200), timedelta(days=100), timedelta(days=40), timedelta(days=2), timedelta(0)]
    # A year of retention: the ingester accepts frames that old (stale_timestamp beyond it).
    async with running_ingester(ingest_settings(retention_days=365), mosquitto.url, database_url):
        client = MqttClient(ConnectOptions("old-frames"))
        await client.connect(BrokerAddress.from_url(mosquitto.url))
        for seq, age in enumerate(ages):
            await client.publish("se/elevator/E-OLD/telemetry", elevator(seq, ts=(now - age).isoformat()))
        await client.disconnect()
        await wait_for_count(database_url, "SELECT count(*) FROM elevator_telemetry", len(ages))

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert not await has_policies(conn)  # the Apache edition: the ingester does the work itself
        dropped = await drop_expired(conn, timedelta(days=30))
    assert dropped == 3
    remaining = await query(database_url, "SELECT seq FROM elevator_telemetry ORDER BY seq")
    assert remaining == [(3,), (4,)]
