"""The contract's schema as a strict pydantic model: the reference that names a refusal.

The decoder validates with msgspec (semon/protocol/models.py), which is several times faster
but stops at the first fault in the order of the payload's keys, with messages of its own. The
contract names the first field at fault in the order of docs/protocol.md's tables, and counts
the others; so a payload msgspec refuses (a rare message) is checked again here, and this
model's verdict, reason and detail are the decoder's. Both describe the same fields, types and
ranges: tests/unit/test_decode_agreement.py checks that they agree on generated payloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from semon.protocol.models import DeviceState, Direction, PowerSource, ServiceMode, parse_timestamp
from semon.protocol.topics import PROTOCOL_VERSION

Timestamp = Annotated[
    datetime,
    PlainValidator(parse_timestamp, json_schema_input_type=str | int),
    PlainSerializer(lambda d: d.isoformat(timespec="milliseconds"), return_type=str),
]
Seq = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Frame(BaseModel):
    """What every payload carries."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    v: Annotated[int, Field(ge=PROTOCOL_VERSION, le=PROTOCOL_VERSION)] | None = PROTOCOL_VERSION
    ts: Timestamp
    seq: Seq
    device_id: str | None = Field(default=None, max_length=64)


class ElevatorTelemetry(Frame):
    running: bool
    direction: Direction
    floor: Annotated[int, Field(ge=-9, le=199)]
    door_locked: bool
    door_zone: bool
    passenger: bool
    mode: ServiceMode
    power: PowerSource
    speed_mps: Annotated[float, Field(ge=0, le=20)]
    trip_count: Annotated[int, Field(ge=0, le=2**53)]
    run_hours: Annotated[float, Field(ge=0, le=1_000_000)]


class BoilerTelemetry(Frame):
    burner_on: bool
    flame: bool
    pressure_mpa: Annotated[float, Field(ge=0, le=40)]
    water_level_mm: Annotated[float, Field(ge=-1000, le=1000)]
    outlet_temp_c: Annotated[float, Field(ge=-40, le=600)]
    return_temp_c: Annotated[float, Field(ge=-40, le=600)]
    flue_temp_c: Annotated[float, Field(ge=-40, le=1200)]
    feedwater_flow_m3h: Annotated[float, Field(ge=0, le=1000)]
    fuel_flow_m3h: Annotated[float, Field(ge=0, le=100_000)]


class DeviceEvent(Frame):
    code: Annotated[int, Field(ge=1, le=999)]
    floor: Annotated[int, Field(ge=-9, le=199)] | None = None
    detail: Annotated[str, Field(max_length=200)] | None = None


class StatusMessage(BaseModel):
    """The JSON form of a status payload; the plain strings ``online``/``offline`` are accepted too."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    state: DeviceState
    ts: Timestamp | None = None
    # "shutdown": an orderly offline, announced by the device itself; a plain "offline" is the
    # Last Will: the connection was lost.
    reason: Annotated[str, Field(max_length=64)] | None = None
