"""A persistent QoS 1 subscriber for the integration tests: keeps every message, in order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

import orjson

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, Message
from semon.mqtt.packets import ConnectOptions
from semon.mqtt.session import MqttSession

_subscribers = itertools.count(1)


class Recorder:
    """A persistent QoS 1 subscriber that keeps every message it receives, in order."""

    def __init__(self, url: str, filters: list[str]) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()
        options = ConnectOptions(f"test-sub-{next(_subscribers)}", clean_start=False, session_expiry=600)
        self.session = MqttSession(BrokerAddress.from_url(url), options, [(f, 1) for f in filters],
                                   self._on_message, Backoff(0.05, 0.5))

    def _on_message(self, generation: int, msg: Message) -> None:
        self.messages.append(msg)
        self.session.ack(generation, [msg.packet_id])
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``predicate`` holds: checked on each message and every 20 ms (for link counters)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out; {len(self.messages)} messages received")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.02))

    def on(self, topic: str) -> list[Message]:
        return [m for m in self.messages if m.topic == topic]

    def seqs(self, device_id: str) -> list[int]:
        return [int(orjson.loads(m.payload)["seq"]) for m in self.messages
                if m.topic.split("/")[2] == device_id and not m.topic.endswith("/status")]

    def statuses(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.on(topic)]


@contextlib.asynccontextmanager
async def recording(url: str, *filters: str) -> AsyncIterator[Recorder]:
    recorder = Recorder(url, list(filters))
    task = asyncio.create_task(recorder.session.run())
    try:
        await asyncio.wait_for(recorder.session.connected.wait(), 10)
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
