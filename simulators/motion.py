"""The car's speed profile: accelerate, cruise at rated speed, decelerate (trapezoidal)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Run:
    """A run from ``x0`` to ``x1`` (metres of travel) starting at ``t0`` (simulation seconds)."""

    t0: float
    x0: float
    x1: float
    max_speed: float
    accel: float
    peak: float = field(init=False)
    t_accel: float = field(init=False)
    t_cruise: float = field(init=False)

    def __post_init__(self) -> None:
        d = self.distance
        if d >= self.max_speed**2 / self.accel:
            t_accel = self.max_speed / self.accel
            peak = self.max_speed
            t_cruise = (d - peak * t_accel) / peak
        else:  # too short to reach rated speed: a triangular profile
            t_accel = math.sqrt(d / self.accel)
            peak = self.accel * t_accel
            t_cruise = 0.0
        object.__setattr__(self, "t_accel", t_accel)
        object.__setattr__(self, "peak", peak)
        object.__setattr__(self, "t_cruise", t_cruise)

    @property
    def distance(self) -> float:
        return abs(self.x1 - self.x0)

    @property
    def sign(self) -> int:
        return 1 if self.x1 >= self.x0 else -1

    @property
    def duration(self) -> float:
        return 2 * self.t_accel + self.t_cruise

    @property
    def t1(self) -> float:
        return self.t0 + self.duration

    def travelled(self, t: float) -> float:
        tau = min(max(t - self.t0, 0.0), self.duration)
        ta, tc = self.t_accel, self.t_cruise
        if tau <= ta:
            return 0.5 * self.accel * tau * tau
        if tau <= ta + tc:
            return 0.5 * self.accel * ta * ta + self.peak * (tau - ta)
        rest = self.duration - tau
        return self.distance - 0.5 * self.accel * rest * rest

    def position(self, t: float) -> float:
        return self.x0 + self.sign * self.travelled(t)

    def speed(self, t: float) -> float:
        tau = t - self.t0
        if tau <= 0 or tau >= self.duration - 1e-9:  # t1 - t0 may round a hair below duration
            return 0.0
        if tau <= self.t_accel:
            return self.accel * tau
        if tau <= self.t_accel + self.t_cruise:
            return self.peak
        return self.accel * (self.duration - tau)

    def time_at(self, s: float) -> float:
        """When the car has travelled ``s`` metres (0 ≤ s ≤ distance)."""
        s = min(max(s, 0.0), self.distance)
        ta, tc = self.t_accel, self.t_cruise
        s_accel = 0.5 * self.accel * ta * ta
        if s <= s_accel:
            tau = math.sqrt(2 * s / self.accel)
        elif s <= s_accel + self.peak * tc:
            tau = ta + (s - s_accel) / self.peak
        else:
            tau = self.duration - math.sqrt(max(2 * (self.distance - s) / self.accel, 0.0))
        return self.t0 + tau
