"""Due dates of periodic inspections: pure date arithmetic over ``registry/intervals.toml``.

A piece of equipment has one or more independent schedules (a boiler's external, internal and
hydrostatic inspections). Each falls due an interval after its last inspection, or, before
the first one, after commissioning (a pressure vessel's first within three years). An
elevator's falls due at the end of the month. A failed inspection does not move the
schedule; it makes the unit unfit for use until an inspection passes.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

INTERVALS_FILE = Path(__file__).with_name("intervals.toml")


class Category(StrEnum):
    ELEVATOR = "elevator"
    BOILER = "boiler"
    PRESSURE_VESSEL = "pressure_vessel"
    PRESSURE_PIPING = "pressure_piping"
    GAS_CYLINDER = "gas_cylinder"
    CRANE = "crane"
    IN_PLANT_VEHICLE = "in_plant_vehicle"
    LARGE_AMUSEMENT_RIDE = "large_amusement_ride"
    PASSENGER_ROPEWAY = "passenger_ropeway"


class Result(StrEnum):
    PASS = "pass"
    CONDITIONAL = "conditional"  # passes, with conditions to be rectified
    FAIL = "fail"


class DueError(ValueError):
    """The equipment's data do not give a schedule (e.g. an unknown category)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str  # periodic | external | internal | hydrostatic
    months: int  # 0: the equipment must not be used at all


@dataclass(frozen=True, slots=True)
class IntervalTable:
    raw: Mapping[str, Any]

    def schedules(self, category: Category, *, type_: str | None = None, rated: Mapping[str, Any] | None = None,
                  overrides: Mapping[str, int] | None = None) -> list[Schedule]:
        entry = self.raw.get(str(category))
        if entry is None:
            raise DueError(f"no intervals for category {category!r}")
        rated = rated or {}
        if "schedules" in entry:
            months = dict(entry["schedules"])
        else:
            keyed = entry["periodic"]
            by = entry["by"]
            key = type_ if by == "type" else rated.get(by)
            value = keyed.get(str(key)) if key is not None else None
            months = {"periodic": int(value if value is not None else keyed["default"])}
        for name, override in (overrides or {}).items():
            if name not in months:
                raise DueError(f"{category} has no schedule {name!r} to override (it has {', '.join(months)})")
            months[name] = int(override)
        return [Schedule(name, int(m)) for name, m in months.items()]

    def end_of_month(self, category: Category) -> bool:
        return bool(self.raw.get(str(category), {}).get("end_of_month", False))

    def first_within(self, category: Category) -> int | None:
        value = self.raw.get(str(category), {}).get("first_within")
        return int(value) if value is not None else None


@cache
def default_table() -> IntervalTable:
    return load_table(INTERVALS_FILE)


def load_table(path: Path) -> IntervalTable:
    return IntervalTable(tomllib.loads(path.read_text(encoding="utf-8")))


def add_months(d: date, months: int) -> date:
    """Calendar months later; the day is clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    total = d.year * 12 + (d.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def end_of_month(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def next_due(schedule: Schedule, *, last_inspected: date | None, commissioned: date | None,
             category: Category, table: IntervalTable | None = None) -> date | None:
    """When the schedule next falls due; None when it cannot be used at all (0 months) or when
    neither a last inspection nor a commissioning date is known."""
    table = table or default_table()
    if schedule.months <= 0:
        return None
    if last_inspected is not None:
        due = add_months(last_inspected, schedule.months)
    elif commissioned is not None:
        first = table.first_within(category)
        due = add_months(commissioned, first if first is not None else schedule.months)
    else:
        return None
    return end_of_month(due) if table.end_of_month(category) else due


def notice_day(due: date, months_before: int = 1) -> date:
    """The owner must apply one month before the due date: the due notice goes out then."""
    return add_months(due, -months_before)


def is_overdue(next_due_date: date | None, today: date) -> bool:
    return next_due_date is not None and next_due_date < today


def inspection_rate(in_use: int, overdue: int) -> float | None:
    """定检率 = (1 − overdue / in use) × 100 %; None when nothing is in use."""
    if in_use <= 0:
        return None
    return (1 - overdue / in_use) * 100


class Standing(StrEnum):
    """Where a unit stands on a given day, for notices, lists and the rate."""

    NOT_COUNTED = "not_counted"  # stopped or scrapped: no notices, left out of the rate
    UNFIT = "unfit"  # a failed inspection not yet passed, or a unit not to be used at all
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"  # within the notice period: the owner must apply now
    OK = "ok"


def standing(*, status: str, fit_for_use: bool, next_due_date: date | None, today: date,
             months_before: int = 1) -> Standing:
    if status != "in_use":
        return Standing.NOT_COUNTED
    if not fit_for_use:
        return Standing.UNFIT
    if is_overdue(next_due_date, today):
        return Standing.OVERDUE
    if next_due_date is not None and notice_day(next_due_date, months_before) <= today:
        return Standing.DUE_SOON
    return Standing.OK
