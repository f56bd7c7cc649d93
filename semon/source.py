"""Where the ingester and the rules engine take the devices' messages from: the seam between
them and the transport, chosen by configuration (docs/scale.md).

A source delivers each message with the *generation* it came in under and a token
(``Message.packet_id``) by which it is acknowledged once what it caused is stored. Two kinds:

- ``semon.mqtt.session.MqttSession``: a persistent MQTT session (the default; Mosquitto under
  ``semon up``); the generation counts connections, the token is the packet id;
- ``semon.cluster.jetstream.PullSource``: a JetStream consumer of the cluster's stream
  (cluster mode); the generation counts bindings of the consumer, the token is a delivery.

Both bound what they hand over by their window (a receive maximum, a consumer's unacknowledged
maximum), redeliver what was not acknowledged, and never acknowledge on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from semon.mqtt.client import Message

OnMessage = Callable[[int, Message], None]
"""``on_message(generation, message)``, called for each message in the order of its source; it
must not await."""

OnConnected = Callable[[int, bool], None]
"""``on_connected(generation, redelivers)``: a new generation began; with ``redelivers`` the
source delivers again what earlier generations left unacknowledged (the caller drops its copy)."""


class MessageSource(Protocol):
    """What the ingester and the rules engine need of a source of messages."""

    connected: asyncio.Event

    async def run(self) -> None:
        """Deliver messages until cancelled, reconnecting as needed (never returns)."""

    def ack(self, generation: int, packet_ids: list[int]) -> int:
        """Acknowledge messages of ``generation`` by their tokens; returns how many were sent
        (those not sent are delivered again)."""

    def pause_reading(self) -> None:
        """Take no more messages until ``resume_reading`` (acknowledgements still go out)."""

    def resume_reading(self) -> None: ...

    @property
    def reading_paused(self) -> bool: ...


SourceFactory = Callable[[OnMessage, OnConnected], MessageSource]
"""Makes a source that calls back the given functions: what the composition root hands the
ingester and the rules engine to read cluster mode's consumers instead of MQTT."""
