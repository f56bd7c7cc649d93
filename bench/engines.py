"""Cluster mode's engine, measured: NATS JetStream against RabbitMQ, each a 3-node cluster on
127.0.0.1, on the same path (docs/scale-engines.md).

``python -m bench.engines [--messages N] [--devices D] [--publishers P] [--connections C]
[--partitions K] [--engine nats|rabbitmq|both] [--no-features]``

For each engine, on a fresh cluster in a temporary directory of its own (removed at the end):

1. the cluster is started and made ready: NATS (``semon.stack.nats.NatsCluster``, the partition
   mappings of ``semon.cluster.subjects``) gets the stream ``SEMON`` (``semon.>``, ``se.>``,
   3 replicas, file storage); RabbitMQ (``bench.rabbit_cluster``) gets a consistent-hash
   exchange bound to ``amq.topic`` and K quorum queues (single active consumer) bound to it;
   ``start_s`` is the time from nothing to ready;
2. P paho-mqtt publishers (processes of their own with C connections each, MQTT 3.1.1, spread
   over the three nodes' MQTT ports) send N QoS 1 messages of ~200 bytes for D devices ``E000000``.., each device
   from one publisher, with a per-device sequence number and the time of publishing; every
   tenth message of a device goes to ``se/elevator/{id}/event``, the others to
   ``.../telemetry``. ``publish_rate``: messages the brokers acknowledged (PUBACK) per second;
3. meanwhile one consumer takes them with explicit acks and a bounded number unacknowledged
   (NATS: a durable pull consumer, ``max_ack_pending`` 1000, batches of up to 500; RabbitMQ: one
   AMQP channel on node 1 consuming the K queues, prefetch 1000). ``consume_rate``: messages per
   second between its first and its last message; ``p50_ms``/``p99_ms``: publish-to-consume
   latency; ``lost``, ``duplicated``, ``order_violations`` (a device's sequence number lower than
   one already received from it; ``order_violations_per_topic``: the same per device and
   topic); ``cpu_s``: CPU seconds of the engine's nodes, the consumer and the publishers;
   ``partitioned_by_device``: whether every device's telemetry
   and events arrived from one partition (NATS: the partition token of the mapped subject;
   RabbitMQ: the queue); NATS also gives ``mqtt_msgs_stream_last_seq`` (what its MQTT listener
   stored in its own stream besides), RabbitMQ ``amqp_message_from_mqtt`` (the routing key,
   headers and ids the MQTT plugin gives a message: what a hash could be keyed on);
4. unless ``--no-features``: MQTT features probed across nodes (``mqtt_features``): a retained
   message, a Last Will, a persistent session resumed on another node.

Progress goes to stderr; stdout gets one JSON line: ``{"messages", "devices", "publishers",
"connections", "partitions", "payload_bytes", "cpus", "engines": {"nats": {...}, "rabbitmq":
{...}}}``, each engine's with ``loadavg_1m_at_start``, the machine's load when its run began.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from semon.cluster.subjects import ROOT, partition_of
from semon.stack.nats import NatsCluster
from semon.stack.process import StackError

log = logging.getLogger("bench.engines")

# The stream the comparison reads on NATS: the mapped subjects, captured. Cluster mode itself
# reads the MQTT listener's own $MQTT_msgs (docs/scale.md), which nats-server writes before the
# PUBACK: the same path to the consumer.
STREAM = "BENCH"
STREAM_SUBJECTS = (f"{ROOT}.>", "se.>")

NODES = 3
EVENT_EVERY = 10  # every tenth message of a device is an event
WINDOW = 500  # unacknowledged QoS 1 messages per publisher (paho rescans its queue per PUBACK)
ACK_PENDING = 1000  # the consumer's bound on unacknowledged messages
PAYLOAD_BYTES = 200
HASH_EXCHANGE = "semon.partitions"


def device_id(index: int) -> str:
    return f"E{index:06d}"


def _payload(device: str, seq: int, kind: str) -> bytes:
    head = (f'{{"device":"{device}","seq":{seq},"ts":{time.time():.6f},"kind":"{kind}","running":true,'
            f'"direction":"up","floor":12,"door_locked":true,"speed_mps":1.75,"trips":123456,"x":"')
    return (head + "x" * max(0, PAYLOAD_BYTES - len(head) - 2) + '"}').encode()


def _topic(device: str, seq: int) -> tuple[str, str]:
    kind = "event" if seq % EVENT_EVERY == EVENT_EVERY - 1 else "telemetry"
    return f"se/elevator/{device}/{kind}", kind


def _connect(client: mqtt.Client, port: int, timeout: float) -> None:
    """Connect and wait for CONNACK, retrying while the broker refuses (a NATS node answers MQTT
    only once JetStream has a leader for the MQTT streams); StackError after ``timeout`` s."""
    connected = threading.Event()
    failed: list[object] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            failed.append(reason)
        else:
            connected.set()

    client.on_connect = on_connect
    deadline = time.monotonic() + timeout
    while True:
        failed.clear()
        try:
            client.connect("127.0.0.1", port, keepalive=30)
            client.loop_start()
            for _ in range(50):
                if connected.wait(0.1) or failed:
                    break
        except OSError:
            pass
        if connected.is_set():
            return
        client.loop_stop()
        with contextlib.suppress(Exception):
            client.disconnect()
        if time.monotonic() > deadline:
            raise StackError(f"MQTT port {port}: no CONNACK within {timeout:.0f}s ({failed})")
        time.sleep(0.5)


def _publisher(index: int, port: int, connections: int, devices: list[str], counts: list[int], ready: Any,
               go: MpEvent, results: Any) -> None:
    """One publisher process with ``connections`` MQTT clients (device j on client j mod
    ``connections``): its devices' messages, round-robin over the devices, QoS 1, at most WINDOW
    unacknowledged in the process; puts ``(index, acked, t_first, t_last_ack, cpu_s)`` on
    ``results``."""
    window = max(50, WINDOW // connections)
    clients, slots = [], []
    total = sum(counts)
    acked = [0]
    done = threading.Event()
    lock = threading.Lock()

    def on_publish(_c: mqtt.Client, slot: threading.Semaphore, *_args: object) -> None:
        slot.release()
        with lock:
            acked[0] += 1
            if acked[0] >= total:
                done.set()

    try:
        for k in range(connections):
            slot = threading.Semaphore(window)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{index}-{k}",
                                 protocol=mqtt.MQTTv311, clean_session=True, userdata=slot)
            client.max_inflight_messages_set(window)
            client.max_queued_messages_set(0)
            client.on_publish = on_publish
            _connect(client, port, 90)
            clients.append(client)
            slots.append(slot)
    except StackError as exc:
        ready.put((index, str(exc)))
        return
    ready.put((index, None))
    go.wait()
    t0, cpu0 = time.time(), time.process_time()
    deadline = time.monotonic() + 600
    for seq in range(max(counts, default=0)):
        for j, (device, count) in enumerate(zip(devices, counts, strict=True)):
            if seq >= count:
                continue
            k = j % connections
            if not slots[k].acquire(timeout=max(0.0, deadline - time.monotonic())):
                break
            topic, kind = _topic(device, seq)
            clients[k].publish(topic, _payload(device, seq, kind), qos=1)
    done.wait(max(0.0, deadline - time.monotonic()))
    t1 = time.time()
    results.put((index, acked[0], t0, t1, time.process_time() - cpu0))
    for client in clients:
        client.disconnect()
        client.loop_stop()


@dataclass(slots=True)
class Tally:
    """What the consumer received: per device the sequence numbers, the partitions they came
    from, and the latencies (seconds)."""

    expected: int
    seen: set[tuple[str, int]] = field(default_factory=set)
    last_seq: dict[str, int] = field(default_factory=dict)
    last_seq_topic: dict[tuple[str, str], int] = field(default_factory=dict)
    partitions: dict[str, set[str]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    received: int = 0
    duplicated: int = 0
    order_violations: int = 0
    order_violations_per_topic: int = 0
    first_rx: float = 0.0
    last_rx: float = 0.0
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, body: bytes, partition: str) -> None:
        now = time.time()
        msg = json.loads(body)
        device, seq, kind = msg["device"], msg["seq"], msg["kind"]
        self.received += 1
        if not self.first_rx:
            self.first_rx = now
        self.last_rx = now
        self.partitions.setdefault(device, set()).add(partition)
        if (device, seq) in self.seen:
            self.duplicated += 1
            return
        self.seen.add((device, seq))
        self.latencies.append(now - msg["ts"])
        if seq < self.last_seq.get(device, -1):
            self.order_violations += 1
        self.last_seq[device] = max(seq, self.last_seq.get(device, -1))
        if seq < self.last_seq_topic.get((device, kind), -1):
            self.order_violations_per_topic += 1
        self.last_seq_topic[device, kind] = max(seq, self.last_seq_topic.get((device, kind), -1))
        if len(self.seen) >= self.expected:
            self.complete.set()

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies)
        span = self.last_rx - self.first_rx
        return {
            "received": self.received,
            "consume_rate": round(self.received / span) if span > 0 else 0,
            "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "lost": self.expected - len(self.seen),
            "duplicated": self.duplicated,
            "order_violations": self.order_violations,
            "order_violations_per_topic": self.order_violations_per_topic,
        }


async def _wait_quiet(tally: Tally, idle_s: float) -> None:
    """Until everything arrived, or nothing more arrived for ``idle_s`` (then the rest is lost),
    and a further second for late duplicates."""
    last = -1
    while not tally.complete.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(idle_s):
                await tally.complete.wait()
        if tally.received == last:
            break
        last = tally.received
    await asyncio.sleep(1.0)


def cpu_seconds(pids: list[int | None]) -> float:
    """User and system CPU seconds of the processes ``pids`` and of their children (a RabbitMQ
    node's Erlang VM runs under its start script)."""
    total = 0.0
    for pid in pids:
        if pid is None:
            continue
        with contextlib.suppress(psutil.Error):
            top = psutil.Process(pid)
            for proc in [top, *top.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
    return total


async def publish(ports: list[int], messages: int, devices: int, publishers: int, connections: int,
                  consume: Callable[[], Coroutine[Any, Any, None]], engine_pids: list[int | None]) -> dict[str, object]:
    """Run the publishers (processes of ``connections`` clients each, publisher i on
    ``ports[i % len(ports)]``) while
    ``consume`` runs; returns ``{"published", "publish_rate", "cpu_s"}`` once both are done,
    ``cpu_s`` the CPU seconds they took: the engine's nodes (``engine_pids``), the consumer (this
    process) and the publishers."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    ids = [device_id(d) for d in range(devices)]
    counts = [messages // devices + (1 if d < messages % devices else 0) for d in range(devices)]
    procs = [ctx.Process(target=_publisher, daemon=True,
                         args=(i, ports[i % len(ports)], connections, ids[i::publishers], counts[i::publishers],
                               ready, go, results))
             for i in range(publishers)]
    loop = asyncio.get_running_loop()
    engine_cpu0, consumer_cpu0 = cpu_seconds(engine_pids), time.process_time()
    consumer = asyncio.create_task(consume())
    try:
        for p in procs:
            p.start()
        for _ in procs:
            index, error = await loop.run_in_executor(None, ready.get, True, 120)
            if error:
                raise StackError(f"publisher {index}: {error}")
        log.info("%d publishers connected; publishing %d messages", publishers, messages)
        go.set()
        done = [await loop.run_in_executor(None, results.get, True, 660) for _ in procs]
        acked = sum(d[1] for d in done)
        span = max(d[3] for d in done) - min(d[2] for d in done)
        log.info("published: %d acknowledged in %.1fs", acked, span)
        await consumer
        cpu = {"engine": round(cpu_seconds(engine_pids) - engine_cpu0, 1),
               "consumer": round(time.process_time() - consumer_cpu0, 1),
               "publishers": round(sum(d[4] for d in done), 1)}
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
    return {"published": acked, "publish_rate": round(acked / span) if span > 0 else 0, "cpu_s": cpu}


# --- MQTT features, probed across the nodes -------------------------------------------------

def _client(cid: str, *, clean: bool = True) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311, clean_session=clean)


def _subscriber(port: int, cid: str, topic: str, got: list[mqtt.MQTTMessage], *, clean: bool = True) -> mqtt.Client:
    c = _client(cid, clean=clean)
    arrived = threading.Event()
    c.on_message = lambda _c, _u, m: got.append(m)
    c.on_subscribe = lambda *_a: arrived.set()
    _connect(c, port, 30)
    c.subscribe(topic, qos=1)
    arrived.wait(10)
    return c


def _wait_for(got: list[mqtt.MQTTMessage], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(got)


def _close(*clients: mqtt.Client) -> None:
    for c in clients:
        with contextlib.suppress(Exception):
            c.disconnect()
        c.loop_stop()


def _publish_one(port: int, cid: str, topic: str, payload: bytes, *, retain: bool = False) -> None:
    c = _client(cid)
    _connect(c, port, 30)
    c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    _close(c)


def mqtt_features(ports: list[int]) -> dict[str, bool]:
    """Which MQTT features work across the nodes, on topics under ``probe/`` (NATS maps the
    ``se.>`` subjects into the partitions, where an MQTT subscription to ``se/...`` no longer
    sees them): a retained message published on node 1, read by a new subscriber on node 2 and
    on node 1; the Last Will of a client on node 1 whose socket dies, seen by a subscriber on
    node 2; a persistent session (clean_session false) subscribed on node 1, a message published
    on node 2 while it is away, the session resumed on node 3 with that message."""
    a, b, c = ports[0], ports[1 % len(ports)], ports[2 % len(ports)]
    found: dict[str, bool] = {}
    _publish_one(a, "probe-ret-pub", "probe/P000001/status", b"retained", retain=True)
    time.sleep(0.5)
    got: list[mqtt.MQTTMessage] = []
    sub = _subscriber(b, "probe-ret-sub", "probe/P000001/status", got)
    found["retained_across_nodes"] = _wait_for(got, 5) and bool(got[0].retain)
    _close(sub)
    got = []
    sub = _subscriber(a, "probe-ret-sub-1", "probe/P000001/status", got)
    found["retained_same_node"] = _wait_for(got, 5) and bool(got[0].retain)
    _close(sub)

    got = []
    sub = _subscriber(b, "probe-will-sub", "probe/P000002/status", got)
    dying = _client("probe-will")
    dying.will_set("probe/P000002/status", b"offline", qos=1)
    _connect(dying, a, 30)
    sock = dying.socket()
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker must publish the will
    dying.loop_stop()
    found["last_will_across_nodes"] = _wait_for(got, 10)
    _close(sub)

    got = []
    session = _subscriber(a, "probe-session", "probe/P000003/#", got, clean=False)
    _close(session)
    time.sleep(0.5)
    _publish_one(b, "probe-sess-pub", "probe/P000003/event", b"while away")
    resumed = _client("probe-session", clean=False)
    resumed.on_message = lambda _c, _u, m: got.append(m)
    _connect(resumed, c, 30)
    found["session_resumed_on_other_node"] = _wait_for(got, 10)
    _close(resumed)
    return found


# --- the engines --------------------------------------------------------------------------

async def run_nats(root: Path, messages: int, devices: int, publishers: int, connections: int, partitions: int,
                   features: bool) -> dict[str, object]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

    async def quiet(*_args: object) -> None:  # nats-py's default callbacks print whole tracebacks
        return None

    t0 = time.perf_counter()
    async with NatsCluster(root, NODES, partitions=partitions) as cluster:
        nc = await nats.connect(servers=cluster.nats_urls(), error_cb=quiet, disconnected_cb=quiet,
                                reconnected_cb=quiet, max_reconnect_attempts=-1)
        try:
            js = nc.jetstream(timeout=10)
            async with asyncio.timeout(90):
                while True:
                    try:
                        await js.add_stream(StreamConfig(name=STREAM, subjects=list(STREAM_SUBJECTS),
                                                         num_replicas=NODES, storage=StorageType.FILE))
                        break
                    except Exception as exc:  # no JetStream leader yet: the cluster is still forming
                        log.debug("stream not created yet: %s", exc)
                        await asyncio.sleep(0.5)
            start_s = time.perf_counter() - t0
            log.info("NATS: 3 nodes and the stream ready in %.1fs", start_s)
            sub = await js.pull_subscribe(f"{ROOT}.>", durable="bench", stream=STREAM,
                                          config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT,
                                                                max_ack_pending=ACK_PENDING, ack_wait=30))
            tally = Tally(messages)

            async def consume() -> None:
                async def take() -> None:
                    while True:
                        batch = max(1, min(500, tally.expected - len(tally.seen)))
                        try:
                            msgs = await sub.fetch(batch, timeout=0.1)  # a full batch is waited for
                        except TimeoutError:
                            continue
                        for m in msgs:
                            # semon.fr.{p}.elevator.{id}.telemetry / semon.ev.{p}.elevator.{id}
                            tally.record(m.data, m.subject.split(".")[2])
                            await m.ack()
                taker = asyncio.create_task(take())
                try:
                    await _wait_quiet(tally, 30)
                finally:
                    taker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await taker

            mqtt_ports = [n.ports.mqtt for n in cluster.nodes]
            pub = await publish(mqtt_ports, messages, devices, publishers, connections, consume,
                                [n.pid for n in cluster.nodes])
            own = all(parts == {str(partition_of(d, partitions))} for d, parts in tally.partitions.items())
            # The listener stores every QoS 1 PUBLISH in its own stream as well, before its PUBACK.
            mqtt_msgs = (await js.stream_info("$MQTT_msgs")).state.last_seq
            result: dict[str, object] = {"start_s": round(start_s, 1), **pub, **tally.summary(),
                                         "partitioned_by_device": bool(tally.partitions) and own,
                                         "mqtt_msgs_stream_last_seq": mqtt_msgs}
            if features:
                result["mqtt_features"] = await asyncio.get_running_loop().run_in_executor(
                    None, mqtt_features, mqtt_ports)
            return result
        finally:
            await nc.close()


async def run_rabbitmq(root: Path, messages: int, devices: int, publishers: int, connections: int,
                       partitions: int, features: bool) -> dict[str, object]:
    import aio_pika
    from aio_pika.abc import AbstractIncomingMessage

    from bench.rabbit_cluster import RabbitCluster

    t0 = time.perf_counter()
    async with RabbitCluster(root, NODES) as cluster:
        connection = await aio_pika.connect(cluster.amqp_url(0))
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=ACK_PENDING)
            # MQTT publishes to amq.topic with the routing key se.elevator.{id}.{channel}; the
            # consistent-hash exchange behind it hashes that whole routing key (or a header or
            # property, which the MQTT plugin does not set to the device id).
            hashed = await channel.declare_exchange(HASH_EXCHANGE, "x-consistent-hash", durable=True)
            await hashed.bind(await channel.get_exchange("amq.topic"), routing_key="se.#")
            queues = []
            for p in range(partitions):
                q = await channel.declare_queue(f"semon.p{p}", durable=True, arguments={
                    "x-queue-type": "quorum", "x-single-active-consumer": True,
                    "x-queue-leader-locator": "balanced"})
                await q.bind(hashed, routing_key="1")  # equal weight per queue
                queues.append(q)
            start_s = time.perf_counter() - t0
            log.info("RabbitMQ: 3 nodes and %d quorum queues ready in %.1fs", partitions, start_s)
            tally = Tally(messages)
            shown: dict[str, object] = {}

            async def consume() -> None:
                tags = []
                for q in queues:
                    async def on_message(message: AbstractIncomingMessage, name: str = q.name) -> None:
                        if not shown:  # what a hash could be keyed on, as the MQTT plugin sets it
                            shown.update(routing_key=message.routing_key, headers=sorted(message.headers),
                                         message_id=message.message_id, correlation_id=message.correlation_id)
                        tally.record(message.body, name)
                        await message.ack()
                    tags.append((q, await q.consume(on_message, no_ack=False)))
                try:
                    await _wait_quiet(tally, 30)
                finally:
                    for q, tag in tags:
                        with contextlib.suppress(Exception):
                            await q.cancel(tag)

            mqtt_ports = cluster.mqtt_ports()
            pub = await publish(mqtt_ports, messages, devices, publishers, connections, consume,
                                cluster.pids())
            result: dict[str, object] = {
                "start_s": round(start_s, 1), **pub, **tally.summary(),
                "partitioned_by_device": bool(tally.partitions) and all(
                    len(parts) == 1 for parts in tally.partitions.values()),
                "amqp_message_from_mqtt": shown,
            }
            if features:
                result["mqtt_features"] = await asyncio.get_running_loop().run_in_executor(
                    None, mqtt_features, mqtt_ports)
            return result
        finally:
            await connection.close()


ENGINES = {"nats": run_nats, "rabbitmq": run_rabbitmq}


async def run(engines: list[str], messages: int, devices: int, publishers: int, connections: int,
              partitions: int, features: bool) -> dict[str, object]:
    out: dict[str, object] = {"messages": messages, "devices": devices, "publishers": publishers,
                              "connections": publishers * connections,
                              "partitions": partitions, "payload_bytes": len(_payload(device_id(0), 0, "telemetry")),
                              "cpus": os.cpu_count()}
    results: dict[str, object] = {}
    for name in engines:
        root = Path(tempfile.mkdtemp(prefix=f"engines-{name}-", dir="/tmp"))
        try:
            log.info("%s: starting a %d-node cluster in %s", name, NODES, root)
            load = os.getloadavg()[0]  # the machine's load from others, when the run starts
            result = await ENGINES[name](root, messages, devices, publishers, connections, partitions, features)
            result["loadavg_1m_at_start"] = round(load, 2)
            results[name] = result
            log.info("%s: %s", name, json.dumps(results[name]))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    out["engines"] = results
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--publishers", type=int, default=6, help="MQTT publisher processes, spread over the nodes")
    parser.add_argument("--connections", type=int, default=1, help="MQTT connections per publisher process")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--engine", choices=["nats", "rabbitmq", "both"], default="both")
    parser.add_argument("--no-features", dest="features", action="store_false",
                        help="skip the probe of retained messages, Last Will and sessions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("aio_pika", "aiormq", "semon.stack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    engines = ["nats", "rabbitmq"] if args.engine == "both" else [args.engine]
    result = asyncio.run(run(engines, args.messages, args.devices, args.publishers, args.connections,
                             args.partitions, args.features))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
