"""The ingester's own bound on its buffer, with a real Mosquitto and a table lock: it never
holds much more than its receive maximum, and loses nothing."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg

from ingest.service import Ingester
from semon.mqtt.client import Message
from semon.stack import MosquittoServer
from tests.integration.devices import paho_publish
from tests.integration.helpers import elevator, ingest_settings, wait_for_count

RECEIVE_MAXIMUM = 300


class Watched(Ingester):
    max_buffered = 0

    def _on_message(self, generation: int, message: Message) -> None:
        super()._on_message(generation, message)
        self.max_buffered = max(self.max_buffered, len(self._queue) + self._in_batches)


async def test_buffer_stays_bounded_through_a_table_lock(mosquitto: MosquittoServer, database_url: str) -> None:
    settings = ingest_settings(ingest_receive_maximum=RECEIVE_MAXIMUM, ingest_batch_max=100)
    ingester = Watched(settings.ingest, settings.mqtt, mosquitto.url, database_url, telemetry=settings.telemetry,
                       metrics=settings.metrics, backoff=settings.backoff)
    task = asyncio.create_task(ingester.run())
    try:
        await asyncio.wait_for(ingester.session.connected.wait(), 30)
        total = 0
        async with await psycopg.AsyncConnection.connect(database_url) as lock:
            await lock.execute("LOCK TABLE elevator_telemetry IN ACCESS EXCLUSIVE MODE")
            for part in range(3):
                batch = [(f"se/elevator/BND-{d:03d}/telemetry", elevator(part + 1)) for d in range(1000)]
                await paho_publish(mosquitto.url, batch)
                total += len(batch)
            await lock.rollback()  # the lock ends; batched acknowledgements resume
        for part in range(3, 8):  # and more keeps coming while the backlog drains
            batch = [(f"se/elevator/BND-{d:03d}/telemetry", elevator(part + 1)) for d in range(1000)]
            await paho_publish(mosquitto.url, batch)
            total += len(batch)
        stored = await wait_for_count(database_url, "SELECT count(*) FROM elevator_telemetry", total, 120)
        assert stored == total
        print(f"most buffered: {ingester.max_buffered}, pauses: {ingester.reading_pauses}")
        assert ingester.max_buffered <= RECEIVE_MAXIMUM  # queued and in batches, the window exactly
        assert ingester.max_buffered >= RECEIVE_MAXIMUM // 2  # the lock did fill the buffer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
