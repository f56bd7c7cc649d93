"""A port picked for a private server can be taken before the server binds it (typically by an
outgoing connection's ephemeral port: bound, not listening): the server then starts on another
port, unless the caller chose the port."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import semon.stack.mosquitto
import semon.stack.postgres
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.stack import MosquittoServer, PostgresServer
from semon.stack.process import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))  # bound as a connection's local port is: nothing listens
        yield s.getsockname()[1]


def _first_then_free(port: int) -> object:
    ports = iter([port])
    return lambda: next(ports, None) or free_port()


def _unchecked(port: int, chosen: bool, what: str) -> int:
    return port


async def test_mosquitto_moves_off_a_port_taken_before_it_bound(
        taken_port: int, stack_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semon.stack.mosquitto, "free_port", _first_then_free(taken_port))
    monkeypatch.setattr(semon.stack.mosquitto, "take_port", _unchecked)  # taken after the check
    server = MosquittoServer(Path(tempfile.mkdtemp(prefix="mosquitto-race-", dir=stack_root)))
    assert server.port == taken_port
    await server.start()
    try:
        assert server.port != taken_port
        client = MqttClient(ConnectOptions(client_id="race-check"))
        await client.connect(BrokerAddress.from_url(server.url))
        await client.disconnect()
    finally:
        await server.stop()


async def test_a_port_given_by_the_caller_is_never_changed(
        taken_port: int, stack_root: Path) -> None:
    server = MosquittoServer(Path(tempfile.mkdtemp(prefix="mosquitto-given-", dir=stack_root)), taken_port)
    with pytest.raises(semon.stack.process.StackError):
        await server.start()
    assert server.port == taken_port


async def test_postgres_moves_off_a_port_taken_before_it_bound(
        taken_port: int, stack_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semon.stack.postgres, "free_port", _first_then_free(taken_port))
    monkeypatch.setattr(semon.stack.postgres, "take_port", _unchecked)  # taken after the check
    server = PostgresServer(stack_root / "postgres-race", durable=False)
    assert server.port == taken_port
    await server.start()
    try:
        assert server.port != taken_port
        async with await psycopg.AsyncConnection.connect(server.url_for("postgres")) as conn:
            assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    finally:
        await server.stop()
