"""One simulated device's own MQTT connection, behaving as a field device should (docs/protocol.md §3).

QoS 1 throughout, a persistent session under the device id, a Last Will ``offline`` (retained) on
the status topic, a retained ``online`` right after connecting (unless the device is told to come
back without it, as many field devices do) and ``offline`` before an orderly disconnect. What
cannot be sent while disconnected is kept in a bounded backlog and published, oldest first, once
the connection is back; frames the broker had not acknowledged are resent first.

A fleet runs thousands of links in one process, so a link costs nothing while it is connected
and idle: no task of its own (the client's keepalive is a timer handle, connection loss a future
callback), and ``send`` never awaits. A task exists only while a link is reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence

import orjson

from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, ConnectionLost, MqttClient, MqttError
from semon.mqtt.packets import PROP_RECEIVE_MAXIMUM, ConnAck, ConnectOptions, Will
from semon.protocol.topics import Channel, Kind, topic_for
from simulators.core import Frame

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"  # the Last Will: the connection was lost


def shutdown_status() -> bytes:
    """An orderly offline, told apart from the Last Will (docs/protocol.md section 8)."""
    return orjson.dumps({"state": "offline", "ts": int(time.time() * 1000), "reason": "shutdown"})

# What an outgoing message is; status messages are never dropped, never counted as frames.
_TELEMETRY = 0
_EVENT = 1
_STATUS = 2


class LinkError(Exception):
    """Base of this module's errors."""


class LinkClosed(LinkError):
    """``send`` or ``open`` on a link that has been closed."""


class _Outgoing:
    """A message on its way: in the backlog (``pid`` 0 if never published) or in flight."""

    __slots__ = ("frame", "kind", "payload", "pid", "topic")

    def __init__(self, topic: bytes, payload: bytes, kind: int, frame: Frame | None) -> None:
        self.topic = topic
        self.payload = payload
        self.kind = kind
        self.frame = frame  # kept only when someone wants it back in ``on_ack``
        self.pid = 0  # packet id of the last transmission


class _DeviceClient(MqttClient):
    @property
    def writable(self) -> bool:
        """Connected and not closing: a write now would reach the socket."""
        transport = self._transport
        return transport is not None and not transport.is_closing()


class DeviceLink:
    """The MQTT connection of one device.

    ``send`` never blocks: a frame is published at once when connected and the broker's receive
    quota allows, otherwise it waits in the backlog. Counters (frames only, status messages
    excluded): ``sent`` first transmissions, ``resent`` transmissions after a reconnect,
    ``acked`` frames the broker acknowledged, ``rejected`` frames it refused (reason >= 0x80),
    ``dropped`` frames discarded because the backlog was full, ``connects`` connections made.
    """

    __slots__ = (
        "_announce_online",
        "_backlog",
        "_backlog_events",
        "_backlog_max",
        "_backoff",
        "_client",
        "_closed",
        "_connect_timeout",
        "_epoch",
        "_inflight",
        "_loop",
        "_on_ack",
        "_options",
        "_receive_max",
        "_reconnect_task",
        "_session_present",
        "_settled",
        "_status_topic",
        "_topics",
        "_want_up",
        "acked",
        "address",
        "connects",
        "device_id",
        "dropped",
        "kind",
        "rejected",
        "resent",
        "sent",
    )

    def __init__(
        self,
        address: BrokerAddress,
        kind: Kind,
        device_id: str,
        *,
        keepalive: int = 60,
        session_expiry: int = 3600,
        backlog_max: int = 10_000,
        on_ack: Callable[[Frame], None] | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if backlog_max < 1:
            raise ValueError("backlog_max must be at least 1")
        self.address = address
        self.kind = kind
        self.device_id = device_id
        self._status_topic = topic_for(kind, device_id, Channel.STATUS).encode()
        self._topics = {
            Channel.TELEMETRY: topic_for(kind, device_id, Channel.TELEMETRY).encode(),
            Channel.EVENT: topic_for(kind, device_id, Channel.EVENT).encode(),
        }
        self._options = ConnectOptions(
            device_id,
            clean_start=False,
            keepalive=keepalive,
            session_expiry=session_expiry,
            username=address.username if address.username is not None else device_id,
            password=address.password,
            will=Will(self._status_topic.decode(), OFFLINE, qos=1, retain=True),
        )
        self._on_ack = on_ack
        self._backlog: deque[_Outgoing] = deque()
        self._backlog_max = backlog_max
        self._backlog_events = 0  # how many of the backlog are events: skip the scan when all are
        self._inflight: dict[int, _Outgoing] = {}  # by packet id, in order of transmission
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._connect_timeout = connect_timeout
        self._loop = asyncio.get_running_loop()
        self._client: _DeviceClient | None = None
        self._receive_max = 65535
        self._session_present = False
        self._want_up = False  # open/restore: stay connected; drop/close: stay down
        self._announce_online = True  # publish ``online`` after connecting
        self._epoch = 0  # drop/close end every connect loop started before them
        self._closed = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._settled: asyncio.Future[None] | None = None  # close() waits on it for the last acks
        self.sent = 0
        self.acked = 0
        self.resent = 0
        self.rejected = 0
        self.dropped = 0
        self.connects = 0

    def __repr__(self) -> str:
        return f"<DeviceLink {self.device_id} connected={self.connected} backlog={len(self._backlog)}>"

    # --- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def backlog(self) -> int:
        """Frames waiting to be published."""
        return len(self._backlog)

    @property
    def unacknowledged(self) -> int:
        """Frames published and not yet acknowledged (resent after a reconnect)."""
        return sum(1 for e in self._inflight.values() if e.kind != _STATUS)

    @property
    def closed(self) -> bool:
        return self._closed

    # --- lifecycle -----------------------------------------------------------------------

    async def open(self, ack_timeout: float = 10.0) -> None:
        """Connect, retrying with backoff until the broker accepts; then ``online`` and the backlog.

        Returns once the broker has acknowledged ``online`` (or after ``ack_timeout``, or when
        the new connection is lost again, in which case the link goes on reconnecting by itself).
        """
        if self._closed:
            raise LinkClosed(f"link {self.device_id} is closed")
        if self._want_up:
            return  # open already, or opening
        self._want_up = True
        self._announce_online = True
        online = await self._connect_until_up(self._epoch)
        if online is not None:
            with contextlib.suppress(ConnectionLost, TimeoutError):
                async with asyncio.timeout(ack_timeout):
                    await asyncio.shield(online)

    def drop(self) -> None:
        """Lose the connection without DISCONNECT (the broker publishes the Last Will) and stay
        down until ``restore``; frames sent meanwhile are kept in the backlog."""
        if self._closed or not self._want_up:
            return
        self._want_up = False
        self._epoch += 1
        self._cancel_reconnect()
        client, self._client = self._client, None
        if client is not None:
            client.abort()
        log.debug("link %s dropped", self.device_id)

    def restore(self, *, announce_online: bool = True) -> None:
        """Come back after ``drop``: reconnect in the background, then ``online``, resend, backlog.

        ``announce_online=False``: no ``online`` after this reconnection (nor after the link's own
        reconnections until the next ``open`` or ``restore``): the retained status stays the
        Last Will's ``offline`` while the device publishes."""
        if self._closed:
            raise LinkClosed(f"link {self.device_id} is closed")
        if self._want_up:
            return
        self._want_up = True
        self._announce_online = announce_online
        self._start_reconnect(delay=False)

    async def close(self, timeout: float = 5.0) -> None:
        """Orderly shutdown: ``offline`` (retained) after whatever is queued, wait up to ``timeout``
        for the acknowledgements, then DISCONNECT, which cancels the Last Will."""
        if self._closed:
            return
        self._closed = True
        self._want_up = False
        self._epoch += 1
        task = self._reconnect_task
        self._cancel_reconnect()
        if task is not None:
            await asyncio.wait([task])  # its outcome, if not cancellation, is logged by _reconnect_done
        client = self._client
        if client is None:
            if self._backlog or self._inflight:
                log.info("link %s closed while disconnected: %d frames not delivered",
                         self.device_id, len(self._backlog) + self.unacknowledged)
            return
        self._backlog.append(_Outgoing(self._status_topic, shutdown_status(), _STATUS, None))
        self._drain()
        if self._backlog or self._inflight:
            self._settled = self._loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._settled)
            except TimeoutError:
                log.warning("link %s: %d messages unacknowledged at close",
                            self.device_id, len(self._backlog) + len(self._inflight))
        self._client = None
        try:
            async with asyncio.timeout(timeout):
                await client.disconnect()
        except (TimeoutError, ConnectionLost, OSError):
            client.abort()

    # --- sending -------------------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        """Publish ``frame`` (QoS 1) now if possible, else keep it in the backlog. Never blocks."""
        if self._closed:
            raise LinkClosed(f"link {self.device_id} is closed")
        if frame.device_id != self.device_id or frame.kind != self.kind:
            raise ValueError(f"frame of {frame.kind}/{frame.device_id} sent on the link of {self.device_id}")
        topic = self._topics.get(frame.channel)
        if topic is None:
            raise ValueError(f"a device does not send {frame.channel} frames; the link publishes its status")
        entry = _Outgoing(
            topic,
            orjson.dumps(frame.payload),
            _EVENT if frame.channel is Channel.EVENT else _TELEMETRY,
            frame if self._on_ack is not None else None,
        )
        client = self._client
        if client is not None and not self._backlog and len(self._inflight) < self._receive_max and client.writable:
            self._publish(client, entry)
        else:
            self._enqueue(entry)

    def _enqueue(self, entry: _Outgoing) -> None:
        backlog = self._backlog
        if len(backlog) >= self._backlog_max and not self._make_room(entry):
            return
        backlog.append(entry)
        if entry.kind == _EVENT:
            self._backlog_events += 1

    def _make_room(self, incoming: _Outgoing) -> bool:
        """Drop the oldest telemetry frame; failing that the incoming telemetry frame, and only
        when both backlog and newcomer are events, the oldest event. False: drop the newcomer."""
        backlog = self._backlog
        if self._backlog_events < len(backlog):
            for i, queued in enumerate(backlog):
                if queued.kind == _TELEMETRY:
                    del backlog[i]
                    self._count_drop(queued)
                    return True
        if incoming.kind != _EVENT:
            self._count_drop(incoming)
            return False
        for i, queued in enumerate(backlog):
            if queued.kind == _EVENT:
                del backlog[i]
                self._backlog_events -= 1
                self._count_drop(queued)
                return True
        return True  # nothing droppable (status only): keep it, the bound is exceeded by one

    def _count_drop(self, entry: _Outgoing) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning("link %s: backlog full (%d), %d frames dropped so far (oldest telemetry first)",
                        self.device_id, self._backlog_max, self.dropped)

    def _publish(self, client: _DeviceClient, entry: _Outgoing) -> asyncio.Future[int]:
        previous = entry.pid
        packet_id: int | None = None
        dup = False
        if previous:
            if entry.kind != _STATUS:
                self.resent += 1
            # Same session: the same packet id, flagged DUP. New session: simply a new message;
            # the backend recognises the copy by (device_id, seq).
            if self._session_present and previous not in self._inflight:
                packet_id, dup = previous, True
        elif entry.kind != _STATUS:
            self.sent += 1
        sent = client.publish_nowait(entry.topic, entry.payload, 1, retain=entry.kind == _STATUS,
                                     dup=dup, packet_id=packet_id)
        assert sent is not None  # QoS 1
        pid, fut = sent
        entry.pid = pid
        self._inflight[pid] = entry
        fut.add_done_callback(functools.partial(self._on_puback, entry))
        return fut

    def _on_puback(self, entry: _Outgoing, fut: asyncio.Future[int]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # connection lost: the entry stays in flight and is resent after reconnecting
        if self._inflight.get(entry.pid) is entry:
            del self._inflight[entry.pid]
        reason = fut.result()
        if entry.kind != _STATUS:
            if reason >= 0x80:
                self.rejected += 1
                log.warning("link %s: broker rejected a frame (reason 0x%02x): %.120r",
                            self.device_id, reason, entry.payload)
            else:
                self.acked += 1
                if self._on_ack is not None and entry.frame is not None:
                    self._on_ack(entry.frame)
        if self._backlog:
            self._drain()
        if self._settled is not None and not self._inflight and not self._backlog and not self._settled.done():
            self._settled.set_result(None)

    def _drain(self) -> None:
        """Publish from the backlog, oldest first, while the broker's receive quota allows."""
        client = self._client
        if client is None or not client.writable:
            return
        backlog = self._backlog
        inflight = self._inflight
        limit = self._receive_max
        while backlog and len(inflight) < limit:
            entry = backlog.popleft()
            if entry.kind == _EVENT:
                self._backlog_events -= 1
            self._publish(client, entry)

    # --- connecting ----------------------------------------------------------------------

    async def _connect_until_up(self, epoch: int) -> asyncio.Future[int] | None:
        """Connect with backoff while the link should be up; the ``online`` PUBACK future (None
        if not announced).

        Not ``semon.periodic.keep_connected``: this models a field device's own reconnecting (one
        link per device, thousands at once, logged at debug, stopped when the link is dropped);
        the one policy and its warnings are for semon's services."""
        while self._want_up and self._epoch == epoch:
            client = _DeviceClient(self._options)
            try:
                connack = await client.connect(self.address, self._connect_timeout)
            except asyncio.CancelledError:
                client.abort()
                raise
            except (OSError, TimeoutError, MqttError) as exc:
                client.abort()
                delay = self._backoff.next_delay()
                log.debug("link %s: connect to %s:%d failed (%s); retrying in %.2fs", self.device_id,
                          self.address.host, self.address.port, exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            if not self._want_up or self._epoch != epoch:  # dropped or closed while connecting
                client.abort()
                return None
            return self._on_connected(client, connack)
        return None

    def _on_connected(self, client: _DeviceClient, connack: ConnAck) -> asyncio.Future[int] | None:
        self._client = client
        self._session_present = connack.session_present
        self._receive_max = max(1, int(connack.properties.get(PROP_RECEIVE_MAXIMUM, 65535)))
        self.connects += 1
        self._backoff.reset()
        client.closed.add_done_callback(functools.partial(self._on_closed, client))
        # What the broker had not acknowledged goes first, in its order; a stale status does not.
        pending = [e for e in self._inflight.values() if e.kind != _STATUS]
        self._inflight.clear()
        for entry in reversed(pending):
            self._backlog.appendleft(entry)
            if entry.kind == _EVENT:
                self._backlog_events += 1
        log.debug("link %s connected (session present: %s, %d to resend, %d in backlog)", self.device_id,
                  connack.session_present, len(pending), len(self._backlog) - len(pending))
        if not client.writable:
            return None  # lost again already: _on_closed reconnects
        if not self._announce_online:
            self._drain()
            return None
        # ``online`` with a packet id no resent message will reuse.
        reserved = {e.pid for e in pending}
        pid = 1
        while pid in reserved:
            pid += 1
        online_sent = client.publish_nowait(self._status_topic, ONLINE, 1, retain=True, packet_id=pid)
        assert online_sent is not None
        online = _Outgoing(self._status_topic, ONLINE, _STATUS, None)
        online.pid = pid
        self._inflight[pid] = online
        online_sent[1].add_done_callback(functools.partial(self._on_puback, online))
        self._drain()
        return online_sent[1]

    def _on_closed(self, client: _DeviceClient, _fut: asyncio.Future[None]) -> None:
        if client is not self._client:
            return  # dropped or closed on purpose
        self._client = None
        if self._settled is not None and not self._settled.done():
            self._settled.set_result(None)
        if self._want_up:
            log.debug("link %s: connection lost; reconnecting", self.device_id)
            self._start_reconnect(delay=True)

    def _start_reconnect(self, *, delay: bool) -> None:
        task = self._reconnect_task
        if task is not None and not task.done():
            return
        task = self._loop.create_task(self._reconnect(self._epoch, delay), name=f"reconnect-{self.device_id}")
        self._reconnect_task = task
        task.add_done_callback(self._reconnect_done)

    async def _reconnect(self, epoch: int, delay: bool) -> None:
        if delay:
            await asyncio.sleep(self._backoff.next_delay())  # a fleet must not come back at once
        await self._connect_until_up(epoch)

    def _reconnect_done(self, task: asyncio.Task[None]) -> None:
        if self._reconnect_task is task:
            self._reconnect_task = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("link %s: reconnecting failed", self.device_id, exc_info=exc)

    def _cancel_reconnect(self) -> None:
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None:
            task.cancel()


async def _bounded(
    links: Sequence[DeviceLink], concurrency: int, action: Callable[[DeviceLink], Awaitable[None]]
) -> None:
    it = iter(links)

    async def worker() -> None:
        for link in it:
            await action(link)

    async with asyncio.TaskGroup() as tg:
        for n in range(max(1, min(concurrency, len(links)))):
            tg.create_task(worker(), name=f"link-worker-{n}")


async def open_all(links: Iterable[DeviceLink], concurrency: int = 200) -> None:
    """Open many links, at most ``concurrency`` connection attempts at a time."""
    await _bounded(list(links), concurrency, DeviceLink.open)


async def close_all(links: Iterable[DeviceLink], concurrency: int = 200, timeout: float = 5.0) -> None:
    """Close many links in an orderly way, at most ``concurrency`` at a time."""
    await _bounded(list(links), concurrency, functools.partial(DeviceLink.close, timeout=timeout))
