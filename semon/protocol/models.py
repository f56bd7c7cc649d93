"""Payload models of wire protocol v1, shared by ingest, alerts and the simulators.

Field names carry their unit; ranges are the protocol's accepted ranges (docs/protocol.md).
Models are strict: ``"floor": "5"`` is a wrong type, not a floor.

They are msgspec Structs because every message of the city passes through them, twice (the
ingester and the rules engine): msgspec validates a frame straight from the JSON bytes several
times faster than a pydantic model (docs/ingest.md has the figures). A Struct does not check
what it is built with: only ``parse`` and the decoder (semon/protocol/decode.py) validate.
The same schema as a pydantic model, which names the first fault of a refused payload the
way docs/protocol.md section 10 does, is in semon/protocol/reference.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import msgspec

from semon.protocol.topics import PROTOCOL_VERSION

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))"
)
# The widest offsets in use are -12:00 and +14:00 (Kiribati); anything beyond is no time zone.
_MAX_OFFSET_MINUTES = 14 * 60
_EPOCH_MS_MIN = 946_684_800_000  # 2000-01-01: anything earlier is a unit or clock error
_EPOCH_MS_MAX = 32_503_680_000_000  # 3000-01-01


class Timestamp(datetime):
    """An aware datetime read from a payload's ``ts`` (a datetime in every other respect; its
    own class only so that the decoder knows to parse it by the protocol's rules: msgspec hands
    a field's raw value to our parser only for a type of our own). psycopg stores it as any
    datetime; orjson refuses a datetime subclass, so give it ``.isoformat()`` or
    ``.timestamp()``; ``ts + timedelta``, ``astimezone`` and ``replace`` keep the class."""


def parse_timestamp(value: Any) -> Timestamp:
    """RFC 3339 with an explicit offset, or integer epoch milliseconds, as an aware datetime.

    Raises ValueError naming what is wrong: not one of the two forms, an offset that is no time
    zone (beyond ±14:00, minutes beyond 59), a year outside 2000-2999."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be an RFC 3339 string or epoch milliseconds")
    if isinstance(value, int):
        if not _EPOCH_MS_MIN <= value <= _EPOCH_MS_MAX:
            raise ValueError("epoch milliseconds out of range (2000..3000)")
        # fromtimestamp on the subclass costs three times the plain one and a copy of its fields
        d = datetime.fromtimestamp(value / 1000, tz=UTC)
        return Timestamp(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, UTC)
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
            parsed = Timestamp.fromisoformat(normalised)
        except ValueError:
            raise ValueError("timestamp is not a valid date and time") from None
        if not 2000 <= parsed.year < 3000:
            raise ValueError("timestamp year out of range (2000..3000)")
        return parsed
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value if isinstance(value, Timestamp) else Timestamp.fromtimestamp(value.timestamp(), value.tzinfo)
    raise ValueError("timestamp must be an RFC 3339 string or epoch milliseconds")


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


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


def _range(ge: float, le: float) -> msgspec.Meta:
    return msgspec.Meta(ge=ge, le=le)


Version = Annotated[int, _range(PROTOCOL_VERSION, PROTOCOL_VERSION)]
Seq = Annotated[int, _range(0, 2**63 - 1)]
Floor = Annotated[int, _range(-9, 199)]


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """What every payload carries."""

    v: Version | None = PROTOCOL_VERSION
    ts: Timestamp
    seq: Seq
    device_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class ElevatorTelemetry(Frame, frozen=True, kw_only=True):
    running: bool
    direction: Direction
    floor: Floor
    door_locked: bool
    door_zone: bool
    passenger: bool
    mode: ServiceMode
    power: PowerSource
    speed_mps: Annotated[float, _range(0, 20)]
    trip_count: Annotated[int, _range(0, 2**53)]
    run_hours: Annotated[float, _range(0, 1_000_000)]


class BoilerTelemetry(Frame, frozen=True, kw_only=True):
    burner_on: bool
    flame: bool
    pressure_mpa: Annotated[float, _range(0, 40)]
    water_level_mm: Annotated[float, _range(-1000, 1000)]
    outlet_temp_c: Annotated[float, _range(-40, 600)]
    return_temp_c: Annotated[float, _range(-40, 600)]
    flue_temp_c: Annotated[float, _range(-40, 1200)]
    feedwater_flow_m3h: Annotated[float, _range(0, 1000)]
    fuel_flow_m3h: Annotated[float, _range(0, 100_000)]


class DeviceEvent(Frame, frozen=True, kw_only=True):
    code: Annotated[int, _range(1, 999)]
    floor: Floor | None = None
    detail: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class StatusMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON form of a status payload; the plain strings ``online``/``offline`` are accepted too."""

    state: DeviceState
    ts: Timestamp | None = None
    # "shutdown": an orderly offline, announced by the device itself; a plain "offline" is the
    # Last Will: the connection was lost.
    reason: Annotated[str, msgspec.Meta(max_length=64)] | None = None


Payload = ElevatorTelemetry | BoilerTelemetry | DeviceEvent | StatusMessage
P = TypeVar("P", ElevatorTelemetry, BoilerTelemetry, DeviceEvent, StatusMessage)


def timestamp_hook(kind: type, value: Any) -> Any:
    """msgspec's ``dec_hook``: ``ts`` is parsed by the protocol's rules (``parse_timestamp``);
    its ValueError becomes the decoder's ValidationError."""
    if kind is Timestamp:
        return parse_timestamp(value)
    raise NotImplementedError(f"no decoder for {kind!r}")


def decoder(model: type[P]) -> msgspec.json.Decoder[P]:
    """A strict JSON decoder of ``model`` (unknown fields ignored, as the protocol says)."""
    return msgspec.json.Decoder(model, strict=True, dec_hook=timestamp_hook)


_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def parse(model: type[P], payload: bytes | str) -> P:
    """``payload`` (one JSON object) as ``model``, validated: types, ranges, ``ts``.

    Raises ``msgspec.ValidationError`` for a payload that breaks the schema and
    ``msgspec.DecodeError`` (its base class) for one that is not JSON. Only the schema: the
    decoder adds the topic, size, clock and code checks and the documented rejection reasons."""
    found = _DECODERS.get(model)
    if found is None:
        found = _DECODERS[model] = decoder(model)
    result: P = found.decode(payload)
    return result
