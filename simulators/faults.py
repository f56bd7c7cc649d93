"""Faults and scripted actions a scenario (or the simulated city) can inject, one model each.

A scenario timeline entry names one of these with ``do = "..."``; its fields are validated
here, so a typo in a scenario file is an error with the line's meaning, not a silent no-op.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from semon.protocol.topics import Kind


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float = Field(ge=0, description="seconds of simulation time from the scenario's start")
    device: str


# --- any device -------------------------------------------------------------------------


class Silent(_Step):
    """The controller hangs: connected, but publishes nothing (no Last Will)."""

    do: Literal["silent"]
    duration: float = Field(gt=0)


class Disconnect(_Step):
    """The connection drops without DISCONNECT (the Last Will says offline), then comes back.

    ``announce_online = false``: once back, the device publishes what it kept and its telemetry
    without a retained ``online`` first, as many field devices do: the backend must take the
    messages themselves as proof that the device is heard."""

    do: Literal["disconnect"]
    duration: float = Field(gt=0)
    announce_online: bool = True


# The ingester takes a ``ts`` at most SEMON_MAX_FUTURE_SKEW_S (300 s by default) ahead of its
# clock; a device clock further ahead would have every message refused, which is a different
# test. Behind, a day is already far more than any clock step seen in the field.
MAX_AHEAD_S = 300.0
MAX_BEHIND_S = 86_400.0


class ClockStep(_Step):
    """From ``at`` the device's clock is off by ``offset_s`` seconds: negative, stepped back (an
    NTP correction of a fast clock, a battery-backed clock reset); positive, jumped ahead. After
    ``duration`` (if given) it is corrected back. Only the published ``ts`` changes: simulation
    time, the order of ``seq`` and the ``Cause`` records stay true."""

    do: Literal["clock_step"]
    offset_s: float = Field(ge=-MAX_BEHIND_S, le=MAX_AHEAD_S)
    duration: float | None = Field(default=None, gt=0)

    @field_validator("offset_s")
    @classmethod
    def _a_step(cls, value: float) -> float:
        if value == 0:
            raise ValueError("a clock step of 0 s changes nothing")
        return value


class EventSkew(_Step):
    """From ``at`` (for ``duration``, else to the end) events are built by another task than the
    telemetry: at each event the device publishes its telemetry frame first, then the event
    stamped ``skew_ms`` milliseconds *earlier* than that frame (a number, or a range drawn per
    event): the event's ``ts`` is older than the frame before it, its ``seq`` higher. The event
    happened at its own stamp, so its ``Cause`` is recorded there."""

    do: Literal["event_skew"]
    skew_ms: int | tuple[int, int] = Field(default=(1, 50))
    duration: float | None = Field(default=None, gt=0)

    @field_validator("skew_ms")
    @classmethod
    def _milliseconds(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        low, high = (value, value) if isinstance(value, int) else value
        if not 1 <= low <= high <= 1000:
            raise ValueError("skew_ms must be 1..1000 ms (a range low <= high)")
        return value

    @property
    def skew_range_ms(self) -> tuple[int, int]:
        return (self.skew_ms, self.skew_ms) if isinstance(self.skew_ms, int) else self.skew_ms


class SeqRestart(_Step):
    """The device restarts (a power cycle of its controller or monitoring unit): the connection
    drops without DISCONNECT (the Last Will says offline), nothing is measured or published for
    ``duration`` seconds, then it connects again (``online``) and its ``seq`` starts again at 0.
    ``clock_offset_s``: the clock it comes back with is off by this much (None: kept)."""

    do: Literal["seq_restart"]
    duration: float = Field(default=30.0, gt=0)
    clock_offset_s: float | None = Field(default=None, ge=-MAX_BEHIND_S, le=MAX_AHEAD_S)


# --- elevators --------------------------------------------------------------------------


class Call(_Step):
    """Passengers call the car at ``origin`` and ride to ``destination``."""

    do: Literal["call"]
    origin: int
    destination: int
    passengers: int = Field(default=1, ge=1, le=30)


class PlannedFault(_Step):
    # The car is steered into place during this lead time before ``at`` (traffic is held).
    prepare: float = Field(default=90.0, ge=0)
    release_after: float | None = Field(default=None, gt=0, description="rescue after; None: never")


class EntrapmentBetweenFloors(PlannedFault):
    """At ``at`` the car stops between ``floor`` and the floor above with passengers aboard."""

    do: Literal["entrapment_between_floors"]
    floor: int | None = None  # None: a floor chosen by the device's random stream
    passengers: int = Field(default=2, ge=1, le=30)


class StoppedOutsideDoorZone(PlannedFault):
    """As an entrapment between floors, but the car is empty."""

    do: Literal["stopped_outside_door_zone"]
    floor: int | None = None


class EntrapmentAtLanding(PlannedFault):
    """The car arrives at ``floor`` at ``at`` with passengers and its doors do not open."""

    do: Literal["entrapment_at_landing"]
    floor: int | None = None
    passengers: int = Field(default=1, ge=1, le=30)


class DoorOpenFault(PlannedFault):
    """At ``at`` the doors of the idle car fail to open for ``duration`` seconds (code 03)."""

    do: Literal["door_open_fault"]
    floor: int | None = None
    duration: float = Field(default=20.0, gt=0)


class DoorCloseFault(PlannedFault):
    """At ``at`` the doors fail to close for ``duration`` seconds (code 02); the car stays."""

    do: Literal["door_close_fault"]
    floor: int | None = None
    duration: float = Field(default=60.0, gt=0)


class UnintendedCarMovement(PlannedFault):
    """At ``at`` the car creeps away from the landing with its doors open (code 05)."""

    do: Literal["unintended_car_movement"]
    floor: int | None = None


class Overrun(PlannedFault):
    """At ``at`` the car overruns the top (冲顶) or bottom (蹲底) landing (codes 09/10)."""

    do: Literal["overrun_top", "overrun_bottom"]
    passengers: int = Field(default=0, ge=0, le=30)


class MainPowerLost(_Step):
    """Mains fail for ``duration`` seconds: battery, the car finishes its run and opens (code 41)."""

    do: Literal["main_power_lost"]
    duration: float = Field(default=300.0, gt=0)


class AlarmButton(_Step):
    """Someone presses the alarm button in the car (code 90): an entrapment with people in the
    car, in a car stopped outside the door zone, on battery or out of service by a fault; else
    (an idle car at a landing) the minor alarm button."""

    do: Literal["alarm_button"]


class PresenceFlicker(_Step):
    """From ``at`` for ``duration`` the presence sensor misses a still passenger: every
    ``period_s`` it reports ``passenger: false`` for ``miss_s`` seconds while people are in the
    stopped car with its doors closed. Meanwhile the device publishes at its active period (1 s),
    so the flicker shows in the telemetry. Field firmware counts detections within its window."""

    do: Literal["presence_flicker"]
    duration: float = Field(gt=0)
    period_s: float = Field(default=10.0, gt=0)
    miss_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _miss_within_period(self) -> PresenceFlicker:
        if self.miss_s >= self.period_s:
            raise ValueError(f"miss_s ({self.miss_s:g}) must be shorter than period_s ({self.period_s:g})")
        return self


class TechnicianInspection(PlannedFault):
    """A technician at work (检修): at ``at`` the car, with the technician aboard at ``floor``,
    goes into inspection mode (code 43), moves at inspection speed to a stop outside the door
    zone, doors closed, ``passenger: true``, for ``duration`` seconds, then back to the landing,
    normal mode (code 40), doors open and the technician leaves. Nobody is trapped: no alarm."""

    do: Literal["technician_inspection"]
    floor: int | None = None
    duration: float = Field(default=120.0, gt=0)


class ControllerFault(_Step):
    """Any other fault code the device reports (01, 06, 07, 08): out of service for a while."""

    do: Literal["controller_fault"]
    code: Literal[1, 6, 7, 8]
    duration: float = Field(default=300.0, gt=0)


# --- boilers ----------------------------------------------------------------------------


class BoilerFault(_Step):
    """A boiler fault that develops physically from ``at`` until the protection trips."""

    do: Literal["extreme_low_water", "high_water", "over_pressure", "over_temperature", "flame_failure"]
    # Seconds from the trip until the operator has fixed the cause and the boiler restarts.
    release_after: float | None = Field(default=None, gt=0)


ElevatorAction = (Call | EntrapmentBetweenFloors | StoppedOutsideDoorZone | EntrapmentAtLanding | DoorOpenFault
                  | DoorCloseFault | UnintendedCarMovement | Overrun | MainPowerLost | AlarmButton | ControllerFault
                  | PresenceFlicker | TechnicianInspection)
DeviceAction = Silent | Disconnect | ClockStep | EventSkew | SeqRestart  # any kind of device
Action = Annotated[ElevatorAction | BoilerFault | DeviceAction, Field(discriminator="do")]

ANY_DEVICE: tuple[type[_Step], ...] = (Silent, Disconnect, ClockStep, EventSkew, SeqRestart)
_FOR_KIND: dict[Kind, tuple[type[_Step], ...]] = {
    Kind.ELEVATOR: (Call, EntrapmentBetweenFloors, StoppedOutsideDoorZone, EntrapmentAtLanding, DoorOpenFault,
                    DoorCloseFault, UnintendedCarMovement, Overrun, MainPowerLost, AlarmButton, ControllerFault,
                    PresenceFlicker, TechnicianInspection, *ANY_DEVICE),
    Kind.BOILER: (BoilerFault, *ANY_DEVICE),
}


def applies_to(action: _Step, kind: Kind) -> bool:
    return isinstance(action, _FOR_KIND[kind])
