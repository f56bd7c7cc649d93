"""semon.mqtt.packets: the MQTT 5 subset, byte by byte."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pytest

from semon.mqtt.packets import (
    PROP_ASSIGNED_CLIENT_ID,
    PROP_MAXIMUM_PACKET_SIZE,
    PROP_REASON_STRING,
    PROP_RECEIVE_MAXIMUM,
    PROP_SERVER_KEEP_ALIVE,
    PROP_SESSION_EXPIRY,
    ConnectOptions,
    ProtocolError,
    Will,
    decode_connack,
    decode_properties,
    decode_publish_header,
    decode_varint,
    encode_connect,
    encode_properties,
    encode_puback,
    encode_publish,
    encode_varint,
)

# --- variable byte integer ----------------------------------------------------------------------

VARINT_BOUNDARIES = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16383, b"\xff\x7f"),
    (16384, b"\x80\x80\x01"),
    (2097151, b"\xff\xff\x7f"),
    (2097152, b"\x80\x80\x80\x01"),
    (268435455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("value", "encoded"), VARINT_BOUNDARIES)
def test_varint_encoding_at_the_boundaries(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(encoded, 0) == (value, len(encoded))


@pytest.mark.parametrize(("value", "encoded"), VARINT_BOUNDARIES)
def test_varint_decodes_from_an_offset_and_ignores_what_follows(value: int, encoded: bytes) -> None:
    buf = b"\xaa\xbb" + encoded + b"\xff\x01"
    assert decode_varint(buf, 2) == (value, 2 + len(encoded))
    assert decode_varint(memoryview(buf), 2) == (value, 2 + len(encoded))
    assert decode_varint(bytearray(buf), 2) == (value, 2 + len(encoded))


@pytest.mark.parametrize("encoded", [e for _, e in VARINT_BOUNDARIES if len(e) > 1])
def test_truncated_varint_returns_none(encoded: bytes) -> None:
    for cut in range(len(encoded)):
        assert decode_varint(encoded[:cut], 0) is None
    assert decode_varint(b"\x01" + encoded[:-1], 1) is None


def test_varint_at_the_end_of_the_buffer_returns_none() -> None:
    assert decode_varint(b"", 0) is None
    assert decode_varint(b"\x05", 1) is None


@pytest.mark.parametrize("encoded", [b"\x80\x80\x80\x80\x01", b"\xff\xff\xff\xff\x7f", b"\xff\xff\xff\xff"])
def test_varint_longer_than_four_bytes_is_a_protocol_error(encoded: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_varint(encoded, 0)


# --- PUBLISH -------------------------------------------------------------------------------------


def _split_fixed_header(packet: bytes) -> tuple[int, int, memoryview]:
    decoded = decode_varint(packet, 1)
    assert decoded is not None
    remaining, body_at = decoded
    assert body_at + remaining == len(packet)
    return packet[0], remaining, memoryview(packet)[body_at:]


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("dup", [False, True])
@pytest.mark.parametrize("retain", [False, True])
@pytest.mark.parametrize(
    "payload", [b"", b'{"seq":1}', bytes(range(256)) * 2], ids=["empty", "short", "512B"]
)
def test_publish_round_trip(qos: int, dup: bool, retain: bool, payload: bytes) -> None:
    topic = "se/elevator/31106301022019000123/telemetry"
    packet = encode_publish(topic.encode(), payload, qos, 0xBEEF, retain=retain, dup=dup)
    first, remaining, body = _split_fixed_header(packet)

    assert first >> 4 == 3
    assert first & 0x01 == int(retain)
    assert (first >> 1) & 0x03 == qos
    assert first & 0x08 == (0x08 if dup else 0)
    id_len = 2 if qos else 0
    assert remaining == 2 + len(topic) + id_len + 1 + len(payload)

    got_topic, packet_id, at = decode_publish_header(first & 0x0F, body)
    assert got_topic == topic
    assert packet_id == (0xBEEF if qos else 0)
    assert at == 2 + len(topic) + id_len + 1
    assert bytes(body[at:]) == payload


def test_publish_exact_bytes() -> None:
    assert encode_publish(b"a/b", b"hi", 1, 7, retain=True) == (
        b"\x33"  # PUBLISH, QoS 1, retain
        b"\x0a"  # remaining length 10
        b"\x00\x03a/b"  # topic
        b"\x00\x07"  # packet id
        b"\x00"  # no properties
        b"hi"
    )
    assert encode_publish(b"t", b"", 0, 99) == b"\x30\x04\x00\x01t\x00"


def test_publish_with_two_byte_remaining_length() -> None:
    packet = encode_publish(b"t", b"x" * 200, 1, 1)
    assert packet[1:3] == encode_varint(2 + 1 + 2 + 1 + 200)
    assert packet[1] & 0x80


def test_publish_header_skips_a_property_block() -> None:
    props = encode_properties({PROP_REASON_STRING: "r" * 10})
    body = b"\x00\x01t\x00\x05" + props + b"payload"
    topic, packet_id, at = decode_publish_header(0x02, memoryview(body))
    assert (topic, packet_id, body[at:]) == ("t", 5, b"payload")


def test_publish_header_with_a_long_property_block() -> None:
    props = encode_properties({PROP_REASON_STRING: "r" * 200})
    assert props[0] & 0x80  # property length needs two bytes
    body = b"\x00\x01t" + props + b"payload"
    topic, packet_id, at = decode_publish_header(0x00, memoryview(body))
    assert (topic, packet_id, body[at:]) == ("t", 0, b"payload")


# --- properties ----------------------------------------------------------------------------------


def test_properties_round_trip() -> None:
    props: dict[int, Any] = {
        PROP_RECEIVE_MAXIMUM: 20,  # u16
        PROP_SERVER_KEEP_ALIVE: 65535,
        PROP_SESSION_EXPIRY: 0xFFFFFFFF,  # u32
        PROP_MAXIMUM_PACKET_SIZE: 262144,
        PROP_ASSIGNED_CLIENT_ID: "auto-7F3A",  # string
        PROP_REASON_STRING: "电梯",
    }
    encoded = encode_properties(props)
    decoded, end = decode_properties(encoded, 0)
    assert end == len(encoded)
    assert decoded == {
        PROP_RECEIVE_MAXIMUM: 20,
        PROP_SERVER_KEEP_ALIVE: 65535,
        PROP_SESSION_EXPIRY: 0xFFFFFFFF,
        PROP_MAXIMUM_PACKET_SIZE: 262144,
        PROP_ASSIGNED_CLIENT_ID: b"auto-7F3A",  # strings come back as raw UTF-8
        PROP_REASON_STRING: "电梯".encode(),
    }


def test_properties_exact_bytes() -> None:
    assert encode_properties({}) == b"\x00"
    assert encode_properties({PROP_RECEIVE_MAXIMUM: 0x0102}) == b"\x03\x21\x01\x02"
    assert encode_properties({PROP_SESSION_EXPIRY: 3600}) == b"\x05\x11\x00\x00\x0e\x10"
    assert encode_properties({PROP_REASON_STRING: "ok"}) == b"\x05\x1f\x00\x02ok"


def test_properties_decode_from_an_offset() -> None:
    encoded = encode_properties({PROP_RECEIVE_MAXIMUM: 5})
    buf = b"\x01\x02" + encoded + b"tail"
    assert decode_properties(buf, 2) == ({PROP_RECEIVE_MAXIMUM: 5}, 2 + len(encoded))
    assert decode_properties(memoryview(buf), 2) == ({PROP_RECEIVE_MAXIMUM: 5}, 2 + len(encoded))


def test_properties_skip_user_properties() -> None:
    user = b"\x26\x00\x01k\x00\x02vv"
    buf = encode_varint(len(user) + 3) + user + b"\x21\x00\x09"
    assert decode_properties(buf, 0) == ({PROP_RECEIVE_MAXIMUM: 9}, len(buf))


def test_encoding_an_unsupported_property_raises() -> None:
    with pytest.raises(ValueError, match="0x26"):
        encode_properties({0x26: ("k", "v")})


@pytest.mark.parametrize("buf", [
    b"\x02\x7e\x00",  # unknown property id
    b"\x02\x21\x00\x01",  # u16 longer than the declared length
    b"\x04\x1f\x00\x05ab",  # string longer than the declared length
    b"\x80",  # truncated length
])
def test_malformed_properties_raise_protocol_error(buf: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_properties(buf, 0)


# --- CONNECT -------------------------------------------------------------------------------------


@dataclass
class ReadConnect:
    protocol: bytes
    level: int
    flags: int
    keepalive: int
    properties: dict[int, Any]
    client_id: bytes
    will_properties: dict[int, Any] | None = None
    will_topic: bytes | None = None
    will_payload: bytes | None = None
    username: bytes | None = None
    password: bytes | None = None


def read_connect(packet: bytes) -> ReadConnect:
    """Read a CONNECT back by hand (MQTT 5, section 3.1)."""
    assert packet[0] == 0x10  # CONNECT, reserved flags 0
    remaining, body_at = decode_varint(packet, 1) or (0, 0)
    assert body_at + remaining == len(packet)
    body = packet[body_at:]

    def string(pos: int) -> tuple[bytes, int]:
        (n,) = struct.unpack_from("!H", body, pos)
        return body[pos + 2 : pos + 2 + n], pos + 2 + n

    protocol, pos = string(0)
    level, flags = body[pos], body[pos + 1]
    (keepalive,) = struct.unpack_from("!H", body, pos + 2)
    properties, pos = decode_properties(body, pos + 4)
    client_id, pos = string(pos)
    out = ReadConnect(protocol, level, flags, keepalive, properties, client_id)
    if flags & 0x04:
        out.will_properties, pos = decode_properties(body, pos)
        out.will_topic, pos = string(pos)
        out.will_payload, pos = string(pos)
    if flags & 0x80:
        out.username, pos = string(pos)
    if flags & 0x40:
        out.password, pos = string(pos)
    assert pos == len(body), "trailing bytes after the payload"
    return out


def test_connect_defaults() -> None:
    c = read_connect(encode_connect(ConnectOptions("ingest-1")))
    assert c == ReadConnect(
        protocol=b"MQTT", level=5, flags=0x02, keepalive=30,
        properties={PROP_RECEIVE_MAXIMUM: 65535, PROP_MAXIMUM_PACKET_SIZE: 1_048_576}, client_id=b"ingest-1",
    )


def test_connect_announces_the_maximum_packet_size_or_none() -> None:
    assert read_connect(encode_connect(ConnectOptions("c", maximum_packet_size=300))).properties == {
        PROP_RECEIVE_MAXIMUM: 65535, PROP_MAXIMUM_PACKET_SIZE: 300}
    assert read_connect(encode_connect(ConnectOptions("c", maximum_packet_size=0))).properties == {
        PROP_RECEIVE_MAXIMUM: 65535}


def test_connect_with_everything() -> None:
    opts = ConnectOptions(
        client_id="31106301022019000123",
        clean_start=False,
        keepalive=60,
        session_expiry=3600,
        receive_maximum=100,
        username="31106301022019000123",
        password="s3cret",
        will=Will("se/elevator/31106301022019000123/status", b"offline", qos=1, retain=True),
    )
    c = read_connect(encode_connect(opts))
    assert c.protocol == b"MQTT"
    assert c.level == 5
    # username | password | will retain | will QoS 1 | will flag; clean start clear; reserved bit 0 clear
    assert c.flags == 0x80 | 0x40 | 0x20 | 0x08 | 0x04
    assert c.keepalive == 60
    assert c.properties == {PROP_RECEIVE_MAXIMUM: 100, PROP_SESSION_EXPIRY: 3600,
                            PROP_MAXIMUM_PACKET_SIZE: 1_048_576}
    assert c.client_id == b"31106301022019000123"
    assert c.will_properties == {}
    assert c.will_topic == b"se/elevator/31106301022019000123/status"
    assert c.will_payload == b"offline"
    assert c.username == b"31106301022019000123"
    assert c.password == b"s3cret"


def test_connect_with_qos0_unretained_will_and_username_only() -> None:
    opts = ConnectOptions("c", keepalive=0, username="u", will=Will("w", b"", qos=0, retain=False))
    c = read_connect(encode_connect(opts))
    assert c.flags == 0x80 | 0x04 | 0x02
    assert c.keepalive == 0
    assert (c.will_topic, c.will_payload, c.username, c.password) == (b"w", b"", b"u", None)


def test_connect_with_password_only_and_empty_client_id() -> None:
    c = read_connect(encode_connect(ConnectOptions("", password="p")))
    assert c.flags == 0x40 | 0x02
    assert (c.client_id, c.username, c.password) == (b"", None, b"p")


def test_connect_with_will_qos2() -> None:
    c = read_connect(encode_connect(ConnectOptions("c", will=Will("w", b"x", qos=2, retain=False))))
    assert c.flags & 0x18 == 0x10


# --- CONNACK, PUBACK -----------------------------------------------------------------------------


def test_connack_with_session_present_and_receive_maximum() -> None:
    body = b"\x01\x00" + encode_properties({PROP_RECEIVE_MAXIMUM: 20, PROP_ASSIGNED_CLIENT_ID: "x1"})
    ack = decode_connack(memoryview(body))
    assert ack.session_present is True
    assert ack.reason_code == 0
    assert ack.properties == {PROP_RECEIVE_MAXIMUM: 20, PROP_ASSIGNED_CLIENT_ID: b"x1"}


def test_connack_without_properties_and_refused() -> None:
    ack = decode_connack(memoryview(b"\x00\x87"))
    assert (ack.session_present, ack.reason_code, ack.properties) == (False, 0x87, {})
    ack = decode_connack(memoryview(b"\x00\x00\x00"))
    assert (ack.session_present, ack.reason_code, ack.properties) == (False, 0, {})


def test_short_connack_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_connack(memoryview(b"\x00"))


@pytest.mark.parametrize(("packet_id", "expected"), [
    (1, b"\x40\x02\x00\x01"),
    (0x1234, b"\x40\x02\x12\x34"),
    (65535, b"\x40\x02\xff\xff"),
])
def test_puback_is_four_bytes(packet_id: int, expected: bytes) -> None:
    assert encode_puback(packet_id) == expected


def test_mqtt_3_1_1_connect_has_level_4_and_no_properties() -> None:
    packet = encode_connect(ConnectOptions("dev-1", clean_start=True, keepalive=30, protocol_level=4,
                                           username="u", password="p",
                                           will=Will("se/elevator/dev-1/status", b"offline")))
    body = packet[2:]
    assert body[:7] == b"\x00\x04MQTT\x04"
    flags = body[7]
    assert flags == 0x02 | 0x04 | (1 << 3) | 0x20 | 0x40 | 0x80
    assert body[8:10] == struct.pack("!H", 30)
    assert body[10:12] == struct.pack("!H", len("dev-1")) and body[12:17] == b"dev-1"
    assert body[17:19] == struct.pack("!H", len("se/elevator/dev-1/status"))  # no property block before the will


def test_mqtt_3_1_1_publish_has_no_property_block_both_ways() -> None:
    packet = encode_publish(b"se/elevator/E1/telemetry", b"{}", 1, 7, v5=False)
    assert packet[1] == 2 + len(b"se/elevator/E1/telemetry") + 2 + 2
    topic, packet_id, at = decode_publish_header(packet[0] & 0x0F, memoryview(packet[2:]), v5=False)
    assert (topic, packet_id, bytes(packet[2 + at:])) == ("se/elevator/E1/telemetry", 7, b"{}")


def test_a_protocol_level_other_than_4_or_5_is_refused() -> None:
    with pytest.raises(ValueError, match=r"3\.1\.1"):
        ConnectOptions("x", protocol_level=3)
