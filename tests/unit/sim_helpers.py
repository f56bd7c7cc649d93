"""Helpers for the simulator unit tests: run devices without a broker and check their frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from semon.protocol.decode import Decoded, DecodeLimits, decode
from simulators.core import Cause, Frame, Output, SimDevice

# 2026-06-01 00:00 UTC is 08:00 in Xining: the morning peak.
ORIGIN_MS = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)


def run(device: SimDevice, until: float) -> list[Output]:
    out: list[Output] = []
    device.advance(until, out)
    return out


def frames(out: list[Output], channel: str | None = None) -> list[Frame]:
    return [o for o in out if isinstance(o, Frame) and (channel is None or o.channel == channel)]


def telemetry(out: list[Output]) -> list[dict[str, Any]]:
    return [f.payload for f in frames(out, "telemetry")]


def events(out: list[Output]) -> list[tuple[float, int]]:
    return [(f.t, f.payload["code"]) for f in frames(out, "event")]


def causes(out: list[Output]) -> list[tuple[float, str]]:
    return [(o.t, str(o.alarm)) for o in out if isinstance(o, Cause)]


def assert_valid_on_the_wire(out: list[Output]) -> None:
    """Every frame passes the ingester's own decoder, as it would arrive."""
    limits = DecodeLimits(max_future_skew=timedelta(days=36500), max_age=timedelta(days=36500))
    now = datetime.now(UTC)
    for f in frames(out):
        result = decode(f.topic, orjson.dumps(f.payload), now, limits)
        assert isinstance(result, Decoded), (f, result)
