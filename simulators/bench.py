"""``semon bench fleet``: a city fleet on its own broker, each device with its own connection,
at the device contract's rates; does the simulator keep up on this machine?

``configured_rate`` is what the devices' schedules produced (frames per second of simulation,
run in real time); ``achieved_rate`` is what the broker acknowledged within the same window.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from semon.mqtt.client import BrokerAddress
from semon.stack import MosquittoServer
from simulators.city import city_fleet
from simulators.fleet import Fleet, SimClock
from simulators.link import DeviceLink, close_all, open_all


@dataclass(frozen=True, slots=True)
class FleetBenchOptions:
    devices: int = 5000
    duration: float = 60.0
    boiler_share: float = 0.1
    hour: int = 8  # local hour the run starts at: traffic follows the time of day
    seed: int = 1


def _origin_at_local_hour(hour: int, utc_offset_h: int = 8) -> int:
    local = datetime.now(UTC) + timedelta(hours=utc_offset_h)
    start = local.replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(hours=utc_offset_h)
    return int(start.timestamp() * 1000)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def run_fleet_bench(options: FleetBenchOptions) -> dict[str, object]:
    boilers = round(options.devices * options.boiler_share)
    city = city_fleet(options.devices - boilers, boilers, seed=options.seed)
    origin_ms = _origin_at_local_hour(options.hour)
    devices = [d.build(origin_ms=origin_ms, seed=options.seed) for d in city]
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
            cpu0, wall0 = time.process_time(), time.monotonic()
            acked0 = sum(link.acked for link in links.values())
            await fleet.run(options.duration)
            wall = time.monotonic() - wall0
            cpu = time.process_time() - cpu0
            acked = sum(link.acked for link in links.values()) - acked0
            rss = _rss_mb()
            await close_all(links.values())
            lost = fleet.stats.frames - (sum(link.acked for link in links.values()) - acked0)
        finally:
            await broker.stop()
    stats = fleet.stats
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
        "rss_mb": round(rss, 1),
    }
    print(f"{options.devices} devices for {options.duration:.0f} s: {stats.frames} frames, "
          f"{acked} acknowledged in the window", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return result

