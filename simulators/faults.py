"""Faults and scripted actions a scenario (or the simulated city) can inject, one model each.

A scenario timeline entry names one of these with ``do = "..."``; its fields are validated
here, so a typo in a scenario file is an error with the line's meaning, not a silent no-op.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    """The connection drops without DISCONNECT (the Last Will says offline), then comes back."""

    do: Literal["disconnect"]
    duration: float = Field(gt=0)


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
    """Someone presses the alarm button in the car (code 90)."""

    do: Literal["alarm_button"]


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
                  | DoorCloseFault | UnintendedCarMovement | Overrun | MainPowerLost | AlarmButton | ControllerFault)
LinkAction = Silent | Disconnect
Action = Annotated[ElevatorAction | BoilerFault | LinkAction, Field(discriminator="do")]

_FOR_KIND: dict[Kind, tuple[type[_Step], ...]] = {
    Kind.ELEVATOR: (Call, EntrapmentBetweenFloors, StoppedOutsideDoorZone, EntrapmentAtLanding, DoorOpenFault,
                    DoorCloseFault, UnintendedCarMovement, Overrun, MainPowerLost, AlarmButton, ControllerFault,
                    Silent, Disconnect),
    Kind.BOILER: (BoilerFault, Silent, Disconnect),
}


def applies_to(action: _Step, kind: Kind) -> bool:
    return isinstance(action, _FOR_KIND[kind])
