"""``semon bench fleet``: a city fleet, each device with its own connection, at the device
contract's rates. Two questions, one command:

- On a private broker (the default): does the simulator keep up on this machine?
  ``configured_rate`` is what the devices' schedules produced (frames per second of simulation,
  run in real time); ``achieved_rate`` is what the broker acknowledged within the same window.
- Against the running ``semon up`` (``--running``): how much memory do semon's processes take
  while that many devices are connected to it? The devices are spread over simulator processes,
  each within its file-descriptor limit (raised to the hard limit first); when the system's
  broker cannot take that many connections (its own limit, minus what it already holds), the
  devices connect to edge brokers bridged into it, so the system still sees every device.

Both print the simulator's own memory per simulated device (``sim_bytes_per_device``: resident
memory grown from before the devices were built to while they are connected and running).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psutil

from bench.procstats import ProcessWatch, Root, self_root
from semon.limits import raise_open_files_limit
from semon.mqtt.client import BrokerAddress
from semon.running import read_running
from semon.settings import Settings
from semon.stack import MosquittoServer, free_port
from semon.stack.process import find_binary, parent_death_prefix, wait_for_port, write_private
from simulators.city import CityDevice, city_fleet
from simulators.fleet import Fleet, SimClock
from simulators.link import DeviceLink, close_all, open_all

log = logging.getLogger(__name__)

# Descriptors a simulator process keeps for itself (event loop, stdio, logs) beside its devices'.
FD_RESERVE = 200
# Device serials (制造顺序号) of a fleet run against a running system start after this: the system's
# own simulated city numbers its devices from 1, and two connections under one client id would throw
# each other off. Room for 159,999 devices below semon.equipment_codes.MAX_SERIAL.
SERIAL_OFFSET = 200_000


@dataclass(frozen=True, slots=True)
class FleetBenchOptions:
    devices: int = 5000
    duration: float = 60.0
    boiler_share: float = 0.1
    hour: int = 8  # local hour the run starts at: traffic follows the time of day
    seed: int = 1
    running: bool = False  # against the running `semon up` instead of a private broker
    per_process: int = 0  # devices per simulator process (0: as many as the descriptor limit allows)
    edge_brokers: bool = False  # through edge brokers even if the system's broker could take them all


def _origin_at_local_hour(hour: int, utc_offset_h: int = 8) -> int:
    local = datetime.now(UTC) + timedelta(hours=utc_offset_h)
    start = local.replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(hours=utc_offset_h)
    return int(start.timestamp() * 1000)


def _rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


def fleet_devices(devices: int, boiler_share: float, seed: int, serial_offset: int = 0) -> list[CityDevice]:
    """The city's devices, their serials (制造顺序号, the code's last five characters) moved by
    ``serial_offset``."""
    boilers = round(devices * boiler_share)
    return city_fleet(devices - boilers, boilers, seed=seed, first_serial=serial_offset + 1)


def split(total: int, per_part: int) -> list[range]:
    """``range(total)`` cut into the fewest nearly equal parts of at most ``per_part``."""
    parts = max(1, math.ceil(total / max(1, per_part)))
    bounds = [total * i // parts for i in range(parts + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(parts)]


async def run_fleet_bench(options: FleetBenchOptions) -> dict[str, object]:
    """On a private broker, in this process."""
    raise_open_files_limit()
    rss0 = _rss_bytes()
    devices = [d.build(origin_ms=_origin_at_local_hour(options.hour), seed=options.seed)
               for d in fleet_devices(options.devices, options.boiler_share, options.seed)]
    watch = ProcessWatch([Root(os.getpid(), "bench")])
    with tempfile.TemporaryDirectory(prefix="semon-bench-fleet-", dir="/var/tmp") as tmp:
        broker = MosquittoServer(Path(tmp))
        await broker.start()
        try:
            address = BrokerAddress.from_url(broker.url)
            links = {d.device_id: DeviceLink(address, d.kind, d.device_id) for d in devices}
            t_connect = time.monotonic()
            await open_all(links.values())
            connect_s = time.monotonic() - t_connect
            fleet = Fleet(devices, links, SimClock(1.0), keep_lags=True)
            await asyncio.to_thread(watch.start)
            cpu0, wall0 = time.process_time(), time.monotonic()
            acked0 = sum(link.acked for link in links.values())
            await fleet.run(options.duration)
            wall = time.monotonic() - wall0
            cpu = time.process_time() - cpu0
            acked = sum(link.acked for link in links.values()) - acked0
            rss = _rss_bytes()
            processes = await asyncio.to_thread(watch.report)
            await close_all(links.values())
            lost = fleet.stats.frames - (sum(link.acked for link in links.values()) - acked0)
        finally:
            await broker.stop()
    stats = fleet.stats
    boilers = round(options.devices * options.boiler_share)
    result: dict[str, object] = {
        "devices": options.devices,
        "elevators": options.devices - boilers,
        "boilers": boilers,
        "connections": len(links),
        "connect_s": round(connect_s, 1),
        "duration_s": round(wall, 1),
        "configured_rate": round(stats.frames / options.duration, 1),
        "achieved_rate": round(acked / wall, 1),
        "frames": stats.frames,
        "events": stats.events,
        "not_acknowledged_after_close": lost,
        "lag_p50_ms": round(stats.lag_quantile(0.5) * 1000, 1),
        "lag_p99_ms": round(stats.lag_quantile(0.99) * 1000, 1),
        "lag_max_ms": round(max(stats.lags, default=0.0) * 1000, 1),
        "cpu_percent": round(cpu / wall * 100, 1),
        "rss_mb": round(rss / 2**20, 1),
        "sim_bytes_per_device": round((rss - rss0) / max(1, options.devices)),
        "processes": processes,
    }
    print(f"{options.devices} devices for {options.duration:.0f} s: {stats.frames} frames, "
          f"{acked} acknowledged in the window", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return result


# --- against the running system -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerRoom:
    """How many more connections the system's broker can take: its open-files limit less the
    descriptors it holds now and a reserve; ``None`` where its process is not ours to see."""

    pid: int | None
    nofile: int | None
    open_fds: int | None

    @property
    def free(self) -> int | None:
        if self.nofile is None or self.open_fds is None:
            return None
        return max(0, self.nofile - self.open_fds - FD_RESERVE)


def broker_room(root_pid: int) -> BrokerRoom:
    """The first ``mosquitto`` under ``root_pid`` (the private broker of ``semon up``)."""
    try:
        for proc in psutil.Process(root_pid).children(recursive=True):
            if proc.name() == "mosquitto":
                soft, _hard = proc.rlimit(psutil.RLIMIT_NOFILE)
                return BrokerRoom(proc.pid, soft, proc.num_fds())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    return BrokerRoom(None, None, None)


_EDGE_CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_inflight_messages 1000
{user_line}
log_dest file {data_dir}/mosquitto.log
log_type error
log_type warning
connection semon-bench-edge
address 127.0.0.1:{main_port}
remote_clientid {client_id}
remote_username {username}
remote_password {password}
bridge_protocol_version mqttv311
try_private false
notifications false
cleansession false
topic se/+/+/telemetry out 1
topic se/+/+/event out 1
topic se/+/+/status out 1
"""


@contextlib.asynccontextmanager
async def edge_broker(main_url: str, data_dir: Path) -> AsyncIterator[tuple[str, int]]:
    """A Mosquitto that forwards every device message (QoS 1, retained flags kept) to the
    system's broker, logged in there with the devices' account; yields (its URL, its pid)."""
    main = urlsplit(main_url)
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    port = free_port()
    conf = data_dir / "mosquitto.conf"
    write_private(conf, _EDGE_CONFIG.format(
        port=port, data_dir=data_dir, main_port=main.port, client_id=f"semon-bench-edge-{secrets.token_hex(4)}",
        username=unquote(main.username or ""), password=unquote(main.password or ""),
        user_line="user root" if os.geteuid() == 0 else ""))
    binary = find_binary("mosquitto", "/usr/sbin/mosquitto")
    proc = await asyncio.create_subprocess_exec(
        *parent_death_prefix(signal.SIGTERM), binary, "-c", str(conf),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_for_port(port, proc, 15, "mosquitto (edge)")
        yield f"mqtt://127.0.0.1:{port}", proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(15):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """What one simulator process runs: the fleet's devices ``start`` to ``stop``."""

    mqtt_url: str
    devices: int
    start: int
    stop: int
    boiler_share: float
    hour: int
    seed: int


async def run_worker(plan: WorkerPlan) -> dict[str, Any]:
    """One simulator process, told what to do on stdin, one word a line, answering on stdout:
    it connects its devices and says so; ``run`` starts them; ``measure`` reports what they did
    and this process's memory while they run; ``stop`` (or the end of stdin) closes them."""
    soft, _hard = raise_open_files_limit()
    if plan.stop - plan.start > soft - FD_RESERVE:
        raise RuntimeError(f"{plan.stop - plan.start} devices need more open files than this process's limit {soft}")
    city = fleet_devices(plan.devices, plan.boiler_share, plan.seed, SERIAL_OFFSET)[plan.start:plan.stop]
    gc.collect()  # the rest of the city's descriptions are not this process's devices
    rss0 = _rss_bytes()
    origin_ms = _origin_at_local_hour(plan.hour)
    devices = [d.build(origin_ms=origin_ms, seed=plan.seed) for d in city]
    address = BrokerAddress.from_url(plan.mqtt_url)
    links = {d.device_id: DeviceLink(address, d.kind, d.device_id) for d in devices}
    t0 = time.monotonic()
    await open_all(links.values())
    _say({"connected": len(links), "connect_s": round(time.monotonic() - t0, 1), "rss_before_bytes": rss0,
          "rss_connected_bytes": _rss_bytes()})
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    fleet = Fleet(devices, links, SimClock(1.0))
    running: asyncio.Task[None] | None = None
    cpu0 = wall0 = 0.0
    report: dict[str, Any] = {}
    while (word := (await reader.readline()).strip()) not in (b"stop", b""):
        if word == b"run" and running is None:
            cpu0, wall0 = time.process_time(), time.monotonic()
            running = asyncio.create_task(fleet.run(), name="bench-fleet")
        elif word == b"measure":
            report = {"devices": len(links), "frames": fleet.stats.frames,
                      "acked": sum(link.acked for link in links.values()),
                      "wall_s": round(time.monotonic() - wall0, 1), "cpu_s": round(time.process_time() - cpu0, 2),
                      "rss_bytes": _rss_bytes(), "connected_now": sum(1 for link in links.values() if link.connected)}
            _say(report)
    if running is not None:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    await close_all(links.values())
    return report


def _say(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


@dataclass(slots=True)
class _Worker:
    proc: asyncio.subprocess.Process
    devices: int

    async def line(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            raw = await self.proc.stdout.readline()
        if not raw:
            raise RuntimeError(f"simulator process {self.proc.pid} ended (exit {await self.proc.wait()})")
        data: dict[str, Any] = json.loads(raw)
        return data


async def _start_worker(plan: WorkerPlan) -> _Worker:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fleet", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "SEMON_LOG_LEVEL": "WARNING"})
    assert proc.stdin is not None
    # The plan on stdin: the broker URL holds the devices' password, never put on a command line.
    proc.stdin.write((json.dumps(dataclasses.asdict(plan)) + "\n").encode())
    await proc.stdin.drain()
    return _Worker(proc, plan.stop - plan.start)


async def _tell(workers: Sequence[_Worker], word: bytes) -> None:
    for w in workers:
        assert w.proc.stdin is not None
        w.proc.stdin.write(word + b"\n")
        await w.proc.stdin.drain()


def _service_rss(processes: dict[str, dict[str, float]]) -> dict[str, float]:
    """RSS (MB) of each of semon's own processes: the parts, or the one `semon up` before the split."""
    others = {"mosquitto", "postgres", "supervisord"}
    return {name: p["rss_mb"] for name, p in processes.items() if name not in others and not name.startswith("bench")}


async def run_fleet_against_running(settings: Settings, options: FleetBenchOptions) -> dict[str, Any]:
    running = read_running(settings)
    if running is None:
        raise RuntimeError("bench fleet --running: no `semon up` is running (start it first)")
    mqtt_url, pid = str(running["mqtt_url"]), int(str(running["pid"]))
    soft, hard = raise_open_files_limit()
    per_process = options.per_process or max(1, soft - FD_RESERVE)
    slices = split(options.devices, per_process)
    room = broker_room(pid)
    direct = not options.edge_brokers and (room.free is None or options.devices <= room.free)
    print(f"{options.devices} devices in {len(slices)} simulator process(es); the system's broker: open-files limit "
          f"{room.nofile}, {room.open_fds} open"
          + ("" if direct else f"; through {len(slices)} edge broker(s) bridged into it"),
          file=sys.stderr)
    watch = ProcessWatch([Root(pid, "semon-up"), self_root()])
    workers: list[_Worker] = []
    root = Path(tempfile.mkdtemp(prefix="semon-bench-fleet-", dir="/var/tmp"))
    try:
        async with contextlib.AsyncExitStack() as stack:
            urls = [mqtt_url] * len(slices)
            if not direct:
                for i in range(len(slices)):
                    url, edge_pid = await stack.enter_async_context(edge_broker(mqtt_url, root / f"edge-{i}"))
                    urls[i] = url
                    watch.names[edge_pid] = f"bench:edge-mosquitto-{i}"
            for i, (part, url) in enumerate(zip(slices, urls, strict=True)):
                worker = await _start_worker(WorkerPlan(url, options.devices, part.start, part.stop,
                                                        options.boiler_share, options.hour, options.seed))
                watch.names[worker.proc.pid] = f"bench:simulator-{i}"
                workers.append(worker)
            connected = [await w.line(600) for w in workers]
            print(f"{sum(c['connected'] for c in connected)} devices connected; running for "
                  f"{options.duration:.0f} s", file=sys.stderr)
            await _tell(workers, b"run")
            await asyncio.to_thread(watch.start)
            await asyncio.sleep(options.duration)
            await _tell(workers, b"measure")  # while every device is connected and running
            reports = [await w.line(120) for w in workers]
            processes = await asyncio.to_thread(watch.report)
            await _tell(workers, b"stop")
            for w in workers:
                await w.proc.wait()
    finally:
        for w in workers:
            if w.proc.returncode is None:
                w.proc.kill()
                await w.proc.wait()
        shutil.rmtree(root, ignore_errors=True)
    before = sum(c["rss_before_bytes"] for c in connected)
    grown_connected = sum(c["rss_connected_bytes"] for c in connected) - before
    grown = sum(r["rss_bytes"] for r in reports) - before
    wall = max(r["wall_s"] for r in reports)
    result: dict[str, Any] = {
        "devices": options.devices,
        "system": "running",
        "simulator_processes": len(workers),
        "edge_brokers": 0 if direct else len(slices),
        "connect_s": max(c["connect_s"] for c in connected),
        "connected_at_measure": sum(r["connected_now"] for r in reports),
        "duration_s": wall,
        "frames": sum(r["frames"] for r in reports),
        "achieved_rate": round(sum(r["acked"] for r in reports) / max(wall, 1e-9), 1),
        "sim_rss_mb": round(sum(r["rss_bytes"] for r in reports) / 2**20, 1),
        # From before the devices were built: once connected (idle), and while running (with
        # whatever their links hold that the broker has not acknowledged yet).
        "sim_bytes_per_device_connected": round(grown_connected / max(1, options.devices)),
        "sim_bytes_per_device": round(grown / max(1, options.devices)),
        "sim_cpu_percent": round(sum(r["cpu_s"] for r in reports) / max(wall, 1e-9) * 100, 1),
        "nofile_soft": soft,
        "nofile_hard": hard,
        "broker_nofile": room.nofile,
        "broker_open_fds_before": room.open_fds,
        "service_rss_mb": _service_rss(processes),
        "processes": processes,
    }
    print(json.dumps(result), flush=True)
    return result


def _worker_main(argv: Sequence[str]) -> int:
    """``python -m bench.fleet``: a simulator process of ``run_fleet_against_running``."""
    from semon.runner import configure_logging, run

    del argv
    configure_logging()
    plan = WorkerPlan(**json.loads(sys.stdin.readline()))
    run(lambda: run_worker(plan))
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
