"""A QoS 1 publisher that loses nothing: what the broker has not acknowledged is resent after a
reconnect. The load generator and the tests use it in place of field hardware."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, ConnectionLost, MqttClient, MqttError
from semon.mqtt.packets import ConnectOptions

log = logging.getLogger(__name__)


class ReliablePublisher:
    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        *,
        session_expiry: int = 600,
        on_ack: Callable[[bytes, bytes], None] | None = None,
    ) -> None:
        self.address = address
        self.options = ConnectOptions(client_id, clean_start=False, session_expiry=session_expiry,
                                      keepalive=30)
        self._on_ack = on_ack
        self._client: MqttClient | None = None
        self._inflight: dict[int, tuple[bytes, bytes]] = {}
        self._backoff = Backoff(0.1, 2.0)
        self._connected = asyncio.Event()
        self.acked = 0
        self.resent = 0

    @property
    def unacknowledged(self) -> int:
        return len(self._inflight)

    async def connect(self) -> None:
        # Not ``semon.periodic``: a load generator's device side, which retries quickly and
        # quietly (at debug) so that a benchmark measures semon, not this loop.
        while True:
            client = MqttClient(self.options)
            try:
                connack = await client.connect(self.address)
            except (OSError, TimeoutError, MqttError) as exc:
                client.abort()
                log.debug("publisher %s: connect failed (%s)", self.options.client_id, exc)
                await self._backoff.sleep()
                continue
            self._backoff.reset()
            self._client = client
            self._connected.set()
            pending = list(self._inflight.items())
            self._inflight.clear()
            for pid, (topic, payload) in pending:
                # The same packet id within the same session, flagged DUP; with a new session
                # it is simply a new message and the ingester drops the copy by (device, seq).
                await self._send(topic, payload, dup=True,
                                 packet_id=pid if connack.session_present else None)
                self.resent += 1
            return

    async def _send(self, topic: bytes, payload: bytes, *, dup: bool = False,
                    packet_id: int | None = None) -> None:
        while True:
            client = self._client
            if client is None or not client.is_connected:
                self._connected.clear()
                await self.connect()
                continue
            try:
                await client.wait_for_quota()
                sent = client.publish_nowait(topic, payload, 1, dup=dup, packet_id=packet_id)
            except ConnectionLost:
                continue
            assert sent is not None
            pid, fut = sent
            self._inflight[pid] = (topic, payload)
            fut.add_done_callback(functools.partial(self._done, pid=pid, topic=topic, payload=payload))
            return

    def _done(self, fut: asyncio.Future[int], *, pid: int, topic: bytes, payload: bytes) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # connection lost: stays in _inflight and is resent after reconnect
        if self._inflight.get(pid) == (topic, payload):
            del self._inflight[pid]
        self.acked += 1
        if self._on_ack is not None:
            self._on_ack(topic, payload)

    async def publish(self, topic: bytes, payload: bytes) -> None:
        """Returns once sent (not acknowledged): keeps many messages in flight."""
        await self._send(topic, payload)

    async def flush(self, timeout: float = 60) -> bool:
        """Wait until everything sent has been acknowledged, reconnecting as needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._inflight and loop.time() < deadline:
            if self._client is None or not self._client.is_connected:
                await self.connect()
            await asyncio.sleep(0.02)
        return not self._inflight

    async def close(self) -> None:
        if self._client is not None:
            try:
                async with asyncio.timeout(5):
                    await self._client.disconnect()
            except (TimeoutError, ConnectionLost, OSError):
                self._client.abort()
