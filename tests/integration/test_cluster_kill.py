"""Cluster mode on a 3-node NATS cluster on 127.0.0.1 (docs/scale.md), under a stream of 50,000
messages from paho-mqtt devices spread over the nodes' MQTT listeners: one cluster node, one
ingest worker and one rules engine killed with SIGKILL and started again in the middle.

Every message stored exactly once; each entrapment in the stream raised exactly once; each
device's messages in the order it published them, in the log the engines read."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import orjson
import paho.mqtt.client as paho
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from paho.mqtt.enums import CallbackAPIVersion

from semon.cluster.subjects import STREAM, everything, mqtt_topic, partition_of
from semon.stack.nats import NatsCluster
from semon.stack.process import free_port
from tests.integration.helpers import query

MESSAGES = int(os.environ.get("SEMON_TEST_CLUSTER_MESSAGES", "50000"))
RATE = 2_500  # messages/s from all the devices together: the kills fall in the middle
PARTITIONS = 6
DEVICES = 300
TRAPPED = 30  # devices whose stream holds one entrapment (code 11) each
PUBLISHERS = 3  # paho clients, one on each node at first
LEASE_S = 3
INFLIGHT = 200  # each paho client's window of unacknowledged messages


def _frame(device: int, seq: int) -> bytes:
    return orjson.dumps({"ts": int(time.time() * 1000), "seq": seq, "running": False, "direction": "stop",
                         "floor": 1 + device % 20, "door_locked": True, "door_zone": True, "passenger": False,
                         "mode": "normal", "power": "main", "speed_mps": 0.0, "trip_count": seq, "run_hours": 1.0})


def _trapped(seq: int) -> bytes:
    return orjson.dumps({"ts": int(time.time() * 1000), "seq": seq, "code": 11, "floor": 3})


def device_id(d: int) -> str:
    return f"EC{d:05d}"


class Devices(threading.Thread):
    """A paho-mqtt client (MQTT 3.1.1) publishing its devices' messages at QoS 1, each device's
    in order with a ``seq`` of its own, paced to its share of ``RATE``. When its node goes away
    it connects to the next one; paho sends again what was not acknowledged."""

    def __init__(self, index: int, ports: list[int], devices: list[int], total: int) -> None:
        super().__init__(name=f"paho-devices-{index}", daemon=True)
        self.index, self.ports, self.devices, self.total = index, ports, devices, total
        self.node = index % len(ports)
        self.published = 0
        self.acked = 0
        self.reconnects = 0
        self.sent: dict[str, list[tuple[str, int]]] = defaultdict(list)  # device → [(channel, seq)]
        self.failure: BaseException | None = None
        self.halt = threading.Event()

    def _connect(self, client: paho.Client) -> None:
        while not self.halt.is_set():
            try:
                if client.connect("127.0.0.1", self.ports[self.node], keepalive=10) == paho.MQTT_ERR_SUCCESS:
                    return
            except OSError:
                pass
            self.node = (self.node + 1) % len(self.ports)
            time.sleep(0.2)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def _run(self) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-devices-{self.index}",
                             protocol=paho.MQTTv311, clean_session=True)
        client.max_inflight_messages_set(INFLIGHT)
        client.max_queued_messages_set(0)

        def published(_c: paho.Client, _u: object, _mid: int, _rc: object, _p: object) -> None:
            self.acked += 1

        client.on_publish = published
        self._connect(client)
        seqs = dict.fromkeys(self.devices, 0)
        trap_at = {d: 1 + (d * 7919) % max(2, self.total // len(self.devices) - 2) for d in self.devices
                   if d < TRAPPED}
        started = time.monotonic()
        share = RATE / PUBLISHERS
        i = 0
        while (i < self.total or self.acked < self.total) and not self.halt.is_set():
            # Within paho's in-flight window: beyond it paho queues, and sends a queued message
            # after newer ones once acknowledgements free the window (out of the device's order).
            while (i < self.total and self.published - self.acked < INFLIGHT
                   and i < (time.monotonic() - started) * share):
                d = self.devices[i % len(self.devices)]
                seqs[d] += 1
                seq = seqs[d]
                if trap_at.get(d) == seq:
                    channel, payload = "event", _trapped(seq)
                else:
                    channel, payload = "telemetry", _frame(d, seq)
                client.publish(f"se/elevator/{device_id(d)}/{channel}", payload, qos=1)
                self.sent[device_id(d)].append((channel, seq))
                self.published += 1
                i += 1
            if client.loop(timeout=0.01) not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
                self.reconnects += 1
                self.node = (self.node + 1) % len(self.ports)
                self._connect(client)
        client.disconnect()


def _env(cluster: NatsCluster, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    env.update({"SEMON_DATABASE_URL": database_url, "SEMON_CLUSTER_NATS_URLS": ",".join(cluster.nats_urls()),
                "SEMON_CLUSTER_PARTITIONS": str(PARTITIONS), "SEMON_CLUSTER_LEASE_S": str(LEASE_S),
                "SEMON_CLUSTER_ACK_WAIT_S": "5", "SEMON_METRICS_PORT": "0", "SEMON_BACKOFF_MAX_S": "1",
                "SEMON_LOG_LEVEL": "INFO", **extra})
    return env


class Part:
    """``semon ingest`` or ``semon alerts`` in a process of its own, on the cluster."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "semon", self.command, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=asyncio.subprocess.STDOUT)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def _errors(exc: Exception) -> None:
    return None


async def _holders(cluster: NatsCluster) -> dict[str, int]:
    """How many partitions each engine holds, by the lease bucket."""
    client = await nats.connect(cluster.nats_urls(), error_cb=_errors)
    try:
        held: dict[str, int] = defaultdict(int)
        try:
            kv = await client.jetstream(timeout=5).key_value("semon_rules_leases")
            for p in range(PARTITIONS):
                with contextlib.suppress(nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                    held[(await kv.get(f"p.{p}")).value.decode()] += 1  # type: ignore[union-attr]
        except (nats.errors.Error, TimeoutError):
            return {}
        return dict(held)
    finally:
        await client.close()


async def _partitions_held(cluster: NatsCluster) -> int:
    """Partitions with a lease (0 while the cluster cannot say: it is still forming)."""
    client = await nats.connect(cluster.nats_urls(), error_cb=_errors, max_reconnect_attempts=2)
    try:
        js = client.jetstream(timeout=5)
        try:
            info = await js.stream_info("KV_semon_rules_leases", subjects_filter="$KV.semon_rules_leases.p.>")
        except (nats.errors.Error, TimeoutError):
            return 0
        return len(info.state.subjects or {})
    finally:
        await client.close()


ORDER_PROBE = "test-order-probe"


async def _add_order_probe(cluster: NatsCluster) -> None:
    """A consumer of the whole log of our own, made before the first message: the log keeps
    every message until it is acknowledged here too, so the test can read the log's order."""
    client = await nats.connect(cluster.nats_urls(), error_cb=_errors)
    try:
        js = client.jetstream(timeout=10)
        await js.add_consumer(STREAM, ConsumerConfig(durable_name=ORDER_PROBE, filter_subject=everything(),
                                                     ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL))
    finally:
        await client.close()


async def _log_order(cluster: NatsCluster) -> dict[str, list[tuple[str, int]]]:
    """Each device's messages as the log holds them, in its order (duplicates kept), each in
    the partition ``partition_of`` gives its device (as the servers' mapping does)."""
    client = await nats.connect(cluster.nats_urls(), error_cb=_errors)
    seen: dict[str, list[tuple[str, int]]] = defaultdict(list)
    try:
        js = client.jetstream(timeout=10)
        sub = await js.pull_subscribe_bind(ORDER_PROBE, STREAM)
        while True:
            try:
                batch = await sub.fetch(1000, timeout=5)
            except TimeoutError:  # nats-py raises its own and the builtin one
                break
            for msg in batch:
                topic = mqtt_topic(msg.subject).split("/")
                assert int(msg.subject.split(".")[4]) == partition_of(topic[2], PARTITIONS), msg.subject
                seen[topic[2]].append((topic[3], int(orjson.loads(msg.data)["seq"])))
            for msg in batch:
                await msg.ack()
    finally:
        await client.close()
    return seen


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    async with NatsCluster(tmp_path / "nats", 3, partitions=PARTITIONS) as started:
        yield started


async def _state(cluster: NatsCluster) -> str:
    """What the stream and its consumers hold, for a failure's message."""
    client = await nats.connect(cluster.nats_urls(), error_cb=_errors)
    try:
        js = client.jetstream(timeout=10)
        lines = [f"stream: {(await js.stream_info(STREAM)).state}"]
        for info in await js.consumers_info(STREAM):
            lines.append(f"{info.name}: pending {info.num_pending}, unacknowledged {info.num_ack_pending}, "
                         f"redelivered {info.num_redelivered}, waiting {info.num_waiting}, "
                         f"delivered {info.delivered}, floor {info.ack_floor}")
        return "\n".join(lines)
    finally:
        await client.close()


async def _wait(what: str, check: Callable[[], Awaitable[bool]], timeout: float,
                cluster: NatsCluster | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s\n{await _state(cluster) if cluster else ''}")
        await asyncio.sleep(0.5)


@pytest.mark.timeout(900)
async def test_cluster_survives_a_node_a_worker_and_an_engine_killed(cluster: NatsCluster, database_url: str,
                                                                     tmp_path: Path) -> None:
    ingest = [Part("ingest", _env(cluster, database_url, SEMON_INGEST_CLIENT_ID=f"test-ingest-{i}"),
                   tmp_path / f"ingest-{i}.log") for i in (1, 2)]
    rules = [Part("alerts", _env(cluster, database_url, SEMON_RULES_CLIENT_ID=f"test-rules-{i}",
                                 SEMON_API_PORT=str(free_port())), tmp_path / f"rules-{i}.log") for i in (1, 2)]
    parts = [*ingest, *rules]
    publishers: list[Devices] = []
    try:
        for part in parts:
            await part.start()

        async def all_held() -> bool:
            return await _partitions_held(cluster) == PARTITIONS

        await _wait("every partition held by an engine", all_held, 90)
        await _add_order_probe(cluster)
        ports = [n.ports.mqtt for n in cluster.nodes]
        per = MESSAGES // PUBLISHERS
        publishers = [Devices(k, ports, list(range(k, DEVICES, PUBLISHERS)), per) for k in range(PUBLISHERS)]
        for p in publishers:
            p.start()
        expected = per * PUBLISHERS

        def published() -> int:
            return sum(p.published for p in publishers)

        async def reach(fraction: float) -> None:
            while published() < expected * fraction:
                assert all(p.is_alive() or p.failure is None for p in publishers)
                await asyncio.sleep(0.1)

        await reach(0.25)  # a node of the cluster
        await cluster.nodes[1].kill()
        await asyncio.sleep(3)
        await cluster.nodes[1].start()
        await reach(0.45)  # an ingest worker
        await ingest[0].kill()
        await asyncio.sleep(2)
        await ingest[0].start()
        await reach(0.65)  # a rules engine
        await rules[0].kill()
        await asyncio.sleep(2)
        await rules[0].start()
        for p in publishers:
            await asyncio.to_thread(p.join, 300)
            assert p.failure is None, f"publisher {p.index}: {p.failure!r}"
            assert not p.is_alive(), f"publisher {p.index} never finished"
        assert sum(p.acked for p in publishers) >= expected

        sent: dict[str, list[tuple[str, int]]] = {}
        for p in publishers:
            sent.update(p.sent)
        frames = sum(1 for msgs in sent.values() for c, _ in msgs if c == "telemetry")
        events = sum(1 for msgs in sent.values() for c, _ in msgs if c == "event")
        trapped = sorted(d for d, msgs in sent.items() if any(c == "event" for c, _ in msgs))
        assert events == len(trapped) == TRAPPED

        async def all_stored() -> bool:
            rows = await query(database_url, "SELECT (SELECT count(*) FROM elevator_telemetry),"
                                             " (SELECT count(*) FROM device_events)")
            counted[:] = [int(str(rows[0][0])), int(str(rows[0][1]))]
            return counted[0] >= frames and counted[1] >= events

        counted: list[int] = []
        try:
            await _wait("every message stored", all_stored, 240, cluster)
        except AssertionError as exc:
            raise AssertionError(f"stored {counted} of {frames} frames and {events} events: {exc}") from None

        async def all_raised() -> bool:
            rows = await query(database_url, "SELECT count(DISTINCT device_id) FROM alarms WHERE type = 'entrapment'")
            return int(str(rows[0][0])) >= TRAPPED

        await _wait("every entrapment raised", all_raised, 120, cluster)
        await asyncio.sleep(2 * LEASE_S + 5)  # time for a late second copy to show

        async def shared_evenly() -> bool:  # the restarted engine has its share again
            held = await _holders(cluster)
            return sorted(held.values()) == [PARTITIONS // 2, PARTITIONS // 2]

        await _wait("the partitions shared evenly by the two engines again", shared_evenly, 60)
    finally:
        for p in publishers:
            p.halt.set()
        for part in parts:
            await part.stop()

    # Every message stored exactly once: each device's frames and events by their seq.
    stored = await query(database_url, "SELECT device_id, seq FROM elevator_telemetry")
    by_device: dict[str, list[int]] = defaultdict(list)
    for device, seq in stored:
        by_device[str(device)].append(int(str(seq)))
    for device, msgs in sent.items():
        assert sorted(by_device[device]) == [s for c, s in msgs if c == "telemetry"], device
    assert len(stored) == frames
    stored_events = await query(database_url, "SELECT device_id, seq FROM device_events")
    assert sorted((str(d), int(str(s))) for d, s in stored_events) == sorted(
        (d, s) for d, msgs in sent.items() for c, s in msgs if c == "event")

    # Each entrapment raised exactly once, on the device that was trapped.
    raised = await query(database_url, "SELECT device_id, count(*) FROM alarms WHERE type = 'entrapment' "
                                       "GROUP BY device_id ORDER BY device_id")
    assert [(str(d), int(str(n))) for d, n in raised] == [(d, 1) for d in trapped]

    # Each device's messages in the log in the order published (a copy sent again after a lost
    # acknowledgement may follow, never precede, what came after it).
    log_order = await _log_order(cluster)
    for device, msgs in sent.items():
        first_seen: list[tuple[str, int]] = []
        taken: set[tuple[str, int]] = set()
        for message in log_order[device]:
            if message not in taken:
                taken.add(message)
                first_seen.append(message)
        assert first_seen == msgs, device
    reconnects = sum(p.reconnects for p in publishers)
    print(f"{expected} messages, {frames} frames and {events} entrapments; publishers reconnected {reconnects} times")
