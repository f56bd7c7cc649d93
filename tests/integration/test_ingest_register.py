"""With the register check on, telemetry from a device that is not registered is rejected with
that reason; a registered device's is stored."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from registry.due import Category
from registry.model import Equipment
from registry.store import upsert_equipment
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.stack import MosquittoServer
from tests.integration.helpers import elevator, ingest_settings, query, running_ingester, wait_for_count

pytestmark = pytest.mark.integration

REGISTERED = "31106301022019000123"


async def test_unregistered_devices_are_rejected(mosquitto: MosquittoServer, database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_equipment(conn, Equipment(REGISTERED, Category.ELEVATOR, "630102"))
        await conn.commit()
    settings = ingest_settings(ingest_reject_unregistered=True, registry_refresh_s=0.2)
    async with running_ingester(settings, mosquitto.url, database_url) as ingester:
        for _ in range(50):  # the register is read in the background at start
            if ingester.registered.loaded:
                break
            await asyncio.sleep(0.1)
        client = MqttClient(ConnectOptions("register-check"))
        await client.connect(BrokerAddress.from_url(mosquitto.url))
        await client.publish(f"se/elevator/{REGISTERED}/telemetry", elevator(1))
        await client.publish("se/elevator/31106301022019999999/telemetry", elevator(1))
        await client.disconnect()
        await wait_for_count(database_url, "SELECT count(*) FROM rejected_messages", 1, 30)
        await wait_for_count(database_url, "SELECT count(*) FROM elevator_telemetry", 1, 30)
    rejected = await query(database_url, "SELECT device_id, reason FROM rejected_messages")
    assert rejected == [("31106301022019999999", "unregistered_device")]
    stored = await query(database_url, "SELECT device_id FROM elevator_telemetry")
    assert stored == [(REGISTERED,)]
