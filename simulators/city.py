"""The simulated city: Xining's special equipment across its five districts and two counties
(五区两县), with occasional faults so that a demo shows live alarms within minutes.

``city_fleet`` is a pure function of its arguments, so the equipment register can generate
the same devices (registration code, district, address, position, rated values) as the
simulators run. A device stands inside its district's shipped outline, in its built-up core around
the district's seat (``semon.district_outlines.place``).
Each device's registration code is an 18-character 设备代码 (TSG 08-2017:
``semon.equipment_codes``); its district is an attribute of its own, as in the register.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from semon.district_outlines import place_in_district
from semon.districts import XINING, District
from semon.equipment_codes import BOILER_MANUFACTURERS, ELEVATOR_MANUFACTURERS, device_code
from semon.protocol.topics import Kind
from simulators import faults as f
from simulators.boiler import Boiler, BoilerSpec
from simulators.core import Periods, SimDevice
from simulators.elevator import Elevator, ElevatorSpec
from simulators.fleet import Fleet
from simulators.traffic import Building

log = logging.getLogger(__name__)


# Category codes (设备品种代码, 特种设备目录 2014) that open a 设备代码.
ELEVATOR_CATEGORY = "3110"  # 曳引驱动乘客电梯
STEAM_BOILER_CATEGORY = "1100"  # 承压蒸汽锅炉
HOT_WATER_BOILER_CATEGORY = "1200"  # 承压热水锅炉


@dataclass(frozen=True, slots=True)
class CityDevice:
    device_id: str  # the registration code (设备代码): category code, 制造单位代号, year, serial
    kind: Kind
    district: District
    address: str
    installed_year: int
    spec: ElevatorSpec | BoilerSpec
    location: tuple[float, float] | None = None  # (latitude, longitude), WGS84; None: a district without an outline

    def build(self, *, origin_ms: int, seed: int, periods: Periods | None = None) -> SimDevice:
        if isinstance(self.spec, ElevatorSpec):
            return Elevator(self.device_id, self.spec, origin_ms=origin_ms, seed=seed, periods=periods or Periods())
        return Boiler(self.device_id, self.spec, origin_ms=origin_ms, seed=seed, periods=periods or Periods())


_BUILDINGS = ((Building.RESIDENTIAL, 0.6), (Building.OFFICE, 0.2), (Building.MALL, 0.1), (Building.HOSPITAL, 0.1))


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _elevator_spec(rng: random.Random) -> ElevatorSpec:
    building = _pick(rng, _BUILDINGS)
    if building is Building.RESIDENTIAL:
        top, low, calls = rng.choice((6, 7, 11, 11, 18, 18, 26, 26, 33)), -1, rng.uniform(25, 60)
    elif building is Building.OFFICE:
        top, low, calls = rng.randint(10, 30), -2, rng.uniform(60, 120)
    elif building is Building.MALL:
        top, low, calls = rng.randint(4, 8), -2, rng.uniform(80, 150)
    else:
        top, low, calls = rng.randint(8, 20), -1, rng.uniform(80, 150)
    speed = 1.0 if top <= 11 else 1.75 if top <= 18 else 2.0 if top <= 26 else 2.5
    return ElevatorSpec(
        lowest_floor=low if rng.random() < 0.7 else 1,
        highest_floor=top,
        rated_speed_mps=speed,
        building=building,
        peak_calls_per_hour=round(calls, 1),
        reports_events=rng.random() < 0.85,
        detects_entrapment=rng.random() < 0.7,
        night_shutdown=building in (Building.OFFICE, Building.MALL) and rng.random() < 0.5,
        service_visits=True,
    )


def city_fleet(elevators: int, boilers: int, *, seed: int = 1, districts: tuple[District, ...] = XINING,
               first_serial: int = 1) -> list[CityDevice]:
    """``elevators`` elevators, then ``boilers`` boilers, drawn from ``seed``. Device ``n`` (from
    0) has the 制造顺序号 ``first_serial + n``, so the codes are unique; ValueError past
    ``semon.equipment_codes.MAX_SERIAL``."""
    rng = random.Random(f"city:{seed}")
    shares = [d.share for d in districts]
    devices: list[CityDevice] = []
    for n in range(elevators + boilers):
        district = rng.choices(districts, shares)[0]
        year = rng.randint(2005, 2025)
        address = f"西宁市{district.name}{rng.choice(district.streets)}{rng.randint(1, 280)}号"
        spec: ElevatorSpec | BoilerSpec
        if n < elevators:
            kind, category, spec = Kind.ELEVATOR, ELEVATOR_CATEGORY, _elevator_spec(rng)
            makers = ELEVATOR_MANUFACTURERS
        else:
            spec = BoilerSpec.draw(rng)
            kind, makers = Kind.BOILER, BOILER_MANUFACTURERS
            category = STEAM_BOILER_CATEGORY if spec.medium == "steam" else HOT_WATER_BOILER_CATEGORY
        device_id = device_code(category, makers[n % len(makers)], year, first_serial + n)
        # A generator of its own: placing a device never changes the draws of the devices after it.
        location = place_in_district(district.code, f"city:{seed}:{device_id}", centre=district.seat)
        devices.append(CityDevice(device_id, kind, district, address, year, spec, location))
    return devices


# --- occasional faults -------------------------------------------------------------------

FaultMaker = Callable[[random.Random, float, str], Any]

_RESCUE = (300.0, 1500.0)  # seconds until the maintenance unit has freed the passengers


def _release(rng: random.Random) -> float:
    return round(rng.uniform(*_RESCUE))


_ELEVATOR_FAULTS: tuple[tuple[FaultMaker, float], ...] = (
    (lambda r, at, d: f.EntrapmentBetweenFloors(at=at, device=d, do="entrapment_between_floors",
                                                passengers=r.randint(1, 4), release_after=_release(r)), 0.3),
    (lambda r, at, d: f.EntrapmentAtLanding(at=at, device=d, do="entrapment_at_landing",
                                            passengers=r.randint(1, 3), release_after=_release(r)), 0.1),
    (lambda r, at, d: f.AlarmButton(at=at, device=d, do="alarm_button"), 0.1),
    (lambda r, at, d: f.DoorOpenFault(at=at, device=d, do="door_open_fault", duration=r.uniform(20, 120)), 0.08),
    (lambda r, at, d: f.DoorCloseFault(at=at, device=d, do="door_close_fault", duration=r.uniform(60, 600)), 0.07),
    (lambda r, at, d: f.MainPowerLost(at=at, device=d, do="main_power_lost", duration=r.uniform(120, 1200)), 0.08),
    (lambda r, at, d: f.StoppedOutsideDoorZone(at=at, device=d, do="stopped_outside_door_zone",
                                               release_after=_release(r)), 0.07),
    (lambda r, at, d: f.Silent(at=at, device=d, do="silent", duration=r.uniform(120, 900)), 0.1),
    (lambda r, at, d: f.Disconnect(at=at, device=d, do="disconnect", duration=r.uniform(60, 600)), 0.1),
)

_BOILER_FAULTS: tuple[tuple[FaultMaker, float], ...] = (
    (lambda r, at, d: f.BoilerFault(at=at, device=d, do="flame_failure", release_after=r.uniform(300, 1800)), 0.4),
    (lambda r, at, d: f.BoilerFault(at=at, device=d, do="over_pressure", release_after=r.uniform(600, 1800)), 0.3),
    (lambda r, at, d: f.Disconnect(at=at, device=d, do="disconnect", duration=r.uniform(60, 600)), 0.3),
)


class CityFaults:
    """Injects a random fault into a random device every ``interval_s`` on average."""

    def __init__(self, fleet: Fleet, devices: list[CityDevice], *, interval_s: float, seed: int = 1,
                 first_within_s: float = 30.0) -> None:
        self.fleet = fleet
        self.devices = devices
        self.interval_s = interval_s
        self.first_within_s = first_within_s
        self.rng = random.Random(f"city-faults:{seed}")
        self.injected = 0

    def _next_fault(self, now: float) -> Any:
        device = self.rng.choice(self.devices)
        makers = _ELEVATOR_FAULTS if device.kind is Kind.ELEVATOR else _BOILER_FAULTS
        maker: FaultMaker = _pick(self.rng, makers)
        fault = maker(self.rng, now + 1.0, device.device_id)
        if isinstance(fault, f.PlannedFault):  # the car is steered into place first: give it the time
            fault = fault.model_copy(update={"at": now + fault.prepare + 1.0})
        return fault

    async def run(self) -> None:
        clock = self.fleet.clock
        await asyncio.sleep(self.rng.uniform(0, self.first_within_s) / clock.factor)
        # Random gaps on the simulation's clock, not periodic work (``semon.periodic``): a fault
        # the fleet cannot take is skipped, never retried.
        while True:
            fault = self._next_fault(clock.now())
            try:
                self.fleet.inject(fault.device, fault)
                self.injected += 1
                log.info("city: %s on %s at t=%.0f s", fault.do, fault.device, fault.at)
            except ValueError as exc:  # e.g. a boiler fault its medium does not have
                log.debug("city: skipped %s on %s: %s", fault.do, fault.device, exc)
            await asyncio.sleep(self.rng.expovariate(1 / self.interval_s) / clock.factor)
