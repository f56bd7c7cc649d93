"""MQTT 5 packet encoding and decoding: the subset semon speaks (pure, no I/O).

Kept deliberately small and allocation-light: the ingest hot path parses every PUBLISH here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    SUBSCRIBE = 8
    SUBACK = 9
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ProtocolError(Exception):
    """The peer sent something that is not valid MQTT 5."""


# Property identifiers (MQTT 5, section 2.2.2.2) grouped by wire type.
_BYTE_PROPS = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_U16_PROPS = {0x13, 0x21, 0x22, 0x23}
_U32_PROPS = {0x02, 0x11, 0x18, 0x27}
_VARINT_PROPS = {0x0B}
_STR_PROPS = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BIN_PROPS = {0x09, 0x16}
_PAIR_PROPS = {0x26}

PROP_SESSION_EXPIRY = 0x11
PROP_RECEIVE_MAXIMUM = 0x21
PROP_MAXIMUM_PACKET_SIZE = 0x27
PROP_SERVER_KEEP_ALIVE = 0x13
PROP_ASSIGNED_CLIENT_ID = 0x12
PROP_REASON_STRING = 0x1F


def encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """Value and next position, or None when the buffer ends inside the number."""
    value = 0
    shift = 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ProtocolError("variable byte integer longer than 4 bytes")


def _str(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encode_varint(len(body)) + body


def encode_properties(props: dict[int, Any]) -> bytes:
    out = bytearray()
    for pid, value in props.items():
        out.append(pid)
        if pid in _BYTE_PROPS:
            out.append(value)
        elif pid in _U16_PROPS:
            out += struct.pack("!H", value)
        elif pid in _U32_PROPS:
            out += struct.pack("!I", value)
        elif pid in _VARINT_PROPS:
            out += encode_varint(value)
        elif pid in _STR_PROPS or pid in _BIN_PROPS:
            out += _str(value)
        else:
            raise ValueError(f"property 0x{pid:02x} not supported")
    return encode_varint(len(out)) + bytes(out)


def decode_properties(buf: bytes | memoryview, pos: int) -> tuple[dict[int, Any], int]:
    decoded = decode_varint(buf, pos)
    if decoded is None:
        raise ProtocolError("truncated properties")
    length, pos = decoded
    end = pos + length
    props: dict[int, Any] = {}
    while pos < end:
        pid = buf[pos]
        pos += 1
        if pid in _BYTE_PROPS:
            props[pid] = buf[pos]
            pos += 1
        elif pid in _U16_PROPS:
            props[pid] = struct.unpack_from("!H", buf, pos)[0]
            pos += 2
        elif pid in _U32_PROPS:
            props[pid] = struct.unpack_from("!I", buf, pos)[0]
            pos += 4
        elif pid in _VARINT_PROPS:
            v = decode_varint(buf, pos)
            if v is None:
                raise ProtocolError("truncated property")
            props[pid], pos = v
        elif pid in _STR_PROPS or pid in _BIN_PROPS:
            (n,) = struct.unpack_from("!H", buf, pos)
            props[pid] = bytes(buf[pos + 2 : pos + 2 + n])
            pos += 2 + n
        elif pid in _PAIR_PROPS:
            for _ in range(2):
                (n,) = struct.unpack_from("!H", buf, pos)
                pos += 2 + n
        else:
            raise ProtocolError(f"unknown property 0x{pid:02x}")
    if pos != end:
        raise ProtocolError("property length mismatch")
    return props, end


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    client_id: str
    clean_start: bool = True
    keepalive: int = 30
    session_expiry: int = 0
    receive_maximum: int = 65535
    #: Announced in CONNECT and enforced on what we receive: the broker must not send a larger
    #: packet (it drops such a message for us), and a larger one closes the connection. Keep it
    #: above the broker's message_size_limit plus the topic. 0: no limit announced.
    maximum_packet_size: int = 1_048_576
    username: str | None = None
    password: str | None = None
    will: Will | None = None
    #: 5 (MQTT 5) or 4 (MQTT 3.1.1: no properties; for brokers that speak only it, such as
    #: nats-server's MQTT listener in cluster mode). Under 3.1.1 the broker announces no receive
    #: maximum, session expiry or packet size: the session persists until the client starts clean.
    protocol_level: int = 5

    def __post_init__(self) -> None:
        if self.protocol_level not in (4, 5):
            raise ValueError(f"MQTT protocol level 4 (3.1.1) or 5, not {self.protocol_level}")


def encode_connect(opts: ConnectOptions) -> bytes:
    flags = 0x02 if opts.clean_start else 0
    if opts.will is not None:
        flags |= 0x04 | (opts.will.qos << 3) | (0x20 if opts.will.retain else 0)
    if opts.password is not None:
        flags |= 0x40
    if opts.username is not None:
        flags |= 0x80
    v5 = opts.protocol_level == 5
    body = bytearray(_str("MQTT"))
    body += bytes((opts.protocol_level, flags)) + struct.pack("!H", opts.keepalive)
    if v5:
        props: dict[int, Any] = {PROP_RECEIVE_MAXIMUM: opts.receive_maximum}
        if opts.maximum_packet_size:
            props[PROP_MAXIMUM_PACKET_SIZE] = opts.maximum_packet_size
        if opts.session_expiry:
            props[PROP_SESSION_EXPIRY] = opts.session_expiry
        body += encode_properties(props)
    body += _str(opts.client_id)
    if opts.will is not None:
        if v5:
            body += encode_properties({})
        body += _str(opts.will.topic) + _str(opts.will.payload)
    if opts.username is not None:
        body += _str(opts.username)
    if opts.password is not None:
        body += _str(opts.password)
    return _packet(PacketType.CONNECT << 4, bytes(body))


def encode_publish(
    topic: bytes, payload: bytes, qos: int, packet_id: int, *, retain: bool = False, dup: bool = False,
    v5: bool = True,
) -> bytes:
    first = (PacketType.PUBLISH << 4) | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    head = struct.pack("!H", len(topic)) + topic
    if qos:
        head += struct.pack("!H", packet_id)
    if not v5:  # MQTT 3.1.1: no property block
        return bytes((first,)) + encode_varint(len(head) + len(payload)) + head + payload
    body_len = len(head) + 1 + len(payload)  # 1: empty property block
    return bytes((first,)) + encode_varint(body_len) + head + b"\x00" + payload


def encode_puback(packet_id: int) -> bytes:
    return struct.pack("!BBH", PacketType.PUBACK << 4, 2, packet_id)


def encode_subscribe(packet_id: int, filters: list[tuple[str, int]], *, v5: bool = True) -> bytes:
    body = bytearray(struct.pack("!H", packet_id))
    if v5:
        body += encode_properties({})
    for topic_filter, qos in filters:
        body += _str(topic_filter) + bytes((qos,))
    return _packet((PacketType.SUBSCRIBE << 4) | 0x02, bytes(body))


PINGREQ = bytes((PacketType.PINGREQ << 4, 0))


def encode_disconnect(reason: int = 0, *, v5: bool = True) -> bytes:
    if not v5:
        return bytes((PacketType.DISCONNECT << 4, 0))
    return bytes((PacketType.DISCONNECT << 4, 1, reason))


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason_code: int
    properties: dict[int, Any] = field(default_factory=dict)


def decode_connack(body: memoryview) -> ConnAck:
    if len(body) < 2:
        raise ProtocolError("short CONNACK")
    props, _ = decode_properties(body, 2) if len(body) > 2 else ({}, 2)
    return ConnAck(bool(body[0] & 0x01), body[1], props)


def decode_publish_header(flags: int, body: memoryview, v5: bool = True) -> tuple[str, int, int]:
    """Topic, packet id (0 for QoS 0) and where the payload starts (``v5``: a property block
    follows the packet id; MQTT 3.1.1 has none)."""
    (tlen,) = struct.unpack_from("!H", body, 0)
    pos = 2 + tlen
    topic = bytes(body[2:pos]).decode("utf-8", errors="replace")
    packet_id = 0
    if flags & 0x06:
        (packet_id,) = struct.unpack_from("!H", body, pos)
        pos += 2
    if not v5:
        return topic, packet_id, pos
    plen = body[pos]
    if plen < 0x80:  # the common case: a short (usually empty) property block
        pos += 1 + plen
    else:
        _, pos = decode_properties(body, pos)
    if pos > len(body):
        raise ProtocolError("PUBLISH properties run past the packet")
    return topic, packet_id, pos
