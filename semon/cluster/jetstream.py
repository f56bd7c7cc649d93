"""JetStream for cluster mode: the process's NATS connection, the log and its consumers, and
``PullSource``, the consumer side of ``semon.source`` (docs/scale.md).

The log is the MQTT listener's own stream ``$MQTT_msgs`` (``semon.cluster.subjects.STREAM``):
nats-server stores each QoS 1 message a device publishes there, replicated, *before* it sends
the PUBACK, under the subject the partition mappings gave it. (A stream of our own capturing
those subjects is written after the PUBACK: measured, it lost every message published while its
leader was being elected after a node was killed; docs/scale.md.) semon makes that stream before
any device connects, with limits retention (``retention_h``): the listener, finding it, leaves
it as it is. Made by the listener it would have interest retention, under which nats-server 2.9
dropped messages that consumers had not yet read when another consumer was deleted (measured:
568 of 49,998 in the kill test); semon refuses to read such a log and says why
(``LogRetentionRefused``). Its consumers, all durable with explicit
acknowledgement and a bound on what is unacknowledged:

- ``semon-ingest``: every message, shared by every ingest worker (each pulls its share; a
  worker that dies leaves its unacknowledged messages to be delivered to another after
  ``ack_wait_s``);
- ``semon-rules-fr-{p}`` and ``semon-rules-ev-{p}``: partition ``p``'s frames and events,
  read by the one rules engine that holds the partition's lease (``semon.cluster.leases``).
  The engine that takes a partition makes its consumers again from their acknowledgement floor,
  so what the last holder left unacknowledged comes again at once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from semon.backoff import Backoff
from semon.cluster.subjects import STREAM, events_filter, everything, frames_filter, mqtt_topic
from semon.mqtt.client import Message
from semon.periodic import keep_connected
from semon.settings import ClusterSettings
from semon.source import OnConnected, OnMessage

log = logging.getLogger(__name__)

INGEST_CONSUMER = "semon-ingest"
CONNECT_TIMEOUT_S = 2  # seconds, per server, for a connection's first making
STREAM_SUBJECT_PREFIX = "$MQTT.msgs."
# A partition's consumer found missing is made with the messages of this many seconds back: the
# stream was being made with its consumers by another process (seconds ago), or the consumer was
# deleted by hand (a minute of messages is judged again, and recognised).
MISSING_CONSUMER_REPLAY_S = 60.0


def rules_consumer(kind: str, partition: int) -> str:
    """The durable name of partition ``partition``'s consumer of ``kind`` (``fr`` or ``ev``)."""
    return f"semon-rules-{kind}-{partition}"


class ClusterUnavailable(ConnectionError):
    """The cluster cannot be reached or cannot serve (no servers, JetStream not ready, a
    request timed out): an outage by ``semon.periodic``'s policy, waited out and retried."""


def unavailable(exc: BaseException) -> ClusterUnavailable:
    return ClusterUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": "))


class NatsLink:
    """One NATS connection for a process, shared by its consumers and its leases.

    ``client()`` connects at its first call (raising ``ClusterUnavailable`` while no server
    answers); nats-py then reconnects by itself, to any of the servers, for as long as the link
    is open. Its errors and reconnections are logged here once each, never as tracebacks.
    """

    def __init__(self, settings: ClusterSettings, name: str) -> None:
        self.settings = settings
        self.name = name
        self._client: NatsClient | None = None
        self._last_error: Exception | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> NatsClient:
        async with self._lock:
            if self._client is not None and not self._client.is_closed:
                return self._client
            s = self.settings
            options: dict[str, Any] = {}
            if s.user:
                options.update(user=s.user, password=s.password.get_secret_value())
            client = NatsClient()
            self._last_error = None
            # nats-py tries a first connection for ever when it reconnects for ever: bounded
            # here, so that an unreachable cluster or a refused login is said (the last error).
            budget = CONNECT_TIMEOUT_S * len(s.urls()) + 3
            try:
                async with asyncio.timeout(budget):
                    await client.connect(
                        servers=s.urls(), name=self.name, allow_reconnect=True, max_reconnect_attempts=-1,
                        reconnect_time_wait=1, connect_timeout=CONNECT_TIMEOUT_S, ping_interval=5,
                        max_outstanding_pings=2, error_cb=self._error, disconnected_cb=self._disconnected,
                        reconnected_cb=self._reconnected, **options)
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                with contextlib.suppress(Exception):
                    await client.close()
                why = self._last_error or exc
                raise ClusterUnavailable(f"no NATS server of {', '.join(s.urls())} took the connection within "
                                         f"{budget:.0f} s: {type(why).__name__}: {why}") from None
            self._client = client
            log.info("NATS %s connected to %s", self.name, client.connected_url.netloc if client.connected_url else "?")
            return client

    async def jetstream(self) -> JetStreamContext:
        return (await self.client()).jetstream(timeout=5)

    async def _error(self, exc: Exception) -> None:
        self._last_error = exc
        log.debug("NATS %s: %s: %s", self.name, type(exc).__name__, exc)

    async def _disconnected(self) -> None:
        log.warning("NATS %s disconnected; reconnecting", self.name)

    async def _reconnected(self) -> None:
        client = self._client
        url = client.connected_url.netloc if client is not None and client.connected_url else "?"
        log.info("NATS %s reconnected to %s", self.name, url)

    async def close(self) -> None:
        """Close the connection (what is buffered is flushed if the server still answers);
        never raises: a connection being remade, or already lost, just ends."""
        client, self._client = self._client, None
        if client is None or client.is_closed:
            return
        try:
            async with asyncio.timeout(2):
                await client.close()
        except Exception as exc:  # closing must not fail the process's exit
            log.debug("NATS %s closed with %s: %s", self.name, type(exc).__name__, exc)

    async def __aenter__(self) -> NatsLink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def stream_config(settings: ClusterSettings) -> StreamConfig:
    """``$MQTT_msgs`` as semon makes it before the listener's first connection: the listener's
    subjects, file storage, ``replicas``, and limits retention (messages kept ``retention_h``
    hours, the oldest dropped first), so that making and deleting consumers never drops one."""
    return StreamConfig(
        name=STREAM, subjects=[f"{STREAM_SUBJECT_PREFIX}>"], retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD, storage=StorageType.FILE, num_replicas=settings.replicas,
        max_age=settings.retention_h * 3600)


class LogRetentionRefused(ClusterUnavailable):
    """``$MQTT_msgs`` was made by the MQTT listener (interest retention) before semon made it:
    reading it could lose messages. Waited out and reported, as an outage, until an operator
    makes it again (docs/scale.md)."""


def ingest_consumer_config(settings: ClusterSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=INGEST_CONSUMER, filter_subject=everything(), deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s, max_deliver=-1, max_ack_pending=settings.ingest_max_pending,
        max_waiting=512)


def rules_consumer_config(settings: ClusterSettings, kind: str, partition: int, window: int,
                          start_seq: int | None, name: str | None = None) -> ConsumerConfig:
    """Partition ``partition``'s consumer of ``kind`` (named ``name``, by default its first
    name): from stream sequence ``start_seq`` on, or from the stream's start when ``None``. Its
    acknowledgement wait is long: the engine acknowledges at its checkpoints, and a redelivery
    would come out of order."""
    subject = frames_filter(partition) if kind == "fr" else events_filter(partition)
    start: dict[str, Any] = ({"deliver_policy": DeliverPolicy.ALL} if start_seq is None
                             else {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": start_seq})
    return ConsumerConfig(
        durable_name=name or rules_consumer(kind, partition), filter_subject=subject, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=max(settings.ack_wait_s, 300.0), max_deliver=-1, max_ack_pending=window, max_waiting=16, **start)


async def ensure_stream(js: JetStreamContext, settings: ClusterSettings) -> bool:
    """Make the log if it is missing (no device has connected yet), with the ingest consumer
    and every partition's rules consumers (so that no message comes before its consumers).
    Returns whether it was made. Raises ``ClusterUnavailable`` while JetStream cannot answer (a
    cluster still forming)."""
    try:
        try:
            info = await js.stream_info(STREAM)
        except nats.js.errors.NotFoundError:
            pass
        else:
            if info.config.retention != RetentionPolicy.LIMITS:
                raise LogRetentionRefused(
                    f"{STREAM} has {info.config.retention} retention: the MQTT listener made it before semon did. "
                    f"With no device connected, delete it (nats stream rm '{STREAM}') and start semon's services "
                    "before the devices; docs/scale.md")
            return False
        try:
            await js.add_stream(config=stream_config(settings))
        except nats.js.errors.BadRequestError as exc:  # made meanwhile by another process or the listener
            if exc.err_code != 10058:  # stream name already in use
                raise
            return False
        configs = [ingest_consumer_config(settings), *(
            rules_consumer_config(settings, kind, partition, window=1000, start_seq=None)
            for partition in range(settings.partitions) for kind in ("fr", "ev"))]
        for config in configs:
            try:
                await js.add_consumer(STREAM, config=config)
            except nats.js.errors.APIError as exc:  # made meanwhile (a rules engine taking its partition)
                log.debug("consumer %s not made with the stream: %s", config.durable_name, exc)
        log.info("JetStream stream %s made (%d replicas, %d partitions)", STREAM, settings.replicas,
                 settings.partitions)
        return True
    except nats.js.errors.APIError as exc:
        if isinstance(exc, nats.js.errors.ServiceUnavailableError) or exc.code in (408, 500, 503):
            raise unavailable(exc) from None
        raise
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        raise unavailable(exc) from None


async def ensure_ingest_consumer(js: JetStreamContext, settings: ClusterSettings) -> None:
    try:
        await js.consumer_info(STREAM, INGEST_CONSUMER)
    except nats.js.errors.NotFoundError:
        await js.add_consumer(STREAM, config=ingest_consumer_config(settings))


async def remake_rules_consumer(js: JetStreamContext, settings: ClusterSettings, kind: str, partition: int,
                                window: int) -> str:
    """Make partition ``partition``'s consumer of ``kind`` again from its acknowledgement floor
    (what its last holder left unacknowledged comes again, at once and in order); returns its
    name. The log keeps its messages whatever its consumers do (limits retention), so deleting
    the old consumer before making the new one drops nothing. A consumer that is missing (being
    made with the log by another process, or deleted by hand) is made with the messages of
    ``MISSING_CONSUMER_REPLAY_S`` back, with a warning: earlier messages are never judged.
    (Taking the old consumer over as it is would deliver its unacknowledged messages again only
    after their acknowledgement wait, behind newer ones: an entrapment late and out of order.)"""
    name = rules_consumer(kind, partition)
    try:
        info = await js.consumer_info(STREAM, name)
    except nats.js.errors.NotFoundError:
        since = datetime.now(UTC) - timedelta(seconds=MISSING_CONSUMER_REPLAY_S)
        log.warning("consumer %s was missing; made with the messages since %s", name, since.isoformat())
        config = rules_consumer_config(settings, kind, partition, window, None)
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = since
        await js.add_consumer(STREAM, config=config)
        return name
    start = _resume_at(info)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(STREAM, name)
    await js.add_consumer(STREAM, config=rules_consumer_config(settings, kind, partition, window, start))
    return name


async def ensure_rules_consumer(js: JetStreamContext, settings: ClusterSettings, kind: str, partition: int,
                                window: int) -> str:
    """The consumer as it is, when it is there (a connection made again by the engine that
    holds the partition: its deliveries are still valid); else made as ``remake_rules_consumer``."""
    name = rules_consumer(kind, partition)
    try:
        await js.consumer_info(STREAM, name)
    except nats.js.errors.NotFoundError:
        return await remake_rules_consumer(js, settings, kind, partition, window)
    return name


def _resume_at(info: ConsumerInfo) -> int | None:
    """Where a consumer taken over goes on: after its acknowledgement floor, or where it began
    if it acknowledged nothing (``None``: the log's start)."""
    floor = info.ack_floor.stream_seq if info.ack_floor is not None else None
    if floor:
        return floor + 1
    if info.config.deliver_policy == DeliverPolicy.BY_START_SEQUENCE:
        return info.config.opt_start_seq
    return None


Bind = Callable[[JetStreamContext], Awaitable[str | None]]
"""Makes sure the consumer is there; returns its name when it was made under a new one."""


class PullSource:
    """A JetStream consumer read by pulling: ``semon.source.MessageSource`` for cluster mode.

    ``link``: the process's connection (closed with the source when ``owns_link``);
    ``durable``: the consumer's name; ``bind(js)``: made at the first connection, makes sure
    the consumer is there (a rules partition's is made again from its acknowledgement floor:
    the new holder's first delivery is what the last holder left unacknowledged);
    ``rebind(js)`` (default ``bind``): at each connection made again (a server gone, a
    leadership change), makes sure the consumer is still there without making it again, as the
    deliveries already made stay valid. The generation is 1 for the source's life. At most
    ``window`` messages are held unacknowledged; pulls ask for at most ``batch`` at a time and
    wait ``pull_expires_s`` on the server. Each message reaches ``on_message`` with its MQTT topic
    (``mqtt_topic``), QoS 1 and a token to acknowledge it by.
    """

    def __init__(self, link: NatsLink, settings: ClusterSettings, durable: str, bind: Bind, *,
                 on_message: OnMessage, on_connected: OnConnected | None = None, window: int, backoff: Backoff,
                 rebind: Bind | None = None, batch: int = 1000, owns_link: bool = False) -> None:
        self.link = link
        self.settings = settings
        self.durable = durable
        self._bind = bind
        self._on_message = on_message
        self._on_connected = on_connected
        self.window = window
        self._backoff = backoff
        self._rebind = rebind or bind
        self.batch = batch
        self._owns_link = owns_link
        self.generation = 0
        self.connected = asyncio.Event()
        self.delivered = 0
        self.acks_refused = 0
        self._tokens = itertools.count(1)
        self._inflight: dict[int, str] = {}  # token → the delivery's reply subject
        self._acks: deque[str] = deque()
        self._ack_ready = asyncio.Event()
        self._room = asyncio.Event()
        self._request_done = asyncio.Event()
        self._outstanding = 0
        self._gone: str | None = None
        self._paused = False

    @property
    def reading_paused(self) -> bool:
        return self._paused

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False
        self._room.set()

    async def run(self) -> None:
        """Pull and acknowledge until cancelled; the link is closed at the end if it is the
        source's own (``owns_link``)."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._send_acks(), name=f"{self.durable}-acks")
                tg.create_task(keep_connected(f"JetStream consumer {self.durable}", self._consume, log=log,
                                              backoff=self._backoff), name=f"{self.durable}-pull")
        finally:
            if self._owns_link:
                await self.link.close()

    async def _consume(self, working: Callable[[], None]) -> None:
        client = await self.link.client()
        js = client.jetstream(timeout=5)
        try:
            await ensure_stream(js, self.settings)
            bind = self._bind if self.generation == 0 else self._rebind
            self.durable = await bind(js) or self.durable
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            if isinstance(exc, ClusterUnavailable):
                raise
            raise unavailable(exc) from None
        if self.generation == 0:
            self.generation = 1
            if self._on_connected is not None:
                self._on_connected(self.generation, True)
        inbox = client.new_inbox()
        self._gone = None
        subscription = await client.subscribe(inbox, cb=self._delivery)
        self.connected.set()
        working()
        next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{self.durable}"
        expires = self.settings.pull_expires_s
        silent = 0
        try:
            while True:
                if client.is_closed:
                    raise ClusterUnavailable("the NATS connection closed")
                if self._gone is not None:
                    raise ClusterUnavailable(f"consumer {self.durable}: {self._gone}")
                room = self.window - len(self._inflight)
                if self._paused or room <= 0:
                    self._room.clear()
                    try:
                        async with asyncio.timeout(expires):
                            await self._room.wait()
                    except TimeoutError:
                        pass
                    continue
                self._outstanding = want = min(room, self.batch)
                self._request_done.clear()
                request = json.dumps({"batch": want, "expires": int(expires * 1e9)}).encode()
                try:
                    await client.publish(next_subject, request, reply=inbox)
                except (nats.errors.Error, OSError) as exc:
                    raise unavailable(exc) from None
                try:
                    async with asyncio.timeout(expires + 2.0):
                        await self._request_done.wait()
                    silent = 0
                except TimeoutError:
                    # No answer, not even the server's 408 at expiry: the server holding the
                    # consumer is gone, or the connection is being remade. Ask again; after a
                    # few, check the consumer is still there.
                    silent += 1
                    if silent >= 3:
                        raise ClusterUnavailable(f"consumer {self.durable}: no answer to {silent} pulls") from None
        finally:
            self.connected.clear()
            with contextlib.suppress(nats.errors.Error, OSError):
                await subscription.unsubscribe()

    async def _delivery(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get("Status") if headers else None
        if status:
            if status == "100":  # an idle heartbeat
                return
            if status == "409":
                description = (headers or {}).get("Description", "")
                if "Deleted" in description or "Leadership" in description:
                    self._gone = description.lower()
            self._request_done.set()  # 404 no messages, 408 expired, 409: this pull is over
            return
        token = next(self._tokens)
        self._inflight[token] = msg.reply
        self.delivered += 1
        self._outstanding -= 1
        if self._outstanding <= 0:
            self._request_done.set()
        self._on_message(self.generation, Message(
            topic=mqtt_topic(msg.subject), payload=msg.data, qos=1, retain=False,
            dup=_redelivered(msg.reply), packet_id=token))

    def ack(self, generation: int, packet_ids: list[int]) -> int:
        """Queue the acknowledgements of ``packet_ids`` (tokens of ``generation``); returns how
        many were queued (a token not delivered by this source is refused)."""
        if generation != self.generation:
            self.acks_refused += len(packet_ids)
            return 0
        sent = 0
        for token in packet_ids:
            reply = self._inflight.pop(token, None)
            if reply:
                self._acks.append(reply)
                sent += 1
        if sent:
            self._ack_ready.set()
            self._room.set()
        self.acks_refused += len(packet_ids) - sent
        return sent

    async def _send_acks(self) -> None:
        """The acknowledgements, in the order given, on whichever connection is up: one
        lost with a connection is not an error (JetStream delivers that message again)."""
        while True:
            await self._ack_ready.wait()
            self._ack_ready.clear()
            try:
                client = await self.link.client()
            except ClusterUnavailable:
                await asyncio.sleep(0.5)
                self._ack_ready.set()
                continue
            while self._acks:
                reply = self._acks.popleft()
                try:
                    await client.publish(reply, b"+ACK")
                except (nats.errors.Error, OSError) as exc:
                    log.debug("acknowledgement on %s not sent (%s): JetStream delivers it again", reply, exc)


def _redelivered(reply: str | None) -> bool:
    # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
    if not reply:
        return False
    tokens = reply.split(".")
    try:
        return int(tokens[-5]) > 1
    except (IndexError, ValueError):
        return False
