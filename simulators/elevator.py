"""A simulated elevator: a car in a building, serving calls, with injectable faults.

The car's life is a generator of wake-up times: a ride is "travel, open, board, close,
travel, open, alight, close", each step yielding when it ends. Faults that need the car in a
particular place (between floors 5 and 6 at 30 s) are scripts that take over after the
current ride and steer the car there in their ``prepare`` time, so every frame stays
physically consistent: the car only moves with its doors locked (unless the fault is exactly
that), floors change only while it moves, and it stops at landings.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from semon.alarm_types import AlarmType, EntrapmentThresholds
from semon.protocol.topics import Kind
from simulators import faults as f
from simulators.core import INF, Output, Periods, SimDevice, SimError, Timer, alarm_of
from simulators.motion import Run
from simulators.traffic import Building, demand, draw_trip

Script = Generator[float, None, None]

DOOR_ZONE_M = 0.15  # ± around a landing where the doors may open (unlocking zone)
INSPECTION_SPEED_MPS = 0.3
STOP_FRACTION = 0.4  # an emergency stop between floors leaves the car this far past the landing
OVERRUN_M = 0.35  # beyond the terminal landing, on the buffer or the final limit
MAX_WAITING_CALLS = 20
DEFAULT_PERIODS = Periods()
DEFAULT_THRESHOLDS = EntrapmentThresholds()


class Doors(Enum):
    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"


@dataclass(frozen=True, slots=True)
class ElevatorSpec:
    lowest_floor: int = 1
    highest_floor: int = 18
    rated_speed_mps: float = 1.75
    floor_height_m: float = 3.0
    accel_mps2: float = 0.8
    door_open_s: float = 2.0
    door_close_s: float = 2.5
    dwell_s: float = 4.0
    building: Building = Building.RESIDENTIAL
    peak_calls_per_hour: float = 40.0  # 0: no random traffic (scenarios script their calls)
    home_floor: int = 1
    reports_events: bool = True  # a controller with its own fault codes (GB/T 24476)
    detects_entrapment: bool = True  # sends code 11 itself
    night_shutdown: bool = False  # out of service from 23:00 to 06:00
    service_visits: bool = False  # 半月保养: inspection mode every 15 days
    utc_offset_h: int = 8
    start_floor: int | None = None

    def __post_init__(self) -> None:
        if self.highest_floor <= self.lowest_floor or 0 in (self.lowest_floor, self.highest_floor):
            raise SimError(f"bad floor range {self.lowest_floor}..{self.highest_floor} (there is no floor 0)")
        if not 0 < self.rated_speed_mps <= 10:
            raise SimError(f"rated speed {self.rated_speed_mps} m/s out of range")
        for floor in (self.home_floor, self.start_floor):
            if floor is not None and floor not in self.landings:
                raise SimError(f"floor {floor} is not a landing of {self.lowest_floor}..{self.highest_floor}")

    @property
    def landings(self) -> list[int]:
        return [n for n in range(self.lowest_floor, self.highest_floor + 1) if n != 0]


class Elevator(SimDevice):
    kind = Kind.ELEVATOR

    def __init__(self, device_id: str, spec: ElevatorSpec, *, origin_ms: int, seed: int,
                 periods: Periods = DEFAULT_PERIODS, thresholds: EntrapmentThresholds = DEFAULT_THRESHOLDS,
                 trip_count: int | None = None, run_hours: float | None = None) -> None:
        super().__init__(device_id, origin_ms=origin_ms, seed=seed, periods=periods)
        self.spec = spec
        self.thresholds = thresholds
        self.labels = spec.landings
        self.home = self.labels.index(spec.home_floor)
        start = spec.start_floor if spec.start_floor is not None else spec.home_floor
        self.k = self.labels.index(start)  # the landing the car is at or passing
        self.x = self._height(self.k)  # metres above the lowest landing, while stopped
        self.run: Run | None = None
        self.doors = Doors.CLOSED
        self.passengers = 0
        self.mode = "normal"
        self.power = "main"
        self.trip_count = trip_count if trip_count is not None else self.rng.randrange(10_000, 900_000)
        self.run_hours = run_hours if run_hours is not None else round(self.trip_count * 0.004, 1)
        self.halted: set[str] = set()  # reasons the car serves no calls (power, fault, night)
        self.late_s = 0.0  # how late scripted faults started, summed: 0 when prepare was enough
        self._calls: deque[tuple[int, int, int]] = deque()
        self._scripts: deque[Script] = deque()
        self._crossings: list[Timer] = []
        self._life = self._live()
        self._idle = False
        self._out: list[Output] = []
        self._flicker: f.PresenceFlicker | None = None  # the presence sensor misses still passengers
        self._sensor_missing = False  # in one of the flicker's misses now

    # --- the presence sensor ---------------------------------------------------------------

    def sensed_passenger(self) -> bool:
        """What the presence sensor reports: people in the car, unless it is missing a still
        passenger (presence flicker: the car stopped with its doors closed)."""
        if self.passengers == 0:
            return False
        still = self.run is None and self.doors is Doors.CLOSED
        return not (self._sensor_missing and still)

    # --- the device contract ---------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Running, or a flickering presence sensor (its misses show at the active period)."""
        return self.run is not None or self._flicker is not None

    def position(self, t: float) -> float:
        return self.run.position(t) if self.run is not None else self.x

    def in_door_zone(self, t: float) -> bool:
        x = self.position(t)
        nearest = min(max(round(x / self.spec.floor_height_m), 0), len(self.labels) - 1)
        return abs(x - self._height(nearest)) <= DOOR_ZONE_M + 1e-9

    def snapshot(self, t: float) -> Hashable:
        return (self.run is not None, self._direction(), self.k, self.doors is Doors.CLOSED,
                self.in_door_zone(t), self.sensed_passenger(), self.mode, self.power)

    def telemetry(self, t: float) -> dict[str, Any]:
        run = self.run
        hours = self.run_hours + (max(t - run.t0, 0.0) / 3600 if run is not None else 0.0)
        return {
            "running": run is not None,
            "direction": self._direction(),
            "floor": self.labels[self.k],
            "door_locked": self.doors is Doors.CLOSED,
            "door_zone": self.in_door_zone(t),
            "passenger": self.sensed_passenger(),
            "mode": self.mode,
            "power": self.power,
            "speed_mps": round(run.speed(t), 2) if run is not None else 0.0,
            "trip_count": self.trip_count,
            "run_hours": round(hours, 3),
        }

    def _direction(self) -> str:
        if self.run is None:
            return "stop"
        return "up" if self.run.sign > 0 else "down"

    def _height(self, k: int) -> float:
        return k * self.spec.floor_height_m

    # --- driving the car's life ----------------------------------------------------------

    def start(self, out: list[Output]) -> None:
        self._out = out
        if self.spec.peak_calls_per_hour > 0:
            self._schedule_call(self.now)
        if self.spec.night_shutdown:
            self._schedule_daily(23, self._night_begins)
            self._schedule_daily(6, self._night_ends)
            if self._hour(self.now) >= 23 or self._hour(self.now) < 6:  # already off when we join
                self.mode = "out_of_service"
                self.halted.add("night")
        if self.spec.service_visits:
            self._schedule_visit(self.now, self.rng.uniform(0, 15))
        self._drive(self.now, out)

    def _drive(self, t: float, out: list[Output]) -> None:
        self._out = out
        wake = next(self._life)
        self._idle = wake == INF
        if not self._idle:
            self.at(wake, self._drive)

    def _poke(self, t: float, out: list[Output]) -> None:
        if self._idle:
            self._drive(t, out)

    def _live(self) -> Script:
        while True:
            if self._scripts:
                yield from self._scripts.popleft()
            elif self._calls and not self.halted:
                origin, destination, passengers = self._calls.popleft()
                yield from self._ride(origin, destination, passengers)
            else:
                yield INF  # idle until a call or a script arrives

    def _ride(self, origin: int, destination: int, passengers: int) -> Script:
        yield from self._travel(origin)
        if self.halted:
            return
        yield from self._door_cycle(passengers)
        if self.halted:  # power failed while boarding: everyone gets out again
            yield from self._door_cycle(-passengers)
            return
        yield from self._travel(destination)
        yield from self._door_cycle(-passengers)

    def _travel(self, k: int, speed: float | None = None) -> Script:
        target = self._height(k)
        if self.run is None and abs(self.x - target) < 1e-9:
            return
        run = self._start_run(target, speed)
        yield run.t1
        self._end_run(run)

    def _start_run(self, target: float, speed: float | None = None) -> Run:
        spec = self.spec
        run = Run(self.now, self.x, target, speed or spec.rated_speed_mps, spec.accel_mps2)
        self.run = run
        self.trip_count += 1
        # The floor shown changes half-way between landings.
        k = self.k
        while True:
            nxt = k + run.sign
            mid = (self._height(k) + self._height(nxt)) / 2 if 0 <= nxt < len(self.labels) else None
            if mid is None or (run.sign > 0 and mid >= target) or (run.sign < 0 and mid <= target):
                break
            self._crossings.append(self.at(run.time_at(abs(mid - run.x0)), self._crossing(nxt)))
            k = nxt
        return run

    def _crossing(self, k: int) -> Callable[[float, list[Output]], None]:
        def cross(t: float, out: list[Output]) -> None:
            self.k = k
        return cross

    def _end_run(self, run: Run, at: float | None = None) -> None:
        """The run is over: at its end, or cut short at ``at`` (an emergency stop)."""
        t = run.t1 if at is None else at
        self.x = run.position(t)
        self.run_hours += (t - run.t0) / 3600
        self.run = None
        for timer in self._crossings:
            timer.cancel()
        self._crossings.clear()
        if at is None and abs(self.x - self._height(round(self.x / self.spec.floor_height_m))) < 1e-6:
            self.k = round(self.x / self.spec.floor_height_m)

    def _door_cycle(self, boarding: int = 0) -> Script:
        spec = self.spec
        self.doors = Doors.OPENING
        yield self.now + spec.door_open_s
        self.doors = Doors.OPEN
        self.passengers = max(self.passengers + boarding, 0)
        yield self.now + spec.dwell_s
        self.doors = Doors.CLOSING
        yield self.now + spec.door_close_s
        self.doors = Doors.CLOSED

    # --- traffic, the night, service visits ---------------------------------------------

    def _local_seconds(self, t: float) -> float:
        return self.origin_ms / 1000 + t + self.spec.utc_offset_h * 3600

    def _hour(self, t: float) -> int:
        return int(self._local_seconds(t) // 3600) % 24

    def _schedule_call(self, t: float) -> None:
        # A non-homogeneous Poisson process by thinning: candidates at the peak rate, each kept
        # with the probability of the hour's share of the peak.
        gap = self.rng.expovariate(self.spec.peak_calls_per_hour / 3600)
        self.at(t + gap, self._candidate_call)

    def _candidate_call(self, t: float, out: list[Output]) -> None:
        self._schedule_call(t)
        hour = self._hour(t)
        if self.rng.random() >= demand(self.spec.building, hour):
            return
        trip = draw_trip(self.rng, self.spec.building, hour, len(self.labels), self.home)
        self._add_call(trip.origin, trip.destination, trip.passengers, t, out)

    def _add_call(self, origin: int, destination: int, passengers: int, t: float, out: list[Output]) -> None:
        if self.halted or len(self._calls) >= MAX_WAITING_CALLS:
            return  # nobody can be served: people take the stairs
        self._calls.append((origin, destination, passengers))
        self._poke(t, out)

    def _schedule_daily(self, hour: int, action: Callable[[float, list[Output]], None]) -> None:
        now_local = self._local_seconds(self.now)
        at_local = now_local - now_local % 86400 + hour * 3600
        if at_local <= now_local:
            at_local += 86400
        t = self.now + (at_local - now_local)

        def daily(t2: float, out: list[Output]) -> None:
            action(t2, out)
            self.at(t2 + 86400, daily)

        self.at(t, daily)

    def _night_begins(self, t: float, out: list[Output]) -> None:
        self.halted.add("night")
        self._calls.clear()
        self._set_mode("out_of_service", t, out)

    def _night_ends(self, t: float, out: list[Output]) -> None:
        self.halted.discard("night")
        self._set_mode("normal", t, out)
        self._poke(t, out)

    def _schedule_visit(self, t: float, days: float) -> None:
        """The next service visit, ``days`` from ``t``, in working hours (09:00-15:00)."""
        local = self._local_seconds(t + days * 86400)
        visit = local - local % 86400 + self.rng.uniform(9, 15) * 3600
        self.at(t + visit - self._local_seconds(t), self._service_visit)

    def _service_visit(self, t: float, out: list[Output]) -> None:
        self._schedule_visit(t, 15 + self.rng.uniform(-1, 1))  # 半月保养: every fortnight
        self._queue_script(self._maintenance(t + self.rng.uniform(45, 90) * 60), t, out)

    def _maintenance(self, until: float) -> Script:
        self.halted.add("service")
        self._set_mode("inspection", self.now, self._out)
        k = self.k
        up = k + 1 if k + 1 < len(self.labels) else k - 1
        yield self.now + 300
        yield from self._travel(up, INSPECTION_SPEED_MPS)
        yield self.now + 120
        yield from self._travel(k, INSPECTION_SPEED_MPS)
        yield until
        self.halted.discard("service")
        self._set_mode("normal", self.now, self._out)

    def _set_mode(self, mode: str, t: float, out: list[Output]) -> None:
        codes = {"normal": 40, "out_of_service": 42, "inspection": 43, "fire_return": 44, "firefighter": 45,
                 "emergency_power": 46, "seismic": 47}
        if mode != self.mode:
            self.mode = mode
            self._event(t, codes[mode], out)

    # --- events and causes -------------------------------------------------------------------

    def _event(self, t: float, code: int, out: list[Output], detail: str | None = None) -> None:
        if self.spec.reports_events:
            self.emit_event(t, code, out, floor=self.labels[self.k], detail=detail)

    def _fault(self, t: float, code: int, out: list[Output], *, from_telemetry: bool = False,
               detail: str | None = None) -> None:
        """The device reports ``code``; the alarm is due if it does, or if telemetry shows it."""
        self._event(t, code, out, detail)
        if self.spec.reports_events or from_telemetry:
            self.cause(t, alarm_of(code, self.kind), out)

    def _entrapment_timer(self, t: float, *, in_zone: bool) -> Timer:
        wait = self.thresholds.in_door_zone_s if in_zone else self.thresholds.outside_door_zone_s

        def trapped(t2: float, out: list[Output]) -> None:
            if self.spec.detects_entrapment:
                self._event(t2, 11, out, "passengers trapped")
            self.cause(t2, AlarmType.ENTRAPMENT, out)

        return self.at(t + wait, trapped)

    # --- faults and scripted actions -----------------------------------------------------

    def inject(self, action: Any) -> None:
        """Schedule an action from ``simulators.faults`` (validated against this car)."""
        if not f.applies_to(action, self.kind):
            raise SimError(f"{action.do} does not apply to an elevator")
        floor = getattr(action, "floor", None)
        if floor is not None and floor not in self.labels:
            raise SimError(f"{action.do}: floor {floor} is not a landing of {self.device_id}")
        if isinstance(action, f.Call):
            for n in (action.origin, action.destination):
                if n not in self.labels:
                    raise SimError(f"call: floor {n} is not a landing of {self.device_id}")
        if isinstance(action, f.PlannedFault):
            begin = max(action.at - action.prepare, self.now)
            self.at(begin, lambda t, out: self._queue_script(self._planned(action), t, out))
        elif not self.inject_untimed(action):
            self.at(action.at, lambda t, out: self.apply(action, t, out))

    def apply(self, fault: Any, t: float, out: list[Output]) -> None:
        match fault:
            case f.Call():
                self._add_call(self.labels.index(fault.origin), self.labels.index(fault.destination),
                               fault.passengers, t, out)
            case f.AlarmButton():
                if self.spec.reports_events:
                    self.emit_event(t, 90, out, floor=self.labels[self.k])
                    self.cause(t, AlarmType.ENTRAPMENT if self._button_means_entrapment(t) else AlarmType.ALARM_BUTTON,
                               out)
            case f.MainPowerLost():
                self.power = "battery"
                self.halted.add("power")
                self._event(t, 41, out, "main power lost")
                self.cause(t, AlarmType.MAIN_POWER_LOST, out)
                self.at(t + fault.duration, self._power_back)
            case f.ControllerFault():
                self._fault(t, fault.code, out)
                self.halted.add("fault")
                self.mode = "out_of_service"
                self.at(t + fault.duration, self._fault_cleared)
            case f.PresenceFlicker():
                self._start_flicker(fault, t)
            case _:
                if not self.apply_to_any(fault, t, out):
                    raise SimError(f"{fault!r} cannot be applied to an elevator now")

    def _button_means_entrapment(self, t: float) -> bool:
        """The alarm button is an entrapment with people in the car (whatever the sensor says),
        in a car stopped outside the door zone, on battery, or out of service by a fault."""
        stuck = self.run is None and not self.in_door_zone(t)
        return self.passengers > 0 or stuck or self.power != "main" or "fault" in self.halted

    def _start_flicker(self, fault: f.PresenceFlicker, t: float) -> None:
        """Misses from ``t + k·period_s`` to ``t + k·period_s + miss_s`` (k = 1, 2, …) until the end."""
        self._flicker = fault
        self.hasten_period(t)
        end = t + fault.duration

        def miss(k: int) -> Callable[[float, list[Output]], None]:
            def begin(t2: float, out2: list[Output]) -> None:
                if self._flicker is fault:
                    self._sensor_missing = True
                    self.at(min(t + k * fault.period_s + fault.miss_s, end), seen(k))
            return begin

        def seen(k: int) -> Callable[[float, list[Output]], None]:
            def again(t2: float, out2: list[Output]) -> None:
                if self._flicker is fault:
                    self._sensor_missing = False
                    if t + (k + 1) * fault.period_s < end:
                        self.at(t + (k + 1) * fault.period_s, miss(k + 1))
            return again

        def over(t2: float, out2: list[Output]) -> None:
            if self._flicker is fault:
                self._flicker = None
                self._sensor_missing = False

        if t + fault.period_s < end:
            self.at(t + fault.period_s, miss(1))
        self.at(end, over)

    def _power_back(self, t: float, out: list[Output]) -> None:
        self.power = "main"
        self.halted.discard("power")
        self._event(t, 40, out, "main power restored")
        self._poke(t, out)

    def _fault_cleared(self, t: float, out: list[Output]) -> None:
        self.halted.discard("fault")
        self._set_mode("normal", t, out)
        self._poke(t, out)

    def _queue_script(self, script: Script, t: float, out: list[Output]) -> None:
        self._scripts.append(script)
        self._poke(t, out)

    def _planned(self, fault: Any) -> Script:
        """Steer the car into place, then let the fault happen at exactly ``fault.at``."""
        self.halted.add("script")
        try:
            match fault:
                case f.EntrapmentBetweenFloors() | f.StoppedOutsideDoorZone():
                    yield from self._stop_between_floors(fault, getattr(fault, "passengers", 0))
                case f.EntrapmentAtLanding():
                    yield from self._doors_stay_shut(fault)
                case f.DoorOpenFault():
                    yield from self._door_open_fault(fault)
                case f.DoorCloseFault():
                    yield from self._door_close_fault(fault)
                case f.UnintendedCarMovement():
                    yield from self._unintended_movement(fault)
                case f.Overrun():
                    yield from self._overrun(fault)
                case f.TechnicianInspection():
                    yield from self._technician_inspection(fault)
        finally:
            self.halted.discard("script")

    def _pick_landing(self, floor: int | None, *, avoid_top: bool = False) -> int:
        if floor is not None:
            return self.labels.index(floor)
        return self.rng.randrange(len(self.labels) - (1 if avoid_top else 0))

    def _wait_until(self, t: float) -> Script:
        if self.now < t:
            yield t
        else:
            self.late_s += self.now - t

    def _board_cycle_s(self) -> float:
        return self.spec.door_open_s + self.spec.dwell_s + self.spec.door_close_s + 1.0

    def _stop_between_floors(self, fault: Any, passengers: int) -> Script:
        k = self._pick_landing(fault.floor, avoid_top=fault.floor is None)
        toward = k + 1 if k + 1 < len(self.labels) else k - 1
        probe = Run(0.0, self._height(k), self._height(toward), self.spec.rated_speed_mps, self.spec.accel_mps2)
        to_stop = probe.time_at(STOP_FRACTION * self.spec.floor_height_m)
        depart = fault.at - to_stop
        yield from self._travel(k)
        if passengers:
            yield from self._wait_until(depart - self._board_cycle_s())
            yield from self._door_cycle(passengers)
        yield from self._wait_until(depart)
        run = self._start_run(self._height(toward))
        yield run.t0 + to_stop
        self._end_run(run, at=self.now)  # the safety circuit opens: an emergency stop
        t, out = self.now, self._out
        self._fault(t, 4, out, from_telemetry=True, detail="stopped between floors")
        trapped = self._entrapment_timer(t, in_zone=False) if passengers else None
        yield from self._stuck(t, fault.release_after, trapped)
        yield from self._rescue(k)

    def _stuck(self, since: float, release_after: float | None, trapped: Timer | None = None) -> Script:
        """Until the maintenance unit arrives ``release_after`` s after ``since``; for ever if None."""
        while release_after is None:
            yield INF  # a call or another fault wakes the car: it is still stuck
        yield since + release_after
        if trapped is not None:
            trapped.cancel()

    def _rescue(self, k: int) -> Script:
        """Rescuers bring the car to the landing in inspection mode and let everyone out."""
        self._set_mode("inspection", self.now, self._out)
        if self.doors is not Doors.CLOSED:
            self.doors = Doors.CLOSING
            yield self.now + self.spec.door_close_s
            self.doors = Doors.CLOSED
        yield from self._travel(k, INSPECTION_SPEED_MPS)
        yield from self._door_cycle(-self.passengers)
        self._set_mode("normal", self.now, self._out)

    def _doors_stay_shut(self, fault: Any) -> Script:
        k = self._pick_landing(fault.floor)
        board = self.home if self.home != k else (len(self.labels) - 1 if k == 0 else 0)
        ride = Run(0.0, self._height(board), self._height(k), self.spec.rated_speed_mps, self.spec.accel_mps2)
        depart = fault.at - ride.duration
        yield from self._travel(board)
        yield from self._wait_until(depart - self._board_cycle_s())
        yield from self._door_cycle(fault.passengers)
        yield from self._wait_until(depart)
        yield from self._travel(k)
        t, out = self.now, self._out
        self._fault(t, 3, out, detail="doors do not open")
        yield from self._stuck(t, fault.release_after, self._entrapment_timer(t, in_zone=True))
        yield from self._door_cycle(-self.passengers)
        self._event(self.now, 40, self._out)

    def _door_open_fault(self, fault: Any) -> Script:
        k = self._pick_landing(fault.floor)
        yield from self._travel(k)
        yield from self._wait_until(fault.at)
        t = self.now
        self._fault(t, 3, self._out, detail="doors do not open")
        yield t + fault.duration
        self._event(self.now, 40, self._out)
        yield from self._door_cycle()

    def _door_close_fault(self, fault: Any) -> Script:
        k = self._pick_landing(fault.floor)
        yield from self._travel(k)
        yield from self._wait_until(fault.at - self.spec.door_open_s - self.spec.dwell_s)
        self.doors = Doors.OPENING
        yield self.now + self.spec.door_open_s
        self.doors = Doors.OPEN
        yield self.now + self.spec.dwell_s
        t = self.now
        self._fault(t, 2, self._out, detail="doors do not close")
        yield t + fault.duration
        self.doors = Doors.CLOSING
        yield self.now + self.spec.door_close_s
        self.doors = Doors.CLOSED
        self._event(self.now, 40, self._out)

    def _unintended_movement(self, fault: Any) -> Script:
        k = self._pick_landing(fault.floor, avoid_top=True)
        yield from self._travel(k)
        yield from self._wait_until(fault.at - self.spec.door_open_s - 1.0)
        self.doors = Doors.OPENING
        yield self.now + self.spec.door_open_s
        self.doors = Doors.OPEN
        yield from self._wait_until(fault.at)
        t = self.now
        # The brake slips: the car creeps away with its doors open until the UCMP stops it.
        creep = Run(t, self.x, self.x + 2 * DOOR_ZONE_M, 0.25, 0.5)
        self.run = creep
        self.cause(t, AlarmType.UNINTENDED_CAR_MOVEMENT, self._out)
        yield creep.t1
        self._end_run(creep)
        self._event(self.now, 5, self._out, "car moved with the doors open")
        self._set_mode("out_of_service", self.now, self._out)
        yield from self._stuck(t, fault.release_after)
        yield from self._rescue(k)

    def _technician_inspection(self, fault: f.TechnicianInspection) -> Script:
        """检修: the technician boards at the landing before ``at``; from ``at`` inspection mode,
        a slow run to a stop outside the door zone, work there, back, normal mode, out."""
        k = self._pick_landing(fault.floor, avoid_top=fault.floor is None)
        sign = 1 if k + 1 < len(self.labels) else -1
        yield from self._travel(k)
        yield from self._wait_until(fault.at - self._board_cycle_s())
        yield from self._door_cycle(1)
        yield from self._wait_until(fault.at)
        self._set_mode("inspection", self.now, self._out)
        run = self._start_run(self._height(k) + sign * STOP_FRACTION * self.spec.floor_height_m, INSPECTION_SPEED_MPS)
        yield run.t1
        self._end_run(run)  # stopped by the technician's controls, outside the door zone, doors closed
        yield self.now + fault.duration
        yield from self._travel(k, INSPECTION_SPEED_MPS)
        self._set_mode("normal", self.now, self._out)
        yield from self._door_cycle(-1)

    def _overrun(self, fault: Any) -> Script:
        top = fault.do == "overrun_top"
        edge = len(self.labels) - 1 if top else 0
        approach = edge - 1 if top else 1
        beyond = self._height(edge) + (OVERRUN_M if top else -OVERRUN_M)
        ride = Run(0.0, self._height(approach), beyond, self.spec.rated_speed_mps, self.spec.accel_mps2)
        depart = fault.at - ride.duration
        yield from self._travel(approach)
        if fault.passengers:
            yield from self._wait_until(depart - self._board_cycle_s())
            yield from self._door_cycle(fault.passengers)
        yield from self._wait_until(depart)
        run = self._start_run(beyond)
        yield run.t1
        self._end_run(run)
        t, out = self.now, self._out
        self._fault(t, 9 if top else 10, out, detail="overrun the terminal landing")
        if not self.spec.reports_events:
            self.cause(t, AlarmType.STOPPED_OUTSIDE_DOOR_ZONE, out)
        self._set_mode("out_of_service", t, out)
        trapped = self._entrapment_timer(t, in_zone=False) if fault.passengers else None
        yield from self._stuck(t, fault.release_after, trapped)
        yield from self._rescue(edge)

