"""A simulated device's own MQTT connection against a real Mosquitto: status, Last Will, backlog,
redelivery after a broker restart, orderly close, and a few hundred links at once."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from semon.mqtt.client import BrokerAddress
from semon.protocol.topics import Channel, Kind, topic_for
from semon.stack import MosquittoServer
from simulators.core import Frame
from simulators.link import DeviceLink, LinkClosed, close_all, open_all
from tests.integration.recorder import recording

pytestmark = pytest.mark.integration

def telemetry(device_id: str, seq: int, kind: Kind = Kind.ELEVATOR) -> Frame:
    payload: dict[str, Any] = {"ts": 1_700_000_000_000 + seq, "seq": seq, "running": False, "floor": seq % 20}
    return Frame(seq, device_id, kind, Channel.TELEMETRY, payload)


def event(device_id: str, seq: int, code: int = 11, kind: Kind = Kind.ELEVATOR) -> Frame:
    return Frame(seq, device_id, kind, Channel.EVENT, {"ts": 1_700_000_000_000 + seq, "seq": seq, "code": code})


def fast_link(url: str, device_id: str, *, backlog_max: int = 10_000) -> DeviceLink:
    """A link that retries quickly, so that reconnects fit in a short test."""
    return DeviceLink(BrokerAddress.from_url(url), Kind.ELEVATOR, device_id, backlog_max=backlog_max,
                      backoff_initial=0.05, backoff_max=0.5)


def status_topic(device_id: str, kind: Kind = Kind.ELEVATOR) -> str:
    return topic_for(kind, device_id, Channel.STATUS)


async def test_online_then_frames_in_order(mosquitto: MosquittoServer) -> None:
    acked: list[Frame] = []
    async with recording(mosquitto.url, "se/+/+/+") as rec:
        link = DeviceLink(BrokerAddress.from_url(mosquitto.url), Kind.BOILER, "B-001", on_ack=acked.append)
        await link.open()
        assert link.connected
        frames = [event("B-001", s, kind=Kind.BOILER) if s % 10 == 0 else telemetry("B-001", s, Kind.BOILER)
                  for s in range(1, 51)]
        for frame in frames:
            link.send(frame)
        await rec.wait_for(lambda: len(rec.seqs("B-001")) == 50)

        assert rec.messages[0].topic == "se/boiler/B-001/status"
        assert rec.messages[0].payload == b"online"
        got = [m for m in rec.messages if not m.topic.endswith("/status")]
        assert [m.topic for m in got] == [f.topic for f in frames]
        assert [orjson.loads(m.payload) for m in got] == [f.payload for f in frames]
        assert not any(m.retain for m in got)
        assert rec.seqs("B-001") == list(range(1, 51))

        await rec.wait_for(lambda: link.acked == 50)
        assert (link.sent, link.acked, link.resent, link.dropped) == (50, 50, 0, 0)
        assert (link.backlog, link.unacknowledged) == (0, 0)
        assert acked == frames
        await link.close()
        assert not link.connected
        with pytest.raises(LinkClosed):
            link.send(telemetry("B-001", 51, Kind.BOILER))


async def test_drop_fires_will_and_restore_sends_backlog_after_online(mosquitto: MosquittoServer) -> None:
    dev = "E-DROP-1"
    status = status_topic(dev)
    async with recording(mosquitto.url, "se/+/+/+") as rec:
        link = fast_link(mosquitto.url, dev)
        await link.open()
        for s in range(1, 6):
            link.send(telemetry(dev, s))
        await rec.wait_for(lambda: len(rec.seqs(dev)) == 5 and link.acked == 5)  # else resent, twice received

        link.drop()
        assert not link.connected
        await rec.wait_for(lambda: rec.statuses(status) == [b"online", b"offline"])
        for s in range(6, 16):
            link.send(event(dev, s) if s == 9 else telemetry(dev, s))
        assert link.backlog == 10
        # No reconnect of its own while dropped (the backoff here would retry within 0.1 s).
        await asyncio.sleep(0.5)
        assert not link.connected
        assert len(rec.seqs(dev)) == 5

        link.restore()
        await rec.wait_for(lambda: len(rec.seqs(dev)) == 15)
        assert link.connected
        after_will = rec.messages[[m.payload for m in rec.messages].index(b"offline") + 1:]
        assert after_will[0].topic == status and after_will[0].payload == b"online"
        assert [int(orjson.loads(m.payload)["seq"]) for m in after_will[1:]] == list(range(6, 16))
        assert after_will[4].topic == topic_for(Kind.ELEVATOR, dev, Channel.EVENT)
        await rec.wait_for(lambda: link.acked == 15)
        assert (link.sent, link.dropped, link.backlog, link.unacknowledged, link.connects) == (15, 0, 0, 0, 2)
        await link.close()


async def test_restore_without_online_leaves_the_will_and_sends_the_frames(mosquitto: MosquittoServer) -> None:
    """A field device that comes back and publishes without announcing ``online`` first."""
    dev = "E-QUIET-1"
    status = status_topic(dev)
    async with recording(mosquitto.url, "se/+/+/+") as rec:
        link = fast_link(mosquitto.url, dev)
        await link.open()
        link.send(telemetry(dev, 1))
        await rec.wait_for(lambda: rec.seqs(dev) == [1] and link.acked == 1)
        link.drop()
        await rec.wait_for(lambda: rec.statuses(status) == [b"online", b"offline"])
        link.send(telemetry(dev, 2))
        link.restore(announce_online=False)
        link.send(telemetry(dev, 3))
        await rec.wait_for(lambda: rec.seqs(dev) == [1, 2, 3] and link.acked == 3)
        assert rec.statuses(status) == [b"online", b"offline"]
        assert link.connects == 2
        await link.close()


async def test_unacknowledged_frames_resent_after_reconnect(mosquitto: MosquittoServer) -> None:
    dev = "E-RESEND-1"
    async with recording(mosquitto.url, "se/+/+/+") as rec:
        link = fast_link(mosquitto.url, dev)
        await link.open()
        for s in range(1, 21):
            link.send(telemetry(dev, s))
        # Lost in the same instant: no PUBACK can have been read, whatever the broker received.
        link.drop()
        assert (link.sent, link.acked, link.unacknowledged, link.backlog) == (20, 0, 20, 0)
        link.send(telemetry(dev, 21))
        link.restore()
        await rec.wait_for(lambda: link.acked == 21 and set(rec.seqs(dev)) == set(range(1, 22)))
        assert (link.sent, link.resent, link.acked, link.unacknowledged, link.connects) == (21, 20, 21, 0, 2)
        assert list(dict.fromkeys(rec.seqs(dev))) == list(range(1, 22))
        await link.close()


async def test_redelivery_after_broker_restart(mosquitto: MosquittoServer) -> None:
    dev = "E-RESTART-1"
    steady, burst, total = 200, 600, 2000

    def frame(s: int) -> Frame:
        return event(dev, s) if s % 100 == 0 else telemetry(dev, s)

    async with recording(mosquitto.url, "se/+/+/+") as rec:
        link = fast_link(mosquitto.url, dev)
        await link.open()
        for s in range(1, steady + 1):
            link.send(frame(s))
        await rec.wait_for(lambda: link.acked == steady)

        async def produce_through_restart() -> None:
            for s in range(steady + burst + 1, total + 1):
                link.send(frame(s))
                if s % 10 == 0:
                    await asyncio.sleep(0.002)

        # A burst (within the broker's receive quota of 1000: all of it goes out at once), and the
        # broker stopped right away: what it has not acknowledged by then is resent.
        for s in range(steady + 1, steady + burst + 1):
            link.send(frame(s))
        assert link.unacknowledged == burst
        producer = asyncio.create_task(produce_through_restart())
        await mosquitto.restart()
        await producer

        await rec.wait_for(lambda: set(rec.seqs(dev)) == set(range(1, total + 1)), timeout=20)
        await rec.wait_for(lambda: link.acked == total)
        assert link.connects == 2
        assert (link.sent, link.acked, link.dropped, link.rejected) == (total, total, 0, 0)
        assert (link.backlog, link.unacknowledged) == (0, 0)
        # Usually part of the burst (and of what followed it before the loss was noticed) is still
        # unacknowledged when the broker stops; how much is a race. One reconnect: one resend each.
        assert 0 <= link.resent <= total - steady
        # Each seq from its first arrival on in order: the resends came before the frames kept meanwhile.
        firsts = list(dict.fromkeys(rec.seqs(dev)))
        assert firsts == list(range(1, total + 1))
        # Published live (not replayed as retained on resubscribing): online on each connection;
        # in between the broker may have published the Last Will as it shut down.
        live = [m.payload for m in rec.on(status_topic(dev)) if not m.retain]
        assert live[0] == live[-1] == b"online"
        assert live.count(b"online") == link.connects
        await link.close()


async def test_backlog_bound_drops_oldest_telemetry_before_events(mosquitto: MosquittoServer) -> None:
    dev = "E-BOUND-1"
    link = fast_link(mosquitto.url, dev, backlog_max=5)
    # Not connected yet: everything waits in the backlog.
    for frame in (telemetry(dev, 1), event(dev, 2), telemetry(dev, 3), event(dev, 4), telemetry(dev, 5)):
        link.send(frame)
    assert (link.backlog, link.dropped) == (5, 0)
    link.send(telemetry(dev, 6))  # drops t1
    link.send(event(dev, 7))  # drops t3
    link.send(event(dev, 8))  # drops t5
    link.send(event(dev, 9))  # drops t6
    assert (link.backlog, link.dropped) == (5, 4)  # e2 e4 e7 e8 e9: events only
    link.send(telemetry(dev, 10))  # nothing but events queued: the newcomer is the telemetry dropped
    assert (link.backlog, link.dropped) == (5, 5)
    link.send(event(dev, 11))  # events only, the newcomer an event: the oldest event goes
    assert (link.backlog, link.dropped) == (5, 6)

    async with recording(mosquitto.url, "se/+/+/+") as rec:
        await link.open()
        await rec.wait_for(lambda: len(rec.seqs(dev)) == 5)
        assert rec.seqs(dev) == [4, 7, 8, 9, 11]
        assert rec.statuses(status_topic(dev)) == [b"online"]
        await rec.wait_for(lambda: link.acked == 5)
        assert (link.sent, link.acked, link.dropped, link.backlog) == (5, 5, 6, 0)
        await link.close()


async def test_close_leaves_retained_offline(mosquitto: MosquittoServer) -> None:
    dev = "E-CLOSE-1"
    link = DeviceLink(BrokerAddress.from_url(mosquitto.url), Kind.ELEVATOR, dev)
    await link.open()
    async with recording(mosquitto.url, status_topic(dev)) as rec:
        await rec.wait_for(lambda: len(rec.messages) == 1)
        assert (rec.messages[0].payload, rec.messages[0].retain) == (b"online", True)
    for s in range(1, 101):
        link.send(telemetry(dev, s))
    await link.close()
    # close waited for every acknowledgement before DISCONNECT
    assert (link.sent, link.acked, link.unacknowledged, link.backlog) == (100, 100, 0, 0)
    async with recording(mosquitto.url, "se/+/+/+") as late:
        await late.wait_for(lambda: len(late.messages) >= 1)
        await asyncio.sleep(0.2)
        assert [(m.topic, m.retain) for m in late.messages] == [(status_topic(dev), True)]
        assert orjson.loads(late.messages[0].payload)["reason"] == "shutdown"  # orderly, not the Will


async def test_open_all_and_close_all_few_hundred(mosquitto: MosquittoServer) -> None:
    n = 300
    address = BrokerAddress.from_url(mosquitto.url)
    links = [DeviceLink(address, Kind.ELEVATOR, f"E-FLEET-{i:04d}", keepalive=30) for i in range(n)]
    async with recording(mosquitto.url, "se/+/+/+") as rec:
        await asyncio.wait_for(open_all(links, concurrency=50), 30)
        assert all(link.connected for link in links)
        for link in links:
            link.send(telemetry(link.device_id, 1))
            link.send(event(link.device_id, 2, code=90))
        await rec.wait_for(lambda: sum(1 for m in rec.messages if not m.topic.endswith("/status")) == 2 * n)
        assert sum(1 for m in rec.messages if m.payload == b"online") == n
        for link in links[:: n // 10]:
            assert rec.seqs(link.device_id) == [1, 2]
        await asyncio.wait_for(close_all(links, concurrency=50), 30)
    assert sum(link.acked for link in links) == 2 * n
    assert not any(link.connected for link in links)
    async with recording(mosquitto.url, "se/+/+/status") as late:
        await late.wait_for(lambda: len(late.messages) == n)
        assert {orjson.loads(m.payload)["state"] for m in late.messages} == {"offline"}
        assert all(m.retain for m in late.messages)
