"""A running simulation: devices (a scenario, a city fleet, or both), one MQTT link each, the
fleet loop, and the city's occasional faults. ``semon simulate`` and ``semon up`` run this."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from semon.alarm_types import AlarmType
from semon.mqtt.client import BrokerAddress, TlsSettings
from simulators.city import CityDevice, CityFaults, city_fleet
from simulators.core import Cause, Periods, SimDevice
from simulators.fleet import Fleet, SimClock
from simulators.link import DeviceLink, close_all, open_all
from simulators.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    elevators: int = 0
    boilers: int = 0
    scenario: Path | None = None
    seed: int | None = None  # None: the scenario's own seed, and 1 for the city
    speed: float = 1.0  # simulation seconds per wall second
    duration: float | None = None  # simulation seconds; None: the scenario's, else for ever
    fault_interval_s: float = 0.0  # mean time between random city faults; 0: none
    periods: Periods = field(default_factory=Periods)
    origin_ms: int | None = None  # epoch ms of simulation time 0; None: chosen from the clock
    keepalive: int = 60


@dataclass(slots=True)
class SimulationReport:
    devices: int
    frames: int
    events: int
    acked: int
    resent: int
    dropped: int
    causes: list[Cause]
    expected: set[tuple[str, AlarmType]]
    seconds: float

    def as_dict(self) -> dict[str, object]:
        caused = {(c.device_id, c.alarm) for c in self.causes}
        return {
            "devices": self.devices, "frames": self.frames, "events": self.events, "acked": self.acked,
            "resent": self.resent, "dropped": self.dropped, "seconds": round(self.seconds, 1),
            "alarms": sorted(f"{d} {a}" for d, a in caused),
            "expected_alarms_match": caused == self.expected if self.expected else None,
        }


def choose_origin_ms(speed: float, duration: float | None) -> int:
    """Time 0 such that a compressed run's timestamps end at the wall clock, never ahead of it:
    the backend rejects timestamps from the future."""
    now_ms = int(time.time() * 1000)
    if speed <= 1 or duration is None:
        return now_ms
    return now_ms - int(duration * 1000 * (1 - 1 / speed))


class Simulation:
    """The devices of ``options`` on ``mqtt_url`` (``mqtt://`` or ``mqtts://``, credentials
    percent-decoded). ``tls`` gives the CA file, and the optional client certificate and key,
    for an ``mqtts://`` broker (``MqttSettings`` has them: ``SEMON_MQTT_CA_FILE`` and so on); without
    it the system's trust store verifies the broker. Raises ValueError for a bad URL and
    ScenarioError for a bad scenario file."""

    def __init__(self, mqtt_url: str, options: SimulationOptions, *, tls: TlsSettings | None = None) -> None:
        self.address = (BrokerAddress.from_settings(mqtt_url, tls) if tls is not None
                        else BrokerAddress.from_url(mqtt_url))
        self.options = options
        self.scenario: Scenario | None = load_scenario(options.scenario) if options.scenario else None
        duration = options.duration
        if duration is None and self.scenario is not None:
            duration = self.scenario.duration
        self.duration = duration
        if options.origin_ms is not None:
            self.origin_ms = options.origin_ms
        else:
            self.origin_ms = choose_origin_ms(options.speed, duration)
        city_seed = options.seed if options.seed is not None else 1
        self.city: list[CityDevice] = city_fleet(options.elevators, options.boilers, seed=city_seed)
        self.devices: list[SimDevice] = [
            d.build(origin_ms=self.origin_ms, seed=city_seed, periods=options.periods) for d in self.city
        ]
        if self.scenario is not None:
            self.devices += self.scenario.build(self.origin_ms, seed=options.seed)
        self.links = {
            d.device_id: DeviceLink(self.address, d.kind, d.device_id, keepalive=options.keepalive)
            for d in self.devices
        }
        self.fleet: Fleet | None = None
        self.connected = asyncio.Event()

    async def run(self) -> SimulationReport:
        """Connect every device, run to the end (or until cancelled), disconnect in order."""
        started = time.monotonic()
        links = list(self.links.values())
        try:
            await self._open(links)
            log.info("simulation: %d devices connected in %.1f s", len(links), time.monotonic() - started)
            self.fleet = Fleet(self.devices, self.links, SimClock(self.options.speed))
            self.connected.set()
            async with asyncio.TaskGroup() as tg:
                if self.options.fault_interval_s > 0 and self.city:
                    faults = CityFaults(self.fleet, self.city, interval_s=self.options.fault_interval_s,
                                        seed=self.options.seed or 1)
                    city_task = tg.create_task(faults.run(), name="city-faults")
                await self.fleet.run(self.duration if self.duration is not None else float("inf"))
                if self.options.fault_interval_s > 0 and self.city:
                    city_task.cancel()
        finally:
            # Orderly: every link sends what it holds, then ``offline``, then DISCONNECT.
            await asyncio.shield(close_all(links))
        return self.report(time.monotonic() - started)

    async def _open(self, links: list[DeviceLink]) -> None:
        """Connect every device; each retries by itself, so say so while the broker is away."""
        opening = asyncio.create_task(open_all(links), name="connect-devices")
        try:
            while not (await asyncio.wait({opening}, timeout=10))[0]:
                waiting = sum(not link.connected for link in links)
                log.warning("simulation: %d of %d devices still connecting to %s:%d", waiting, len(links),
                            self.address.host, self.address.port)
        finally:
            opening.cancel()
        opening.result()

    def report(self, seconds: float) -> SimulationReport:
        stats = self.fleet.stats if self.fleet is not None else None
        links = self.links.values()
        return SimulationReport(
            devices=len(self.devices),
            frames=stats.frames if stats else 0,
            events=stats.events if stats else 0,
            acked=sum(link.acked for link in links),
            resent=sum(link.resent for link in links),
            dropped=sum(link.dropped for link in links),
            causes=list(stats.causes) if stats else [],
            expected=self.scenario.expected() if self.scenario is not None else set(),
            seconds=seconds,
        )
