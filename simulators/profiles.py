"""What the register knows of simulated devices, in the form the rules engine takes: until the
equipment register holds them, ``semon up`` and the tests give the engine these profiles."""

from __future__ import annotations

from collections.abc import Iterable

from semon.profile import DeviceProfile
from semon.protocol.topics import Kind
from simulators.boiler import BoilerSpec
from simulators.elevator import ElevatorSpec


def profile_for(spec: ElevatorSpec | BoilerSpec) -> DeviceProfile:
    if isinstance(spec, ElevatorSpec):
        return DeviceProfile(Kind.ELEVATOR, reports_events=spec.reports_events, rated_speed_mps=spec.rated_speed_mps)
    return DeviceProfile(
        Kind.BOILER,
        rated_pressure_mpa=spec.rated_pressure_mpa,
        rated_outlet_temp_c=spec.rated_outlet_temp_c,
        high_water_mm=spec.high_water_mm if spec.medium == "steam" else None,
        extreme_low_water_mm=spec.extreme_low_water_mm if spec.medium == "steam" else None,
    )


def profiles_for(devices: Iterable[tuple[str, ElevatorSpec | BoilerSpec]]) -> dict[str, DeviceProfile]:
    return {device_id: profile_for(spec) for device_id, spec in devices}
