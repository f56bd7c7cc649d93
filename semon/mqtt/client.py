"""A lean asyncio MQTT 5 client with explicit acknowledgements.

Why not paho/aiomqtt: the ingester must send PUBACK only after the database commit, for
thousands of messages in flight, without a thread hop per message (docs/ingest.md has the
measurements). One ``MqttClient`` is one TCP connection; ``semon.mqtt.session`` wraps it in
a reconnect loop.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from semon.mqtt.packets import (
    PINGREQ,
    PROP_MAXIMUM_PACKET_SIZE,
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


class TlsFilesError(ValueError):
    """A TLS file of the address (CA, client certificate, key) is missing, unreadable or not
    what it should be: a configuration error, not an outage (deliberately neither an
    ``OSError`` nor an ``MqttError``, which ``semon.periodic`` waits out as the broker away)."""


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


class TlsSettings(Protocol):
    @property
    def ca_file(self) -> str | None: ...
    @property
    def cert_file(self) -> str | None: ...
    @property
    def key_file(self) -> str | None: ...


_PLAIN_SCHEMES = ("mqtt", "tcp")
_TLS_SCHEMES = ("mqtts", "ssl", "tls")


@dataclass(frozen=True, slots=True, repr=False)
class BrokerAddress:
    """Where and as whom to connect.

    ``tls``: connect over TLS with a verified context (the system's trust store, or ``ca_file``),
    optionally presenting the client certificate ``cert_file`` with ``key_file``.
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    #: The MQTT version the broker speaks, from the URL's ``?protocol=3.1.1`` (level 4) or
    #: ``?protocol=5``; ``None``: the client's own (``ConnectOptions.protocol_level``).
    protocol_level: int | None = None

    @classmethod
    def from_url(cls, url: str, *, ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None) -> BrokerAddress:
        """``mqtt://user:p%40ss@host:1883`` or ``mqtts://…:8883``; user and password are
        percent-decoded; ``?protocol=3.1.1`` for a broker that speaks only MQTT 3.1.1 (a NATS
        cluster's MQTT listener, docs/scale.md). Raises ValueError for another scheme or
        protocol, or for a client certificate without TLS."""
        parts = urlsplit(url)
        if parts.scheme in _PLAIN_SCHEMES:
            tls = False
        elif parts.scheme in _TLS_SCHEMES:
            tls = True
        else:
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt:// or mqtts://)")
        if cert_file and not tls:
            raise ValueError("a client certificate needs TLS: use an mqtts:// URL")
        if key_file and not cert_file:
            raise ValueError("a client key needs its certificate file")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        protocol = dict(parse_qsl(parts.query)).get("protocol")
        levels = {None: None, "3.1.1": 4, "5": 5}
        if protocol not in levels:
            raise ValueError(f"unsupported MQTT protocol {protocol!r} in the URL (use protocol=3.1.1 or protocol=5)")
        return cls(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), username, password,
                   tls, ca_file, cert_file, key_file, levels[protocol])

    @classmethod
    def from_settings(cls, url: str, settings: TlsSettings) -> BrokerAddress:
        """``from_url`` with the TLS files of the settings (``MqttSettings.ca_file`` and so on)."""
        return cls.from_url(url, ca_file=settings.ca_file, cert_file=settings.cert_file, key_file=settings.key_file)

    def __repr__(self) -> str:  # never the password
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username is not None else ""
        return f"BrokerAddress({scheme}://{user}{self.host}:{self.port})"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context (hostname and chain), or None for plain TCP.
        Raises TlsFilesError, naming the file, when the CA file or the client certificate or
        key cannot be read or loaded."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        except OSError as exc:  # ssl.SSLError is one
            raise TlsFilesError(f"the MQTT CA file {self.ca_file} cannot be loaded: {exc}") from exc
        if self.cert_file:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except OSError as exc:
                key = f" with the key {self.key_file}" if self.key_file else ""
                raise TlsFilesError(f"the MQTT client certificate {self.cert_file}{key} cannot be loaded: "
                                    f"{exc}") from exc
        return context


class MqttClient(asyncio.Protocol):
    """One connection. ``on_message`` runs on the event loop for each PUBLISH received."""

    def __init__(
        self,
        options: ConnectOptions,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        self.options = options
        self._v5 = options.protocol_level == 5
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
        self._last_rx = self._loop.time()
        self._reading_paused = False
        self._disconnecting = False  # DISCONNECT sent: the rest the broker sends is not dispatched
        self._paused = False
        self.connack_received = False
        self._inbound_max = options.maximum_packet_size or 268_435_460
        self._outbound_max = 0
        self._drained = asyncio.Event()
        self._drained.set()

    # --- lifecycle -------------------------------------------------------------------

    async def connect(self, address: BrokerAddress, timeout: float = 10.0) -> ConnAck:
        """Open the connection and wait for CONNACK. The credentials are the options' own, or
        else the address's. Raises ConnectRefused, ConnectionLost, OSError (ssl.SSLError for a
        certificate that does not verify) or TimeoutError."""
        context = address.ssl_context()
        async with asyncio.timeout(timeout):
            await self._loop.create_connection(lambda: self, address.host, address.port, ssl=context,
                                               server_hostname=address.host if context else None)
        assert self._transport is not None
        options = self.options
        if options.username is None and address.username is not None:
            options = replace(options, username=address.username, password=address.password)
        if address.protocol_level is not None and address.protocol_level != options.protocol_level:
            options = replace(options, protocol_level=address.protocol_level)
        self._v5 = options.protocol_level == 5
        self._transport.write(encode_connect(options))
        async with asyncio.timeout(timeout):
            connack = await asyncio.shield(self._connack)
        if connack.reason_code >= 0x80 or (not self._v5 and connack.reason_code):  # 3.1.1: 1-5 refuse
            self._transport.close()
            raise ConnectRefused(connack.reason_code)
        self._quota = connack.properties.get(PROP_RECEIVE_MAXIMUM, 65535)
        self._outbound_max = connack.properties.get(PROP_MAXIMUM_PACKET_SIZE, 0)
        # Our own keep-alive; a server keep-alive only ever shortens it (MQTT 5, 3.2.2.3.14).
        server = connack.properties.get(PROP_SERVER_KEEP_ALIVE)
        self._keepalive = min(self.options.keepalive, server) if server else self.options.keepalive
        self._schedule_ping()
        return connack

    async def disconnect(self) -> None:
        """DISCONNECT, then wait until the connection is closed. Where the transport allows it
        (plain TCP), only our side is shut and reading goes on until the broker closes: closing
        the socket with bytes from the broker still unread makes the kernel reset the connection,
        and the broker then drops what it had not read yet, our last PUBACKs among them (it
        redelivered those messages on the next connection)."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(encode_disconnect(v5=self._v5))
            if transport.can_write_eof():
                self._disconnecting = True  # what still comes is read and dropped
                self.resume_reading()
                transport.write_eof()
            else:
                transport.close()
        await asyncio.shield(self.closed)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, so the broker publishes the Last Will."""
        if self._transport is not None:
            self._transport.abort()

    @property
    def is_connected(self) -> bool:
        return self._transport is not None and not self.closed.done()

    def pause_reading(self) -> None:
        """Stop reading from the socket and dispatching what was read (backpressure: the
        broker's sends then wait in our buffer and in TCP). Takes effect after the packet being
        dispatched, so ``on_message`` is not called again until ``resume_reading``."""
        if not self._reading_paused and self._transport is not None and not self._transport.is_closing():
            self._reading_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            # Time spent paused proves nothing either way: the liveness clock restarts.
            self._last_rx = self._loop.time()
            if self._transport is not None and not self._transport.is_closing():
                self._transport.resume_reading()
                if self._buf:  # what arrived after the pause, parsed soon (never inside a dispatch)
                    self._loop.call_soon(self.data_received, b"")

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
        self._last_rx = self._loop.time()  # any byte from the broker proves the connection alive
        if self._disconnecting:
            return
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
        while end - pos >= 2 and not self._reading_paused:  # paused: the rest waits in the buffer
            first = buf[pos]
            b1 = buf[pos + 1]
            if b1 < 0x80:  # the common case: remaining length fits in one byte
                length, body_at = b1, pos + 2
            else:
                decoded = decode_varint(buf, pos + 1)
                if decoded is None:
                    break
                length, body_at = decoded
            if body_at - pos + length > self._inbound_max:
                raise ProtocolError(f"packet of {body_at - pos + length} bytes exceeds the announced maximum "
                                    f"of {self._inbound_max}")
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
            topic, packet_id, at = decode_publish_header(first & 0x0F, body, self._v5)
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
                self.connack_received = True
                self._connack.set_result(decode_connack(body))
        elif ptype == PacketType.SUBACK:
            (packet_id,) = struct.unpack_from("!H", body, 0)
            codes = list(body[3 + body[2]:]) if self._v5 else list(body[2:])
            sub = self._suback.pop(packet_id, None)
            if sub is not None and not sub.done():
                sub.set_result(codes)
        elif ptype == PacketType.PINGRESP:
            pass  # data_received has noted that the broker is alive
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
        """Every half keep-alive: PINGREQ, so the broker hears from us; and the liveness check.

        The connection is dead only when nothing at all (no PUBLISH, no PINGRESP) has arrived
        for 1.5 keep-alive periods while we were reading: a PINGRESP queued behind thousands
        of messages on a saturated CPU is not a sign of a dead broker, and while reading is
        paused for backpressure the bytes wait in the socket, unseen."""
        if self._transport is None or self._transport.is_closing():
            return
        silent = self._loop.time() - self._last_rx
        if not self._reading_paused and silent > self._keepalive * 1.5:
            log.warning("nothing received from the broker for %.0fs (keep-alive %ds); dropping the connection",
                        silent, self._keepalive)
            self._transport.abort()
            return
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
        self._write(encode_subscribe(packet_id, filters, v5=self._v5))
        async with asyncio.timeout(timeout):
            codes = await fut
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
            self._write(self._checked(encode_publish(topic, payload, 0, 0, retain=retain, v5=self._v5)))
            return None
        pid = packet_id if packet_id is not None else self._packet_id()
        packet = self._checked(encode_publish(topic, payload, qos, pid, retain=retain, dup=dup, v5=self._v5))
        fut: asyncio.Future[int] = self._loop.create_future()
        self._puback[pid] = fut
        self._quota -= 1
        self._write(packet)
        return pid, fut

    def _checked(self, packet: bytes) -> bytes:
        if self._outbound_max and len(packet) > self._outbound_max:
            raise MqttError(f"packet of {len(packet)} bytes exceeds the broker's maximum of {self._outbound_max}")
        return packet

    async def publish(self, topic: str, payload: bytes, qos: int = 1, *, retain: bool = False) -> None:
        await self.wait_for_quota()
        sent = self.publish_nowait(topic.encode(), payload, qos, retain=retain)
        if sent is not None:
            reason = await sent[1]
            if reason >= 0x80:
                raise MqttError(f"broker rejected publish to {topic} (reason 0x{reason:02x})")

    def ack(self, packet_ids: list[int]) -> bool:
        """PUBACK many QoS 1 messages in one write; False when the connection is gone (the broker
        then redelivers them on the next one)."""
        if not packet_ids:
            return True
        if not self.connack_received or self._transport is None or self._transport.is_closing():
            return False
        self._transport.write(b"".join(encode_puback(pid) for pid in packet_ids))
        return True
