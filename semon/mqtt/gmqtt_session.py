"""``MqttSession``'s interface on gmqtt, for the client comparison in docs/ingest.md.

gmqtt acknowledges a QoS 1 message when its ``on_message`` coroutine returns (with
``optimistic_acknowledgement=False``); it does not hand the packet identifier to the
application. So each message gets a token of ours as ``Message.packet_id`` and a future that
``ack`` resolves: one task per message in flight waits for the commit.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import gmqtt  # type: ignore[import-untyped]
from gmqtt.mqtt.constants import MQTTv50  # type: ignore[import-untyped]

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, Message
from semon.mqtt.packets import ConnectOptions

log = logging.getLogger(__name__)


class GmqttSession:
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
        self.connected = asyncio.Event()
        self.connects = 0
        self.acks_refused = 0
        self._tokens = itertools.count(1)
        self._waiting: dict[int, tuple[int, asyncio.Future[int]]] = {}
        self._paused = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        o = self.options
        while True:
            generation = self.generation + 1
            closed: asyncio.Future[None] = loop.create_future()
            kwargs: dict[str, Any] = {"receive_maximum": o.receive_maximum}
            if o.session_expiry:
                kwargs["session_expiry_interval"] = o.session_expiry
            if o.maximum_packet_size:
                kwargs["maximum_packet_size"] = o.maximum_packet_size
            client = gmqtt.Client(o.client_id, clean_session=o.clean_start, optimistic_acknowledgement=False,
                                  **kwargs)
            client.set_config({"reconnect_retries": 0})
            if self.address.username is not None:
                client.set_auth_credentials(self.address.username, self.address.password)

            async def on_message(_c: Any, topic: str, payload: bytes, qos: int, props: Any,
                                 generation: int = generation) -> int:
                if qos == 0:
                    self._on_message(generation, Message(topic, payload, 0, bool(props.get("retain")),
                                                         bool(props.get("dup")), 0))
                    return 0
                token = next(self._tokens) & 0xFFFFFFFF
                fut: asyncio.Future[int] = loop.create_future()
                self._waiting[token] = (generation, fut)
                self._on_message(generation, Message(topic, payload, qos, bool(props.get("retain")),
                                                     bool(props.get("dup")), token))
                return await fut

            def on_disconnect(*_: Any, closed: asyncio.Future[None] = closed) -> None:
                if not closed.done():
                    closed.set_result(None)

            client.on_message = on_message
            client.on_disconnect = on_disconnect
            self.generation = generation
            try:
                await client.connect(self.address.host, self.address.port, ssl=self.address.ssl_context() or False,
                                     keepalive=o.keepalive, version=MQTTv50)
                if self._on_connected is not None:
                    self._on_connected(generation, False)
                for topic, qos in self.subscriptions:
                    client.subscribe(topic, qos=qos)
            except (OSError, TimeoutError) as exc:
                delay = self._backoff.next_delay()
                log.warning("MQTT unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            self.connects += 1
            self._backoff.reset()
            self.connected.set()
            try:
                await asyncio.shield(closed)
            except asyncio.CancelledError:
                await client.disconnect()
                raise
            finally:
                self.connected.clear()
                for token, (gen, fut) in list(self._waiting.items()):
                    if gen == generation:
                        fut.cancel()
                        del self._waiting[token]

    def ack(self, generation: int, packet_ids: list[int]) -> int:
        sent = 0
        for token in packet_ids:
            waiting = self._waiting.pop(token, None)
            if waiting is not None and waiting[0] == generation and not waiting[1].done():
                waiting[1].set_result(0)
                sent += 1
        self.acks_refused += len(packet_ids) - sent
        return sent

    def pause_reading(self) -> None:
        self._paused = True  # gmqtt offers no way to stop reading; the receive maximum is all

    def resume_reading(self) -> None:
        self._paused = False

    @property
    def reading_paused(self) -> bool:
        return self._paused
