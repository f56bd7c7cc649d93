"""semon.mqtt.client.MqttClient as a parser: bytes in through data_received, Messages out.

The transport is a recording stand-in: no socket, no broker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import logging.handlers
from collections.abc import Iterator

import pytest

from semon.mqtt.client import Message, MqttClient, MqttError
from semon.mqtt.packets import ConnectOptions, encode_puback, encode_publish, encode_varint


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes] | tuple[str]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def abort(self) -> None:
        self.calls.append(("abort",))

    def close(self) -> None:
        self.calls.append(("close",))

    def pause_reading(self) -> None:
        self.calls.append(("pause_reading",))

    def resume_reading(self) -> None:
        self.calls.append(("resume_reading",))

    def is_closing(self) -> bool:
        return self.closing

    @property
    def writes(self) -> list[bytes]:
        return [c[1] for c in self.calls if c[0] == "write"]  # type: ignore[misc]


CONNACK = b"\x20\x03\x00\x00\x00"


def make_client(options: ConnectOptions | None = None, *, connack: bool = True,
                ) -> tuple[MqttClient, FakeTransport, list[Message]]:
    received: list[Message] = []
    client = MqttClient(options or ConnectOptions("unit"), received.append)
    transport = FakeTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    if connack:
        client.data_received(CONNACK)
    return client, transport, received


TOPIC = "se/elevator/31106301022019000123/telemetry"
BIG = bytes(range(256)) + b"{" * 44  # 300 bytes: the remaining length takes two bytes
HUGE = b"z" * 20_000  # three-byte remaining length

STREAM_PARTS = [
    (encode_publish(TOPIC.encode(), b'{"seq":1}', 1, 7),
     Message(TOPIC, b'{"seq":1}', qos=1, retain=False, dup=False, packet_id=7)),
    (encode_publish(b"se/boiler/B1/status", b"online", 0, 0, retain=True),
     Message("se/boiler/B1/status", b"online", qos=0, retain=True, dup=False, packet_id=0)),
    (encode_publish(TOPIC.encode(), BIG, 1, 65535, dup=True),
     Message(TOPIC, BIG, qos=1, retain=False, dup=True, packet_id=65535)),
    (encode_publish(b"t", b"", 1, 1, dup=True, retain=True),
     Message("t", b"", qos=1, retain=True, dup=True, packet_id=1)),
    (encode_publish(TOPIC.encode(), HUGE, 1, 300),
     Message(TOPIC, HUGE, qos=1, retain=False, dup=False, packet_id=300)),
]
STREAM = b"".join(p for p, _ in STREAM_PARTS)
EXPECTED = [m for _, m in STREAM_PARTS]


def test_the_stream_uses_one_two_and_three_byte_remaining_lengths() -> None:
    assert STREAM_PARTS[0][0][1] < 0x80
    assert STREAM_PARTS[2][0][1] & 0x80 and not STREAM_PARTS[2][0][2] & 0x80
    assert STREAM_PARTS[4][0][1] & 0x80 and STREAM_PARTS[4][0][2] & 0x80


def chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """Split data by cycling through sizes."""
    pos, i = 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        yield data[pos : pos + n]
        pos += n
        i += 1


def _boundaries() -> list[int]:
    out, pos = [], 0
    for packet, _ in STREAM_PARTS:
        out += [pos + 1, pos + 2, pos + 3]  # inside the fixed header
        pos += len(packet)
    return out


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


FRAGMENTATIONS = {
    "whole": [STREAM],
    "one-byte": list(chunks(STREAM, [1])),
    "odd-sizes": list(chunks(STREAM, [3, 1, 7, 128, 2])),
    "inside-headers": split_at(STREAM, _boundaries()),
    "packet-per-write": [p for p, _ in STREAM_PARTS],
}


@pytest.mark.parametrize("name", list(FRAGMENTATIONS))
async def test_messages_survive_any_fragmentation(name: str) -> None:
    client, transport, received = make_client()
    pieces = FRAGMENTATIONS[name]
    assert b"".join(pieces) == STREAM
    for piece in pieces:
        client.data_received(piece)
    assert received == EXPECTED
    assert transport.calls == []


async def test_a_message_is_delivered_as_soon_as_its_last_byte_arrives() -> None:
    client, _, received = make_client()
    first = STREAM_PARTS[0][0]
    client.data_received(first[:-1])
    assert received == []
    client.data_received(first[-1:] + STREAM_PARTS[1][0][:1])
    assert received == EXPECTED[:1]
    client.data_received(STREAM_PARTS[1][0][1:])
    assert received == EXPECTED[:2]


async def test_two_byte_remaining_length_split_between_its_bytes() -> None:
    client, _, received = make_client()
    packet = STREAM_PARTS[2][0]
    client.data_received(packet[:2])  # type byte and the first length byte only
    client.data_received(packet[2:])
    assert received == [EXPECTED[2]]


async def test_publish_with_properties_delivers_only_the_payload() -> None:
    client, transport, received = make_client()
    props = b"\x05\x1f\x00\x02ok"  # a reason string property
    body = b"\x00\x01t\x00\x09" + props + b"data"
    client.data_received(b"\x32" + encode_varint(len(body)) + body)
    assert received == [Message("t", b"data", qos=1, retain=False, dup=False, packet_id=9)]
    assert transport.calls == []


# --- malformed packets ---------------------------------------------------------------------------


@pytest.fixture
def quiet_client_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the client's error log from being recorded: a kept record keeps the exception, whose
    traceback pins a view of the receive buffer (see the BufferError test below)."""
    monkeypatch.setattr(logging.getLogger("semon.mqtt.client"), "disabled", True)


@pytest.mark.parametrize("packet", [
    b"\x00\x00",  # reserved packet type 0
    b"\xf0\x00",  # AUTH: not spoken here
    b"\x30\xff\xff\xff\xff\x01",  # remaining length longer than four bytes
    b"\x30\x04\x00\x09ab",  # topic length beyond the packet
    b"\x32\x04\x00\x01t\x00",  # QoS 1 without room for the packet id
    b"\x30\x04\x00\x01t\x85",  # property length runs past the packet (multi-byte)
    b"\x40\x01\x00",  # PUBACK too short for a packet id
], ids=["type0", "auth", "varint5", "topic-len", "no-packet-id", "props-varint", "short-puback"])
@pytest.mark.usefixtures("quiet_client_log")
async def test_malformed_packet_aborts_the_connection(packet: bytes) -> None:
    client, transport, received = make_client()
    client.data_received(packet)
    assert transport.calls == [("abort",)]
    assert received == []


@pytest.mark.usefixtures("quiet_client_log")
async def test_packets_before_a_malformed_one_are_delivered_and_the_rest_dropped() -> None:
    client, transport, received = make_client()
    good = STREAM_PARTS[0][0]
    client.data_received(good + b"\x00\x00" + STREAM_PARTS[1][0])
    assert received == EXPECTED[:1]
    assert transport.calls == [("abort",)]


@pytest.mark.usefixtures("quiet_client_log")
async def test_the_buffer_is_usable_after_a_malformed_packet() -> None:
    client, transport, received = make_client()
    client.data_received(b"\x00\x00")
    client.data_received(STREAM_PARTS[0][0])
    assert received == EXPECTED[:1]
    assert transport.calls == [("abort",)]


async def test_malformed_packet_with_a_record_keeping_log_handler() -> None:
    client, transport, _ = make_client()
    logger = logging.getLogger("semon.mqtt.client")
    keeper = logging.handlers.BufferingHandler(capacity=100)
    logger.addHandler(keeper)
    try:
        client.data_received(b"\x00\x00")
    finally:
        logger.removeHandler(keeper)
    assert transport.calls == [("abort",)]
    assert len(keeper.buffer) == 1


@pytest.mark.usefixtures("quiet_client_log")
async def test_publish_whose_property_block_overruns_the_packet_aborts() -> None:
    client, transport, received = make_client()
    body = b"\x00\x01t\x05"  # claims 5 bytes of properties, has none
    client.data_received(b"\x30" + encode_varint(len(body)) + body)
    assert received == []
    assert transport.calls == [("abort",)]


@pytest.mark.usefixtures("quiet_client_log")
async def test_publish_with_qos_3_aborts() -> None:
    client, transport, received = make_client()
    body = b"\x00\x01t\x00\x01\x00hi"
    client.data_received(b"\x36" + encode_varint(len(body)) + body)
    assert received == []
    assert transport.calls == [("abort",)]


# --- other packets ---------------------------------------------------------------------------------


async def test_broker_disconnect_closes_the_transport() -> None:
    client, transport, received = make_client()
    client.data_received(b"\xe0\x01\x8b")  # DISCONNECT, server shutting down
    assert transport.calls == [("close",)]
    assert received == []


async def test_pingresp_is_consumed_silently() -> None:
    client, transport, received = make_client()
    client.data_received(b"\xd0\x00" + STREAM_PARTS[0][0])
    assert received == EXPECTED[:1]
    assert transport.calls == []


async def test_puback_resolves_the_publish_future() -> None:
    client, transport, _ = make_client()
    sent = client.publish_nowait(b"se/x", b"p")
    assert sent is not None
    pid, fut = sent
    assert transport.writes == [encode_publish(b"se/x", b"p", 1, pid)]
    other = client.publish_nowait(b"se/x", b"q")
    assert other is not None
    assert other[0] != pid
    client.data_received(encode_puback(pid) + b"\x40\x03" + other[0].to_bytes(2, "big") + b"\x10")
    assert fut.result() == 0
    assert other[1].result() == 0x10


# --- acknowledgements --------------------------------------------------------------------------------


async def test_ack_writes_all_pubacks_in_one_write() -> None:
    client, transport, _ = make_client()
    client.ack([1, 2, 3])
    assert transport.calls == [("write", b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\x00\x03")]


async def test_ack_of_nothing_writes_nothing() -> None:
    client, transport, _ = make_client()
    client.ack([])
    assert transport.calls == []


async def test_ack_on_a_closing_transport_writes_nothing() -> None:
    client, transport, _ = make_client()
    transport.closing = True
    client.ack([1])
    assert transport.calls == []


async def test_ack_before_connack_is_refused_and_writes_nothing() -> None:
    client, transport, _ = make_client(connack=False)
    assert client.ack([1]) is False
    assert transport.calls == []


async def test_ack_reports_whether_it_was_sent() -> None:
    client, transport, _ = make_client()
    assert client.ack([5]) is True
    transport.closing = True
    assert client.ack([6]) is False
    assert transport.writes == [encode_puback(5)]


async def test_messages_in_the_same_read_as_connack_can_be_acknowledged_at_once() -> None:
    received: list[Message] = []
    acked: list[bool] = []

    def on_message(message: Message) -> None:
        received.append(message)
        acked.append(client.ack([message.packet_id]))

    client = MqttClient(ConnectOptions("unit"), on_message)
    transport = FakeTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    client.data_received(CONNACK + STREAM_PARTS[0][0])
    assert received == EXPECTED[:1]
    assert acked == [True]
    assert transport.writes == [encode_puback(7)]


# --- maximum packet size ---------------------------------------------------------------------------


async def test_a_packet_over_the_announced_maximum_closes_the_connection() -> None:
    limit = len(STREAM_PARTS[2][0])  # the 300-byte payload's packet fits exactly
    client, transport, received = make_client(ConnectOptions("unit", maximum_packet_size=limit))
    client.data_received(STREAM_PARTS[2][0])
    assert received == EXPECTED[2:3]
    client.data_received(STREAM_PARTS[4][0][:10])  # the header alone already says too large
    assert transport.calls == [("abort",)]
    assert received == EXPECTED[2:3]


async def test_without_a_maximum_large_packets_pass() -> None:
    client, _, received = make_client(ConnectOptions("unit", maximum_packet_size=0))
    client.data_received(STREAM)
    assert received == EXPECTED


async def test_publish_over_the_brokers_maximum_raises_before_writing() -> None:
    client, transport, _ = make_client(connack=False)
    # CONNACK with Maximum Packet Size 100 (property 0x27, four bytes)
    client.data_received(b"\x20\x08\x00\x00\x05\x27\x00\x00\x00\x64")
    client._outbound_max = 100  # what connect() takes from that CONNACK
    with pytest.raises(MqttError):
        client.publish_nowait(b"se/x", b"p" * 200)
    assert transport.calls == []
    assert client.publish_nowait(b"se/x", b"p" * 10) is not None


# --- keep-alive ------------------------------------------------------------------------------------


def _silent_for(client: MqttClient, seconds: float) -> None:
    client._last_rx = asyncio.get_running_loop().time() - seconds


async def test_keepalive_pings_while_data_flows_and_never_drops() -> None:
    client, transport, _ = make_client(ConnectOptions("unit", keepalive=10))
    client._keepalive = 10
    for _ in range(5):  # no PINGRESP ever, but messages keep coming: alive
        client.data_received(STREAM_PARTS[0][0])
        client._ping()
    assert ("abort",) not in transport.calls
    assert transport.writes.count(b"\xc0\x00") == 5
    if client._ping_handle is not None:
        client._ping_handle.cancel()


async def test_keepalive_drops_a_connection_silent_for_one_and_a_half_periods() -> None:
    client, transport, _ = make_client(ConnectOptions("unit", keepalive=10))
    client._keepalive = 10
    _silent_for(client, 14)
    client._ping()
    assert ("abort",) not in transport.calls
    if client._ping_handle is not None:
        client._ping_handle.cancel()
    _silent_for(client, 16)
    client._ping()
    assert transport.calls[-1] == ("abort",)


async def test_keepalive_does_not_count_time_spent_paused() -> None:
    client, transport, _ = make_client(ConnectOptions("unit", keepalive=10))
    client._keepalive = 10
    client.pause_reading()
    _silent_for(client, 100)
    client._ping()
    assert ("abort",) not in transport.calls
    client.resume_reading()
    client._ping()
    assert ("abort",) not in transport.calls
    assert transport.calls[0] == ("pause_reading",) and ("resume_reading",) in transport.calls
    if client._ping_handle is not None:
        client._ping_handle.cancel()


def test_the_url_names_the_brokers_mqtt_version() -> None:
    from semon.mqtt.client import BrokerAddress

    assert BrokerAddress.from_url("mqtt://h:1").protocol_level is None
    assert BrokerAddress.from_url("mqtt://u:p@h:1?protocol=3.1.1").protocol_level == 4
    assert BrokerAddress.from_url("mqtt://h:1?protocol=5").protocol_level == 5
    with pytest.raises(ValueError, match=r"protocol=3\.1\.1"):
        BrokerAddress.from_url("mqtt://h:1?protocol=3")
