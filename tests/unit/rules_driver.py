"""Feed a simulation's output to the rules as a broker would deliver it, without one."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from alerts.rules import Change, DeviceRules, RuleSettings
from semon.profile import DeviceProfile
from semon.protocol.models import BoilerTelemetry, DeviceEvent, ElevatorTelemetry, parse
from semon.protocol.topics import Kind
from simulators.core import Frame, LinkChange, LinkEvent, Output, SimDevice
from simulators.profiles import profile_for


def profiles(devices: list[SimDevice]) -> dict[str, DeviceProfile]:
    return {d.device_id: profile_for(d.spec) for d in devices}  # type: ignore[attr-defined]


def drive(output: list[Output], profiles: dict[str, DeviceProfile], settings: RuleSettings | None = None,
          tick_s: float = 1.0) -> list[tuple[str, Change]]:
    """Every alarm change, in order. Device time stands in for arrival time; frames kept while a
    device was disconnected arrive when it is back, after its ``online`` (if it publishes one)."""
    settings = settings or RuleSettings()
    rules: dict[str, DeviceRules] = {}
    held: dict[str, list[Frame]] = defaultdict(list)
    dropped: set[str] = set()
    changes: list[tuple[str, Change]] = []
    next_tick = 0.0
    origin = None

    def device(device_id: str, kind: Kind) -> DeviceRules:
        if device_id not in rules:
            rules[device_id] = DeviceRules(device_id, profiles.get(device_id, DeviceProfile(kind)), settings)
        return rules[device_id]

    def deliver(frame: Frame, arrival: float) -> None:
        r = device(frame.device_id, frame.kind)
        ts = frame.payload["ts"] / 1000
        if frame.channel == "telemetry":
            data = orjson.dumps(frame.payload)
            t = parse(ElevatorTelemetry, data) if frame.kind is Kind.ELEVATOR else parse(BoilerTelemetry, data)
            out = r.on_telemetry(ts, frame.payload["seq"], t, arrival)
        else:
            e = parse(DeviceEvent, orjson.dumps(frame.payload))
            out = r.on_event(ts, e.seq, e.code, arrival)
        changes.extend((frame.device_id, c) for c in out)

    for o in output:
        if isinstance(o, Frame) and origin is None:
            origin = o.payload["ts"] / 1000 - o.t
        base = origin or 0.0
        while next_tick <= o.t:  # time passes: conditions mature, silences show
            for device_id, r in rules.items():
                changes.extend((device_id, c) for c in r.tick(base + next_tick))
            next_tick += tick_s
        if isinstance(o, Frame):
            if o.device_id in dropped:
                held[o.device_id].append(o)
            else:
                deliver(o, base + o.t)
        elif isinstance(o, LinkChange):
            r = device(o.device_id, Kind.ELEVATOR if o.device_id not in rules else rules[o.device_id].profile.kind)
            if o.event is LinkEvent.DROP:
                dropped.add(o.device_id)
                changes.extend((o.device_id, c) for c in r.on_status(False, None, base + o.t))
            else:
                dropped.discard(o.device_id)
                if o.event is LinkEvent.RESTORE:  # not RESTORE_WITHOUT_ONLINE: no ``online`` published
                    changes.extend((o.device_id, c) for c in r.on_status(True, None, base + o.t))
                for frame in held.pop(o.device_id, []):
                    deliver(frame, base + o.t)
    return changes


# --- hand-made streams -----------------------------------------------------------------------

T0 = 1_780_000_000.0


def lift(**kw: Any) -> ElevatorTelemetry:
    """An elevator frame: idle at floor 3, doors closed and locked, in the door zone, empty."""
    base: dict[str, Any] = {"ts": int(T0 * 1000), "seq": 1, "running": False, "direction": "stop", "floor": 3,
                            "door_locked": True, "door_zone": True, "passenger": False, "mode": "normal",
                            "power": "main", "speed_mps": 0.0, "trip_count": 10, "run_hours": 1.0}
    base.update(kw)
    return parse(ElevatorTelemetry, orjson.dumps(base))


class Device:
    """One device's stream fed to its rules in the order given. Times are seconds after T0:
    ``t`` is the device's stamp, ``arrival`` (default ``t``) when the engine receives it; seq
    counts on by itself unless given."""

    def __init__(self, profile: DeviceProfile | None = None, settings: RuleSettings | None = None) -> None:
        self.rules = DeviceRules("E-1", profile or DeviceProfile(Kind.ELEVATOR), settings or RuleSettings())
        self.seq = 0
        self.changes: list[Change] = []

    def _seq(self, seq: int | None) -> int:
        if seq is None:
            self.seq += 1
            return self.seq
        self.seq = seq
        return seq

    def frame(self, t: float, seq: int | None = None, arrival: float | None = None, **kw: Any) -> list[Change]:
        out = self.rules.on_telemetry(T0 + t, self._seq(seq), lift(**kw), T0 + (t if arrival is None else arrival))
        self.changes += out
        return out

    def event(self, t: float, code: int, seq: int | None = None, arrival: float | None = None) -> list[Change]:
        out = self.rules.on_event(T0 + t, self._seq(seq), code, T0 + (t if arrival is None else arrival))
        self.changes += out
        return out

    def status(self, online: bool, arrival: float, ts: float | None = None, *, orderly: bool = False,
               retained: bool = False) -> list[Change]:
        out = self.rules.on_status(online, None if ts is None else T0 + ts, T0 + arrival, orderly=orderly,
                                   retained=retained)
        self.changes += out
        return out

    def tick(self, t: float) -> list[Change]:
        out = self.rules.tick(T0 + t)
        self.changes += out
        return out

    def log(self) -> list[tuple[bool, str, float]]:
        return [(c.raised, str(c.type), round(c.at - T0, 3)) for c in self.changes]
