"""Passenger calls by time of day, for the building types of a city."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Building(StrEnum):
    RESIDENTIAL = "residential"
    OFFICE = "office"
    MALL = "mall"
    HOSPITAL = "hospital"


# Share of the peak call rate, hour by hour (local time, 0-23).
_PROFILES: dict[Building, tuple[float, ...]] = {
    Building.RESIDENTIAL: (0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.3, 1.0, 0.9, 0.4, 0.3, 0.4,
                           0.6, 0.5, 0.3, 0.3, 0.4, 0.8, 1.0, 0.9, 0.7, 0.5, 0.3, 0.1),
    Building.OFFICE: (0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.05, 0.5, 1.0, 0.7, 0.4, 0.5,
                      0.9, 0.8, 0.4, 0.4, 0.4, 0.9, 0.8, 0.3, 0.1, 0.05, 0.02, 0.01),
    Building.MALL: (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.1, 0.4, 0.7, 0.9,
                    1.0, 0.9, 0.8, 0.8, 0.9, 1.0, 1.0, 1.0, 0.9, 0.6, 0.2, 0.0),
    Building.HOSPITAL: (0.2, 0.15, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 0.9,
                        0.8, 0.9, 1.0, 1.0, 0.9, 0.7, 0.6, 0.5, 0.4, 0.4, 0.3, 0.2),
}


def demand(building: Building, hour: int) -> float:
    return _PROFILES[building][hour % 24]


@dataclass(frozen=True, slots=True)
class Trip:
    origin: int  # landing indexes, 0 = lowest landing
    destination: int
    passengers: int


def draw_trip(rng: random.Random, building: Building, hour: int, landings: int, home: int) -> Trip:
    """Morning traffic leaves homes for the lobby, evening traffic returns; the rest is mixed."""
    other = rng.randrange(landings - 1)
    other = other + 1 if other >= home else other
    if building is Building.RESIDENTIAL:
        down = 0.85 if 6 <= hour < 10 else 0.15 if 16 <= hour < 21 else 0.5
    elif building is Building.OFFICE:
        down = 0.1 if 7 <= hour < 10 else 0.85 if 16 <= hour < 20 else 0.5
    else:
        down = 0.5
    passengers = 1 + min(int(rng.expovariate(1.2)), 7)
    if rng.random() < 0.15:  # between two upper floors
        a, b = rng.sample(range(landings), 2)
        return Trip(a, b, passengers)
    if rng.random() < down:
        return Trip(other, home, passengers)
    return Trip(home, other, passengers)
