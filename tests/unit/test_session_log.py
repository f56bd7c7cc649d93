"""An MQTT session's lines in the log name its client: with several sessions in one process (the
rules engine's two, the ingesters'), "MQTT 127.0.0.1:1883: unavailable" would not say whose.
A TLS file that cannot be loaded is a configuration error, logged as such, not an outage."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress
from semon.mqtt.packets import ConnectOptions
from semon.mqtt.paho_session import PahoSession
from semon.mqtt.session import MqttSession


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Warned(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.event.set()


async def _first_records(session: MqttSession | PahoSession) -> list[logging.LogRecord]:
    """What the session's module logged at warning or above before it was cancelled after the
    first (not the other clients' lines, from other tests' leftovers)."""
    warned = _Warned()
    logger = logging.getLogger(type(session).__module__)
    logger.addHandler(warned)
    task = asyncio.create_task(session.run())
    try:
        async with asyncio.timeout(5):
            await warned.event.wait()
    finally:
        logger.removeHandler(warned)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return warned.records


@pytest.mark.parametrize("kind", [MqttSession, PahoSession])
async def test_a_session_that_cannot_connect_is_named_by_its_client_id(
        caplog: pytest.LogCaptureFixture, kind: type[MqttSession] | type[PahoSession]) -> None:
    caplog.set_level(logging.INFO)
    port = _closed_port()
    session = kind(BrokerAddress("127.0.0.1", port), ConnectOptions(client_id="semon-ingest-2"), [("t", 1)],
                   lambda _generation, _message: None, Backoff(0.01, 0.02))
    records = await _first_records(session)
    assert records[0].getMessage().startswith(f"MQTT semon-ingest-2 at 127.0.0.1:{port}: unavailable")


async def test_a_missing_ca_file_is_logged_as_a_configuration_error_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    address = BrokerAddress.from_url(f"mqtts://127.0.0.1:{_closed_port()}", ca_file="/nonexistent/ca.pem")
    session = MqttSession(address, ConnectOptions(client_id="semon-rules"), [("t", 1)],
                          lambda _generation, _message: None, Backoff(0.01, 0.02))
    records = await _first_records(session)
    assert records[0].levelno == logging.ERROR and "unavailable" not in records[0].getMessage()
    assert records[0].exc_info is not None and "/nonexistent/ca.pem" in str(records[0].exc_info[1])
