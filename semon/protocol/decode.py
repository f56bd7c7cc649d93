"""Turn one MQTT message into a validated payload or a reasoned rejection (pure, no I/O).

Every message of the city passes here, so the common case is short: the topic (cached), a
scan of the bytes for what PostgreSQL cannot hold, one msgspec decode that validates types and
ranges as it parses, the clock and the code. A payload msgspec refuses is checked again
against the reference model (semon/protocol/reference.py), which names the reason the way
docs/protocol.md section 10 does; refusals are rare, so that costs the city nothing.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec
from pydantic import BaseModel, ValidationError

from semon.protocol import reference
from semon.protocol.codes import known_codes, table_names
from semon.protocol.models import (
    BoilerTelemetry,
    DeviceEvent,
    DeviceState,
    ElevatorTelemetry,
    Payload,
    StatusMessage,
    decoder,
    parse_timestamp,
)
from semon.protocol.topics import Channel, Kind, Topic, TopicError, parse_topic

log = logging.getLogger(__name__)


class RejectReason(StrEnum):
    BAD_TOPIC = "bad_topic"
    UNKNOWN_KIND = "unknown_kind"
    OVERSIZED = "oversized"
    NOT_JSON = "not_json"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_CODE = "unknown_code"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_STATUS = "bad_status"
    UNREGISTERED_DEVICE = "unregistered_device"
    STORAGE_ERROR = "storage_error"
    NON_FINITE_NUMBER = "non_finite_number"
    TOO_DEEP = "too_deep"


class Sanitised(StrEnum):
    """What the decoder replaced in a message it kept (docs/protocol.md, section 4.2)."""

    NUL = "nul"  # U+0000 in a string or key: PostgreSQL text and jsonb cannot hold it
    SURROGATE = "surrogate"  # a lone UTF-16 surrogate (\ud800): not a character, not UTF-8
    NUMBER = "number"  # a vendor number a float8 cannot hold, replaced by null
    NON_FINITE = "non_finite"  # NaN or Infinity in a vendor field (not JSON), replaced by null


# Beyond the retention window, a ts may still be this old: retention drops only whole chunks
# (a day of telemetry) and runs once an hour, so the database still holds rows a little older
# than the window; a frame buffered across the boundary, or from a clock a little behind, lands
# beside them instead of being refused over minutes (docs/protocol.md, section 4.1).
TIMESTAMP_AGE_MARGIN = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_payload_bytes: int = 16 * 1024
    max_future_skew: timedelta = timedelta(minutes=5)
    # How far a ts may lie behind the clock (stale_timestamp beyond): the retention window plus
    # a margin (Settings.decode_limits; docs/protocol.md, section 4.1). A row older than the
    # window would only create a chunk for retention to drop again.
    max_age: timedelta = timedelta(days=90) + TIMESTAMP_AGE_MARGIN
    # Objects and arrays nested deeper than this are refused (too_deep). Protocol fields are
    # flat; 32 leaves vendor data room and stays far below what the JSON parser (200) and
    # PostgreSQL's jsonb accept.
    max_depth: int = 32


class Decoded(msgspec.Struct, frozen=True):
    """A valid message. ``document``: the payload as it may be stored (UTF-8 JSON that
    PostgreSQL's jsonb accepts) when the decoder had to change something, else None (the
    payload as received is safe). ``sanitised``: what was replaced, one entry per kind.
    (A Struct rather than a frozen dataclass: one is made for every message, at an eighth of
    the cost.)"""

    topic: Topic
    payload: Payload
    document: bytes | None = None
    sanitised: tuple[Sanitised, ...] = ()


class Rejection(msgspec.Struct, frozen=True):
    """A refused message: the reason of docs/protocol.md section 10 and a short description
    of the first problem found; ``kind`` and ``device_id`` as far as the topic gave them."""

    reason: RejectReason
    detail: str
    kind: str | None = None
    device_id: str | None = None


DeviceFrame = ElevatorTelemetry | BoilerTelemetry | DeviceEvent  # a payload with ts and seq
Model = type[ElevatorTelemetry] | type[BoilerTelemetry] | type[DeviceEvent] | type[StatusMessage]

_TELEMETRY_MODELS: dict[Kind, type[ElevatorTelemetry] | type[BoilerTelemetry]] = {
    Kind.ELEVATOR: ElevatorTelemetry,
    Kind.BOILER: BoilerTelemetry,
}
_MODELS: tuple[Model, ...] = (ElevatorTelemetry, BoilerTelemetry, DeviceEvent, StatusMessage)
# The protocol's own fields per model: any other key is vendor data (section 4.2).
_FIELDS: dict[Model, frozenset[str]] = {m: frozenset(m.__struct_fields__) for m in _MODELS}
_DECODERS: dict[Model, msgspec.json.Decoder[Any]] = {m: decoder(m) for m in _MODELS}
# The same schema as a pydantic model: it names the first fault of a payload msgspec refused.
_REFERENCE: dict[Model, type[BaseModel]] = {
    ElevatorTelemetry: reference.ElevatorTelemetry,
    BoilerTelemetry: reference.BoilerTelemetry,
    DeviceEvent: reference.DeviceEvent,
    StatusMessage: reference.StatusMessage,
}
_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "string_too_long", "enum"}
)


def decode(topic_name: str, payload: bytes, now: datetime, limits: DecodeLimits) -> Decoded | Rejection:
    """One message as a validated payload, or a Rejection with the first reason of
    docs/protocol.md section 10 that applies. ``now``: the ingester's clock (aware).
    ``Decoded.document`` is set when a value PostgreSQL cannot hold had to be replaced."""
    try:
        topic = parse_topic(topic_name)
    except TopicError as exc:
        parts = topic_name.split("/")
        reason = RejectReason.UNKNOWN_KIND if "unknown kind" in str(exc) else RejectReason.BAD_TOPIC
        device = parts[2][:64] if len(parts) > 2 else None
        return Rejection(reason, str(exc), kind=parts[1][:32] if len(parts) > 1 else None, device_id=device)

    if len(payload) > limits.max_payload_bytes:
        return _reject(topic,
            RejectReason.OVERSIZED, f"payload is {len(payload)} bytes, limit {limits.max_payload_bytes}"
        )
    if topic.channel is Channel.STATUS:
        return _decode_status(topic, payload, now, limits)
    model: Model = DeviceEvent if topic.channel is Channel.EVENT else _TELEMETRY_MODELS[topic.kind]
    if b"\\u" not in payload and (frame := _fast(model, payload, limits)) is not None:
        return _refused(topic, frame, now, limits) or Decoded(topic, frame)

    # Refused, or it may hold something to replace: the contract's checks in their order.
    screened = screen_json(payload, _FIELDS[model], limits.max_depth)
    if isinstance(screened, Rejection):
        return _reject(topic, screened.reason, screened.detail)
    document, sanitised = screened
    validated = _validate(model, payload if document is None else document)
    if isinstance(validated, tuple):
        return _reject(topic, *validated)
    assert isinstance(validated, ElevatorTelemetry | BoilerTelemetry | DeviceEvent)
    return _refused(topic, validated, now, limits) or Decoded(topic, validated, document, sanitised)


# Digits become 0, "E" "e", signs 0: an exponent of three digits or more shows as "0e000"; with
# a run of 300 digits, the only ways to write a number no float8 holds. "[" becomes "{": one
# count of the openers bounds the nesting (brackets in strings counted too: then it is checked).
_FAST_SHAPES = bytes.maketrans(b"123456789E+-[", b"000000000e00{")


def _fast(model: Model, payload: bytes, limits: DecodeLimits) -> DeviceFrame | None:
    """The common case, a plain valid frame, validated by msgspec alone; None for anything
    else, which the caller checks step by step.

    msgspec parses the whole document, the fields it skips included, and refuses NaN and
    Infinity anywhere; it does not check the UTF-8 of what it skips, nesting, or numbers no
    float8 holds (it reads ``1e-400`` as 0.0): those are checked here first. Escapes (``\\u``,
    a possible U+0000 or lone surrogate) are the caller's to look for: the rules need not."""
    shapes = payload.translate(_FAST_SHAPES)
    if (shapes.count(b"{") > limits.max_depth or b"0e000" in shapes
            or (len(payload) >= len(_LONG_DIGITS) and _LONG_DIGITS in shapes)):
        return None
    try:
        if not payload.isascii():
            payload.decode("utf-8")
        frame: DeviceFrame = _DECODERS[model].decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return frame


def _refused(topic: Topic, frame: DeviceFrame, now: datetime,
             limits: DecodeLimits) -> Rejection | None:
    """The checks after the schema, in the contract's order: ``device_id``, the clock, the code."""
    if frame.device_id is not None and frame.device_id != topic.device_id:
        return _reject(topic,
            RejectReason.DEVICE_MISMATCH,
            f"payload device_id {frame.device_id!r} differs from topic device {topic.device_id!r}",
        )
    if (late := _check_clock(topic, frame.ts, now, limits)) is not None:
        return late
    # Any code a shipped table of the kind defines is stored; the rules judge it by the device's own table.
    if isinstance(frame, DeviceEvent) and frame.code not in known_codes(topic.kind):
        return _reject(topic, RejectReason.UNKNOWN_CODE,
                       f"event code {frame.code} is in no {topic.kind} code table "
                       f"({', '.join(table_names(topic.kind))})")
    return None


def decode_for_rules(topic_name: str, payload: bytes, now: datetime, limits: DecodeLimits) -> Decoded | Rejection:
    """The rules engine's decode: ``decode``'s verdict, at less cost per frame.

    The engine judges every message the ingester stores and must never fall behind it, so it
    skips what only storing needs: the scan for values PostgreSQL cannot hold and the storable
    copy of a payload holding one (``Decoded.document`` is None, ``sanitised`` empty). It keeps
    every check whose failure means the rules must not judge the message (topic, size, nesting,
    UTF-8, JSON, the model's types and ranges, ``device_id``, clock, code), so it accepts and
    refuses exactly what ``decode`` does (tests/unit/test_decode_agreement.py). Whatever is not
    a plain valid frame (a refusal, a status, a payload that may hold such a value) is handed
    to ``decode``, which names the reason.

    The rules read ``ts`` and ``seq``; of elevator telemetry ``running``, ``door_locked``,
    ``door_zone``, ``passenger``, ``power``, ``floor``, ``mode``, ``trip_count`` and
    ``speed_mps``; of boiler telemetry ``burner_on``, ``flame``, ``pressure_mpa``,
    ``outlet_temp_c``, ``water_level_mm`` and ``fuel_flow_m3h``; of an event ``code``; of a
    status ``state``, ``ts`` and ``reason`` (alerts/rules.py, alerts/engine.py). The others
    are validated too: msgspec parses them in the same pass, and models without them measured
    no faster (docs/ingest.md)."""
    try:
        topic = parse_topic(topic_name)
    except TopicError:
        return decode(topic_name, payload, now, limits)
    if topic.channel is not Channel.STATUS and len(payload) <= limits.max_payload_bytes:
        model = DeviceEvent if topic.channel is Channel.EVENT else _TELEMETRY_MODELS[topic.kind]
        if (frame := _fast(model, payload, limits)) is not None:
            return _refused(topic, frame, now, limits) or Decoded(topic, frame)
    outcome = decode(topic_name, payload, now, limits)
    return Decoded(outcome.topic, outcome.payload) if isinstance(outcome, Decoded) else outcome


def _check_clock(topic: Topic, ts: datetime, now: datetime, limits: DecodeLimits) -> Rejection | None:
    """``future_timestamp`` or ``stale_timestamp`` when ``ts`` lies outside the limits around ``now``."""
    if ts - now > limits.max_future_skew:
        return _reject(topic, RejectReason.FUTURE_TIMESTAMP,
                       f"ts {ts.isoformat()} is more than {limits.max_future_skew} ahead of {now.isoformat()}")
    if now - ts > limits.max_age:
        return _reject(topic, RejectReason.STALE_TIMESTAMP,
                       f"ts {ts.isoformat()} is more than {_span(limits.max_age)} before {now.isoformat()}: "
                       "older than the retention window, never kept")
    return None


def _span(delta: timedelta) -> str:
    return f"{delta.days} days" if delta == timedelta(days=delta.days) else str(delta)


def _decode_status(topic: Topic, payload: bytes, now: datetime, limits: DecodeLimits) -> Decoded | Rejection:
    text = payload.strip()
    if text in (b"online", b"offline"):
        return Decoded(topic, StatusMessage(state=DeviceState(text.decode())))
    screened = screen_json(payload, _FIELDS[StatusMessage], limits.max_depth)
    if isinstance(screened, Rejection):
        return _reject(topic, screened.reason, screened.detail)
    document, sanitised = screened
    status = _validate(StatusMessage, payload if document is None else document)
    if isinstance(status, tuple):
        reason, detail = status
        if reason is RejectReason.NOT_JSON:
            return _reject(topic, RejectReason.BAD_STATUS, "status is neither 'online', 'offline' nor JSON")
        return _reject(topic, reason, detail)
    assert isinstance(status, StatusMessage)
    # The rules date the state change by this ts: the same clock limits as telemetry.
    if status.ts is not None and (late := _check_clock(topic, status.ts, now, limits)) is not None:
        return late
    return Decoded(topic, status, document, sanitised)


def _validate(model: Model, document: bytes) -> Payload | tuple[RejectReason, str]:
    """``document`` as ``model``, or the reason and detail of its first fault.

    msgspec decides whether the document is valid; when it is not, the reference model names
    the fault. Should the reference accept what msgspec refused (the two schemas are kept in
    agreement by tests), the contract is the reference's: its values are taken."""
    try:
        if not document.isascii():
            document.decode("utf-8")  # msgspec checks only the strings it reads, not skipped ones
        result: Payload = _DECODERS[model].decode(document)
        return result
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec.ValidationError included
        # Its text only: the exception's traceback holds the callers' frames, and kept in a
        # local it would keep them (with the MQTT client's read buffer) alive until the next
        # garbage collection, and the client could not reuse the buffer meanwhile.
        refused = str(exc)
    try:
        accepted = _REFERENCE[model].model_validate_json(document)
    except ValidationError as exc:
        return _classify(exc)
    log.warning("payload refused by the decoder (%s) but valid by the reference model: taken", refused)
    values = dict(accepted)
    if values.get("ts") is not None:
        values["ts"] = parse_timestamp(values["ts"])
    return model(**values)


def _reject(topic: Topic, reason: RejectReason, detail: str) -> Rejection:
    return Rejection(reason, detail, kind=topic.kind.value, device_id=topic.device_id)


def _classify(exc: ValidationError) -> tuple[RejectReason, str]:
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    detail = f"{where}: {first['msg']}"
    if len(errors) > 1:
        detail += f" (+{len(errors) - 1} more)"
    if kind == "json_invalid":
        return RejectReason.NOT_JSON, f"not valid JSON: {first['msg']}"
    if kind == "model_type":
        return RejectReason.NOT_JSON, "payload is not a JSON object"
    if kind == "missing":
        return RejectReason.MISSING_FIELD, detail
    if first["loc"] and first["loc"][0] == "ts":
        return RejectReason.BAD_TIMESTAMP, detail
    if first["loc"] and first["loc"][0] == "v":
        return RejectReason.UNSUPPORTED_VERSION, detail
    if kind == "enum" and not isinstance(first.get("input"), str):
        return RejectReason.WRONG_TYPE, detail  # a choice field given a number, null or boolean
    if kind in _RANGE_ERRORS:
        return RejectReason.OUT_OF_RANGE, detail
    return RejectReason.WRONG_TYPE, detail


# --- values PostgreSQL cannot hold -----------------------------------------------------------
#
# jsonb and text refuse U+0000 and lone surrogates; jsonb refuses NaN and Infinity (not JSON,
# RFC 8259) and numbers beyond numeric's range; deep nesting exhausts parsers. A cheap scan
# finds payloads that may hold any of these; only those are parsed a second time, in Python,
# to find and handle each case (docs/protocol.md, section 4.2).

# The fast check, on every message: no escape (\u0000 and surrogates are escapes), no NaN or
# Infinity, no exponent of three digits, no run of 300 digits. A few substring searches cost
# less than one regular expression with alternatives.
_NUMBER_SHAPES = bytes.maketrans(b"123456789E-", b"000000000e+")
_LONG_DIGITS = b"0" * 300


def _may_hold_unstorable(payload: bytes) -> bool:
    if b"\\u" in payload or b"NaN" in payload or b"Infinity" in payload:
        return True
    shapes = payload.translate(_NUMBER_SHAPES)
    return b"0e000" in shapes or b"0e+000" in shapes or _LONG_DIGITS in shapes


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")
_DEPTH_STEP = bytes.maketrans(b"{[}]", b"\x02\x02\x00\x00")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_FLOAT_MAX = int(sys.float_info.max)
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """``text`` with U+0000 and lone surrogates replaced by U+FFFD: storable in PostgreSQL."""
    return _BAD_TEXT.sub(REPLACEMENT, text) if _BAD_TEXT.search(text) else text


def nesting_depth(payload: bytes) -> int:
    """How deep objects and arrays nest in ``payload`` (0 for a scalar), strings ignored."""
    brackets = _JSON_STRING.sub(b"", payload).translate(_DEPTH_STEP, _NOT_BRACKETS)
    return max(itertools.accumulate(b - 1 for b in brackets), default=0)


class _NonFinite:
    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token


class _Beyond:
    """A number a float8 cannot hold (too large, or so small it would become zero)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_int(text: str) -> int | _Beyond:
    digits = text.lstrip("-")
    if len(digits) > 320:
        return _Beyond(text)
    value = int(text)
    return _Beyond(text) if abs(value) > _FLOAT_MAX else value


def _parse_float(text: str) -> float | _Beyond:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        return _Beyond(text)
    if value == 0.0 and any(c in "123456789" for c in text.lower().partition("e")[0]):
        return _Beyond(text)
    return value


class _Screen:
    def __init__(self, fields: frozenset[str]) -> None:
        self.fields = fields
        self.sanitised: set[Sanitised] = set()
        self.refusal: Rejection | None = None

    def text(self, value: str) -> str:
        if _BAD_TEXT.search(value) is None:
            return value
        if "\x00" in value:
            self.sanitised.add(Sanitised.NUL)
        if any("\ud800" <= c <= "\udfff" for c in value):
            self.sanitised.add(Sanitised.SURROGATE)
        return _BAD_TEXT.sub(REPLACEMENT, value)

    def value(self, value: Any, path: str, top: bool) -> Any:
        if self.refusal is not None:
            return None
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = self.text(key)
                out[name] = self.value(item, f"{path}.{name}" if path else name, top=not path)
            return out
        if isinstance(value, list):
            return [self.value(item, f"{path}[{i}]", top=False) for i, item in enumerate(value)]
        if isinstance(value, _NonFinite):
            if top and path in self.fields:
                self.refusal = Rejection(RejectReason.NON_FINITE_NUMBER,
                                         f"{_shown(path)}: {value.token} is not a JSON number (RFC 8259)")
                return None
            # Junk in a vendor field never costs the message (an alarm button must not be lost).
            self.sanitised.add(Sanitised.NON_FINITE)
            return None
        if isinstance(value, _Beyond):
            if top and path in self.fields:
                self.refusal = Rejection(RejectReason.OUT_OF_RANGE,
                                         f"{path}: {value.text[:24]} is a number no float8 can hold")
                return None
            self.sanitised.add(Sanitised.NUMBER)
            return None
        return value


def _shown(path: str) -> str:
    return repr(path[:80])[1:-1] if path else "payload"


def screen_json(payload: bytes, fields: frozenset[str],
                max_depth: int) -> tuple[bytes | None, tuple[Sanitised, ...]] | Rejection:
    """Find what PostgreSQL cannot hold in a JSON payload, before the schema is checked.

    Returns ``(None, ())`` when the payload can be stored as it is (or is not JSON at all:
    the schema check then says so), ``(document, sanitised)`` with a storable re-encoding when
    strings or vendor numbers had to be replaced, or a Rejection (``non_finite_number``,
    ``too_deep``, or ``out_of_range`` for a protocol field holding a number beyond float8).
    ``fields``: the names of the protocol's fields at the top level; any other is vendor data.
    """
    openers = payload.count(b"{") + payload.count(b"[")
    if openers <= max_depth and not _may_hold_unstorable(payload):
        return None, ()
    if openers > max_depth:
        depth = nesting_depth(payload)
        if depth > max_depth:
            return Rejection(RejectReason.TOO_DEEP,
                             f"objects and arrays nest {depth} deep, the limit is {max_depth}")
    try:
        text = payload.decode("utf-8")
        parsed = json.loads(text, parse_constant=_NonFinite, parse_int=_parse_int, parse_float=_parse_float)
    except (ValueError, RecursionError):  # not UTF-8 or not JSON: the schema check says which
        return None, ()
    if not isinstance(parsed, dict):
        return None, ()
    screen = _Screen(fields)
    cleaned = screen.value(parsed, "", top=False)
    if screen.refusal is not None:
        return screen.refusal
    if not screen.sanitised:
        return None, ()
    document = json.dumps(cleaned, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return document, tuple(sorted(screen.sanitised))
