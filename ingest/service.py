"""The ingester: MQTT (shared subscription, persistent session) → validated rows → TimescaleDB.

A QoS 1 message is acknowledged only after the transaction holding it has committed. The
broker never has more than ``IngestSettings.receive_maximum`` messages in flight to us, so that is
also the bound on what we buffer: while the database is down, nothing is acknowledged, the
window fills, and the broker keeps the rest queued until we resume.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ingest.batch import Batch
from ingest.isolate import describe, isolate
from ingest.metrics import IngestMetrics
from ingest.registered import CodesReader, RegisteredDevices
from ingest.retention import run_retention
from ingest.state import DeviceStateBuffer
from ingest.writer import WriteResult, prepare_connection, write_batch
from semon.backoff import Backoff
from semon.db import apply_migrations, open_pool
from semon.db.errors import is_transient
from semon.metrics_http import serve_metrics
from semon.mqtt.client import BrokerAddress, Message
from semon.mqtt.packets import ConnectOptions
from semon.mqtt.session import MqttSession
from semon.periodic import Failures, until_done
from semon.protocol.decode import Decoded, Rejection, RejectReason, decode
from semon.protocol.models import StatusMessage
from semon.protocol.topics import subscription_filter
from semon.settings import BackoffSettings, IngestSettings, MetricsSettings, MqttSettings, TelemetrySettings
from semon.source import MessageSource, SourceFactory

log = logging.getLogger(__name__)


def ingest_subscription(settings: IngestSettings) -> str:
    """The shared subscription when a share group is set (several ingesters split the load),
    else a plain one. Mosquitto 2.0 restores a persistent session's shared subscription without
    its group after a restart, so until the ingester has subscribed again the broker drops
    what arrives; a plain subscription survives the restart (docs/ingest.md)."""
    if settings.share_group:
        return f"$share/{settings.share_group}/{subscription_filter()}"
    return subscription_filter()


class Inbound(NamedTuple):
    generation: int
    message: Message


class Ingester:
    def __init__(self, settings: IngestSettings, mqtt: MqttSettings, mqtt_url: str, database_url: str, *,
                 telemetry: TelemetrySettings, metrics: MetricsSettings, backoff: BackoffSettings,
                 register_codes: CodesReader | None = None, register_refresh_s: float = 60.0,
                 source: SourceFactory | None = None) -> None:
        """``mqtt``: how to connect (keepalive, session expiry, TLS files) to ``mqtt_url``, this
        ingester's own account; ``telemetry``: what is accepted and how long it is kept;
        ``metrics``: where they are served. ``register_codes``: reads the registration codes in
        the equipment register (the register's own function, handed in by whoever assembles the
        process, with ``register_refresh_s``, how often it is read again); needed with
        ``settings.reject_unregistered``, which raises ValueError without it. ``source``: where
        messages come from instead of the MQTT session (cluster mode's shared JetStream consumer,
        ``semon.source``; docs/scale.md)."""
        if settings.reject_unregistered and register_codes is None:
            raise ValueError("rejecting unregistered devices needs the register's reader (register_codes)")
        self.settings = settings
        self.telemetry = telemetry
        self.metrics_settings = metrics
        self.backoff_settings = backoff
        self.register_refresh_s = register_refresh_s
        self.database_url = database_url
        self._limits = telemetry.decode_limits()
        # Bounded: messages are taken from the broker only while fewer than the receive maximum
        # are held (queued or in a batch not yet committed); taken again below half of that.
        self._queue: deque[Inbound] = deque()
        self._high_water = settings.receive_maximum
        self._low_water = settings.receive_maximum // 2
        self.reading_pauses = 0
        self._ready = asyncio.Event()
        self._in_batches = 0
        self.metrics = IngestMetrics(
            backlog=lambda: len(self._queue) + self._in_batches,
            connected=lambda: 1.0 if self.session.connected.is_set() else 0.0,
        )
        options = ConnectOptions(
            client_id=settings.client_id,
            clean_start=False,
            keepalive=mqtt.keepalive_s,
            session_expiry=mqtt.session_expiry_s,
            receive_maximum=settings.receive_maximum,
        )
        self.session: MessageSource = (
            source(self._on_message, self._on_connected) if source is not None else MqttSession(
                BrokerAddress.from_settings(mqtt_url, mqtt),
                options,
                [(ingest_subscription(settings), 1)],
                self._on_message,
                self._backoff(),
                on_connected=self._on_connected,
            ))
        self.state = DeviceStateBuffer(on_refused=lambda n: self.metrics.refused_rows.labels("device_state").inc(n))
        self.registered = RegisteredDevices(register_codes)
        self.metrics_port: int | None = None
        self.running = asyncio.Event()

    def _backoff(self) -> Backoff:
        return self.backoff_settings.backoff()

    # --- receiving (runs in the MQTT protocol callback: no awaiting here) ------------------

    def _on_message(self, generation: int, message: Message) -> None:
        queue = self._queue
        queue.append(Inbound(generation, message))
        if len(queue) == 1:
            self._ready.set()
        elif len(queue) + self._in_batches >= self._high_water and not self.session.reading_paused:
            # Our own bound: Mosquitto 2.0 stops honouring the receive maximum once batched
            # acknowledgements resume. Stop reading; the writers resume it at the low-water mark.
            self.session.pause_reading()
            self.reading_pauses += 1
            log.info("buffer full (%d messages): reading from the broker paused", len(queue))

    def _resume_if_drained(self) -> None:
        if self.session.reading_paused and len(self._queue) + self._in_batches <= self._low_water:
            self.session.resume_reading()

    def _on_connected(self, generation: int, session_present: bool) -> None:
        # What an earlier connection left unclaimed is redelivered on this one: drop our copy,
        # so reconnecting never grows the buffer beyond one receive window.
        stale = sum(1 for i in self._queue if i.generation != generation)
        if stale:
            self._queue = deque(i for i in self._queue if i.generation == generation)
            log.info("dropped %d unacknowledged messages of the previous connection (redelivered)", stale)
            self._resume_if_drained()

    # --- the service -----------------------------------------------------------------------

    async def run(self) -> None:
        await self._migrate()
        s, kept = self.settings, self.telemetry
        pool = open_pool(self.database_url, min_size=s.writers, max_size=s.writers + 1,
                         name="semon-ingest", configure=prepare_connection)
        async with pool, serve_metrics(self.metrics.registry, self.metrics_settings.host, self.metrics_settings.port,
                                       healthy=self.session.connected.is_set) as port:
            self.metrics_port = port
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.session.run(), name="ingest-mqtt")
                for i in range(s.writers):
                    tg.create_task(self._write_loop(pool), name=f"ingest-writer-{i}")
                tg.create_task(self.state.run(pool, s.state_flush_interval_s, self._backoff()), name="ingest-state")
                if s.reject_unregistered:
                    tg.create_task(self.registered.run(pool, self.register_refresh_s, self._backoff()),
                                   name="ingest-register")
                tg.create_task(
                    run_retention(pool, timedelta(days=kept.retention_days), kept.retention_check_interval_s,
                                  self._backoff()),
                    name="ingest-retention",
                )
                self.running.set()

    async def _migrate(self) -> None:
        await until_done("ingest migrations", functools.partial(apply_migrations, self.database_url), log=log,
                         backoff=self._backoff())

    async def _write_loop(self, pool: AsyncConnectionPool) -> None:
        # The hot path, paced by the queue, not periodic work: only the commit of each batch is
        # retried, with the one policy (``_commit``); one writer's failures run across batches.
        failures = Failures("ingest writer: storing a batch", log=log, backoff=self._backoff())
        batch_max = self.settings.batch_max
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            items = [self._queue.popleft() for _ in range(min(len(self._queue), batch_max))]
            self._in_batches += len(items)
            try:
                await self._process(pool, items, failures)
            finally:
                self._in_batches -= len(items)
                self._resume_if_drained()  # acknowledged now: room in the window again

    async def _process(self, pool: AsyncConnectionPool, items: list[Inbound], failures: Failures) -> None:
        self.metrics.received.inc(len(items))
        now = datetime.now(UTC)
        outcomes = [decode(i.message.topic, i.message.payload, now, self._limits) for i in items]
        if self.settings.reject_unregistered:
            outcomes = [self.registered.screen(o) for o in outcomes]
        started = time.perf_counter()
        result, outcomes = await self._store(pool, items, outcomes, now, failures)
        committed = time.time()
        self._account(result, outcomes, committed, time.perf_counter() - started)
        self._acknowledge(items)

    def _batch(self, items: list[Inbound], outcomes: list[Decoded | Rejection], now: datetime) -> Batch:
        batch = Batch()
        keep = self.settings.rejected_payload_keep_bytes
        for item, outcome in zip(items, outcomes, strict=True):
            batch.add(outcome, item.message.topic, item.message.payload, now, keep)
        return batch

    async def _store(self, pool: AsyncConnectionPool, items: list[Inbound],
                     outcomes: list[Decoded | Rejection], now: datetime,
                     failures: Failures) -> tuple[WriteResult, list[Decoded | Rejection]]:
        """Commit the batch, retrying for as long as the database is away. Rows the database
        refuses are isolated by halving the batch (ingest/isolate.py), dead-lettered in
        rejected_messages as ``storage_error`` with the database's reason, and the rest stored."""

        async def attempt(part: Sequence[int]) -> WriteResult:
            batch = self._batch([items[i] for i in part], [outcomes[i] for i in part], now)
            result = await self._commit(pool, batch, failures)
            self.state.merge(batch.devices)
            return result

        results, refused = await isolate(range(len(items)), attempt)
        total = sum(results, WriteResult(0, 0, 0, 0, 0))
        if not refused:
            return total, outcomes
        final = list(outcomes)
        for index, exc in refused:
            outcome = outcomes[index]
            kind, device = ((outcome.topic.kind.value, outcome.topic.device_id) if isinstance(outcome, Decoded)
                            else (outcome.kind, outcome.device_id))
            final[index] = Rejection(RejectReason.STORAGE_ERROR, f"database refused the row: {describe(exc)}",
                                     kind=kind, device_id=device)
            log.error("message on %r refused by the database, dead-lettered: %s",
                      items[index].message.topic[:120], describe(exc)[:300])
        self.metrics.refused_rows.labels("batch").inc(len(refused))
        total += await self._dead_letter(pool, [(items[i], final[i]) for i, _ in refused], now, failures)
        return total, final

    async def _dead_letter(self, pool: AsyncConnectionPool, letters: list[tuple[Inbound, Decoded | Rejection]],
                           now: datetime, failures: Failures) -> WriteResult:
        """Record refused messages in rejected_messages; one the database refuses even there is
        logged and counted, never retried (it is acknowledged with the rest)."""

        async def attempt(part: Sequence[tuple[Inbound, Decoded | Rejection]]) -> WriteResult:
            return await self._commit(pool, self._batch([i for i, _ in part], [o for _, o in part], now), failures)

        results, lost = await isolate(letters, attempt)
        for (item, _), exc in lost:
            self.metrics.dead_letter_failed.inc()
            log.error("dead letter for a message on %r refused too, dropped: %s",
                      item.message.topic[:120], describe(exc)[:300])
        return sum(results, WriteResult(0, 0, 0, 0, 0))

    async def _commit(self, pool: AsyncConnectionPool, batch: Batch, failures: Failures) -> WriteResult:
        """Write one batch in one transaction, waiting out a database that is away (transient
        errors: retried with backoff, for ever, ``semon.periodic.until_done``); a refusal is
        raised to the caller."""

        async def attempt() -> WriteResult:
            try:
                async with pool.connection(timeout=5) as conn:
                    return await write_batch(conn, batch)
            except (psycopg.Error, PoolTimeout) as exc:
                if is_transient(exc):
                    self.metrics.db_errors.inc()
                raise

        return await until_done(failures.name, attempt, log=log, backoff=failures, retry=is_transient)

    # --- after commit ------------------------------------------------------------------------

    def _account(self, result: WriteResult, outcomes: list[Decoded | Rejection], committed: float,
                 elapsed: float) -> None:
        m = self.metrics
        m.batches.inc()
        m.commit_seconds.observe(elapsed)
        m.stored.labels("elevator_telemetry").inc(result.elevator)
        m.stored.labels("boiler_telemetry").inc(result.boiler)
        m.stored.labels("device_events").inc(result.events)
        m.duplicates.inc(result.duplicates)
        observe = m.lag_seconds.observe
        for outcome in outcomes:
            if isinstance(outcome, Rejection):
                m.rejected.labels(outcome.reason.value).inc()
                continue
            for what in outcome.sanitised:
                m.sanitised.labels(what.value).inc()
            if not isinstance(outcome.payload, StatusMessage):
                observe(committed - outcome.payload.ts.timestamp())

    def _acknowledge(self, items: list[Inbound]) -> None:
        by_generation: dict[int, list[int]] = {}
        for item in items:
            if item.message.qos:
                by_generation.setdefault(item.generation, []).append(item.message.packet_id)
        for generation, packet_ids in by_generation.items():
            sent = self.session.ack(generation, packet_ids)
            self.metrics.acked.inc(sent)
            self.metrics.ack_dropped.inc(len(packet_ids) - sent)
