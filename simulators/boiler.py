"""A simulated gas-fired boiler (steam or hot water) with its burner, feed water and protection.

The physics is a few lumped balances integrated once per simulated second, cheap enough for
hundreds of boilers in one process:

- Burner: on/off with hysteresis on the pressure (steam) or the supply temperature (hot water),
  modulating between low and full fire in between. The flame lights a few seconds after the
  burner starts (pre-purge, then ignition) and goes out when it stops; fuel flows only with a
  flame, in proportion to the firing rate; the flue temperature follows the firing with a lag.
- Steam: the pressure rises with firing minus the steam drawn (a daily profile by local time);
  the outlet temperature is the saturation temperature of the pressure; the water level falls
  with evaporation and an on/off feed pump holds it near 0 mm.
- Hot water: the supply temperature rises with firing minus the heating load; the return is
  colder by a load-dependent delta; the pressure is the static pressure plus thermal expansion.

Normal running stays well inside every threshold of the spec. A fault
(``simulators.faults.BoilerFault``) only breaks a component or a controller; the physics then
runs into the limit and the protection trips on the spec's threshold, whatever drove the value
there: event code 101-105, a ``Cause``, the burner locked out until the operator's reset.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

from semon.protocol.topics import Kind
from simulators import faults as f
from simulators.core import Output, Periods, SimDevice, SimError, alarm_of

Medium = Literal["steam", "hot_water"]

STEP_S = 1.0  # physics step
DEFAULT_PERIODS = Periods()
ATM_MPA = 0.101325

# Burner
MIN_FIRE = (0.3, 0.45)  # low fire (turndown) drawn per boiler
FIRE_SLEW = 0.02  # firing-rate change per second: the air/gas servo takes ~35 s from low to full fire
IGNITION_S = (4.0, 7.0)  # pre-purge then ignition: the flame is proven this long after the start
FLAME_RESPONSE_S = 1.0  # the flame safeguard locks out within this after losing the flame
FLUE_FULL_C = {"steam": (200.0, 235.0), "hot_water": (150.0, 185.0)}  # at full fire
FLUE_LOW_DROP_K = 60.0  # the flue is this much cooler at zero than at full fire
FLUE_OFF_C = (42.0, 58.0)  # a standing boiler's flue
FLUE_TAU_UP_S, FLUE_TAU_DOWN_S = 45.0, 240.0

# Steam: control points as fractions of the rated pressure
STEAM_RATE = 0.004  # pressure change per second, per unit of firing/steam imbalance (fraction of rated)
CUT_IN, CUT_OUT = 0.68, 0.84  # burner on below, off above
FIRE_LOW_AT, FIRE_BAND = 0.82, 0.08  # low fire at 0.82, full fire at 0.74 and below
STEAM_COLLAPSE_MPA = 0.1  # below this the consumers can draw less and less steam
RELIEF, RESEAT = 0.8, 0.93  # safety valve: extra steam (fraction of rated) until it reseats
LEVEL_RATE_MM_S = 0.4  # level change per second at the rated evaporation without feed (a compact drum)
FEED_MARGIN = 1.25  # the feed pump delivers 125% of the rated evaporation
PUMP_ON_MM, PUMP_OFF_MM = -15.0, 15.0
LEVEL_RIPPLE_MM = 3.0  # peak to peak
FEED_TEMP_C = (60.0, 105.0)  # hot well to atmospheric deaerator

# Hot water: control points relative to the setpoint
SETPOINT_BELOW_RATED_K = 20.0
HW_CUT_IN_K, HW_CUT_OUT_K = -6.0, 4.0
HW_FIRE_LOW_K, HW_FIRE_BAND_K = 3.0, 8.0
HW_RATE_K_S = 0.06  # supply temperature change per second, per unit of firing/load imbalance
COLD_C = 20.0  # the heating load falls to nothing as the water cools to this
EXPANSION_MPA_K = 0.002  # pressure rise per kelvin with a healthy expansion vessel
EXPANSION_REF_C = 40.0
STATIC_PRESSURE = (0.32, 0.38)  # fill pressure, fraction of the rated pressure
WATERLOGGED_K = 5.0  # a waterlogged vessel reaches the rated pressure within this many kelvin

# Load: fraction of the rated output by local hour (0-24, the last repeats the first)
STEAM_PROFILE = (0.25, 0.22, 0.2, 0.2, 0.22, 0.3, 0.45, 0.65, 0.75, 0.7, 0.65, 0.6, 0.55, 0.6, 0.65, 0.65,
                 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.27, 0.25)
HEATING_PROFILE = (0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.75, 0.72, 0.65, 0.58, 0.5, 0.45, 0.42, 0.4, 0.42, 0.45,
                   0.5, 0.55, 0.6, 0.62, 0.62, 0.62, 0.6, 0.6, 0.62)
LOAD_SCALE = {"steam": (0.5, 1.1), "hot_water": (0.3, 1.0)}  # per boiler: oversized ones cycle, busy ones fire on
LOAD_MIN, LOAD_MAX = 0.05, 0.9  # full fire always wins: a boiler never falls behind for good
DEMAND_DROP = 0.1  # over-pressure: the consumers' valves close
CIRCULATION_LOST = 0.05  # over-temperature: the circulation pump stops, only losses remain

FAULT_CODE = {"extreme_low_water": 101, "high_water": 102, "over_pressure": 103, "over_temperature": 104,
              "flame_failure": 105}
FAULT_FOR_CODE = {code: do for do, code in FAULT_CODE.items()}
FAULTS_FOR: dict[str, frozenset[str]] = {
    "steam": frozenset({"extreme_low_water", "high_water", "over_pressure", "flame_failure"}),
    "hot_water": frozenset({"over_pressure", "over_temperature", "flame_failure"}),
}
BACK_TO_NORMAL = 140


# Typical sizes: (feed pump m³/h, gas m³/h at full fire) for 2, 4 and 10 t/h of steam,
# gas m³/h for 1.4, 2.8 and 7 MW of hot water (natural gas 35.6 MJ/m³, ~92% efficiency).
STEAM_SIZES = ((2.5, 150.0), (5.0, 300.0), (12.5, 740.0))
HOT_WATER_SIZES = (155.0, 310.0, 770.0)


def saturation_temp_c(pressure_mpa: float) -> float:
    """Saturation temperature of water at a gauge pressure: monotonic, within ~2 K up to 2.5 MPa."""
    return float(100.0 * ((pressure_mpa + ATM_MPA) / ATM_MPA) ** 0.25)


@dataclass(frozen=True, slots=True)
class BoilerSpec:
    """Rated values and the protection thresholds (water levels relative to the normal level)."""

    medium: Medium = "steam"
    rated_pressure_mpa: float = 1.25
    rated_outlet_temp_c: float = 196.0  # steam: saturation at the rated pressure plus a few kelvin
    rated_fuel_m3h: float = 300.0
    rated_feedwater_m3h: float = 5.0  # the feed pump; a hot-water boiler's make-up pump
    high_water_mm: float = 75.0
    low_water_mm: float = -50.0
    extreme_low_water_mm: float = -100.0

    def __post_init__(self) -> None:
        if self.medium not in FAULTS_FOR:
            raise SimError(f"medium {self.medium!r} is neither 'steam' nor 'hot_water'")
        if not self.extreme_low_water_mm < self.low_water_mm < 0 < self.high_water_mm:
            raise SimError("water levels must satisfy extreme_low < low < 0 < high")
        if not 0 < self.rated_pressure_mpa <= 10 or self.rated_fuel_m3h <= 0:
            raise SimError("rated pressure and fuel flow must be positive (pressure at most 10 MPa)")
        if self.medium == "steam":
            if self.rated_feedwater_m3h <= 0:
                raise SimError("a steam boiler needs a feed-water flow")
            if self.rated_outlet_temp_c <= saturation_temp_c(self.rated_pressure_mpa) + 1:
                raise SimError("a steam boiler's rated outlet temperature must be above saturation at rated pressure")
        else:
            if not 60 <= self.rated_outlet_temp_c <= 150:
                raise SimError("a hot-water boiler's rated outlet temperature must be 60-150 °C")
            # Static pressure plus expansion at the over-temperature trip must stay clear of over-pressure,
            # and the water must not boil at the lowest static pressure.
            rated_p, hot = self.rated_pressure_mpa, self.rated_outlet_temp_c + 5
            expansion = EXPANSION_MPA_K * (hot - EXPANSION_REF_C)
            if STATIC_PRESSURE[1] * rated_p + expansion >= 0.95 * rated_p:
                raise SimError("rated pressure too low for the rated outlet temperature")
            if saturation_temp_c(STATIC_PRESSURE[0] * rated_p + expansion) <= hot:
                raise SimError("rated pressure too low: the water would boil at the rated outlet temperature")

    @classmethod
    def draw(cls, rng: random.Random) -> BoilerSpec:
        """A plausible city boiler: 2, 4 or 10 t/h of steam, or 1.4, 2.8 or 7 MW of hot water."""
        if rng.random() < 0.5:
            feed, fuel = rng.choice(STEAM_SIZES)
            pressure = rng.choice((1.0, 1.25, 1.6))
            return cls(medium="steam", rated_pressure_mpa=pressure, rated_fuel_m3h=fuel, rated_feedwater_m3h=feed,
                       rated_outlet_temp_c=float(round(saturation_temp_c(pressure)) + 5))
        return cls(medium="hot_water", rated_pressure_mpa=rng.choice((1.0, 1.25)),
                   rated_outlet_temp_c=rng.choice((95.0, 115.0)), rated_fuel_m3h=rng.choice(HOT_WATER_SIZES),
                   rated_feedwater_m3h=0.5)


class Boiler(SimDevice):
    """One boiler; ``active`` (fast telemetry) while the burner is on."""

    kind = Kind.BOILER

    def __init__(self, device_id: str, spec: BoilerSpec, *, origin_ms: int, seed: int,
                 periods: Periods = DEFAULT_PERIODS, local_utc_offset_h: float = 8) -> None:
        super().__init__(device_id, origin_ms=origin_ms, seed=seed, periods=periods)
        self.spec = spec
        self.steam = spec.medium == "steam"
        rng = self.rng
        self._origin_h = origin_ms / 3_600_000 + local_utc_offset_h  # local hour at t = 0
        self._noise = random.Random(rng.random())  # measurement noise: drawn only when publishing
        self._profile = STEAM_PROFILE if self.steam else HEATING_PROFILE
        self._scale = rng.uniform(*LOAD_SCALE[spec.medium])
        self._wobble = 0.0  # slow random walk on top of the daily profile
        self._min_fire = rng.uniform(*MIN_FIRE)
        self._flue_full = rng.uniform(*FLUE_FULL_C[spec.medium])
        self._flue_off = rng.uniform(*FLUE_OFF_C)
        rated = spec.rated_pressure_mpa
        if self.steam:
            self._cut_in, self._cut_out = CUT_IN * rated, CUT_OUT * rated
            self._fire_low_at, self._fire_band = FIRE_LOW_AT * rated, FIRE_BAND * rated
            self._feed_temp = rng.uniform(*FEED_TEMP_C)
            self._setpoint = self._static = 0.0
        else:
            setpoint = spec.rated_outlet_temp_c - SETPOINT_BELOW_RATED_K
            self._cut_in, self._cut_out = setpoint + HW_CUT_IN_K, setpoint + HW_CUT_OUT_K
            self._fire_low_at, self._fire_band = setpoint + HW_FIRE_LOW_K, HW_FIRE_BAND_K
            self._setpoint = setpoint
            self._feed_temp = 0.0
            self._static = rng.uniform(*STATIC_PRESSURE) * rated

        # Faults and protection
        self._faults: dict[str, f.BoilerFault] = {}  # in progress, by ``do``
        self._tripped: set[str] = set()  # faults whose protection has tripped
        self._lockouts: set[int] = set()  # codes that hold the burner off until reset
        self._latched: set[int] = set()  # limit switches tripped and not yet back inside
        self._feed_failed = self._feed_stuck = self._feed_isolated = False
        self._full_fire = self._no_flame = self._relief = False
        self._demand_factor = 1.0
        self._stiffness = 0.0  # MPa/K of a waterlogged expansion vessel
        self._fill_temp = 0.0

        # State: the controlled value (pressure or supply temperature) somewhere in the band.
        x = rng.uniform(self._cut_in, self._cut_out)
        self.pressure = x if self.steam else 0.0
        self.temp = 0.0 if self.steam else x
        if not self.steam:
            self.pressure = self._hot_water_pressure()
        self.level = self.level_measured = rng.uniform(-10.0, 10.0) if self.steam else 0.0
        self.load = 0.5  # last demand, fraction of rated output
        self.burner_on = rng.random() < 0.5
        self.flame = self.burner_on
        self.firing = self._fire_target() if self.burner_on else 0.0
        self.flue = self._flue_target() if self.flame else self._flue_off + 20.0 * rng.random()
        self._pump = self.level < 0.0
        self._flame_due = 0.0  # the ignition trial (or the flame-loss timer) ends then
        self._step_action = self._step

    # --- SimDevice -----------------------------------------------------------------------

    def start(self, out: list[Output]) -> None:
        self.at(self.now + STEP_S, self._step_action)

    @property
    def active(self) -> bool:
        return self.burner_on

    def snapshot(self, t: float) -> Hashable:
        return self.burner_on, self.flame

    def telemetry(self, t: float) -> dict[str, Any]:
        noise = self._noise.random
        pressure = round(self.pressure, 3)
        if self.steam:
            outlet = round(saturation_temp_c(pressure), 1)  # of the published pressure: an exact function
            back = round(self._feed_temp + noise() - 0.5, 1)
            level = self.level_measured
            feed = round(self.spec.rated_feedwater_m3h * (0.97 + 0.06 * noise()), 1) if self._pump else 0.0
        else:
            outlet = round(self.temp, 1)
            back = round(self.temp - self._return_delta(), 1)
            level = round(4.0 * (noise() - 0.5), 1)  # expansion tank: the boiler is always full
            feed = 0.0
        return {
            "burner_on": self.burner_on,
            "flame": self.flame,
            "pressure_mpa": pressure,
            "water_level_mm": max(-1000.0, min(1000.0, level)),
            "outlet_temp_c": outlet,
            "return_temp_c": back,
            "flue_temp_c": round(self.flue + noise() - 0.5, 1),
            "feedwater_flow_m3h": feed,
            "fuel_flow_m3h": round(self.spec.rated_fuel_m3h * self.firing, 1) if self.flame else 0.0,
        }

    def inject(self, action: Any) -> None:
        """Schedule an action from ``simulators.faults``; one the medium lacks is refused now."""
        self._check(action)
        if not self.inject_untimed(action):
            self.at(action.at, lambda t, out: self.apply(action, t, out))

    def apply(self, fault: Any, t: float, out: list[Output]) -> None:
        self._check(fault)
        if self.apply_to_any(fault, t, out):
            return
        if fault.do not in self._faults:  # the same failure again while in progress changes nothing
            self._faults[fault.do] = fault
            self._begin(fault.do, t)

    # --- public helpers ------------------------------------------------------------------

    def local_hour(self, t: float) -> float:
        """Local time of day (0-24 h) at simulation time ``t``."""
        return (self._origin_h + t / 3600.0) % 24.0

    @property
    def locked_out(self) -> bool:
        return bool(self._lockouts)

    # --- faults --------------------------------------------------------------------------

    def _check(self, action: Any) -> None:
        if isinstance(action, f.ANY_DEVICE):
            return
        if not isinstance(action, f.BoilerFault):
            raise SimError(f"{getattr(action, 'do', type(action).__name__)} does not apply to a boiler")
        if action.do not in FAULTS_FOR[self.spec.medium]:
            raise SimError(f"{action.do} does not apply to a {self.spec.medium.replace('_', '-')} boiler")

    def _begin(self, do: str, t: float) -> None:
        """Break the component; the physics takes it from here to the protection's threshold."""
        if do == "over_pressure" and not self.steam:
            # The expansion vessel has lost its gas cushion: the pressure climbs steeply with the temperature.
            self._stiffness = (self.spec.rated_pressure_mpa - self.pressure) / WATERLOGGED_K
            self._fill_temp = self.temp
        elif do == "flame_failure" and self.flame:
            self.flame = False  # the burner is still on: the safeguard notices within its response time
            self._flame_due = t + FLAME_RESPONSE_S
        self._refresh()

    def _refresh(self) -> None:
        """What the faults in progress (and the lockouts) do to the plant."""
        faults = self._faults
        self._feed_failed = "extreme_low_water" in faults  # the feed pump fails
        self._feed_stuck = "high_water" in faults  # the feed runs on whatever the level
        self._feed_isolated = 102 in self._lockouts  # the high-water interlock has closed the feed
        # Over-pressure and over-temperature: the control fails at full fire; for steam the consumers close
        # their valves, for hot water the circulation pump stops (over-temperature only).
        self._full_fire = "over_pressure" in faults or "over_temperature" in faults
        self._demand_factor = (CIRCULATION_LOST if "over_temperature" in faults
                               else DEMAND_DROP if self.steam and "over_pressure" in faults else 1.0)
        if "over_pressure" not in faults:
            self._stiffness = 0.0  # the vessel has been recharged
        self._no_flame = "flame_failure" in faults  # the flame cannot be kept or lit (flame rod, gas valve)

    def _trip(self, t: float, code: int, out: list[Output]) -> None:
        self.emit_event(t, code, out, detail=self._detail(code))
        self.cause(t, alarm_of(code, self.kind), out)
        self._lockouts.add(code)
        self._stop_burner()
        if code == 103 and self.steam:
            self._relief = True  # the safety valve lifts
        do = FAULT_FOR_CODE[code]
        fault = self._faults.get(do)  # none: a trip no injected fault explains, held for the rest of the run
        if fault is not None and do not in self._tripped:
            self._tripped.add(do)
            if fault.release_after is not None:
                self.at(t + fault.release_after, lambda t2, out2: self._release(do, t2, out2))
        self._refresh()

    def _release(self, do: str, t: float, out: list[Output]) -> None:
        """The operator has fixed the cause and resets the lockout."""
        del self._faults[do]
        self._tripped.discard(do)
        self._lockouts.discard(FAULT_CODE[do])
        self._refresh()
        if not self._lockouts:  # another fault's lockout may still hold
            self.emit_event(t, BACK_TO_NORMAL, out, detail=f"{do.replace('_', ' ')} fixed, lockout reset")

    def _detail(self, code: int) -> str:
        s = self.spec
        if code == 101:
            return f"water level {self.level_measured:.1f} mm below extreme-low {s.extreme_low_water_mm:g} mm"
        if code == 102:
            return f"water level {self.level_measured:.1f} mm above high {s.high_water_mm:g} mm"
        if code == 103:
            return f"pressure {self.pressure:.3f} MPa above rated {s.rated_pressure_mpa:g} MPa"
        if code == 104:
            return f"outlet {self.temp:.1f} °C above rated {s.rated_outlet_temp_c:g} °C"
        return "flame lost with the burner on" if self.firing else "no flame at the end of the ignition trial"

    # --- physics -------------------------------------------------------------------------

    def _step(self, t: float, out: list[Output]) -> None:
        self.at(t + STEP_S, self._step_action)
        self._control(t, out)
        demand = self._demand(t)
        if self.steam:
            self._steam(demand)
        else:
            self._hot_water(demand)
        target = self._flue_target() if self.flame else self._flue_off
        tau = FLUE_TAU_UP_S if target > self.flue else FLUE_TAU_DOWN_S
        self.flue += (target - self.flue) * STEP_S / tau
        self._protect(t, out)

    def _demand(self, t: float) -> float:
        hour = (self._origin_h + t / 3600.0) % 24.0
        i = min(int(hour), 23)
        profile = self._profile
        base = profile[i] + (profile[i + 1] - profile[i]) * (hour - i)
        self._wobble = 0.997 * self._wobble + 0.01 * (self.rng.random() - 0.5)
        self.load = min(LOAD_MAX, max(LOAD_MIN, base * self._scale + self._wobble)) * self._demand_factor
        return self.load

    def _control(self, t: float, out: list[Output]) -> None:
        # Flame safeguard: at the end of the ignition trial (or of the flame-loss time) a flame or a lockout.
        if self.burner_on and not self.flame and t >= self._flame_due:
            if self._no_flame:
                self._trip(t, 105, out)
                return
            self.flame = True
            self.firing = self._min_fire  # lights at low fire
        want = self._want_burner()
        if want and not self.burner_on:
            self.burner_on = True
            self._flame_due = t + self.rng.uniform(*IGNITION_S)
        elif not want and self.burner_on:
            self._stop_burner()
        if self.flame:
            change = self._fire_target() - self.firing
            self.firing += max(-FIRE_SLEW, min(FIRE_SLEW, change)) * STEP_S

    def _want_burner(self) -> bool:
        if self._lockouts or self._latched:  # interlocks: a lockout or a limit still outside
            return False
        if self._full_fire:
            return True
        x = self.pressure if self.steam else self.temp
        return x < (self._cut_out if self.burner_on else self._cut_in)

    def _fire_target(self) -> float:
        if self._full_fire:
            return 1.0
        x = self.pressure if self.steam else self.temp
        low = self._min_fire
        return max(low, min(1.0, low + (1.0 - low) * (self._fire_low_at - x) / self._fire_band))

    def _flue_target(self) -> float:
        return self._flue_full - FLUE_LOW_DROP_K * (1.0 - self.firing)

    def _stop_burner(self) -> None:
        self.burner_on = self.flame = False
        self.firing = 0.0

    def _steam(self, demand: float) -> None:
        p = self.pressure
        steam = demand if p >= STEAM_COLLAPSE_MPA else demand * p / STEAM_COLLAPSE_MPA
        if self._relief:
            steam += RELIEF
        heat = self.firing if self.flame else 0.0
        p += self.spec.rated_pressure_mpa * STEAM_RATE * (heat - steam) * STEP_S
        self.pressure = p if p > 0.0 else 0.0
        if self._relief and p < RESEAT * self.spec.rated_pressure_mpa:
            self._relief = False
        level = self.level
        if self._feed_failed or self._feed_isolated:
            self._pump = False
        elif self._feed_stuck or level < PUMP_ON_MM:
            self._pump = True
        elif level > PUMP_OFF_MM:
            self._pump = False
        level += LEVEL_RATE_MM_S * ((FEED_MARGIN if self._pump else 0.0) - steam) * STEP_S
        self.level = level
        # The transmitter and the level switches see the surface ripple alike, to the published 0.1 mm.
        self.level_measured = round(level + LEVEL_RIPPLE_MM * (self.rng.random() - 0.5), 1)

    def _hot_water(self, load: float) -> None:
        temp = self.temp
        delivered = load * min(1.2, max(0.0, (temp - COLD_C) / (self._setpoint - COLD_C)))
        heat = self.firing if self.flame else 0.0
        self.temp = temp + HW_RATE_K_S * (heat - delivered) * STEP_S
        self.pressure = self._hot_water_pressure()

    def _hot_water_pressure(self) -> float:
        temp = self.temp
        p = self._static + EXPANSION_MPA_K * (temp - EXPANSION_REF_C)
        if self._stiffness:
            # As the water cools the make-up pump refills the vessel: the stiff part starts from the coldest point.
            self._fill_temp = min(self._fill_temp, temp)
            p += self._stiffness * (temp - self._fill_temp)
        return p

    def _return_delta(self) -> float:
        """Supply minus return: 10-25 K with the load; less only once the water has cooled well below the band."""
        warm = min(1.0, max(0.0, (self.temp - COLD_C) / (self._cut_in - 5.0 - COLD_C)))
        return (10.0 + 15.0 * min(1.0, self.load)) * warm

    def _protect(self, t: float, out: list[Output]) -> None:
        """Limit switches on the spec's thresholds; each trips once and re-arms back inside with hysteresis.

        They compare the values as published, so the frame of the trip shows the threshold crossed."""
        s = self.spec
        if self.steam:
            level = self.level_measured
            self._limit(t, 101, level < s.extreme_low_water_mm, level > s.extreme_low_water_mm + 10, out)
            self._limit(t, 102, level > s.high_water_mm, level < s.high_water_mm - 10, out)
        else:
            # A steam boiler's outlet is the saturation temperature: its pressure limit covers it.
            temp, rated = round(self.temp, 1), s.rated_outlet_temp_c
            self._limit(t, 104, temp > rated, temp < rated - 5, out)
        p, rated_p = round(self.pressure, 3), s.rated_pressure_mpa
        self._limit(t, 103, p > rated_p, p < 0.95 * rated_p, out)

    def _limit(self, t: float, code: int, beyond: bool, back: bool, out: list[Output]) -> None:
        if code in self._latched:
            if back:
                self._latched.discard(code)
        elif beyond:
            self._latched.add(code)
            self._trip(t, code, out)
