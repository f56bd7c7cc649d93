"""Credentials from the URL and TLS with a verified context, against a real Mosquitto with a
password file and a TLS listener."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, ConnectRefused, Message, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.mqtt.session import MqttSession
from tests.integration.devices import paho_publish_sync
from tests.integration.secure_broker import SecureBroker, secure_broker

ACCOUNTS = {"ingest": "p@ss:w/rd%ü", "device-1": "dev-secret"}


@pytest.fixture
async def broker(stack_root: Path) -> AsyncIterator[SecureBroker]:
    server = await secure_broker(Path(tempfile.mkdtemp(prefix="mosquitto-tls-", dir=stack_root)), ACCOUNTS)
    yield server
    await server.stop()


async def _connect(address: BrokerAddress, client_id: str = "t") -> MqttClient:
    client = MqttClient(ConnectOptions(client_id))
    await client.connect(address)
    return client


async def test_percent_encoded_credentials_log_in_over_tls(broker: SecureBroker) -> None:
    client = await _connect(BrokerAddress.from_url(broker.url("ingest"), ca_file=broker.ca_file))
    assert client.is_connected
    await client.disconnect()


async def test_plain_listener_with_credentials(broker: SecureBroker) -> None:
    client = await _connect(BrokerAddress.from_url(broker.url("ingest", tls=False)))
    await client.disconnect()


@pytest.mark.parametrize("password", ["wrong", ""])
async def test_a_wrong_password_is_refused(broker: SecureBroker, password: str) -> None:
    with pytest.raises(ConnectRefused) as refused:
        await _connect(BrokerAddress.from_url(broker.url("ingest", password, tls=False)))
    assert refused.value.reason_code in (0x86, 0x87)


async def test_no_credentials_are_refused(broker: SecureBroker) -> None:
    with pytest.raises(ConnectRefused):
        await _connect(BrokerAddress.from_url(f"mqtt://127.0.0.1:{broker.plain_port}"))


async def test_a_broker_certificate_from_an_unknown_ca_is_refused(broker: SecureBroker) -> None:
    # No CA file: the system's trust store does not know the test CA.
    with pytest.raises(ssl.SSLCertVerificationError):
        await _connect(BrokerAddress.from_url(broker.url("ingest")))


async def test_the_hostname_is_verified(broker: SecureBroker) -> None:
    url = broker.url("ingest").replace("127.0.0.1", "127.0.0.2")  # listens on 127.0.0.1 only
    address = BrokerAddress.from_url(url, ca_file=broker.ca_file)
    with pytest.raises((ssl.SSLCertVerificationError, OSError)):
        await _connect(address)


async def test_a_client_certificate_is_presented(broker: SecureBroker) -> None:
    address = BrokerAddress.from_url(broker.url("ingest"), ca_file=broker.ca_file,
                                     cert_file=str(broker.directory / "client.pem"),
                                     key_file=str(broker.directory / "client.key"))
    client = await _connect(address)
    await client.disconnect()


async def test_a_session_receives_a_paho_device_over_tls(broker: SecureBroker) -> None:
    received: list[Message] = []
    changed = asyncio.Event()

    def on_message(generation: int, message: Message) -> None:
        received.append(message)
        session.ack(generation, [message.packet_id])
        changed.set()

    address = BrokerAddress.from_url(broker.url("ingest"), ca_file=broker.ca_file)
    session = MqttSession(address, ConnectOptions("tls-ingest", clean_start=False, session_expiry=60),
                          [("se/#", 1)], on_message, Backoff(0.05, 0.5))
    task = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(session.connected.wait(), 20)
        device_url = broker.url("device-1")
        await asyncio.to_thread(paho_publish_sync_tls, device_url, broker.ca_file)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(received) < 3:
            changed.clear()
            assert loop.time() < deadline, "timed out"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 0.5)
        assert [m.payload for m in received] == [b"0", b"1", b"2"]
        assert session.acks_refused == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def paho_publish_sync_tls(url: str, ca_file: str) -> None:
    paho_publish_sync(url, [("se/elevator/D1/telemetry", str(i).encode()) for i in range(3)], ca_file=ca_file)
