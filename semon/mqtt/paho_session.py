"""``MqttSession``'s interface on paho-mqtt 2, driven on the asyncio event loop without a thread
(as Home Assistant's MQTT integration drives it): paho's socket callbacks register the socket
with ``loop.add_reader``/``add_writer``, which call ``loop_read``/``loop_write``; ``loop_misc``
runs once a second for the keep-alive. Acknowledgements are manual (``manual_ack=True``).

Kept beside the own client for the comparison in docs/ingest.md; the services use
``semon.mqtt.session.MqttSession``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, Message
from semon.mqtt.packets import ConnectOptions
from semon.periodic import keep_connected

log = logging.getLogger(__name__)

_READ_PACKETS = 1000  # per readable event, as Home Assistant does


class PahoSession:
    """Same contract as ``MqttSession``: ``on_message(generation, message)``, ``ack``,
    ``connected``, ``generation``, ``on_connected``, ``pause_reading``/``resume_reading``."""

    def __init__(self, address: BrokerAddress, options: ConnectOptions, subscriptions: list[tuple[str, int]],
                 on_message: Callable[[int, Message], None], backoff: Backoff,
                 on_connected: Callable[[int, bool], None] | None = None) -> None:
        self.address = address
        self.options = options
        self.subscriptions = subscriptions
        self._on_message = on_message
        self._on_connected = on_connected
        self._backoff = backoff
        self.generation = 0
        self.client: paho.Client | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self.acks_refused = 0
        self._paused = False
        self._sock: socket.socket | None = None
        self._misc: asyncio.TimerHandle | None = None

    def _make_client(self, generation: int, loop: asyncio.AbstractEventLoop,
                     connack: asyncio.Future[bool], suback: asyncio.Future[None],
                     closed: asyncio.Future[None]) -> paho.Client:
        o = self.options
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=o.client_id, protocol=paho.MQTTv5,
                             reconnect_on_failure=False, manual_ack=True)
        username = o.username if o.username is not None else self.address.username
        password = o.password if o.username is not None else self.address.password
        if username is not None:
            client.username_pw_set(username, password)
        context = self.address.ssl_context()
        if context is not None:
            client.tls_set_context(context)
        if o.will is not None:
            client.will_set(o.will.topic, o.will.payload, o.will.qos, o.will.retain)
        on_message = self._on_message

        def message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            topic = msg._topic.decode("utf-8", errors="replace")
            on_message(generation, Message(topic, bytes(msg.payload), msg.qos, msg.retain, msg.dup, msg.mid))

        def settle(fut: asyncio.Future[Any], value: Any = None, exc: BaseException | None = None) -> None:
            if not fut.done():
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(value)

        def connect(_c: paho.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                settle(connack, exc=ConnectionRefusedError(f"broker refused the connection ({reason})"))
            else:
                settle(connack, bool(flags.session_present))

        def subscribe(_c: paho.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
            if any(r.is_failure for r in reasons):
                settle(suback, exc=ConnectionError(f"subscription refused: {reasons}"))
            else:
                settle(suback)

        def disconnect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            lost = ConnectionError(f"connection lost ({reason})")
            settle(connack, exc=lost)
            settle(suback, exc=lost)
            settle(closed)

        def socket_open(c: paho.Client, _u: Any, sock: Any) -> None:
            loop.call_soon_threadsafe(self._attach, c, sock)

        def socket_close(_c: paho.Client, _u: Any, sock: Any) -> None:
            loop.call_soon_threadsafe(self._detach, sock)

        def register_write(c: paho.Client, _u: Any, sock: Any) -> None:
            loop.call_soon_threadsafe(loop.add_writer, sock, c.loop_write)

        def unregister_write(_c: paho.Client, _u: Any, sock: Any) -> None:
            loop.call_soon_threadsafe(loop.remove_writer, sock)

        client.on_message = message
        client.on_connect = connect
        client.on_subscribe = subscribe
        client.on_disconnect = disconnect
        client.on_socket_open = socket_open
        client.on_socket_close = socket_close
        client.on_socket_register_write = register_write
        client.on_socket_unregister_write = unregister_write
        return client

    def _attach(self, client: paho.Client, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._sock = sock
        loop.add_reader(sock, client.loop_read, _READ_PACKETS)

        def misc() -> None:
            if client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._misc = loop.call_later(1.0, misc)

        self._misc = loop.call_later(1.0, misc)

    def _detach(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock)
        loop.remove_writer(sock)
        if self._misc is not None:
            self._misc.cancel()
        if self._sock is sock:
            self._sock = None

    async def run(self) -> None:
        """Until cancelled, through the one reconnect loop (``semon.periodic.keep_connected``)."""
        await keep_connected(f"MQTT {self.options.client_id} at {self.address.host}:{self.address.port}",
                             self._connection, log=log,
                             backoff=self._backoff)

    async def _connection(self, working: Callable[[], None]) -> None:
        """One connection: made, subscribed, held until lost (raises ``ConnectionError``)."""
        loop = asyncio.get_running_loop()
        o = self.options
        generation = self.generation + 1
        connack: asyncio.Future[bool] = loop.create_future()
        suback: asyncio.Future[None] = loop.create_future()
        closed: asyncio.Future[None] = loop.create_future()
        client = self._make_client(generation, loop, connack, suback, closed)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = o.receive_maximum
        if o.session_expiry:
            props.SessionExpiryInterval = o.session_expiry
        if o.maximum_packet_size:
            props.MaximumPacketSize = o.maximum_packet_size
        self.generation = generation
        self.client = client
        try:
            # Name resolution, TCP and TLS handshakes block: in a thread, as Home Assistant does.
            await loop.run_in_executor(None, functools.partial(
                client.connect, self.address.host, self.address.port, o.keepalive, clean_start=o.clean_start,
                properties=props))
            async with asyncio.timeout(10):
                session_present = await asyncio.shield(connack)
            if self._on_connected is not None:
                self._on_connected(generation, session_present)
            if self.subscriptions:
                client.subscribe(self.subscriptions)
                async with asyncio.timeout(10):
                    await asyncio.shield(suback)
        except BaseException:  # an error or a cancellation: the half-made connection goes
            await self._drop(client)
            raise
        self.connects += 1
        self.connected.set()
        if self._paused:
            self.pause_reading()
        log.info("MQTT connected to %s:%d as %s (session present: %s)",
                 self.address.host, self.address.port, o.client_id, session_present)
        working()
        try:
            await asyncio.shield(closed)
        except asyncio.CancelledError:
            client.disconnect()
            await self._drop(client)
            raise
        finally:
            self.connected.clear()
            self.client = None
        raise ConnectionError("connection lost")

    async def _drop(self, client: paho.Client) -> None:
        sock = client.socket()
        if sock is not None:
            self._detach(sock)  # type: ignore[arg-type]
        client._sock_close()
        self.client = None

    def ack(self, generation: int, packet_ids: list[int]) -> int:
        """PUBACK on the connection the messages came in on; returns how many were sent."""
        if not packet_ids:
            return 0
        client = self.client
        if client is not None and generation == self.generation and client.is_connected():
            for mid in packet_ids:
                client.ack(mid, 1)
            return len(packet_ids)
        self.acks_refused += len(packet_ids)
        log.info("%d acknowledgements for connection %d not sent (now %d): the broker redelivers them",
                 len(packet_ids), generation, self.generation)
        return 0

    def pause_reading(self) -> None:
        self._paused = True
        if self._sock is not None and self.connected.is_set():
            asyncio.get_running_loop().remove_reader(self._sock)

    def resume_reading(self) -> None:
        self._paused = False
        if self._sock is not None and self.client is not None:
            asyncio.get_running_loop().add_reader(self._sock, self.client.loop_read, _READ_PACKETS)

    @property
    def reading_paused(self) -> bool:
        return self._paused
