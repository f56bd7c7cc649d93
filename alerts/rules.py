"""The rules, per device, in the device's own time: pure logic, no I/O.

Each message updates a few conditions ("stopped outside the door zone with a passenger",
"pressure above rated"), each remembered with the device time it began. A condition raises
its alarm once it has held for its minimum duration and clears it once its clearing condition
has held for its own (hysteresis), so a value hovering at a limit does not flap. A message
older than the last one taken (a late or redelivered frame) changes nothing.

Devices that report their own fault codes (GB/T 24476) raise and clear faults by code (back
to normal: 40, or 140 for a boiler); for those that do not, the same faults are derived from
telemetry. Entrapment is always judged from telemetry as well as from codes 11 and 90.
Connectivity (offline by the Last Will, silent) is kept apart from controller faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.model import Source
from semon.alarm_types import ALARM_FOR_CODE, AlarmType, EntrapmentThresholds
from semon.protocol.models import BoilerTelemetry, ElevatorTelemetry
from semon.protocol.topics import Kind

BACK_TO_NORMAL = {Kind.ELEVATOR: 40, Kind.BOILER: 140}
ALARM_BUTTON = 90
TRAPPED = 11
# Cleared by the car itself, whatever raised them: doors open at a landing, nobody inside.
_CLEAR_AT_ONCE = frozenset({AlarmType.ENTRAPMENT, AlarmType.ALARM_BUTTON})


@dataclass(frozen=True, slots=True)
class RuleSettings:
    entrapment: EntrapmentThresholds = field(default_factory=EntrapmentThresholds)
    stopped_outside_door_zone_s: float = 5.0  # telemetry-derived: how long before it is a fault
    clear_after_s: float = 10.0  # a derived fault clears after its condition has been gone this long
    overspeed_factor: float = 1.15  # of the rated speed (the governor trips at 115 %)
    alarm_button_ttl_s: float = 600.0  # a button alarm with nobody in the car lapses after this
    silent_after_s: float = 15.0  # no telemetry for this long while online: silent (3 × the 5 s period)
    pressure_clear_fraction: float = 0.97  # of the rated pressure
    temperature_clear_k: float = 3.0  # below the rated outlet temperature
    level_clear_mm: float = 20.0  # back inside the water-level limit by this much


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What the rules need to know of one device: from the register, or defaults by kind."""

    kind: Kind
    reports_events: bool = True
    rated_speed_mps: float | None = None
    rated_pressure_mpa: float | None = None
    rated_outlet_temp_c: float | None = None
    high_water_mm: float | None = None
    extreme_low_water_mm: float | None = None
    entrapment: EntrapmentThresholds | None = None  # a per-device override
    # From the register: the periodic inspection is overdue, or the last one failed.
    inspection_expired: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    raised: bool  # False: cleared
    type: AlarmType
    source: Source
    at: float  # device time, epoch seconds
    details: dict[str, Any] = field(default_factory=dict)


class DeviceRules:
    """One device's conditions, open alarms and position in its own message stream."""

    def __init__(self, device_id: str, profile: DeviceProfile, settings: RuleSettings) -> None:
        self.device_id = device_id
        self.profile = profile
        self.settings = settings
        self.entrapment = profile.entrapment or settings.entrapment
        self.open: dict[AlarmType, Source] = {}
        self.suppressed: set[AlarmType] = set()  # closed by an operator while the condition held
        self.last_ts = float("-inf")
        self.last_seq = -1
        self.last_arrival = float("-inf")
        self.offline = False
        self.silent_reported = False
        self.passenger = False
        self.raise_since: dict[AlarmType, float] = {}  # condition holding since (device time)
        self.clear_since: dict[AlarmType, float] = {}  # clearing condition holding since
        self.hold_s: dict[AlarmType, float] = {}  # minimum duration of the condition now holding
        self.details: dict[AlarmType, dict[str, Any]] = {}
        self.button_at: float | None = None
        self.trip_count: int | None = None
        # Set when something worth keeping across a restart changed: a condition began or
        # ended, an alarm opened or closed. The position in the stream alone is not worth a
        # write: after a crash the broker replays it in order and the rules arrive at the same.
        self.changed = False

    # --- the message stream --------------------------------------------------------------

    def accept(self, ts: float, seq: int, arrival: float) -> bool:
        """In order: newer than the last message taken, or as new with a higher seq."""
        if ts < self.last_ts or (ts == self.last_ts and seq <= self.last_seq):
            return False
        self.last_ts, self.last_seq, self.last_arrival = ts, seq, arrival
        return True

    def on_telemetry(self, ts: float, seq: int, frame: ElevatorTelemetry | BoilerTelemetry,
                     arrival: float) -> list[Change]:
        if not self.accept(ts, seq, arrival):
            return []
        changes: list[Change] = []
        if self.silent_reported:
            self.silent_reported = False
            changes += self._clear(AlarmType.SILENT, ts, "telemetry again")
        if isinstance(frame, ElevatorTelemetry):
            self._elevator(frame, ts)
        else:
            self._boiler(frame, ts)
        return changes + self.evaluate(ts)

    def on_event(self, ts: float, seq: int, code: int, arrival: float) -> list[Change]:
        if not self.accept(ts, seq, arrival):
            return []
        changes: list[Change] = []
        if code == TRAPPED:
            changes += self._raise(AlarmType.ENTRAPMENT, Source.CODE, ts, {"trigger": "device code 11"})
        elif code == ALARM_BUTTON:
            if self.passenger:
                changes += self._raise(AlarmType.ENTRAPMENT, Source.CODE, ts,
                                       {"trigger": "alarm button with a passenger in the car"})
            else:
                self.button_at = ts
                self.changed = True
                changes += self._raise(AlarmType.ALARM_BUTTON, Source.CODE, ts, {"trigger": "alarm button"})
        elif code == BACK_TO_NORMAL[self.profile.kind] and self.profile.reports_events:
            for open_alarm, source in list(self.open.items()):
                if source is Source.CODE and open_alarm not in _CLEAR_AT_ONCE:
                    changes += self._clear(open_alarm, ts, "back to normal (device code)")
        elif self.profile.reports_events and (coded := ALARM_FOR_CODE.get(code)) is not None:
            changes += self._raise(coded, Source.CODE, ts, {"code": code})
        return changes + self.evaluate(ts)

    def on_status(self, online: bool, at: float, *, orderly: bool = False) -> list[Change]:
        """Status carries no seq; ``at`` is its own ts, or when it arrived. The Last Will (a lost
        connection) raises the offline alarm; an orderly shutdown the device announced does not."""
        if online == (not self.offline):
            return []
        self.offline = not online
        self.changed = True
        if self.offline:
            if orderly:
                return []
            return self._raise(AlarmType.OFFLINE, Source.CONNECTIVITY, at, {"trigger": "connection lost (Last Will)"})
        return self._clear(AlarmType.OFFLINE, at, "online again")

    def tick(self, arrival_now: float, *, judge_silence: bool = True) -> list[Change]:
        """Time passing without messages: conditions mature, silence is noticed (unless
        ``judge_silence`` is false: the caller is behind a backlog and cannot tell)."""
        if self.last_ts == float("-inf"):
            return []
        now = self.last_ts + max(arrival_now - self.last_arrival, 0.0)  # the device's time, estimated
        changes: list[Change] = []
        quiet = arrival_now - self.last_arrival
        if judge_silence and not self.offline and not self.silent_reported and quiet >= self.settings.silent_after_s:
            self.silent_reported = True
            changes += self._raise(AlarmType.SILENT, Source.CONNECTIVITY, now,
                                   {"trigger": f"no message for {quiet:.0f} s"})
        return changes + self.evaluate(now)

    def update_profile(self, profile: DeviceProfile) -> list[Change]:
        """The register changed (an inspection recorded, a unit stopped): re-judge what it decides."""
        before, self.profile = self.profile, profile
        if before.inspection_expired and not profile.inspection_expired:
            self.raise_since.pop(AlarmType.INSPECTION_EXPIRED_RUNNING, None)
            self.changed = True
            return self._clear(AlarmType.INSPECTION_EXPIRED_RUNNING, self.last_ts, "inspection recorded")
        return []

    def closed_by_operator(self, alarm: AlarmType) -> None:
        """The incident was closed: forget the alarm, and do not raise it again until its
        condition has cleared (the operator has judged this one)."""
        if self.open.pop(alarm, None) is not None:
            self.suppressed.add(alarm)
            self.changed = True

    # --- conditions ----------------------------------------------------------------------

    def _condition(self, alarm: AlarmType, raising: bool, clearing: bool, ts: float, hold_s: float,
                   details: dict[str, Any] | None = None) -> None:
        """Note where ``alarm``'s raising and clearing conditions stand at device time ``ts``."""
        if raising:
            if alarm not in self.raise_since or self.hold_s.get(alarm) != hold_s:
                self.raise_since[alarm] = ts
                self.hold_s[alarm] = hold_s
                self.details[alarm] = details or {}
                self.changed = True
        elif self.raise_since.pop(alarm, None) is not None:
            self.changed = True
        if clearing:
            if alarm not in self.clear_since:
                self.clear_since[alarm] = ts
                self.suppressed.discard(alarm)
                self.changed = True
        elif self.clear_since.pop(alarm, None) is not None:
            self.changed = True

    def evaluate(self, now: float) -> list[Change]:
        changes: list[Change] = []
        for alarm, since in list(self.raise_since.items()):
            hold = self.hold_s.get(alarm, 0.0)
            if now - since >= hold and alarm not in self.open and alarm not in self.suppressed:
                details = {**self.details.get(alarm, {}), "condition_since": since}
                changes += self._raise(alarm, Source.TELEMETRY, since + hold, details)
        for alarm, since in list(self.clear_since.items()):
            source = self.open.get(alarm)
            if source is None:
                continue
            at_once = alarm in _CLEAR_AT_ONCE
            wait = 0.0 if at_once else self.settings.clear_after_s
            if (source is Source.TELEMETRY or at_once) and now - since >= wait:
                changes += self._clear(alarm, since + wait, "condition gone")
        if (self.button_at is not None and AlarmType.ALARM_BUTTON in self.open
                and now - self.button_at >= self.settings.alarm_button_ttl_s):
            self.button_at = None
            changes += self._clear(AlarmType.ALARM_BUTTON, now, "lapsed")
        return changes

    def _raise(self, alarm: AlarmType, source: Source, at: float, details: dict[str, Any]) -> list[Change]:
        if alarm in self.open or alarm in self.suppressed:
            return []
        self.open[alarm] = source
        self.changed = True
        return [Change(True, alarm, source, at, details)]

    def _clear(self, alarm: AlarmType, at: float, reason: str) -> list[Change]:
        source = self.open.pop(alarm, None)
        if source is None:
            return []
        self.changed = True
        return [Change(False, alarm, source, at, {"reason": reason})]

    # --- elevator --------------------------------------------------------------------------

    def _elevator(self, f: ElevatorTelemetry, ts: float) -> None:
        self.passenger = f.passenger
        # Running (its trip counter rising) while the register says it must not be used.
        ran = self.trip_count is not None and f.trip_count > self.trip_count
        self.trip_count = f.trip_count
        expired = self.profile.inspection_expired
        self._condition(AlarmType.INSPECTION_EXPIRED_RUNNING, expired and ran, not expired, ts, 0.0,
                        {"trip_count": f.trip_count})
        stopped = not f.running
        shut = f.door_locked
        outside = stopped and shut and not f.door_zone
        at_landing = stopped and shut and f.door_zone
        # Entrapment: outside the door zone for 15 s, or at a landing without the doors
        # reopening for 90 s; it clears when the doors open at a landing and the car is empty.
        released = not shut and f.door_zone and not f.passenger
        if outside and f.passenger:
            hold, where = self.entrapment.outside_door_zone_s, "stopped outside the door zone"
        elif at_landing and f.passenger:
            hold, where = self.entrapment.in_door_zone_s, "doors not reopened at a landing"
        else:
            hold, where = 0.0, ""
        self._condition(AlarmType.ENTRAPMENT, bool(where), released, ts, hold,
                        {"trigger": where, "floor": f.floor})
        if self.button_at is not None and released:
            self._condition(AlarmType.ALARM_BUTTON, False, True, ts, 0.0)
        if self.profile.reports_events:
            return
        # Faults the device does not report itself, from its telemetry.
        s = self.settings
        self._condition(AlarmType.STOPPED_OUTSIDE_DOOR_ZONE, outside, not outside, ts, s.stopped_outside_door_zone_s,
                        {"floor": f.floor})
        moving_open = f.running and not f.door_locked
        self._condition(AlarmType.UNINTENDED_CAR_MOVEMENT, moving_open, f.door_locked and f.door_zone, ts, 0.0,
                        {"floor": f.floor, "speed_mps": f.speed_mps})
        off_mains = f.power != "main"
        self._condition(AlarmType.MAIN_POWER_LOST, off_mains, not off_mains, ts, 0.0, {"power": str(f.power)})
        rated = self.profile.rated_speed_mps
        if rated:
            over = f.speed_mps > rated * s.overspeed_factor
            self._condition(AlarmType.OVERSPEED, over, f.speed_mps <= rated, ts, 0.0,
                            {"speed_mps": f.speed_mps, "rated_speed_mps": rated})

    # --- boiler ----------------------------------------------------------------------------

    def _boiler(self, f: BoilerTelemetry, ts: float) -> None:
        p, s = self.profile, self.settings
        if p.reports_events:
            return
        if p.rated_pressure_mpa:
            self._condition(AlarmType.OVER_PRESSURE, f.pressure_mpa > p.rated_pressure_mpa,
                            f.pressure_mpa < p.rated_pressure_mpa * s.pressure_clear_fraction, ts, 0.0,
                            {"pressure_mpa": f.pressure_mpa, "rated_pressure_mpa": p.rated_pressure_mpa})
        if p.rated_outlet_temp_c:
            self._condition(AlarmType.OVER_TEMPERATURE, f.outlet_temp_c > p.rated_outlet_temp_c,
                            f.outlet_temp_c < p.rated_outlet_temp_c - s.temperature_clear_k, ts, 0.0,
                            {"outlet_temp_c": f.outlet_temp_c, "rated_outlet_temp_c": p.rated_outlet_temp_c})
        if p.extreme_low_water_mm is not None:
            self._condition(AlarmType.EXTREME_LOW_WATER, f.water_level_mm < p.extreme_low_water_mm,
                            f.water_level_mm > p.extreme_low_water_mm + s.level_clear_mm, ts, 0.0,
                            {"water_level_mm": f.water_level_mm})
        if p.high_water_mm is not None:
            self._condition(AlarmType.HIGH_WATER, f.water_level_mm > p.high_water_mm,
                            f.water_level_mm < p.high_water_mm - s.level_clear_mm, ts, 0.0,
                            {"water_level_mm": f.water_level_mm})
        self._condition(AlarmType.FLAME_FAILURE, f.burner_on and not f.flame and f.fuel_flow_m3h > 0,
                        f.flame or not f.burner_on, ts, 3.0, {})

    # --- persistence of the state across restarts ----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "last_ts": self.last_ts, "last_seq": self.last_seq, "offline": self.offline,
            "passenger": self.passenger, "button_at": self.button_at,
            "raise_since": {str(k): v for k, v in self.raise_since.items()},
            "clear_since": {str(k): v for k, v in self.clear_since.items()},
            "hold_s": {str(k): v for k, v in self.hold_s.items()},
            "suppressed": sorted(str(a) for a in self.suppressed),
            "silent_reported": self.silent_reported,
        }

    def restore(self, state: dict[str, Any], open_alarms: dict[AlarmType, Source], arrival: float) -> None:
        """From a ``snapshot()`` as stored (non-finite numbers come back as null). Raises
        ValueError, TypeError or KeyError for a state that is not one."""
        last_ts = state.get("last_ts")
        self.last_ts = float("-inf") if last_ts is None else float(last_ts)  # null: nothing taken yet
        self.last_seq = int(state.get("last_seq", -1))
        self.last_arrival = arrival  # silence is counted from the restart
        self.offline = bool(state.get("offline", False))
        self.passenger = bool(state.get("passenger", False))
        self.button_at = state.get("button_at")
        self.raise_since = {AlarmType(k): float(v) for k, v in state.get("raise_since", {}).items()}
        self.clear_since = {AlarmType(k): float(v) for k, v in state.get("clear_since", {}).items()}
        self.hold_s = {AlarmType(k): float(v) for k, v in state.get("hold_s", {}).items()}
        self.suppressed = {AlarmType(a) for a in state.get("suppressed", [])}
        self.silent_reported = bool(state.get("silent_reported", False))
        self.open = dict(open_alarms)
