"""Builders for valid wire-protocol v1 frames (docs/protocol.md section 11), for the unit tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from semon.protocol.decode import Decoded, DecodeLimits, Rejection, decode

# A fixed "now": 30 minutes after the examples' ts (2025-06-01T09:30:15.250+08:00).
NOW = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
NOW_MS = 1_748_743_200_000
EXAMPLE_TS = "2025-06-01T09:30:15.250+08:00"
EXAMPLE_MS = 1_748_741_415_250
EXAMPLE_UTC = datetime(2025, 6, 1, 1, 30, 15, 250_000, tzinfo=UTC)

ELEVATOR_ID = "31106301022019000123"
BOILER_ID = "11006301052016000042"
LIMITS = DecodeLimits()


def elevator_frame(**overrides: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "v": 1,
        "ts": EXAMPLE_TS,
        "seq": 418203,
        "device_id": ELEVATOR_ID,
        "running": True,
        "direction": "up",
        "floor": 7,
        "door_locked": True,
        "door_zone": False,
        "passenger": True,
        "mode": "normal",
        "power": "main",
        "speed_mps": 1.75,
        "trip_count": 286514,
        "run_hours": 23817.5,
    }
    frame.update(overrides)
    return frame


def boiler_frame(**overrides: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "ts": EXAMPLE_MS,
        "seq": 90211,
        "burner_on": True,
        "flame": True,
        "pressure_mpa": 0.92,
        "water_level_mm": -12.5,
        "outlet_temp_c": 179.4,
        "return_temp_c": 62.0,
        "flue_temp_c": 168.3,
        "feedwater_flow_m3h": 3.8,
        "fuel_flow_m3h": 265.0,
    }
    frame.update(overrides)
    return frame


def event_frame(code: object = 11, **overrides: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"v": 1, "ts": EXAMPLE_TS, "seq": 418331, "code": code}
    frame.update(overrides)
    return frame


def without(frame: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k not in keys}


def raw(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":")).encode()


def topic(kind: str, channel: str, device_id: str | None = None) -> str:
    if device_id is None:
        device_id = ELEVATOR_ID if kind == "elevator" else BOILER_ID
    return f"se/{kind}/{device_id}/{channel}"


def decode_ok(topic_name: str, payload: bytes, limits: DecodeLimits = LIMITS) -> Decoded:
    outcome = decode(topic_name, payload, NOW, limits)
    assert isinstance(outcome, Decoded), outcome
    return outcome


def decode_rejected(topic_name: str, payload: bytes, limits: DecodeLimits = LIMITS) -> Rejection:
    outcome = decode(topic_name, payload, NOW, limits)
    assert isinstance(outcome, Rejection), outcome
    return outcome
