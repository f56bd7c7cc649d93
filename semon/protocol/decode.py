"""Turn one MQTT message into a validated payload or a reasoned rejection (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ValidationError

from semon.protocol.codes import BOILER_EVENT_CODES, ELEVATOR_EVENT_CODES, EventCode
from semon.protocol.models import (
    BoilerTelemetry,
    DeviceEvent,
    DeviceState,
    ElevatorTelemetry,
    StatusMessage,
)
from semon.protocol.topics import Channel, Kind, Topic, TopicError, parse_topic

Payload = ElevatorTelemetry | BoilerTelemetry | DeviceEvent | StatusMessage


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
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_CODE = "unknown_code"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_STATUS = "bad_status"
    UNREGISTERED_DEVICE = "unregistered_device"
    STORAGE_ERROR = "storage_error"


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_payload_bytes: int = 16 * 1024
    max_future_skew: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Decoded:
    topic: Topic
    payload: Payload


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str
    kind: str | None = None
    device_id: str | None = None


_TELEMETRY_MODELS: dict[Kind, type[ElevatorTelemetry] | type[BoilerTelemetry]] = {
    Kind.ELEVATOR: ElevatorTelemetry,
    Kind.BOILER: BoilerTelemetry,
}
EVENT_CODES: dict[Kind, dict[int, EventCode]] = {
    Kind.ELEVATOR: ELEVATOR_EVENT_CODES,
    Kind.BOILER: BOILER_EVENT_CODES,
}
_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "string_too_long", "enum"}
)


def decode(topic_name: str, payload: bytes, now: datetime, limits: DecodeLimits) -> Decoded | Rejection:
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
        return _decode_status(topic, payload)

    model: type[BaseModel] = (
        DeviceEvent if topic.channel is Channel.EVENT else _TELEMETRY_MODELS[topic.kind]
    )
    try:
        frame = model.model_validate_json(payload)
    except ValidationError as exc:
        return _reject(topic, *_classify(exc))
    assert isinstance(frame, ElevatorTelemetry | BoilerTelemetry | DeviceEvent)

    if frame.device_id is not None and frame.device_id != topic.device_id:
        return _reject(topic,
            RejectReason.DEVICE_MISMATCH,
            f"payload device_id {frame.device_id!r} differs from topic device {topic.device_id!r}",
        )
    if frame.ts - now > limits.max_future_skew:
        return _reject(topic,
            RejectReason.FUTURE_TIMESTAMP,
            f"ts {frame.ts.isoformat()} is more than {limits.max_future_skew} ahead of {now.isoformat()}",
        )
    if isinstance(frame, DeviceEvent) and frame.code not in EVENT_CODES[topic.kind]:
        return _reject(topic, RejectReason.UNKNOWN_CODE, f"event code {frame.code} is not defined for {topic.kind}")
    return Decoded(topic, frame)


def _decode_status(topic: Topic, payload: bytes) -> Decoded | Rejection:
    text = payload.strip()
    if text in (b"online", b"offline"):
        return Decoded(topic, StatusMessage(state=DeviceState(text.decode())))
    try:
        return Decoded(topic, StatusMessage.model_validate_json(payload))
    except ValidationError as exc:
        reason, detail = _classify(exc)
        if reason is RejectReason.NOT_JSON:
            return _reject(topic, RejectReason.BAD_STATUS, "status is neither 'online', 'offline' nor JSON")
        return _reject(topic, reason, detail)


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
