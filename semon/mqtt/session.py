"""A persistent MQTT session: one client, reconnected with backoff for as long as it runs (the
only reconnect loop for the broker: its services never reconnect themselves)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, ConnectionLost, Message, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.periodic import keep_connected

log = logging.getLogger(__name__)


class MqttSession:
    """Keeps one client connected and subscribed.

    ``on_message(generation, message)``: the generation counts connections, so an
    acknowledgement for a message received on an earlier connection is never sent on a later
    one (the broker redelivers those instead).

    A connection is current from its CONNACK on, not from its SUBACK: with a session present,
    the broker resends what was in flight and goes on with the queue before it answers the
    SUBSCRIBE, and those messages must be acknowledged on that same connection (an
    acknowledgement refused for them would leave the broker's send window full for good).

    ``pause_reading``/``resume_reading``: backpressure for a consumer whose buffer is full; the
    state holds across reconnects.
    """

    def __init__(
        self,
        address: BrokerAddress,
        options: ConnectOptions,
        subscriptions: list[tuple[str, int]],
        on_message: Callable[[int, Message], None],
        backoff: Backoff,
        on_connected: Callable[[int, bool], None] | None = None,
    ) -> None:
        self.address = address
        self.options = options
        self.subscriptions = subscriptions
        self._on_message = on_message
        self._on_connected = on_connected
        self._backoff = backoff
        self.generation = 0
        self.client: MqttClient | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self.acks_refused = 0
        self._paused = False

    async def run(self) -> None:
        """Until cancelled: connected, subscribed, and made again when lost, through the one
        reconnect loop (``semon.periodic.keep_connected``) with this session's backoff."""
        await keep_connected(f"MQTT {self.options.client_id} at {self.address.host}:{self.address.port}",
                             self._connection, log=log,
                             backoff=self._backoff)

    async def _connection(self, working: Callable[[], None]) -> None:
        """One connection: made, subscribed, held until lost (raises ``ConnectionLost``)."""
        generation = self.generation + 1
        client = MqttClient(self.options, functools.partial(self._on_message, generation))
        # Current before CONNACK arrives: messages that come in the same read as the CONNACK
        # are dispatched before connect() returns, and may be acknowledged at once.
        self.generation = generation
        self.client = client
        try:
            connack = await client.connect(self.address)
            if self._on_connected is not None:
                self._on_connected(generation, connack.session_present)
            if self.subscriptions:
                # Even with a session present: Mosquitto restores a shared subscription from
                # its persistence file without the share group, so it must be renewed.
                await client.subscribe(self.subscriptions)
        except BaseException:  # an error or a cancellation: the half-made connection goes
            client.abort()
            self.client = None
            raise
        self.connects += 1
        self.connected.set()
        if self._paused:
            client.pause_reading()
        log.info("MQTT connected to %s:%d as %s (session present: %s)",
                 self.address.host, self.address.port, self.options.client_id, connack.session_present)
        working()
        try:
            await asyncio.shield(client.closed)
        except asyncio.CancelledError:
            await self._close(client)
            raise
        finally:
            self.connected.clear()
            self.client = None
        raise ConnectionLost("connection lost")

    async def _close(self, client: MqttClient) -> None:
        try:
            async with asyncio.timeout(5):
                await client.disconnect()
        except (TimeoutError, ConnectionLost, OSError):
            client.abort()

    def ack(self, generation: int, packet_ids: list[int]) -> int:
        """PUBACK on the connection the messages came in on; returns how many were sent.

        Those not sent (their connection is gone) are not lost: the broker redelivers them on
        the next connection, where the caller sees them again under the new generation. They
        are counted in ``acks_refused`` and logged."""
        if not packet_ids:
            return 0
        client = self.client
        if client is not None and generation == self.generation and client.ack(packet_ids):
            return len(packet_ids)
        self.acks_refused += len(packet_ids)
        log.info("%d acknowledgements for connection %d not sent (now %d): the broker redelivers them",
                 len(packet_ids), generation, self.generation)
        return 0

    def pause_reading(self) -> None:
        """Stop reading from the broker until ``resume_reading``; acknowledgements still go out."""
        self._paused = True
        if self.client is not None and self.connected.is_set():
            self.client.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if self.client is not None:
            self.client.resume_reading()

    @property
    def reading_paused(self) -> bool:
        return self._paused
