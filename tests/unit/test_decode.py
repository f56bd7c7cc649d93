"""semon.protocol.decode with models, topics and codes: every outcome decode can produce."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semon.protocol.codes import DEFAULT_TABLE, code_table, known_codes, table_names
from semon.protocol.decode import (
    Decoded,
    DecodeLimits,
    Rejection,
    RejectReason,
    Sanitised,
    clean_text,
    decode,
    nesting_depth,
)
from semon.protocol.models import (
    BoilerTelemetry,
    DeviceEvent,
    DeviceState,
    Direction,
    ElevatorTelemetry,
    PowerSource,
    ServiceMode,
    StatusMessage,
    parse_timestamp,
)
from semon.protocol.topics import Channel, Kind, Topic
from tests.unit.frames import (
    BOILER_ID,
    ELEVATOR_ID,
    EXAMPLE_MS,
    EXAMPLE_UTC,
    LIMITS,
    NOW,
    NOW_MS,
    boiler_frame,
    decode_ok,
    decode_rejected,
    elevator_frame,
    event_frame,
    raw,
    topic,
    without,
)

ELEVATOR_TELEMETRY = topic("elevator", "telemetry")
BOILER_TELEMETRY = topic("boiler", "telemetry")
ELEVATOR_EVENT = topic("elevator", "event")
BOILER_EVENT = topic("boiler", "event")
ELEVATOR_STATUS = topic("elevator", "status")


# --- valid frames -------------------------------------------------------------------------


def test_valid_elevator_telemetry() -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame()))
    assert out.topic == Topic(Kind.ELEVATOR, ELEVATOR_ID, Channel.TELEMETRY)
    p = out.payload
    assert isinstance(p, ElevatorTelemetry)
    assert p.v == 1
    assert p.ts == EXAMPLE_UTC
    assert p.seq == 418203
    assert p.device_id == ELEVATOR_ID
    assert (p.running, p.door_locked, p.door_zone, p.passenger) == (True, True, False, True)
    assert p.direction is Direction.UP
    assert p.floor == 7
    assert p.mode is ServiceMode.NORMAL
    assert p.power is PowerSource.MAIN
    assert (p.speed_mps, p.trip_count, p.run_hours) == (1.75, 286514, 23817.5)


def test_valid_boiler_telemetry_with_epoch_ms_and_no_optional_fields() -> None:
    out = decode_ok(BOILER_TELEMETRY, raw(boiler_frame()))
    assert out.topic == Topic(Kind.BOILER, BOILER_ID, Channel.TELEMETRY)
    p = out.payload
    assert isinstance(p, BoilerTelemetry)
    assert p.v == 1
    assert p.device_id is None
    assert p.ts == EXAMPLE_UTC
    assert p.seq == 90211
    assert (p.burner_on, p.flame) == (True, True)
    assert (p.pressure_mpa, p.water_level_mm) == (0.92, -12.5)
    assert (p.outlet_temp_c, p.return_temp_c, p.flue_temp_c) == (179.4, 62.0, 168.3)
    assert (p.feedwater_flow_m3h, p.fuel_flow_m3h) == (3.8, 265.0)


def test_integer_is_accepted_for_a_number_field() -> None:
    p = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(speed_mps=2))).payload
    assert isinstance(p, ElevatorTelemetry)
    assert p.speed_mps == 2.0


@pytest.mark.parametrize("ts", [
    "2025-06-01T09:30:15.250+08:00",
    "2025-06-01T01:30:15.250Z",
    "2025-06-01T01:30:15.250+00:00",
    "2025-05-31T20:30:15.250-05:00",
    EXAMPLE_MS,
])
def test_every_timestamp_form_gives_the_same_utc_instant(ts: str | int) -> None:
    p = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(ts=ts))).payload
    assert isinstance(p, ElevatorTelemetry)
    assert p.ts == EXAMPLE_UTC
    assert p.ts.astimezone(UTC).replace(tzinfo=None) == datetime(2025, 6, 1, 1, 30, 15, 250_000)


def test_epoch_ms_decodes_as_utc() -> None:
    p = decode_ok(BOILER_TELEMETRY, raw(boiler_frame(ts=EXAMPLE_MS))).payload
    assert p.ts is not None
    assert p.ts.utcoffset() == timedelta(0)


def test_unknown_extra_fields_are_ignored() -> None:
    plain = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame())).payload
    extra = decode_ok(
        ELEVATOR_TELEMETRY,
        raw(elevator_frame(x_vendor={"board": "A7", "temps": [1, 2]}, x_note="hi", load_kg=None)),
    ).payload
    assert extra == plain
    assert not hasattr(extra, "x_vendor")


@pytest.mark.parametrize("payload", [
    raw(without(elevator_frame(), "v")),
    raw(elevator_frame(device_id=None)),
    raw(without(elevator_frame(), "device_id")),
])
def test_optional_common_fields_may_be_left_out(payload: bytes) -> None:
    p = decode_ok(ELEVATOR_TELEMETRY, payload).payload
    assert isinstance(p, ElevatorTelemetry)
    assert p.v == 1


# --- events -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "code"), sorted(
    {(k.value, c) for k in Kind for name in table_names(k) for c in code_table(name, k).codes}))
def test_every_code_of_every_table_is_accepted_for_its_kind(kind: str, code: int) -> None:
    out = decode_ok(topic(kind, "event"), raw(event_frame(code)))
    assert out.topic.channel is Channel.EVENT
    assert out.topic.kind is Kind(kind)
    assert isinstance(out.payload, DeviceEvent)
    assert out.payload.code == code
    assert out.payload.floor is None
    assert out.payload.detail is None


def test_event_with_floor_and_detail() -> None:
    p = decode_ok(ELEVATOR_EVENT, raw(event_frame(11, floor=-2, detail="困人 15 s"))).payload
    assert isinstance(p, DeviceEvent)
    assert (p.code, p.floor, p.detail, p.seq) == (11, -2, "困人 15 s", 418331)


@pytest.mark.parametrize("code", [91, 92, 93])
def test_a_code_of_another_table_is_accepted(code: int) -> None:
    """Chongqing's overrun and trapped codes are in no default table, yet stored: the device's
    own table judges them."""
    assert code not in code_table(DEFAULT_TABLE, Kind.ELEVATOR).codes
    assert code in known_codes(Kind.ELEVATOR)
    p = decode_ok(ELEVATOR_EVENT, raw(event_frame(code))).payload
    assert isinstance(p, DeviceEvent)
    assert p.code == code


@pytest.mark.parametrize(("event_topic", "code"), [
    (ELEVATOR_EVENT, 101),  # a boiler code on an elevator topic
    (ELEVATOR_EVENT, 140),
    (BOILER_EVENT, 11),  # an elevator code on a boiler topic
    (BOILER_EVENT, 1),
    (BOILER_EVENT, 93),
    (ELEVATOR_EVENT, 12),  # in range, defined for nobody
    (ELEVATOR_EVENT, 94),
    (ELEVATOR_EVENT, 999),
])
def test_code_not_defined_for_the_kind_is_unknown_code(event_topic: str, code: int) -> None:
    r = decode_rejected(event_topic, raw(event_frame(code)))
    assert r.reason is RejectReason.UNKNOWN_CODE
    assert str(code) in r.detail
    assert DEFAULT_TABLE in r.detail  # names the tables it looked in


@pytest.mark.parametrize("code", [0, 1000, -1])
def test_code_outside_1_to_999_is_out_of_range(code: int) -> None:
    assert decode_rejected(ELEVATOR_EVENT, raw(event_frame(code))).reason is RejectReason.OUT_OF_RANGE


# --- status -------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "state"), [
    (b"online", DeviceState.ONLINE),
    (b"offline", DeviceState.OFFLINE),
    (b"  offline\r\n", DeviceState.OFFLINE),
    (b"\tonline ", DeviceState.ONLINE),
])
def test_plain_status(payload: bytes, state: DeviceState) -> None:
    out = decode_ok(ELEVATOR_STATUS, payload)
    assert out.topic == Topic(Kind.ELEVATOR, ELEVATOR_ID, Channel.STATUS)
    assert out.payload == StatusMessage(state=state, ts=None)


def test_json_status_with_ts() -> None:
    out = decode_ok(topic("boiler", "status"), b'{"state":"offline","ts":"2025-06-01T09:30:15.250+08:00"}')
    assert out.payload == StatusMessage(state=DeviceState.OFFLINE, ts=parse_timestamp(EXAMPLE_UTC))


def test_json_status_without_ts_and_with_extra_fields() -> None:
    out = decode_ok(ELEVATOR_STATUS, b'{"state":"online","x_reason":"boot"}')
    assert out.payload == StatusMessage(state=DeviceState.ONLINE, ts=None)


@pytest.mark.parametrize(("payload", "reason"), [
    # an offline alarm dated 2999
    (b'{"state":"offline","ts":"2999-12-31T23:59:59+00:00"}', RejectReason.FUTURE_TIMESTAMP),
    # an online dated 2000 would clear an alarm before it was raised
    (b'{"state":"online","ts":"2000-01-01T00:00:00Z"}', RejectReason.STALE_TIMESTAMP),
    (b'{"state":"online","ts":946684800000}', RejectReason.STALE_TIMESTAMP),
    (raw({"state": "online", "ts": NOW_MS + 3_600_000}), RejectReason.FUTURE_TIMESTAMP),
    (raw({"state": "offline", "reason": "shutdown", "ts": NOW_MS - 92 * 86_400_000}), RejectReason.STALE_TIMESTAMP),
    (b'{"state":"offline","ts":"2025-06-01T09:30:15+23:59"}', RejectReason.BAD_TIMESTAMP),
])
def test_status_ts_gets_the_clock_checks_of_telemetry(payload: bytes, reason: RejectReason) -> None:
    # docs/protocol.md section 8: the rules date the state change by ts, so it must be plausible
    r = decode_rejected(ELEVATOR_STATUS, payload)
    assert r.reason is reason
    assert (r.kind, r.device_id) == ("elevator", ELEVATOR_ID)


def test_status_ts_on_the_clock_limits_is_accepted() -> None:
    for ts in (NOW_MS + 300_000, NOW_MS - 91 * 86_400_000):
        out = decode_ok(ELEVATOR_STATUS, raw({"state": "online", "ts": ts}))
        assert out.payload == StatusMessage(state=DeviceState.ONLINE, ts=parse_timestamp(ts))


@pytest.mark.parametrize("payload", [
    b"",
    b"ONLINE",
    b"Offline",
    b"on line",
    b"up",
    b'"online"',
    b"[]",
    b"null",
    b"42",
    b"{",
    b"\xff\xfe",
    b'\xef\xbb\xbf{"state":"online"}',
])
def test_status_that_is_neither_word_nor_json_object_is_bad_status(payload: bytes) -> None:
    r = decode_rejected(ELEVATOR_STATUS, payload)
    assert r.reason is RejectReason.BAD_STATUS
    assert (r.kind, r.device_id) == ("elevator", ELEVATOR_ID)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{}", RejectReason.MISSING_FIELD),
    (b'{"ts":1748741415250}', RejectReason.MISSING_FIELD),
    (b'{"state":"away"}', RejectReason.OUT_OF_RANGE),
    (b'{"state":"ONLINE"}', RejectReason.OUT_OF_RANGE),
    (b'{"state":"online","ts":"yesterday"}', RejectReason.BAD_TIMESTAMP),
    (b'{"state":"online","ts":946684799999}', RejectReason.BAD_TIMESTAMP),
])
def test_json_status_field_errors(payload: bytes, reason: RejectReason) -> None:
    assert decode_rejected(ELEVATOR_STATUS, payload).reason is reason


# --- topic --------------------------------------------------------------------------------


@pytest.mark.parametrize("topic_name", [
    f"xx/elevator/{ELEVATOR_ID}/telemetry",  # wrong root
    f"SE/elevator/{ELEVATOR_ID}/telemetry",
    f"/se/elevator/{ELEVATOR_ID}/telemetry",
    f"se/elevator/{ELEVATOR_ID}/telemetry/",
    f"se/elevator/{ELEVATOR_ID}/telemetry/extra",
    f"se/elevator/{ELEVATOR_ID}",  # too few levels
    "se/elevator",
    "se",
    "",
    f"se/elevator/{ELEVATOR_ID}/alarm",  # bad channel
    f"se/elevator/{ELEVATOR_ID}/Telemetry",
    f"se/elevator/{ELEVATOR_ID}/",
    "se/elevator//telemetry",  # malformed device id
    "se/elevator/-E1/telemetry",
    "se/elevator/_E1/telemetry",
    "se/elevator/.E1/telemetry",
    "se/elevator/E 1/telemetry",
    "se/elevator/E1\r/telemetry",
    "se/elevator/\nE1/telemetry",
    "se/elevator/E1+/telemetry",
    "se/elevator/E1#/telemetry",
    "se/elevator/电梯1/telemetry",
    f"se/elevator/{'A' * 65}/telemetry",
])
def test_bad_topic(topic_name: str) -> None:
    r = decode_rejected(topic_name, raw(elevator_frame()))
    assert r.reason is RejectReason.BAD_TOPIC


def test_bad_topic_rejection_names_what_it_can() -> None:
    r = decode_rejected("se/elevator/E 1/telemetry", b"{}")
    assert (r.reason, r.kind, r.device_id) == (RejectReason.BAD_TOPIC, "elevator", "E 1")
    r = decode_rejected("se", b"{}")
    assert (r.reason, r.kind, r.device_id) == (RejectReason.BAD_TOPIC, None, None)


@pytest.mark.parametrize("device_id", ["A", "1", "a" * 64, "E-1.2_x", "0b"])
def test_well_formed_device_ids(device_id: str) -> None:
    out = decode_ok(topic("elevator", "telemetry", device_id), raw(elevator_frame(device_id=None)))
    assert out.topic.device_id == device_id


def test_device_id_with_trailing_newline_is_bad_topic() -> None:
    r = decode_rejected("se/elevator/E1\n/telemetry", raw(elevator_frame(device_id=None)))
    assert r.reason is RejectReason.BAD_TOPIC


@pytest.mark.parametrize(("topic_name", "kind"), [
    (f"se/escalator/{ELEVATOR_ID}/telemetry", "escalator"),
    (f"se/Elevator/{ELEVATOR_ID}/telemetry", "Elevator"),
    (f"se//{ELEVATOR_ID}/telemetry", ""),
    ("se/crane/bad id/nowhere", "crane"),  # kind is checked before device id and channel
])
def test_unknown_kind(topic_name: str, kind: str) -> None:
    r = decode_rejected(topic_name, raw(elevator_frame()))
    assert r.reason is RejectReason.UNKNOWN_KIND
    assert r.kind == kind


# --- size -----------------------------------------------------------------------------------


def test_payload_exactly_at_the_limit_is_accepted_and_one_byte_more_is_oversized() -> None:
    payload = raw(elevator_frame())
    limits = DecodeLimits(max_payload_bytes=len(payload) + 10)
    padded = payload + b" " * 10
    assert len(padded) == limits.max_payload_bytes
    decode_ok(ELEVATOR_TELEMETRY, padded, limits)
    r = decode_rejected(ELEVATOR_TELEMETRY, padded + b" ", limits)
    assert r.reason is RejectReason.OVERSIZED
    assert (r.kind, r.device_id) == ("elevator", ELEVATOR_ID)
    assert str(len(padded) + 1) in r.detail
    assert str(limits.max_payload_bytes) in r.detail


def test_default_limit_is_16_kib() -> None:
    payload = raw(elevator_frame(x_pad=""))
    filler = b"x" * (16 * 1024 - len(payload))
    at_limit = payload.replace(b'"x_pad":""', b'"x_pad":"' + filler + b'"')
    assert len(at_limit) == 16 * 1024
    decode_ok(ELEVATOR_TELEMETRY, at_limit)
    over = at_limit.replace(b'"x_pad":"', b'"x_pad":"x')
    assert decode_rejected(ELEVATOR_TELEMETRY, over).reason is RejectReason.OVERSIZED


def test_size_is_checked_before_json_and_status() -> None:
    limits = DecodeLimits(max_payload_bytes=5)
    assert decode_rejected(ELEVATOR_TELEMETRY, b"garbage", limits).reason is RejectReason.OVERSIZED
    assert decode_rejected(ELEVATOR_STATUS, b"online", limits).reason is RejectReason.OVERSIZED


# --- not JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    b"",
    b"garbage",
    b"{",
    b'{"ts": 1748741415250, "seq": 1',
    b"[1, 2, 3]",
    b"[]",
    b'"a string"',
    b"42",
    b"null",
    b"true",
    b"\xff\xfe\x00",
    b'\xef\xbb\xbf{"seq":1}',  # UTF-8 with a byte order mark
])
@pytest.mark.parametrize("channel_topic", [ELEVATOR_TELEMETRY, BOILER_TELEMETRY, ELEVATOR_EVENT])
def test_not_json(channel_topic: str, payload: bytes) -> None:
    r = decode_rejected(channel_topic, payload)
    assert r.reason is RejectReason.NOT_JSON


def test_json_array_detail() -> None:
    assert decode_rejected(ELEVATOR_TELEMETRY, b"[1]").detail == "payload is not a JSON object"


# --- missing fields -------------------------------------------------------------------------


@pytest.mark.parametrize(("topic_name", "frame", "field"), [
    *((ELEVATOR_TELEMETRY, elevator_frame(), f) for f in (
        "ts", "seq", "running", "direction", "floor", "door_locked", "door_zone", "passenger",
        "mode", "power", "speed_mps", "trip_count", "run_hours",
    )),
    *((BOILER_TELEMETRY, boiler_frame(), f) for f in (
        "ts", "seq", "burner_on", "flame", "pressure_mpa", "water_level_mm", "outlet_temp_c",
        "return_temp_c", "flue_temp_c", "feedwater_flow_m3h", "fuel_flow_m3h",
    )),
    *((ELEVATOR_EVENT, event_frame(), f) for f in ("ts", "seq", "code")),
])
def test_missing_required_field(topic_name: str, frame: dict[str, Any], field: str) -> None:
    r = decode_rejected(topic_name, raw(without(frame, field)))
    assert r.reason is RejectReason.MISSING_FIELD
    assert r.detail.startswith(f"{field}:")


def test_missing_field_detail_counts_further_problems() -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, b'{"ts":1748741415250}')
    assert r.reason is RejectReason.MISSING_FIELD
    assert r.detail.startswith("seq:")
    assert r.detail.endswith("(+11 more)")


def test_telemetry_on_the_wrong_kind_misses_that_kinds_fields() -> None:
    r = decode_rejected(BOILER_TELEMETRY, raw(elevator_frame(device_id=None)))
    assert r.reason is RejectReason.MISSING_FIELD
    assert r.detail.startswith("burner_on:")


# --- wrong type ------------------------------------------------------------------------------


@pytest.mark.parametrize(("topic_name", "frame"), [
    (ELEVATOR_TELEMETRY, elevator_frame(floor="5")),  # string for an int
    (ELEVATOR_TELEMETRY, elevator_frame(floor=5.0)),  # float for an int
    (ELEVATOR_TELEMETRY, elevator_frame(floor=True)),
    (ELEVATOR_TELEMETRY, elevator_frame(seq="1")),
    (ELEVATOR_TELEMETRY, elevator_frame(seq=1.5)),
    (ELEVATOR_TELEMETRY, elevator_frame(trip_count=1.0)),
    (ELEVATOR_TELEMETRY, elevator_frame(running=1)),  # int for a bool
    (ELEVATOR_TELEMETRY, elevator_frame(running="true")),
    (ELEVATOR_TELEMETRY, elevator_frame(door_locked=0)),
    (ELEVATOR_TELEMETRY, elevator_frame(door_zone=None)),  # null for a required field
    (ELEVATOR_TELEMETRY, elevator_frame(speed_mps="1.75")),
    (ELEVATOR_TELEMETRY, elevator_frame(run_hours=[1])),
    (ELEVATOR_TELEMETRY, elevator_frame(device_id=123)),
    (BOILER_TELEMETRY, boiler_frame(flame=0)),
    (BOILER_TELEMETRY, boiler_frame(pressure_mpa=None)),
    (BOILER_TELEMETRY, boiler_frame(fuel_flow_m3h={"v": 1})),
    (ELEVATOR_EVENT, event_frame("01")),
    (ELEVATOR_EVENT, event_frame(11.0)),
    (ELEVATOR_EVENT, event_frame(11, detail=5)),
    (ELEVATOR_EVENT, event_frame(11, floor="7")),
])
def test_wrong_type(topic_name: str, frame: dict[str, Any]) -> None:
    assert decode_rejected(topic_name, raw(frame)).reason is RejectReason.WRONG_TYPE


@pytest.mark.parametrize(("topic_name", "frame"), [
    (ELEVATOR_TELEMETRY, elevator_frame(direction=None)),
    (ELEVATOR_TELEMETRY, elevator_frame(direction=1)),
    (ELEVATOR_TELEMETRY, elevator_frame(mode=True)),
    (ELEVATOR_STATUS, {"state": None}),
])
def test_wrong_json_type_for_an_enumerated_field_is_wrong_type(
    topic_name: str, frame: dict[str, Any]
) -> None:
    assert decode_rejected(topic_name, raw(frame)).reason is RejectReason.WRONG_TYPE


# --- out of range ----------------------------------------------------------------------------

OUT_OF_RANGE_CASES = [
    (ELEVATOR_TELEMETRY, elevator_frame, "floor", -10),
    (ELEVATOR_TELEMETRY, elevator_frame, "floor", 200),
    (ELEVATOR_TELEMETRY, elevator_frame, "speed_mps", -0.001),
    (ELEVATOR_TELEMETRY, elevator_frame, "speed_mps", 20.001),
    (ELEVATOR_TELEMETRY, elevator_frame, "trip_count", -1),
    (ELEVATOR_TELEMETRY, elevator_frame, "trip_count", 2**53 + 1),
    (ELEVATOR_TELEMETRY, elevator_frame, "run_hours", -0.5),
    (ELEVATOR_TELEMETRY, elevator_frame, "run_hours", 1_000_000.5),
    (ELEVATOR_TELEMETRY, elevator_frame, "seq", -1),
    (ELEVATOR_TELEMETRY, elevator_frame, "seq", 2**63),
    (ELEVATOR_TELEMETRY, elevator_frame, "direction", "sideways"),
    (ELEVATOR_TELEMETRY, elevator_frame, "direction", "UP"),
    (ELEVATOR_TELEMETRY, elevator_frame, "mode", "maintenance"),
    (ELEVATOR_TELEMETRY, elevator_frame, "power", "solar"),
    (ELEVATOR_TELEMETRY, elevator_frame, "device_id", "A" * 65),
    (BOILER_TELEMETRY, boiler_frame, "pressure_mpa", -0.01),
    (BOILER_TELEMETRY, boiler_frame, "pressure_mpa", 40.01),
    (BOILER_TELEMETRY, boiler_frame, "water_level_mm", -1000.5),
    (BOILER_TELEMETRY, boiler_frame, "water_level_mm", 1000.5),
    (BOILER_TELEMETRY, boiler_frame, "outlet_temp_c", -40.1),
    (BOILER_TELEMETRY, boiler_frame, "return_temp_c", 600.1),
    (BOILER_TELEMETRY, boiler_frame, "flue_temp_c", 1200.1),
    (BOILER_TELEMETRY, boiler_frame, "feedwater_flow_m3h", 1000.1),
    (BOILER_TELEMETRY, boiler_frame, "fuel_flow_m3h", 100_000.1),
    (ELEVATOR_EVENT, event_frame, "floor", 200),
    (ELEVATOR_EVENT, event_frame, "detail", "x" * 201),
]


@pytest.mark.parametrize(("topic_name", "build", "field", "value"), OUT_OF_RANGE_CASES)
def test_out_of_range(topic_name: str, build: Any, field: str, value: object) -> None:
    r = decode_rejected(topic_name, raw(build(**{field: value})))
    assert r.reason is RejectReason.OUT_OF_RANGE
    assert r.detail.startswith(f"{field}:")


@pytest.mark.parametrize(("topic_name", "build", "field", "value"), [
    (ELEVATOR_TELEMETRY, elevator_frame, "floor", -9),
    (ELEVATOR_TELEMETRY, elevator_frame, "floor", 199),
    (ELEVATOR_TELEMETRY, elevator_frame, "speed_mps", 0),
    (ELEVATOR_TELEMETRY, elevator_frame, "speed_mps", 20),
    (ELEVATOR_TELEMETRY, elevator_frame, "trip_count", 2**53),
    (ELEVATOR_TELEMETRY, elevator_frame, "run_hours", 1_000_000),
    (ELEVATOR_TELEMETRY, elevator_frame, "seq", 0),
    (ELEVATOR_TELEMETRY, elevator_frame, "seq", 2**63 - 1),
    (ELEVATOR_TELEMETRY, elevator_frame, "direction", "stop"),
    (ELEVATOR_TELEMETRY, elevator_frame, "mode", "out_of_service"),
    (ELEVATOR_TELEMETRY, elevator_frame, "power", "battery"),
    (BOILER_TELEMETRY, boiler_frame, "pressure_mpa", 40),
    (BOILER_TELEMETRY, boiler_frame, "water_level_mm", -1000),
    (BOILER_TELEMETRY, boiler_frame, "outlet_temp_c", -40),
    (BOILER_TELEMETRY, boiler_frame, "flue_temp_c", 1200),
    (BOILER_TELEMETRY, boiler_frame, "fuel_flow_m3h", 100_000),
    (ELEVATOR_EVENT, event_frame, "floor", -9),
    (ELEVATOR_EVENT, event_frame, "detail", "x" * 200),
])
def test_values_on_a_bound_are_accepted(topic_name: str, build: Any, field: str, value: object) -> None:
    p = decode_ok(topic_name, raw(build(**{field: value}))).payload
    assert getattr(p, field) == value


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_never_valid(literal: bytes) -> None:
    payload = raw(elevator_frame(speed_mps=1.75)).replace(b"1.75", literal)
    assert literal in payload
    r = decode_rejected(ELEVATOR_TELEMETRY, payload)
    assert r.reason is RejectReason.NON_FINITE_NUMBER
    assert r.detail == f"speed_mps: {literal.decode()} is not a JSON number (RFC 8259)"


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize("ts", [
    "2025-06-01T09:30:15",  # no offset
    "2025-06-01T09:30:15.250",
    "2025-06-01",
    "garbage",
    "",
    "yesterday at noon",
    "2025-13-01T00:00:00Z",
    "2025-06-01T25:00:00Z",
    "1999-12-31T23:59:59Z",  # before 2000
    "3000-01-01T00:00:00Z",
    "2025-06-01T09:30:15+23:59",  # no time zone is that far from UTC
    "2025-06-01T09:30:15-23:59",
    "2025-06-01T09:30:15+14:01",
    "2025-06-01T09:30:15-14:01",
    "2025-06-01T09:30:15+15:00",
    "2025-06-01T09:30:15+05:60",  # minutes beyond 59 (was read as +06:00)
    "2025-06-01T09:30:15+00:99",
    "2025-06-01T09:30:15.+08:00",  # a decimal point without digits
    946_684_799_999,  # epoch ms just before 2000
    1_748_741_415,  # epoch seconds read as ms: 1970
    0,
    -1,
    1_748_741_415_250.0,  # a float is not integer epoch ms
    True,
    None,
    [2025, 6, 1],
])
def test_bad_timestamp(ts: object) -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(ts=ts)))
    assert r.reason is RejectReason.BAD_TIMESTAMP
    assert r.detail.startswith("ts:")


def test_first_epoch_ms_of_2000_is_accepted_by_the_format() -> None:
    no_age_limit = DecodeLimits(max_age=timedelta(days=36500))
    p = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(ts=946_684_800_000)), no_age_limit).payload
    assert p.ts == datetime(2000, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("ts", "expected"), [
    ("2025-06-01T09:30:15+14:00", datetime(2025, 5, 31, 19, 30, 15, tzinfo=UTC)),  # Kiribati
    ("2025-06-01T09:30:15-12:00", datetime(2025, 6, 1, 21, 30, 15, tzinfo=UTC)),
    ("2025-06-01T09:30:15-14:00", datetime(2025, 6, 1, 23, 30, 15, tzinfo=UTC)),
    ("2025-06-01T09:30:15+05:45", datetime(2025, 6, 1, 3, 45, 15, tzinfo=UTC)),  # Nepal
    ("2025-06-01T01:30:15-00:00", datetime(2025, 6, 1, 1, 30, 15, tzinfo=UTC)),
])
def test_offsets_of_real_time_zones_are_accepted(ts: str, expected: datetime) -> None:
    wide = DecodeLimits(max_future_skew=timedelta(days=1))
    assert decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(ts=ts)), wide).payload.ts == expected


def test_the_listed_far_offset_is_bad_timestamp() -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(ts="2000-01-01T00:00:00+23:59")))
    assert r.reason is RejectReason.BAD_TIMESTAMP
    assert r.detail == "ts: Value error, timestamp offset is not a time zone (at most ±14:00, minutes 00-59)"


@pytest.mark.parametrize(("ts", "micro"), [
    ("2025-06-01T09:30:15.2501234567891+08:00", 250_123),  # 13 digits
    ("2025-06-01T09:30:15.250000000000000000000+08:00", 250_000),  # 21 digits
    ("2025-06-01T09:30:15.999999999+08:00", 999_999),  # dropped, not rounded into the next second
    ("2025-06-01T09:30:15.1+08:00", 100_000),
    ("2025-06-01T09:30:15.123456+08:00", 123_456),
])
def test_fractional_digits_beyond_microseconds_are_dropped(ts: str, micro: int) -> None:
    p = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(ts=ts))).payload
    assert p.ts == datetime(2025, 6, 1, 1, 30, 15, micro, tzinfo=UTC)


@pytest.mark.parametrize("ts", [
    "2025-06-01T09:30+08:00",  # no seconds
    "20250601T093015+0800",  # ISO 8601 basic format
    "2025-W22-7T09:30:15+08:00",  # ISO week date
    "2025-06-01T09:30:15+08",  # offset without minutes
    "2025-06-01T09:30:15,250+08:00",  # decimal comma
    "2025-06-01T09:30:15+08:00:30",  # offset with seconds
])
def test_iso_8601_forms_that_are_not_rfc_3339_are_bad_timestamp(ts: str) -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(ts=ts)))
    assert r.reason is RejectReason.BAD_TIMESTAMP


def test_rfc_3339_lower_case_t_and_z_are_accepted() -> None:
    p = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(ts="2025-06-01t01:30:15.250z"))).payload
    assert p.ts == EXAMPLE_UTC


@pytest.mark.parametrize(("skew", "ahead_ms", "accepted"), [
    (timedelta(minutes=5), 5 * 60_000, True),  # exactly the allowed skew
    (timedelta(minutes=5), 5 * 60_000 - 1, True),
    (timedelta(minutes=5), 5 * 60_000 + 1, False),  # 1 ms beyond
    (timedelta(minutes=5), 3_600_000, False),
    (timedelta(seconds=10), 10_000, True),
    (timedelta(seconds=10), 10_001, False),
    (timedelta(0), 0, True),
    (timedelta(0), 1, False),
])
def test_future_timestamp(skew: timedelta, ahead_ms: int, accepted: bool) -> None:
    limits = DecodeLimits(max_future_skew=skew)
    payload = raw(elevator_frame(ts=NOW_MS + ahead_ms))
    if accepted:
        p = decode_ok(ELEVATOR_TELEMETRY, payload, limits).payload
        assert p.ts == NOW + timedelta(milliseconds=ahead_ms)
    else:
        r = decode_rejected(ELEVATOR_TELEMETRY, payload, limits)
        assert r.reason is RejectReason.FUTURE_TIMESTAMP
        assert (r.kind, r.device_id) == ("elevator", ELEVATOR_ID)


def test_future_timestamp_with_offset_and_on_events() -> None:
    # 10:05:00.001+08:00 is 02:05:00.001Z: 1 ms beyond the default 5 minutes
    assert decode_rejected(
        ELEVATOR_EVENT, raw(event_frame(11, ts="2025-06-01T10:05:00.001+08:00"))
    ).reason is RejectReason.FUTURE_TIMESTAMP
    decode_ok(ELEVATOR_EVENT, raw(event_frame(11, ts="2025-06-01T10:05:00+08:00")))


def test_late_timestamps_within_the_retention_window_are_accepted() -> None:
    p = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(ts="2025-03-05T04:05:06Z"))).payload
    assert p.ts == datetime(2025, 3, 5, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(("max_age", "behind_ms", "accepted"), [
    (timedelta(days=91), 91 * 86_400_000, True),  # exactly the limit (default: 90 days + 1)
    (timedelta(days=91), 91 * 86_400_000 + 1, False),  # 1 ms beyond
    (timedelta(days=91), 20 * 365 * 86_400_000, False),
    (timedelta(days=2), 2 * 86_400_000, True),
    (timedelta(days=2), 2 * 86_400_000 + 1, False),
])
def test_stale_timestamp(max_age: timedelta, behind_ms: int, accepted: bool) -> None:
    limits = DecodeLimits(max_age=max_age)
    for topic_name, frame in ((ELEVATOR_TELEMETRY, elevator_frame), (BOILER_TELEMETRY, boiler_frame),
                              (ELEVATOR_EVENT, lambda **kw: event_frame(11, **kw))):
        payload = raw(frame(ts=NOW_MS - behind_ms))
        if accepted:
            assert decode_ok(topic_name, payload, limits).payload.ts == NOW - timedelta(milliseconds=behind_ms)
        else:
            r = decode_rejected(topic_name, payload, limits)
            assert r.reason is RejectReason.STALE_TIMESTAMP
            assert r.detail.startswith("ts ")
            assert f"is more than {max_age.days} days before {NOW.isoformat()}" in r.detail


def test_a_burst_over_3000_old_days_is_stale_once_each() -> None:
    # The reported burst: 3,000 frames with ts on 3,000 different days from 2000-01-02.
    first = datetime(2000, 1, 2, tzinfo=UTC)
    outcomes = {decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(
        seq=i, ts=(first + timedelta(days=i)).isoformat().replace("+00:00", "Z")))).reason for i in range(3000)}
    assert outcomes == {RejectReason.STALE_TIMESTAMP}


def test_old_events_are_stale_too() -> None:
    r = decode_rejected(ELEVATOR_EVENT, raw(event_frame(90, ts="2001-02-03T04:05:06Z")))
    assert r.reason is RejectReason.STALE_TIMESTAMP


# --- device id, version ----------------------------------------------------------------------


def test_device_mismatch() -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(device_id="31106301022019000124")))
    assert r.reason is RejectReason.DEVICE_MISMATCH
    assert (r.kind, r.device_id) == ("elevator", ELEVATOR_ID)
    assert "31106301022019000124" in r.detail


def test_device_mismatch_on_events_is_case_sensitive() -> None:
    r = decode_rejected(topic("boiler", "event", "b1"), raw(event_frame(101, device_id="B1")))
    assert r.reason is RejectReason.DEVICE_MISMATCH


@pytest.mark.parametrize("v", [2, 0, -1, "1", "v1"])
def test_unsupported_version(v: object) -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(v=v)))
    assert r.reason is RejectReason.UNSUPPORTED_VERSION


def test_unsupported_version_on_events() -> None:
    r = decode_rejected(ELEVATOR_EVENT, raw(event_frame(11, v=2)))
    assert r.reason is RejectReason.UNSUPPORTED_VERSION


@pytest.mark.parametrize("v", [True, 1.0])
def test_version_of_the_wrong_json_type_is_rejected(v: object) -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(v=v)))
    assert r.reason in {RejectReason.UNSUPPORTED_VERSION, RejectReason.WRONG_TYPE}


def test_null_version_means_not_given() -> None:
    p = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(v=None))).payload
    assert isinstance(p, ElevatorTelemetry)
    assert p.v is None


# --- order of checks (protocol.md section 10) -------------------------------------------------


def test_topic_is_checked_before_size() -> None:
    r = decode_rejected("se/elevator/E1", b"x" * 100, DecodeLimits(max_payload_bytes=10))
    assert r.reason is RejectReason.BAD_TOPIC


def test_schema_is_checked_before_device_id_and_clock() -> None:
    frame = elevator_frame(device_id="OTHER", ts=NOW_MS + 3_600_000, floor=500)
    assert decode_rejected(ELEVATOR_TELEMETRY, raw(frame)).reason is RejectReason.OUT_OF_RANGE


def test_device_id_is_checked_before_clock() -> None:
    frame = elevator_frame(device_id="OTHER", ts=NOW_MS + 3_600_000)
    assert decode_rejected(ELEVATOR_TELEMETRY, raw(frame)).reason is RejectReason.DEVICE_MISMATCH


def test_clock_is_checked_before_event_code() -> None:
    frame = event_frame(12, ts=NOW_MS + 3_600_000)
    assert decode_rejected(ELEVATOR_EVENT, raw(frame)).reason is RejectReason.FUTURE_TIMESTAMP


def test_first_field_in_table_order_decides() -> None:
    # version before ts, ts before seq, seq before the kind's own fields
    frame = elevator_frame(v=2, ts="bad", seq=-1, floor="x")
    assert decode_rejected(ELEVATOR_TELEMETRY, raw(frame)).reason is RejectReason.UNSUPPORTED_VERSION
    frame = elevator_frame(ts="bad", seq=-1, floor="x")
    assert decode_rejected(ELEVATOR_TELEMETRY, raw(frame)).reason is RejectReason.BAD_TIMESTAMP
    frame = elevator_frame(seq=-1, floor="x")
    assert decode_rejected(ELEVATOR_TELEMETRY, raw(frame)).reason is RejectReason.OUT_OF_RANGE


# --- values PostgreSQL cannot hold (docs/protocol.md, section 4.2) ----------------------------


def _with_raw(frame: dict[str, Any], field: str, literal: bytes) -> bytes:
    """``frame`` with ``field`` set to the raw JSON text ``literal`` (which json.dumps cannot write)."""
    marker = "@@MARKER@@"
    return raw({**frame, field: marker}).replace(f'"{marker}"'.encode(), literal)


def _stored(out: Any) -> bytes:
    return out.document if out.document is not None else b""


def test_nul_in_a_vendor_field_is_kept_with_the_text_sanitised() -> None:
    # issue 10: one frame with "x_note": "\u0000" froze the device-state writes
    out = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(x_note="\u0000")))
    assert out.sanitised == (Sanitised.NUL,)
    assert json.loads(_stored(out))["x_note"] == "\ufffd"
    assert b"\\u0000" not in _stored(out)
    assert out.payload == decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame())).payload


@pytest.mark.parametrize("code", [11, 90, 1, 5])
def test_safety_event_with_nul_in_detail_is_kept(code: int) -> None:
    # issue 10: an event whose detail held U+0000 made PostgreSQL refuse its whole batch
    out = decode_ok(ELEVATOR_EVENT, raw(event_frame(code, detail="door\u0000jam")))
    assert isinstance(out.payload, DeviceEvent)
    assert out.payload.code == code
    assert out.payload.detail == "door\ufffdjam"
    assert out.sanitised == (Sanitised.NUL,)


def test_nul_in_a_nested_vendor_key_is_sanitised() -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(x_board={"a\u0000b": ["\u0000", {"\u0000": 1}]})))
    assert json.loads(_stored(out))["x_board"] == {"a\ufffdb": ["\ufffd", {"\ufffd": 1}]}


@pytest.mark.parametrize("escape", [b'"\\ud800"', b'"\\uDFFF"', b'"x\\udc00\\ud800y"', b'"\\ud800\\u0000"'])
def test_lone_surrogates_are_sanitised_in_vendor_fields_and_detail(escape: bytes) -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, _with_raw(elevator_frame(), "x_note", escape))
    assert Sanitised.SURROGATE in out.sanitised
    note = json.loads(_stored(out))["x_note"]
    assert "\ufffd" in note
    assert not any("\ud800" <= c <= "\udfff" for c in note)
    event = decode_ok(ELEVATOR_EVENT, _with_raw(event_frame(90), "detail", escape)).payload
    assert isinstance(event, DeviceEvent)
    assert event.code == 90
    assert event.detail is not None and "\ufffd" in event.detail


def test_a_valid_surrogate_pair_is_one_character_and_untouched() -> None:
    out = decode_ok(ELEVATOR_EVENT, _with_raw(event_frame(11), "detail", b'"\\ud83d\\ude00"'))
    assert isinstance(out.payload, DeviceEvent)
    assert out.payload.detail == "\U0001f600"
    assert out.sanitised == ()


def test_nul_in_a_status_reason_is_sanitised() -> None:
    out = decode_ok(ELEVATOR_STATUS, b'{"state": "offline", "reason": "shut\\u0000down"}')
    assert isinstance(out.payload, StatusMessage)
    assert out.payload.reason == "shut\ufffddown"


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("mode", "normal\u0000", RejectReason.OUT_OF_RANGE),
    ("ts", "2025-06-01T09:30:15.250+08:00\u0000", RejectReason.BAD_TIMESTAMP),
    ("device_id", ELEVATOR_ID + "\u0000", RejectReason.DEVICE_MISMATCH),
])
def test_nul_in_a_protocol_field_is_rejected_by_that_fields_rule(field: str, value: str,
                                                                 reason: RejectReason) -> None:
    assert decode_rejected(ELEVATOR_TELEMETRY, raw(elevator_frame(**{field: value}))).reason is reason


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize(("topic_name", "frame", "field"), [
    (ELEVATOR_TELEMETRY, elevator_frame(), "floor"),  # required integer
    (ELEVATOR_TELEMETRY, elevator_frame(), "run_hours"),  # required number
    (BOILER_TELEMETRY, boiler_frame(), "pressure_mpa"),
    (ELEVATOR_EVENT, event_frame(11), "floor"),
])
def test_nan_and_infinity_in_a_protocol_field_are_non_finite_number(literal: bytes, topic_name: str,
                                                                    frame: dict[str, Any], field: str) -> None:
    # issue 10: NaN in a required field was reported as out_of_range
    r = decode_rejected(topic_name, _with_raw(frame, field, literal))
    assert r.reason is RejectReason.NON_FINITE_NUMBER
    assert r.detail == f"{field}: {literal.decode()} is not a JSON number (RFC 8259)"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize(("topic_name", "frame", "field"), [
    (ELEVATOR_TELEMETRY, elevator_frame(), "x_note"),
    (ELEVATOR_EVENT, event_frame(90), "x_battery_v"),  # an alarm button is never lost over junk
    (ELEVATOR_STATUS, {"state": "online"}, "x_rssi"),
])
def test_nan_and_infinity_in_a_vendor_field_become_null_and_the_message_is_kept(
        literal: bytes, topic_name: str, frame: dict[str, Any], field: str) -> None:
    # issue 10: accepted as it was, then froze the device-state writes of the whole fleet
    out = decode_ok(topic_name, _with_raw(frame, field, literal))
    assert out.sanitised == (Sanitised.NON_FINITE,)
    assert out.document is not None
    assert json.loads(out.document)[field] is None


def test_nan_nested_in_a_vendor_field_becomes_null() -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, _with_raw(elevator_frame(), "x_a", b'{"b": [1, NaN]}'))
    assert out.document is not None
    assert json.loads(out.document)["x_a"] == {"b": [1, None]}
    assert out.sanitised == (Sanitised.NON_FINITE,)


def test_nan_inside_a_string_is_just_text() -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(x_note="NaN, Infinity and -Infinity")))
    assert out.document is None
    assert out.sanitised == ()


def test_vendor_field_nested_255_deep_is_too_deep_not_not_json() -> None:
    # issue 10: a valid frame with a vendor field nested ~255 levels was reported not_json
    r = decode_rejected(ELEVATOR_TELEMETRY, _with_raw(elevator_frame(), "x_deep", b"[" * 255 + b"]" * 255))
    assert r.reason is RejectReason.TOO_DEEP
    assert r.detail == "objects and arrays nest 256 deep, the limit is 32"


def test_nesting_up_to_the_limit_is_accepted_and_one_more_is_too_deep() -> None:
    # the payload object itself is level 1
    at_limit = _with_raw(elevator_frame(), "x_deep", b"[" * 31 + b"]" * 31)
    assert decode_ok(ELEVATOR_TELEMETRY, at_limit).sanitised == ()
    over = _with_raw(elevator_frame(), "x_deep", b"[" * 32 + b"]" * 32)
    assert decode_rejected(ELEVATOR_TELEMETRY, over).reason is RejectReason.TOO_DEEP
    shallow = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(**{f"x_{i}": {} for i in range(40)})))
    assert shallow.sanitised == ()


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, raw(elevator_frame(x_note="[" * 100 + "{" * 100)))
    assert out.sanitised == ()


@pytest.mark.parametrize("value", [b"1e999999", b"-1e400", b"1e-999", b"9" * 400, b"-" + b"1" * 5000])
def test_a_vendor_number_a_float8_cannot_hold_is_replaced_by_null(value: bytes) -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, _with_raw(elevator_frame(), "x_big", value))
    assert out.sanitised == (Sanitised.NUMBER,)
    assert json.loads(_stored(out))["x_big"] is None


@pytest.mark.parametrize(("field", "value"), [
    ("speed_mps", b"1e999"), ("run_hours", b"-1e400"), ("seq", b"9" * 400), ("floor", b"1" * 5000),
])
def test_a_protocol_number_a_float8_cannot_hold_is_out_of_range(field: str, value: bytes) -> None:
    r = decode_rejected(ELEVATOR_TELEMETRY, _with_raw(elevator_frame(), field, value))
    assert r.reason is RejectReason.OUT_OF_RANGE
    assert r.detail.startswith(f"{field}: ")


def test_big_vendor_numbers_a_float8_holds_are_kept_as_sent() -> None:
    out = decode_ok(ELEVATOR_TELEMETRY, _with_raw(elevator_frame(), "x_big", b"1" * 300 + b"e5"))
    assert out.document is None


@pytest.mark.parametrize("payload", [
    b'{"ts": 1, "x": "\xff"}',  # invalid UTF-8
    b'{"ts": 1, "x": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8: not UTF-8
    b'\xef\xbb\xbf{"ts": 1}',  # byte order mark
    b'{"x": "a\x00b"}',  # a raw NUL byte inside a string: a control character
])
def test_invalid_utf8_and_raw_control_bytes_are_not_json(payload: bytes) -> None:
    assert decode_rejected(ELEVATOR_TELEMETRY, payload).reason is RejectReason.NOT_JSON


def test_clean_text_replaces_what_postgresql_cannot_hold() -> None:
    assert clean_text("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert clean_text("plain 困人") == "plain 困人"


# --- properties: decode never raises, and what it keeps PostgreSQL can hold -------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False), st.text(),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
_tokens = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b'"\\u0000"', b'"\\ud800"', b'"\\udfff\\ud800"',
                           b"1e99999", b"-1e-99999", b"9" * 400, b"[" * 40 + b"]" * 40, b'"\xff"', b"{}"])
_topics = st.sampled_from([ELEVATOR_TELEMETRY, BOILER_TELEMETRY, ELEVATOR_EVENT, BOILER_EVENT, ELEVATOR_STATUS])
_known = {"reason", "state", "detail", "x_note", "floor", "speed_mps", "seq", "ts", "code"}
_REASONS = set(RejectReason)


def _storable(text: str) -> bool:
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def _assert_postgresql_holds(out: Decoded, payload: bytes) -> None:
    if out.topic.channel is Channel.STATUS and payload.strip() in (b"online", b"offline"):
        return  # the plain-text status (whitespace around it allowed): only its state is kept
    document = out.document if out.document is not None else payload
    parsed = json.loads(document.decode("utf-8"), parse_constant=lambda t: pytest.fail(f"{t} kept"))
    stack = [parsed]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            assert all(_storable(k) for k in value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            assert _storable(value)
        elif isinstance(value, float):
            assert math.isfinite(value)
    assert nesting_depth(document) <= LIMITS.max_depth
    for text in (getattr(out.payload, "detail", None), getattr(out.payload, "reason", None)):
        assert text is None or _storable(text)


def _check(topic_name: str, payload: bytes) -> None:
    out = decode(topic_name, payload, NOW, LIMITS)
    assert isinstance(out, Decoded | Rejection)
    if isinstance(out, Rejection):
        assert out.reason in _REASONS
        assert out.detail
    else:
        _assert_postgresql_holds(out, payload)


@settings(max_examples=400, deadline=None)
@given(topic_name=_topics, extra=st.dictionaries(st.text(max_size=10), _json_values, max_size=5),
       known=st.dictionaries(st.sampled_from(sorted(_known)), _json_values, max_size=3))
def test_any_json_payload_decodes_or_is_rejected_with_a_known_reason(
        topic_name: str, extra: dict[str, Any], known: dict[str, Any]) -> None:
    base = event_frame(90) if topic_name.endswith("event") else (
        {"state": "online"} if topic_name.endswith("status") else
        elevator_frame() if "elevator" in topic_name else boiler_frame())
    payload = json.dumps({**base, **known, **extra}).encode("utf-8", "surrogatepass")
    _check(topic_name, payload)


@settings(max_examples=400, deadline=None)
@given(topic_name=_topics, field=st.sampled_from(sorted(_known | {"x_v", "x_w"})), token=_tokens,
       nested=st.booleans())
def test_hostile_tokens_anywhere_decode_or_are_rejected_with_a_known_reason(
        topic_name: str, field: str, token: bytes, nested: bool) -> None:
    base = event_frame(90) if topic_name.endswith("event") else (
        {"state": "online"} if topic_name.endswith("status") else
        elevator_frame() if "elevator" in topic_name else boiler_frame())
    literal = b'{"a": [' + token + b"]}" if nested else token
    out = decode(topic_name, _with_raw(base, field, literal), NOW, LIMITS)
    if token in (b"NaN", b"Infinity", b"-Infinity"):
        if field.startswith("x_"):  # vendor data never costs the message: the value becomes null
            if isinstance(out, Decoded):
                assert Sanitised.NON_FINITE in out.sanitised
            else:  # refused for another reason (this base frame is no valid message of the topic)
                assert out.reason is not RejectReason.NON_FINITE_NUMBER
        else:  # never stored as it came
            assert isinstance(out, Rejection) or Sanitised.NON_FINITE in out.sanitised
    _check(topic_name, _with_raw(base, field, literal))


@settings(max_examples=300, deadline=None)
@given(topic_name=_topics, payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(topic_name: str, payload: bytes) -> None:
    _check(topic_name, payload)


# --- the clock window, over generated timestamps --------------------------------------------

_MS_2000, _MS_3000 = 946_684_800_000, 32_503_680_000_000
_CHANNELS = st.sampled_from([
    (ELEVATOR_TELEMETRY, elevator_frame), (BOILER_TELEMETRY, boiler_frame),
    (ELEVATOR_EVENT, lambda **kw: event_frame(90, **kw)),
    (ELEVATOR_STATUS, lambda **kw: {"state": "offline", **kw}),
])


@settings(max_examples=500, deadline=None)
@given(channel=_CHANNELS, skew_s=st.integers(0, 3600), age_days=st.integers(1, 4000),
       ts=st.one_of(st.integers(_MS_2000, _MS_3000 - 1),
                    st.integers(NOW_MS - 200 * 86_400_000, NOW_MS + 7_200_000)),
       offset_min=st.integers(-14 * 60, 14 * 60), as_text=st.booleans())
def test_a_timestamp_is_kept_exactly_when_it_lies_in_the_clock_window(
        channel: Any, skew_s: int, age_days: int, ts: int, offset_min: int, as_text: bool) -> None:
    topic_name, build = channel
    limits = DecodeLimits(max_future_skew=timedelta(seconds=skew_s), max_age=timedelta(days=age_days))
    at = datetime.fromtimestamp(ts / 1000, UTC)
    local = at.astimezone(timezone(timedelta(minutes=offset_min)))
    if as_text and 2000 <= local.year < 3000:
        sent: object = local.isoformat(timespec="milliseconds")
    else:
        sent = ts
    out = decode(topic_name, raw(build(ts=sent)), NOW, limits)
    if at - NOW > limits.max_future_skew:
        assert isinstance(out, Rejection) and out.reason is RejectReason.FUTURE_TIMESTAMP
    elif NOW - at > limits.max_age:
        assert isinstance(out, Rejection) and out.reason is RejectReason.STALE_TIMESTAMP
    else:
        assert isinstance(out, Decoded) and out.payload.ts == at


@settings(max_examples=300, deadline=None)
@given(sign=st.sampled_from("+-"), hours=st.integers(0, 99), minutes=st.integers(0, 99))
def test_an_offset_is_accepted_exactly_when_it_is_a_time_zone(sign: str, hours: int, minutes: int) -> None:
    ts = f"2025-06-01T01:30:15{sign}{hours:02d}:{minutes:02d}"
    wide = DecodeLimits(max_future_skew=timedelta(days=2), max_age=timedelta(days=2))
    out = decode(ELEVATOR_TELEMETRY, raw(elevator_frame(ts=ts)), NOW, wide)
    if minutes <= 59 and hours * 60 + minutes <= 14 * 60:
        assert isinstance(out, Decoded)
        shift = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
        assert out.payload.ts == datetime(2025, 6, 1, 1, 30, 15, tzinfo=UTC) - shift
    else:
        assert isinstance(out, Rejection) and out.reason is RejectReason.BAD_TIMESTAMP


# --- the limits from the settings -------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "max_age"), [
    ({}, timedelta(days=91)),  # SEMON_RETENTION_DAYS (90) plus one day
    ({"retention_days": 30}, timedelta(days=31)),
    ({"retention_days": 30, "max_timestamp_age_days": 7}, timedelta(days=8)),
    ({"max_timestamp_age_days": 90}, timedelta(days=91)),
])
def test_the_age_limit_follows_retention(overrides: dict[str, int], max_age: timedelta) -> None:
    from semon.settings import TelemetrySettings

    limits = TelemetrySettings(**overrides).decode_limits()
    assert limits.max_age == max_age
    assert limits.max_future_skew == timedelta(minutes=5)


def test_an_age_limit_beyond_retention_is_refused_at_start() -> None:
    from pydantic import ValidationError as SettingsError

    from semon.settings import TelemetrySettings

    with pytest.raises(SettingsError, match="exceeds SEMON_RETENTION_DAYS"):
        TelemetrySettings(retention_days=30, max_timestamp_age_days=31)


@pytest.mark.parametrize("payload", [b'{"ts":1}', b"not json", b'{"ts":1748741415250,"seq":1,"code":1000}', b"\xff"])
def test_a_refused_payload_keeps_no_caller_frame_alive(payload: bytes) -> None:
    """The MQTT client decodes inside its read callback, holding a view of its read buffer; a
    decode that kept an exception (its traceback holds the callers' frames) in a reference
    cycle would keep that view alive until the next garbage collection, and the client could
    not resize its buffer (BufferError)."""
    import gc

    from semon.protocol.decode import decode_for_rules

    def caller(body: memoryview) -> None:
        assert bytes(body)  # the view is in use in this frame, as the client's is
        for decoder in (decode, decode_for_rules):
            assert isinstance(decoder(ELEVATOR_EVENT, payload, NOW, LIMITS), Rejection)

    buffer = bytearray(b"0123456789")
    gc.disable()
    try:
        view = memoryview(buffer)
        caller(view[0:5])
        view.release()
        del buffer[:5]  # BufferError if a frame holding the slice is still alive
    finally:
        gc.enable()
