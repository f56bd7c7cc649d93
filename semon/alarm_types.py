"""The alarm types semon raises, shared by the simulators (which declare the alarms a scenario
must cause) and the rules engine (which raises them).

The entrapment thresholds are vendor defaults, not a standard: the rules engine makes them
configurable per kind and per device; the simulators use the same defaults to know when a
stuck car has become an entrapment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AlarmType(StrEnum):
    # Elevator: people
    ENTRAPMENT = "entrapment"  # 困人
    ALARM_BUTTON = "alarm_button"  # the button pressed with nobody detected in the car
    # Elevator: faults (device codes, or derived from telemetry)
    SAFETY_CIRCUIT_OPEN = "safety_circuit_open"
    DOOR_CLOSE_FAULT = "door_close_fault"
    DOOR_OPEN_FAULT = "door_open_fault"
    STOPPED_OUTSIDE_DOOR_ZONE = "stopped_outside_door_zone"
    UNINTENDED_CAR_MOVEMENT = "unintended_car_movement"
    MOTOR_RUNTIME_LIMITER = "motor_runtime_limiter"
    FLOOR_POSITION_LOST = "floor_position_lost"
    PREVENT_RESTART_FAULT = "prevent_restart_fault"
    OVERRUN_TOP = "overrun_top"
    OVERRUN_BOTTOM = "overrun_bottom"
    OVERSPEED = "overspeed"
    MAIN_POWER_LOST = "main_power_lost"
    # Boiler
    EXTREME_LOW_WATER = "extreme_low_water"
    HIGH_WATER = "high_water"
    OVER_PRESSURE = "over_pressure"
    OVER_TEMPERATURE = "over_temperature"
    FLAME_FAILURE = "flame_failure"
    # The register: an elevator running while its periodic inspection is overdue or failed
    INSPECTION_EXPIRED_RUNNING = "inspection_expired_running"
    # Connectivity, kept apart from controller faults
    OFFLINE = "offline"  # the Last Will, or an orderly offline
    SILENT = "silent"  # connected but no telemetry for too long


@dataclass(frozen=True, slots=True)
class EntrapmentThresholds:
    """When a stopped car with its doors closed is an entrapment (困人), judged from telemetry.

    Vendor firmware and platform practice, not a standard (the brief, "Entrapment detection"):
    the car stays stopped with the doors closed for the whole window, and the presence sensor
    detects someone at least ``min_detections`` times within it (firmware counts detections; a
    still passenger is missed now and then, so an unbroken signal is not required). In a mode
    of ``held_modes`` a technician works in the car (检修, inspection): platforms hold
    entrapment from telemetry then; the device's own trapped code and the alarm button still
    raise it."""

    outside_door_zone_s: float = 15.0  # 非平层困人: stopped outside the door zone
    in_door_zone_s: float = 90.0  # 平层困人: stopped at a landing, doors not reopened
    min_detections: int = 1  # presence detections within the window
    held_modes: frozenset[str] = frozenset({"inspection"})  # service modes (protocol `mode`)
