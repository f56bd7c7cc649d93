"""Due-date arithmetic for every category: intervals, month ends, leap days, overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from registry.due import (
    Category,
    DueError,
    Facts,
    Scheme,
    add_months,
    default_table,
    end_of_month,
    is_overdue,
    notice_day,
    plan,
    standing,
)

T = default_table()


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year: clamped to the 29th
    (date(2023, 1, 31), 1, date(2023, 2, 28)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),  # a leap day a year on
    (date(2024, 2, 29), 48, date(2028, 2, 29)),  # four years on: a leap day again
    (date(2024, 3, 31), -1, date(2024, 2, 29)),
    (date(2024, 12, 15), 1, date(2025, 1, 15)),
    (date(2024, 5, 31), 6, date(2024, 11, 30)),
    (date(2024, 1, 1), 0, date(2024, 1, 1)),
])
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def schedules(category: Category, **kw: object) -> dict[str, int]:
    return {s.name: s.months for s in T.schedules(category, **kw)}  # type: ignore[arg-type]


@pytest.mark.parametrize(("category", "kw", "expected"), [
    # TSG T7001-2023: a periodic inspection or a self-test every service year
    (Category.ELEVATOR, {}, {"periodic": 12, "self_test": 12}),
    (Category.ELEVATOR, {"scheme": Scheme.YEARLY}, {"periodic": 12}),  # TSG T7001-2009
    # TSG 11-2020: no routine hydrostatic test
    (Category.BOILER, {}, {"external": 12, "internal": 24}),
    (Category.BOILER, {"rated": {"internal_impossible": True}}, {"external": 12, "internal": 24, "hydrostatic": 36}),
    # TSG 21-2016
    (Category.PRESSURE_VESSEL, {"rated": {"safety_grade": 1}}, {"periodic": 72}),
    (Category.PRESSURE_VESSEL, {"rated": {"safety_grade": 2}}, {"periodic": 72}),
    (Category.PRESSURE_VESSEL, {"rated": {"safety_grade": 3}}, {"periodic": 36}),
    (Category.PRESSURE_VESSEL, {"rated": {"safety_grade": 4}}, {"periodic": 36}),
    (Category.PRESSURE_VESSEL, {"rated": {"safety_grade": 5}}, {"periodic": 0}),
    (Category.PRESSURE_VESSEL, {}, {"periodic": 36}),
    (Category.PRESSURE_VESSEL, {"type_": "simple"}, {}),  # exempt
    (Category.PRESSURE_VESSEL, {"type_": "non_metallic", "rated": {"safety_grade": 3}}, {"periodic": 12}),
    # TSG R0005-2011: mobile vessels, a yearly inspection and a full one by type and grade
    (Category.PRESSURE_VESSEL, {"type_": "road_tanker", "rated": {"safety_grade": 2}}, {"annual": 12, "periodic": 60}),
    (Category.PRESSURE_VESSEL, {"type_": "rail_tanker", "rated": {"safety_grade": 3}}, {"annual": 12, "periodic": 24}),
    # TSG D7005-2018: the smaller of the class's and the grade's
    (Category.PRESSURE_PIPING, {"type_": "GC1"}, {"periodic": 72}),
    (Category.PRESSURE_PIPING, {"type_": "GC2"}, {"periodic": 72}),
    (Category.PRESSURE_PIPING, {"type_": "GC3"}, {"periodic": 108}),
    (Category.PRESSURE_PIPING, {"type_": "GC3", "rated": {"safety_grade": 3}}, {"periodic": 36}),
    (Category.PRESSURE_PIPING, {"type_": "GC2", "rated": {"safety_grade": 4}}, {"periodic": 0}),
    (Category.PRESSURE_PIPING, {"type_": "GA"}, {"periodic": 96}),
    # TSG 23-2021: by gas, and the end of the design life
    (Category.GAS_CYLINDER, {"rated": {"gas": "corrosive"}}, {"periodic": 24}),
    (Category.GAS_CYLINDER, {"rated": {"gas": "general"}}, {"periodic": 36}),
    (Category.GAS_CYLINDER, {"rated": {"gas": "inert"}}, {"periodic": 60}),
    (Category.GAS_CYLINDER, {"type_": "welded_steel", "rated": {"gas": "lpg"}}, {"periodic": 48, "design_life": 96}),
    (Category.GAS_CYLINDER, {"type_": "seamless_steel", "rated": {"gas": "inert", "design_life_years": 20}},
     {"periodic": 60, "design_life": 240}),
    # TSG Q7015-2016
    (Category.CRANE, {"type_": "tower"}, {"periodic": 12}),
    (Category.CRANE, {"type_": "mobile"}, {"periodic": 12}),
    (Category.CRANE, {"type_": "construction_hoist"}, {"periodic": 12}),
    (Category.CRANE, {"type_": "hoist"}, {"periodic": 12}),
    (Category.CRANE, {"type_": "bridge"}, {"periodic": 24}),
    (Category.CRANE, {"type_": "bridge", "rated": {"lifts_molten_metal": True}}, {"periodic": 12}),
    (Category.CRANE, {"type_": "gantry"}, {"periodic": 24}),
    (Category.CRANE, {"type_": "jib"}, {"periodic": 24}),
    (Category.IN_PLANT_VEHICLE, {}, {"periodic": 12}),
    (Category.LARGE_AMUSEMENT_RIDE, {}, {"periodic": 12}),
    (Category.PASSENGER_ROPEWAY, {}, {"periodic": 12}),
])
def test_intervals_for_every_category(category: Category, kw: dict[str, object], expected: dict[str, int]) -> None:
    assert schedules(category, **kw) == expected


def due(facts: Facts) -> dict[str, date | None]:
    return {p.name: p.due for p in plan(facts).schedules}


def test_an_elevator_on_the_yearly_scheme_falls_due_at_the_end_of_the_month() -> None:
    # TSG T7001-2009: 12 months after the last periodic inspection, at the end of the month.
    f = Facts(Category.ELEVATOR, scheme=Scheme.YEARLY, last={"periodic": date(2025, 3, 3)})
    assert due(f) == {"periodic": date(2026, 3, 31)}
    assert due(replace(f, last={"periodic": date(2023, 2, 14)})) == {"periodic": date(2024, 2, 29)}


def test_overrides_per_equipment() -> None:
    # A unit's own interval replaces the scheme: an elevator inspected every two years.
    f = Facts(Category.ELEVATOR, overrides={"periodic": 24}, last={"periodic": date(2025, 6, 10)})
    assert due(f) == {"periodic": date(2027, 6, 30)}
    with pytest.raises(DueError, match="no schedule 'internal'"):
        T.schedules(Category.ELEVATOR, overrides={"internal": 24})


def test_a_boilers_schedules_are_independent() -> None:
    # TSG 11-2020: external every year, internal every two years.
    f = Facts(Category.BOILER, commissioned_on=date(2020, 1, 1),
              last={"external": date(2025, 10, 1), "internal": date(2024, 4, 20)})
    assert due(f) == {"external": date(2026, 10, 1), "internal": date(2026, 4, 20)}


def test_first_inspection_of_a_pressure_vessel_within_three_years() -> None:
    # TSG 21-2016: first within 3 years of entering service, then by its grade.
    f = Facts(Category.PRESSURE_VESSEL, rated={"safety_grade": 1}, commissioned_on=date(2024, 8, 31))
    assert due(f) == {"periodic": date(2027, 8, 31)}
    assert due(replace(f, last={"periodic": date(2027, 8, 1)})) == {"periodic": date(2033, 8, 1)}


def test_other_categories_count_from_commissioning_before_their_first_inspection() -> None:
    f = Facts(Category.CRANE, type="tower", commissioned_on=date(2025, 1, 31))
    assert due(f) == {"periodic": date(2026, 1, 31)}


def test_grade_5_and_unknown_dates_have_no_due_date() -> None:
    grade5 = Facts(Category.PRESSURE_VESSEL, rated={"safety_grade": 5}, last={"periodic": date(2025, 1, 1)})
    assert due(grade5) == {"periodic": None}
    assert due(Facts(Category.ELEVATOR)) == {"periodic": None, "self_test": None}


def test_notice_day_and_overdue() -> None:
    assert notice_day(date(2026, 3, 31)) == date(2026, 2, 28)
    assert end_of_month(date(2028, 2, 3)) == date(2028, 2, 29)
    assert not is_overdue(date(2026, 11, 27), date(2026, 11, 27))  # due today is not yet overdue
    assert is_overdue(date(2026, 11, 26), date(2026, 11, 27))
    assert not is_overdue(None, date(2026, 11, 27))


def test_unknown_category_is_an_error() -> None:
    with pytest.raises(DueError):
        T.schedules("lift")  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "fit", "due", "expected"), [
    ("stopped", True, date(2020, 1, 1), "not_counted"),  # stopped: no notices, out of the rate
    ("scrapped", False, None, "not_counted"),
    ("in_use", False, date(2030, 1, 1), "unfit"),  # failed, not yet passed
    ("in_use", True, date(2026, 11, 26), "overdue"),
    ("in_use", True, date(2026, 11, 27), "due_soon"),  # due today: not yet overdue
    ("in_use", True, date(2026, 12, 27), "due_soon"),  # exactly a month ahead: apply now
    ("in_use", True, date(2026, 12, 28), "ok"),
    ("in_use", True, None, "no_due_date"),
])
def test_standing(status: str, fit: bool, due: date | None, expected: str) -> None:
    assert standing(status=status, fit_for_use=fit, next_due_date=due, today=date(2026, 11, 27)) == expected


def test_standing_around_a_leap_day() -> None:
    # Due 29 February: the notice period opens on 29 January; due 31 March: on 29 February.
    assert standing(status="in_use", fit_for_use=True, next_due_date=date(2028, 2, 29),
                    today=date(2028, 1, 29)) == "due_soon"
    assert standing(status="in_use", fit_for_use=True, next_due_date=date(2028, 3, 31),
                    today=date(2028, 2, 28)) == "ok"
    assert standing(status="in_use", fit_for_use=True, next_due_date=date(2028, 3, 31),
                    today=date(2028, 2, 29)) == "due_soon"
