"""What Mosquitto's persistence settings cost and what a ``kill -9`` of the broker loses.

``python -m bench.broker [--messages N] [--publishers P] [--settings NAME ...]``

For each persistence setting, on a fresh broker from the system's binary (the tuning of
deploy/mosquitto/mosquitto.conf otherwise):

1. a consumer (MQTT 5, persistent session, QoS 1, like the ingester) subscribes to ``se/#`` and
   goes away, so that everything published is queued for it: the backlog case, where each
   autosave rewrites the whole queue;
2. ``P`` paho-mqtt publishers send ``N`` QoS 1 messages of ~250 bytes as fast as the broker
   acknowledges them (the figure: acknowledged messages per second);
3. right after the last PUBACK (or ``--kill-after`` seconds later) the broker is killed with
   SIGKILL, started again on the same data directory, and the consumer counts what is still
   queued for it.

Prints one JSON line per setting: ``{"setting", "autosave_interval", "autosave_on_changes",
"messages", "mode": "backlog", "publish_msg_s", "kill_after_s", "acked", "recovered", "lost"}``.

``--through``: normal operation instead, the consumer connected and acknowledging while the
publishers send; ``{..., "mode": "through", "through_msg_s", "acked", "received"}`` (no kill).
``--drain``: the backlog is queued, then taken by mosquitto_sub; ``{..., "mode": "drain",
"publish_msg_s", "drain_msg_s", "acked", "received"}`` (no kill).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from semon.stack.process import StackError, find_binary, free_port


@dataclass(frozen=True, slots=True)
class PersistenceSetting:
    name: str
    autosave_interval: int
    autosave_on_changes: bool


SETTINGS = {
    s.name: s
    for s in (
        PersistenceSetting("every-60s", 60, False),
        PersistenceSetting("every-5s", 5, False),
        PersistenceSetting("every-1s", 1, False),
        PersistenceSetting("every-10000-changes", 10_000, True),
        PersistenceSetting("every-1000-changes", 1_000, True),
    )
}

_CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data}/
autosave_interval {interval}
autosave_on_changes {on_changes}
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 1000
set_tcp_nodelay true
log_dest file {data}/mosquitto.log
log_type error
log_type warning
{user_line}
"""

PAYLOAD = json.dumps({"ts": 1764460800000, "seq": 1, "running": True, "direction": "up", "floor": 12,
                      "door_locked": True, "door_zone": False, "passenger": True, "mode": "normal",
                      "power": "main", "speed_mps": 1.75, "trips": 123456, "hours": 9876.5,
                      "x_vendor": "x" * 40}).encode()


def _start(binary: str, conf: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"mosquitto exited with status {proc.returncode}")
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        try:
            probe.connect("127.0.0.1", port)
            probe.disconnect()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise StackError("mosquitto did not open its port")


def _consumer(port: int, on_message: threading.Event | None, counter: list[int]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-consumer", protocol=mqtt.MQTTv5)
    subscribed = threading.Event()

    def message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        counter[0] += 1
        if on_message is not None:
            on_message.set()

    client.on_message = message
    client.on_subscribe = lambda *_args: subscribed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    client.subscribe("se/#", qos=1)
    if not subscribed.wait(10):
        raise StackError("the consumer's SUBSCRIBE was not acknowledged")
    return client


def _publish(port: int, publishers: int, messages: int) -> tuple[int, float]:
    """Send ``messages`` QoS 1 messages; the count acknowledged and the seconds it took."""
    acked = [0]
    lock = threading.Lock()
    done = threading.Event()
    # At most this many unacknowledged per publisher: paho-mqtt rescans its whole outgoing queue
    # on every PUBACK, so handing it everything at once would measure paho, not the broker.
    window = 1000
    slots = [threading.Semaphore(window) for _ in range(publishers)]

    def on_publish(client: mqtt.Client, userdata: int, *_args: object) -> None:
        slots[userdata].release()
        with lock:
            acked[0] += 1
            if acked[0] >= messages:
                done.set()

    clients = []
    for p in range(publishers):
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{p}", protocol=mqtt.MQTTv5,
                        userdata=p)
        c.max_inflight_messages_set(window)
        c.on_publish = on_publish
        c.connect("127.0.0.1", port)
        c.loop_start()
        clients.append(c)
    t0 = time.perf_counter()
    deadline = time.monotonic() + 600
    for i in range(messages):
        p = i % publishers
        if not slots[p].acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
        clients[p].publish(f"se/elevator/BENCH{i % 1000:05d}/telemetry", PAYLOAD, qos=1)
    done.wait(max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.disconnect()
        c.loop_stop()
    return acked[0], elapsed


@dataclass(slots=True)
class _Broker:
    """A Mosquitto with one persistence setting, in a directory of its own."""

    binary: str
    conf: Path
    port: int
    proc: subprocess.Popen[bytes]

    def crash_and_restart(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = _start(self.binary, self.conf, self.port)


@contextlib.contextmanager
def _broker(setting: PersistenceSetting) -> Iterator[_Broker]:
    """Start the broker; on leaving, kill it and remove its directory."""
    binary = find_binary("mosquitto", "/usr/sbin/mosquitto")
    data = Path(tempfile.mkdtemp(prefix="semon-brokerbench-", dir="/var/tmp"))
    port = free_port()
    conf = data / "mosquitto.conf"
    conf.write_text(_CONFIG.format(port=port, data=data, interval=setting.autosave_interval,
                                   on_changes=str(setting.autosave_on_changes).lower(),
                                   user_line="user root" if os.geteuid() == 0 else ""))
    broker = _Broker(binary, conf, port, _start(binary, conf, port))
    try:
        yield broker
    finally:
        broker.proc.kill()
        broker.proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def measure_through(setting: PersistenceSetting, messages: int, publishers: int) -> dict[str, object]:
    """Normal operation: the consumer is connected and acknowledges as it receives, so little is
    queued; messages per second from the first publish to the last arrival at the consumer."""
    with _broker(setting) as broker:
        port = broker.port
        count = [0]
        arrived = threading.Event()
        consumer = _consumer(port, arrived, count)
        t0 = time.perf_counter()
        acked, _ = _publish(port, publishers, messages)
        while count[0] < acked and arrived.wait(5):
            arrived.clear()
        elapsed = time.perf_counter() - t0
        consumer.disconnect()
        consumer.loop_stop()
    return {"setting": setting.name, "autosave_interval": setting.autosave_interval,
            "autosave_on_changes": setting.autosave_on_changes, "messages": messages, "mode": "through",
            "through_msg_s": round(count[0] / elapsed), "acked": acked, "received": count[0]}


def measure_drain(setting: PersistenceSetting, messages: int, publishers: int) -> dict[str, object]:
    """The backlog case without a crash: once everything is queued, the consumer comes back as
    mosquitto_sub (a C client, so that the broker, not the consumer, sets the pace) and takes
    the whole backlog; messages per second of that drain."""
    with _broker(setting) as broker:
        port = broker.port
        consumer = _consumer(port, None, [0])
        consumer.disconnect()
        consumer.loop_stop()
        acked, elapsed = _publish(port, publishers, messages)
        t0 = time.perf_counter()
        drained = subprocess.run(
            [find_binary("mosquitto_sub", "/usr/bin/mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port),
             "-V", "5", "-c", "-x", "3600", "-i", "bench-consumer", "-q", "1", "-t", "se/#",
             "-C", str(acked), "-W", "600"],
            check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        drain_s = time.perf_counter() - t0
        received = drained.stdout.count(b"\n")
    return {"setting": setting.name, "autosave_interval": setting.autosave_interval,
            "autosave_on_changes": setting.autosave_on_changes, "messages": messages, "mode": "drain",
            "publish_msg_s": round(acked / elapsed), "drain_msg_s": round(received / drain_s), "acked": acked,
            "received": received}


def measure(setting: PersistenceSetting, messages: int, publishers: int, wait_s: float) -> dict[str, object]:
    with _broker(setting) as broker:
        port = broker.port
        count = [0]
        consumer = _consumer(port, None, count)
        consumer.disconnect()
        consumer.loop_stop()
        acked, elapsed = _publish(port, publishers, messages)
        time.sleep(wait_s)
        broker.crash_and_restart()  # after the last PUBACK, at once unless told to wait
        arrived = threading.Event()
        consumer = _consumer(port, arrived, count)
        while arrived.wait(3):  # until nothing more comes for 3 s
            arrived.clear()
        consumer.disconnect()
        consumer.loop_stop()
    return {"setting": setting.name, "autosave_interval": setting.autosave_interval,
            "autosave_on_changes": setting.autosave_on_changes, "messages": messages, "mode": "backlog",
            "publish_msg_s": round(acked / elapsed), "kill_after_s": wait_s, "acked": acked, "recovered": count[0],
            "lost": acked - count[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--kill-after", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long after the last PUBACK before the kill (default: none)")
    parser.add_argument("--through", action="store_true",
                        help="consumer connected while publishing (normal operation); no kill")
    parser.add_argument("--drain", action="store_true",
                        help="after queueing, time mosquitto_sub taking the whole backlog; no kill")
    parser.add_argument("--settings", nargs="*", choices=sorted(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args(argv)
    for name in args.settings:
        if args.through:
            result = measure_through(SETTINGS[name], args.messages, args.publishers)
        elif args.drain:
            result = measure_drain(SETTINGS[name], args.messages, args.publishers)
        else:
            result = measure(SETTINGS[name], args.messages, args.publishers, args.kill_after)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
