"""The MQTT session against a real Mosquitto: acknowledgements of what the broker resends
before the SUBACK, a small receive maximum, backpressure."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, Message
from semon.mqtt.packets import ConnectOptions
from semon.mqtt.paho_session import PahoSession
from semon.mqtt.session import MqttSession
from semon.stack import MosquittoServer
from tests.integration.devices import mosquitto_pub, paho_publish

_ids = itertools.count(1)


class AckAtOnce:
    """A persistent subscriber that acknowledges each message as it arrives."""

    def __init__(self, url: str, receive_maximum: int, topic: str,
                 session_class: type[MqttSession] | type[PahoSession] = MqttSession) -> None:
        self.received: list[tuple[int, bytes]] = []  # (generation, payload)
        self.sent: list[int] = []
        self._changed = asyncio.Event()
        options = ConnectOptions(f"test-ack-{next(_ids)}", clean_start=False, session_expiry=600,
                                 receive_maximum=receive_maximum)
        self.session = session_class(BrokerAddress.from_url(url), options, [(topic, 1)], self._on_message,
                                     Backoff(0.05, 0.5))

    def _on_message(self, generation: int, message: Message) -> None:
        self.received.append((generation, message.payload))
        self.sent.append(self.session.ack(generation, [message.packet_id]))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        await _until(predicate, self._changed, timeout)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.session.run())
        try:
            await asyncio.wait_for(self.session.connected.wait(), 10)
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _until(predicate: Callable[[], bool], changed: asyncio.Event, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        changed.clear()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError("timed out")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), min(remaining, 0.5))


async def _queue_while_away_then_receive(mosquitto: MosquittoServer, publish: Callable[[list[bytes]], object],
                                         session_class: type[MqttSession] | type[PahoSession] = MqttSession) -> None:
    sub = AckAtOnce(mosquitto.url, 10, "q/#", session_class)
    async with sub.running():
        pass  # the subscription exists; the session persists while we are away
    payloads = [f"m{i}".encode() for i in range(15)]
    await publish(payloads)  # type: ignore[misc]
    async with sub.running():
        await sub.wait_for(lambda: len(sub.received) >= 15)
        first = sub.session.generation
    assert sorted(p for _, p in sub.received) == sorted(payloads)
    assert len(sub.received) == 15
    assert {g for g, _ in sub.received} == {first}, "every message came on the same connection"
    assert sub.sent == [1] * 15, "each acknowledged on the connection it came in on"
    assert sub.session.acks_refused == 0
    # Nothing is redelivered on the next connection: all 15 were acknowledged.
    async with sub.running():
        await publish([b"marker"])  # type: ignore[misc]
        await sub.wait_for(lambda: sub.received[-1][1] == b"marker")
    assert len(sub.received) == 16


async def test_fifteen_queued_messages_with_receive_maximum_ten_paho(mosquitto: MosquittoServer) -> None:
    async def publish(payloads: list[bytes]) -> None:
        await paho_publish(mosquitto.url, [("q/dev", p) for p in payloads])
    await _queue_while_away_then_receive(mosquitto, publish)


async def test_fifteen_queued_messages_with_receive_maximum_ten_on_paho(mosquitto: MosquittoServer) -> None:
    """The same through the paho-mqtt based session (docs/ingest.md compares the two)."""
    async def publish(payloads: list[bytes]) -> None:
        await paho_publish(mosquitto.url, [("q/dev", p) for p in payloads])
    await _queue_while_away_then_receive(mosquitto, publish, PahoSession)


async def test_fifteen_queued_messages_with_receive_maximum_ten_mosquitto_pub(mosquitto: MosquittoServer) -> None:
    async def publish(payloads: list[bytes]) -> None:
        for p in payloads:
            await mosquitto_pub(mosquitto.port, "q/dev", p)
    await _queue_while_away_then_receive(mosquitto, publish)


async def test_acks_for_a_lost_connection_are_refused_and_the_messages_redelivered(
        mosquitto: MosquittoServer) -> None:
    """Held, not acknowledged, until the connection drops: ack() then sends nothing and says so;
    the broker redelivers on the next connection, where they are acknowledged."""
    held: list[tuple[int, Message]] = []
    changed = asyncio.Event()

    def on_message(generation: int, message: Message) -> None:
        held.append((generation, message))
        changed.set()

    options = ConnectOptions(f"test-hold-{next(_ids)}", clean_start=False, session_expiry=600, receive_maximum=10)
    session = MqttSession(BrokerAddress.from_url(mosquitto.url), options, [("h/#", 1)], on_message,
                          Backoff(0.05, 0.5))
    task = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(session.connected.wait(), 10)
        await paho_publish(mosquitto.url, [("h/d", f"{i}".encode()) for i in range(5)])
        await _until(lambda: len(held) >= 5, changed)
        old = session.generation
        assert session.client is not None
        session.client.abort()
        await _until(lambda: sum(1 for g, _ in held if g != old) >= 5, changed)  # redelivered
        assert session.ack(old, [m.packet_id for g, m in held if g == old]) == 0
        assert session.acks_refused == 5
        new = [m.packet_id for g, m in held if g == session.generation]
        assert session.ack(session.generation, new) == 5
        assert sorted(m.payload for g, m in held if g != old) == sorted(f"{i}".encode() for i in range(5))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
