"""Payload models of wire protocol v1, shared by ingest, alerts and the simulators.

Field names carry their unit; ranges are the protocol's accepted ranges (docs/protocol.md).
Models are strict: ``"floor": "5"`` is a wrong type, not a floor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from semon.protocol.topics import PROTOCOL_VERSION

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))"
)
# The widest offsets in use are -12:00 and +14:00 (Kiribati); anything beyond is no time zone.
_MAX_OFFSET_MINUTES = 14 * 60
_EPOCH_MS_MIN = 946_684_800_000  # 2000-01-01: anything earlier is a unit or clock error
_EPOCH_MS_MAX = 32_503_680_000_000  # 3000-01-01


def parse_timestamp(value: Any) -> datetime:
    """RFC 3339 with an explicit offset, or integer epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be an RFC 3339 string or epoch milliseconds")
    if isinstance(value, int):
        if not _EPOCH_MS_MIN <= value <= _EPOCH_MS_MAX:
            raise ValueError("epoch milliseconds out of range (2000..3000)")
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        match = _RFC3339.fullmatch(value)
        if match is None:
            raise ValueError("timestamp is not RFC 3339 (YYYY-MM-DDThh:mm:ss[.fff]Z or ±hh:mm)")
        if match["sign"] is not None:
            hours, minutes = int(match["oh"]), int(match["om"])
            if minutes > 59 or hours * 60 + minutes > _MAX_OFFSET_MINUTES:
                raise ValueError("timestamp offset is not a time zone (at most ±14:00, minutes 00-59)")
        # fromisoformat takes at most microseconds and no lower-case separators: digits beyond
        # microseconds are dropped (RFC 3339 sets no limit on fractional digits)
        fraction = (match["fraction"] or "")[:7]
        normalised = f"{match['date']}T{match['time']}{fraction}{match['offset'].upper()}"
        try:
            parsed = datetime.fromisoformat(normalised)
        except ValueError:
            raise ValueError("timestamp is not a valid date and time") from None
        if not 2000 <= parsed.year < 3000:
            raise ValueError("timestamp year out of range (2000..3000)")
        return parsed
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    raise ValueError("timestamp must be an RFC 3339 string or epoch milliseconds")


Timestamp = Annotated[
    datetime,
    PlainValidator(parse_timestamp, json_schema_input_type=str | int),
    PlainSerializer(lambda d: d.isoformat(timespec="milliseconds"), return_type=str),
]
Seq = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    STOP = "stop"


class ServiceMode(StrEnum):
    NORMAL = "normal"
    INSPECTION = "inspection"
    FIRE_RETURN = "fire_return"
    FIREFIGHTER = "firefighter"
    EMERGENCY_POWER = "emergency_power"
    SEISMIC = "seismic"
    OUT_OF_SERVICE = "out_of_service"


class PowerSource(StrEnum):
    MAIN = "main"
    BATTERY = "battery"
    OFF = "off"


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


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class StatusMessage(BaseModel):
    """The JSON form of a status payload; the plain strings ``online``/``offline`` are accepted too."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    state: DeviceState
    ts: Timestamp | None = None
    # "shutdown": an orderly offline, announced by the device itself; a plain "offline" is the
    # Last Will: the connection was lost.
    reason: Annotated[str, Field(max_length=64)] | None = None
