"""A lean asyncio MQTT 5 client with explicit acknowledgements.

Why not paho/aiomqtt: the ingester must send PUBACK only after the database commit, for
thousands of messages in flight, without a thread hop per message (docs/ingest.md has the
measurements). One ``MqttClient`` is one TCP connection; ``semon.mqtt.session`` wraps it in
a reconnect loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from semon.mqtt.packets import (
    PINGREQ,
    PROP_RECEIVE_MAXIMUM,
    PROP_SERVER_KEEP_ALIVE,
    ConnAck,
    ConnectOptions,
    PacketType,
    ProtocolError,
    decode_connack,
    decode_publish_header,
    decode_varint,
    encode_connect,
    encode_disconnect,
    encode_puback,
    encode_publish,
    encode_subscribe,
)

log = logging.getLogger(__name__)


class MqttError(Exception):
    """Base of this package's errors."""


class ConnectRefused(MqttError):
    def __init__(self, reason_code: int) -> None:
        super().__init__(f"broker refused the connection (reason 0x{reason_code:02x})")
        self.reason_code = reason_code


class ConnectionLost(MqttError):
    """The connection closed; messages not yet acknowledged will be redelivered."""


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt://host:port)")
        return cls(parts.hostname or "127.0.0.1", parts.port or 1883, parts.username, parts.password)


class MqttClient(asyncio.Protocol):
    """One connection. ``on_message`` runs on the event loop for each PUBLISH received."""

    def __init__(
        self,
        options: ConnectOptions,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        self.options = options
        self._on_message = on_message
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._connack: asyncio.Future[ConnAck] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._next_id = 0
        self._suback: dict[int, asyncio.Future[list[int]]] = {}
        self._puback: dict[int, asyncio.Future[int]] = {}
        self._quota = 65535
        self._quota_free = asyncio.Event()
        self._quota_free.set()
        self._keepalive = options.keepalive
        self._ping_handle: asyncio.TimerHandle | None = None
        self._pong_pending = False
        self._paused = False
        self._drained = asyncio.Event()
        self._drained.set()

    # --- lifecycle -------------------------------------------------------------------

    async def connect(self, address: BrokerAddress, timeout: float = 10.0) -> ConnAck:
        await asyncio.wait_for(
            self._loop.create_connection(lambda: self, address.host, address.port), timeout
        )
        assert self._transport is not None
        if self.options.username is None and address.username is not None:  # log in as the URL says
            password = unquote(address.password) if address.password is not None else None
            self.options = dataclasses.replace(self.options, username=unquote(address.username), password=password)
        self._transport.write(encode_connect(self.options))
        connack = await asyncio.wait_for(asyncio.shield(self._connack), timeout)
        if connack.reason_code >= 0x80:
            self._transport.close()
            raise ConnectRefused(connack.reason_code)
        self._quota = connack.properties.get(PROP_RECEIVE_MAXIMUM, 65535)
        self._keepalive = connack.properties.get(PROP_SERVER_KEEP_ALIVE, self.options.keepalive)
        self._schedule_ping()
        return connack

    async def disconnect(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_disconnect())
            self._transport.close()
        await asyncio.shield(self.closed)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, so the broker publishes the Last Will."""
        if self._transport is not None:
            self._transport.abort()

    @property
    def is_connected(self) -> bool:
        return self._transport is not None and not self.closed.done()

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ping_handle is not None:
            self._ping_handle.cancel()
        lost = ConnectionLost(str(exc) if exc else "connection closed")
        pending: list[asyncio.Future[Any]] = [self._connack, *self._suback.values(), *self._puback.values()]
        for fut in pending:
            if not fut.done():
                fut.set_exception(lost)
        self._suback.clear()
        self._puback.clear()
        self._quota_free.set()
        self._drained.set()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._drained.clear()

    def resume_writing(self) -> None:
        self._drained.set()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        view = memoryview(buf)
        try:
            pos = self._parse(buf, view)
        except (ProtocolError, struct.error, IndexError, UnicodeDecodeError) as exc:
            # Log the text only: the exception's traceback pins this buffer's memoryview.
            log.error("closing connection: malformed packet from broker: %s", str(exc))
            pos = len(buf)
            if self._transport is not None:
                self._transport.abort()
        finally:
            view.release()
        if pos:
            del buf[:pos]

    def _parse(self, buf: bytearray, view: memoryview) -> int:
        """Dispatch every complete packet in the buffer; return how many bytes were used."""
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            first = buf[pos]
            b1 = buf[pos + 1]
            if b1 < 0x80:  # the common case: remaining length fits in one byte
                length, body_at = b1, pos + 2
            else:
                decoded = decode_varint(buf, pos + 1)
                if decoded is None:
                    break
                length, body_at = decoded
            if body_at + length > end:
                break
            self._dispatch(first, view[body_at : body_at + length])
            pos = body_at + length
        return pos

    def _dispatch(self, first: int, body: memoryview) -> None:
        ptype = first >> 4
        if ptype == PacketType.PUBLISH:
            if first & 0x06 == 0x06:
                raise ProtocolError("PUBLISH with QoS 3")
            topic, packet_id, at = decode_publish_header(first & 0x0F, body)
            msg = Message(topic, bytes(body[at:]), (first >> 1) & 0x03, bool(first & 1), bool(first & 8), packet_id)
            if self._on_message is not None:
                self._on_message(msg)
        elif ptype == PacketType.PUBACK:
            (packet_id,) = struct.unpack_from("!H", body, 0)
            reason = body[2] if len(body) > 2 else 0
            fut = self._puback.pop(packet_id, None)
            self._quota += 1
            self._quota_free.set()
            if fut is not None and not fut.done():
                fut.set_result(reason)
        elif ptype == PacketType.CONNACK:
            if not self._connack.done():
                self._connack.set_result(decode_connack(body))
        elif ptype == PacketType.SUBACK:
            (packet_id,) = struct.unpack_from("!H", body, 0)
            plen = body[2]
            codes = list(body[3 + plen :])
            sub = self._suback.pop(packet_id, None)
            if sub is not None and not sub.done():
                sub.set_result(codes)
        elif ptype == PacketType.PINGRESP:
            self._pong_pending = False
        elif ptype == PacketType.DISCONNECT:
            reason = body[0] if len(body) else 0
            log.warning("broker sent DISCONNECT (reason 0x%02x)", reason)
            if self._transport is not None:
                self._transport.close()
        else:
            raise ProtocolError(f"unexpected packet type {ptype}")

    # --- keepalive ----------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        if self._keepalive:
            self._ping_handle = self._loop.call_later(self._keepalive * 0.5, self._ping)

    def _ping(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        if self._pong_pending:
            log.warning("no PINGRESP within keepalive; dropping the connection")
            self._transport.abort()
            return
        self._pong_pending = True
        self._transport.write(PINGREQ)
        self._schedule_ping()

    # --- operations ---------------------------------------------------------------------

    def _packet_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._puback and self._next_id not in self._suback:
                return self._next_id
        raise MqttError("no free packet identifier")

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionLost("not connected")
        self._transport.write(data)

    async def subscribe(self, filters: list[tuple[str, int]], timeout: float = 10.0) -> list[int]:
        packet_id = self._packet_id()
        fut: asyncio.Future[list[int]] = self._loop.create_future()
        self._suback[packet_id] = fut
        self._write(encode_subscribe(packet_id, filters))
        codes = await asyncio.wait_for(fut, timeout)
        if any(c >= 0x80 for c in codes):
            raise MqttError(f"subscription refused: {codes}")
        return codes

    async def wait_for_quota(self) -> None:
        """Wait until the broker's receive maximum allows another QoS 1 publish."""
        while self._quota <= 0:
            self._quota_free.clear()
            await self._quota_free.wait()
            if self.closed.done():
                raise ConnectionLost("connection closed while waiting for send quota")
        if not self._drained.is_set():
            await self._drained.wait()

    def publish_nowait(
        self,
        topic: bytes,
        payload: bytes,
        qos: int = 1,
        *,
        retain: bool = False,
        dup: bool = False,
        packet_id: int | None = None,
    ) -> tuple[int, asyncio.Future[int]] | None:
        """Send now; for QoS 1 returns the packet id and a future for PUBACK's reason code.

        Call ``wait_for_quota`` first: the broker disconnects a client that exceeds its quota.
        """
        if qos == 0:
            self._write(encode_publish(topic, payload, 0, 0, retain=retain))
            return None
        pid = packet_id if packet_id is not None else self._packet_id()
        fut: asyncio.Future[int] = self._loop.create_future()
        self._puback[pid] = fut
        self._quota -= 1
        self._write(encode_publish(topic, payload, qos, pid, retain=retain, dup=dup))
        return pid, fut

    async def publish(self, topic: str, payload: bytes, qos: int = 1, *, retain: bool = False) -> None:
        await self.wait_for_quota()
        sent = self.publish_nowait(topic.encode(), payload, qos, retain=retain)
        if sent is not None:
            reason = await sent[1]
            if reason >= 0x80:
                raise MqttError(f"broker rejected publish to {topic} (reason 0x{reason:02x})")

    def ack(self, packet_ids: list[int]) -> None:
        """PUBACK many QoS 1 messages in one write."""
        if packet_ids and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(encode_puback(pid) for pid in packet_ids))
