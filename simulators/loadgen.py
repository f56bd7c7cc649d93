"""Benchmark load: elevator telemetry at a precisely paced offered rate, from several
publishing connections, cheap enough per message not to be the bottleneck.

:func:`run_load` runs in the caller's event loop; :func:`run_load_apart` runs it in a process of
its own (``python -m simulators.loadgen``), as the devices it stands for are not in the process
that watches the system.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from semon.mqtt.client import BrokerAddress
from semon.protocol.topics import Channel, Kind, topic_for
from semon.runner import configure_logging, run
from simulators.publisher import ReliablePublisher

_TICK_S = 0.005
_CHUNK = 1000  # a timed plan looks at the clock at least this often, in messages


@dataclass(frozen=True, slots=True)
class LoadPlan:
    rate: int  # messages per second, all connections together
    duration: float  # seconds
    connections: int
    devices: int
    device_prefix: str
    # True: publish for ``duration`` seconds at up to ``rate`` and stop there, however many that
    # comes to (a rate above what the broker takes: as fast as it takes them); False: the whole
    # plan, ``rate`` × ``duration`` messages, however long they take.
    timed: bool = False


@dataclass(frozen=True, slots=True)
class LoadResult:
    sent: int
    acked: int
    started: float  # wall clock (time.time()) of the first publish
    elapsed: float  # seconds spent publishing
    unacknowledged: int
    cpu_s: float  # this process's CPU time while publishing: the generator's own cost


def elevator_frame(seq: int, ts_ms: int, floor: int) -> bytes:
    return orjson.dumps({
        "ts": ts_ms, "seq": seq, "running": True, "direction": "up", "floor": floor,
        "door_locked": True, "door_zone": False, "passenger": True, "mode": "normal",
        "power": "main", "speed_mps": 1.6, "trip_count": 1000 + seq, "run_hours": 1234.5,
    })


def per_connection(plan: LoadPlan) -> int:
    """Messages each connection publishes."""
    return int(plan.rate / plan.connections * plan.duration)


def planned_total(plan: LoadPlan) -> int:
    """Messages the plan publishes, all connections together (known before the run: a consumer
    can be told how many to wait for)."""
    return per_connection(plan) * plan.connections


def device_id(prefix: str, index: int) -> str:
    return f"{prefix}{index:06d}"


async def _drive(publisher: ReliablePublisher, plan: LoadPlan, devices: list[int], t0: float) -> int:
    topics = [topic_for(Kind.ELEVATOR, device_id(plan.device_prefix, d), Channel.TELEMETRY).encode()
              for d in devices]
    seqs = [0] * len(devices)
    rate = plan.rate / plan.connections
    total = per_connection(plan)
    sent = 0
    i = 0
    loop = asyncio.get_running_loop()
    end = t0 + plan.duration if plan.timed else float("inf")
    while sent < total:
        now = loop.time()
        if now >= end:
            break
        due = min(total, int((now - t0) * rate) + 1)
        paced = due if not plan.timed else min(due, sent + _CHUNK)
        now_ms = int(time.time() * 1000)
        while sent < paced:
            k = i % len(devices)
            i += 1
            seqs[k] += 1
            await publisher.publish(topics[k], elevator_frame(seqs[k], now_ms, seqs[k] % 30))
            sent += 1
        await asyncio.sleep(_TICK_S if paced >= due else 0)
    return sent


SIGN_OFF = orjson.dumps({"state": "offline", "reason": "shutdown"})


async def sign_off(publisher: ReliablePublisher, devices: list[str], kind: Kind = Kind.ELEVATOR) -> None:
    """An orderly ``offline`` of each device (QoS 1, acknowledged by the broker): no alarm, and no
    silence judged for it afterwards."""
    for device in devices:
        await publisher.publish(topic_for(kind, device, Channel.STATUS).encode(), SIGN_OFF)
    await publisher.flush(timeout=120)


def _addresses(address: BrokerAddress | Sequence[BrokerAddress]) -> list[BrokerAddress]:
    addresses = [address] if isinstance(address, BrokerAddress) else list(address)
    if not addresses:
        raise ValueError("a load needs a broker to publish to")
    return addresses


async def run_load(address: BrokerAddress | Sequence[BrokerAddress], plan: LoadPlan, *,
                   signing_off: bool = True) -> LoadResult:
    """Publish the plan and wait until the broker has acknowledged every message; then, with
    ``signing_off``, an orderly ``offline`` of every device (not counted in the result).
    Several addresses (the nodes of a cluster): connection ``c`` publishes to ``address[c % n]``."""
    addresses = _addresses(address)
    publishers = [ReliablePublisher(addresses[c % len(addresses)], f"{plan.device_prefix}loadgen-{c}")
                  for c in range(plan.connections)]
    for p in publishers:
        await p.connect()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    cpu0 = time.process_time()
    started = time.time()
    device_sets = [list(range(c, plan.devices, plan.connections)) for c in range(plan.connections)]
    counts = await asyncio.gather(*(
        _drive(p, plan, devs, t0) for p, devs in zip(publishers, device_sets, strict=True)
    ))
    elapsed = loop.time() - t0
    cpu_s = time.process_time() - cpu0
    for p in publishers:
        await p.flush(timeout=120)
    result = LoadResult(sum(counts), sum(p.acked for p in publishers), started, elapsed,
                        sum(p.unacknowledged for p in publishers), cpu_s)
    if signing_off:
        # Each device then signs off as a device does at an orderly shutdown, so the system under
        # test (a running `semon up` among them) does not go on judging them: no `silent` alarm
        # for thousands of devices only a benchmark ever ran (docs/protocol.md, status).
        await asyncio.gather(*(sign_off(p, [device_id(plan.device_prefix, d) for d in devs])
                               for p, devs in zip(publishers, device_sets, strict=True)))
    for p in publishers:
        await p.close()
    return result


async def run_load_apart(address: BrokerAddress | Sequence[BrokerAddress], plan: LoadPlan, *,
                         signing_off: bool = True) -> LoadResult:
    """:func:`run_load` in a process of its own, so that a benchmark's probe in this process (an
    injecting device, a live-stream client) is never held up behind the generator's event loop:
    a timestamp the probe takes is the system's delay, not the benchmark's. The broker's address
    (its password included) and the plan go over the child's stdin, never its command line; the
    result comes back as one JSON line on its stdout, ``cpu_s`` being the child's own CPU time.
    Cancelled, the child is killed. Raises RuntimeError when the generator fails."""
    request = orjson.dumps({"addresses": [dataclasses.asdict(a) for a in _addresses(address)],
                            "plan": dataclasses.asdict(plan),
                            "signing_off": signing_off})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "simulators.loadgen",
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await proc.communicate(request)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = out.splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the load generator failed (exit status {proc.returncode}); its log is above")
    return LoadResult(**orjson.loads(lines[-1]))


def main() -> int:
    """The child of :func:`run_load_apart`: reads its request from stdin, prints its result."""
    configure_logging()
    request = orjson.loads(sys.stdin.buffer.read())
    addresses, plan = [BrokerAddress(**a) for a in request["addresses"]], LoadPlan(**request["plan"])
    result = run(lambda: run_load(addresses, plan, signing_off=bool(request["signing_off"])))
    if result is None:  # stopped by a signal
        return 1
    sys.stdout.buffer.write(orjson.dumps(dataclasses.asdict(result)) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
