"""Each inspection rule with dates computed by hand, and properties over generated histories.

Elevators follow TSG T7001-2023 (periodic inspection) and TSG T7008-2023 (self-test); the
restart rule TSG 08-2017; boilers TSG 11-2020; pressure vessels TSG 21-2016; piping TSG
D7005-2018; gas cylinders TSG 23-2021.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.due import (
    Category,
    DueError,
    Facts,
    Scheme,
    add_months,
    default_table,
    end_of_month,
    is_periodic_year,
    plan,
    service_base,
    year_due,
)

TSG2023 = default_table().entry(Category.ELEVATOR)["schemes"]["tsg2023"]


def due(facts: Facts) -> dict[str, date | None]:
    return {p.name: p.due for p in plan(facts).schedules}


# An elevator whose installation supervisory inspection was on 15 March 2020: its base month is
# March; year n of service falls due on 31 March of 2020 + n.
LIFT = Facts(Category.ELEVATOR, installed_on=date(2020, 3, 15))


def test_a_new_elevator_owes_its_first_periodic_inspection_in_year_1_and_a_self_test_in_year_2() -> None:
    # TSG T7001-2023: periodic inspection in year 1; TSG T7008-2023: self-test in the other years.
    assert due(LIFT) == {"periodic": date(2021, 3, 31), "self_test": date(2022, 3, 31)}


def test_after_year_1_the_next_periodic_inspection_is_year_4() -> None:
    # Years 1, 4, 7, 9, 11, 13, 15: after year 1 comes year 4 (2024); years 2 and 3 are self-tests.
    lift = replace(LIFT, last={"periodic": date(2021, 3, 10)})
    assert due(lift) == {"periodic": date(2024, 3, 31), "self_test": date(2022, 3, 31)}
    lift = replace(lift, last={"periodic": date(2021, 3, 10), "self_test": date(2022, 3, 2)})
    assert due(lift) == {"periodic": date(2024, 3, 31), "self_test": date(2023, 3, 31)}
    lift = replace(lift, last={"periodic": date(2021, 3, 10), "self_test": date(2023, 3, 30)})
    assert due(lift)["self_test"] == date(2025, 3, 31)  # year 4 is a periodic inspection: next self-test year 5


def test_an_inspection_up_to_two_months_early_counts_without_moving_the_schedule() -> None:
    # TSG T7001-2023: done on 1 January 2021, two months before its March due month: it counts
    # for year 1, and the schedule stays on March (not "12 months after 1 January").
    assert due(replace(LIFT, last={"periodic": date(2021, 1, 1)}))["periodic"] == date(2024, 3, 31)
    # 31 December 2020 is three months early: it does not count for year 1.
    assert due(replace(LIFT, last={"periodic": date(2020, 12, 31)}))["periodic"] == date(2021, 3, 31)


def test_a_self_test_may_be_one_month_early() -> None:
    # TSG T7008-2023: a self-test one month early (February for a March base) counts; two do not.
    lift = replace(LIFT, last={"periodic": date(2021, 3, 10), "self_test": date(2022, 2, 1)})
    assert due(lift)["self_test"] == date(2023, 3, 31)
    lift = replace(LIFT, last={"periodic": date(2021, 3, 10), "self_test": date(2022, 1, 31)})
    assert due(lift)["self_test"] == date(2022, 3, 31)


def test_a_late_inspection_does_not_move_the_schedule() -> None:
    # Year 1's inspection done four months late, in July 2021: year 4 is still due in March 2024.
    assert due(replace(LIFT, last={"periodic": date(2021, 7, 20)})) == {
        "periodic": date(2024, 3, 31), "self_test": date(2022, 3, 31)}
    # Year 4 done late in year 5's window (1 January 2025 on): it counts for year 5, which it
    # covers too (a periodic inspection stands in for a self-test); next: year 7, self-test year 6.
    lift = replace(LIFT, last={"periodic": date(2025, 1, 10)})
    assert due(lift) == {"periodic": date(2027, 3, 31), "self_test": date(2026, 3, 31)}


def test_years_7_to_15_and_every_year_after_15() -> None:
    # Installed 1 September 2010: year 7 done in September 2017 → year 9 (2019); self-test year 8.
    lift = Facts(Category.ELEVATOR, installed_on=date(2010, 9, 1), last={"periodic": date(2017, 9, 10)})
    assert due(lift) == {"periodic": date(2019, 9, 30), "self_test": date(2018, 9, 30)}
    # Installed 10 June 2005: year 15 done in May 2020 (inside its window) → year 16 in 2021,
    # and no more self-tests.
    old = Facts(Category.ELEVATOR, installed_on=date(2005, 6, 10), last={"periodic": date(2020, 5, 20)})
    assert due(old) == {"periodic": date(2021, 6, 30), "self_test": None}
    assert due(replace(old, last={"periodic": date(2021, 6, 1)}))["periodic"] == date(2022, 6, 30)


def test_a_renovation_restarts_the_count() -> None:
    # Renovated (改造) on 15 August 2022: year 1 is August 2023; the inspection before it is void.
    lift = Facts(Category.ELEVATOR, installed_on=date(2005, 3, 1), renovated_on=date(2022, 8, 15),
                 last={"periodic": date(2021, 3, 10), "self_test": date(2022, 3, 1)})
    assert due(lift) == {"periodic": date(2023, 8, 31), "self_test": date(2024, 8, 31)}


def test_a_major_repair_stands_in_for_that_years_inspection_and_keeps_the_count() -> None:
    # Major repair (重大修理) supervised on 20 September 2023, in service year 3: it stands in for
    # that year, the due month becomes September, and the count goes on: year 4 in September 2024,
    # the next self-test year 5 (2025).
    lift = replace(LIFT, last={"periodic": date(2021, 3, 1)}, major_repair_on=date(2023, 9, 20))
    assert service_base(lift) == (date(2020, 3, 15), 9)
    assert due(lift) == {"periodic": date(2024, 9, 30), "self_test": date(2025, 9, 30)}


def test_a_year_out_of_use_is_inspected_before_it_runs_again() -> None:
    # TSG 08-2017: stopped 10 January 2022, back in use 1 February 2023 (more than a year):
    # the periodic inspection is due on the day it runs again.
    lift = replace(LIFT, last={"periodic": date(2021, 3, 1)}, stopped_on=date(2022, 1, 10),
                   resumed_on=date(2023, 2, 1))
    assert due(lift)["periodic"] == date(2023, 2, 1)
    # Inspected on 25 January 2023, before the restart: year 3's window had opened (January), so
    # it counts for year 3 and year 4 is next.
    assert due(replace(lift, last={"periodic": date(2023, 1, 25)}))["periodic"] == date(2024, 3, 31)
    # Eleven months stopped: no inspection before the restart.
    short = replace(lift, resumed_on=date(2022, 12, 9))
    assert due(short)["periodic"] == date(2024, 3, 31)


def test_the_date_the_report_states_is_the_one_that_counts() -> None:
    # The registration record holds "next inspection 2024-05": that is the due date.
    lift = replace(LIFT, last={"periodic": date(2021, 3, 1)}, stated={"periodic": date(2024, 5, 31)})
    assert due(lift)["periodic"] == date(2024, 5, 31)
    boiler = Facts(Category.BOILER, last={"external": date(2025, 4, 2)}, stated={"external": date(2026, 3, 31)})
    assert due(boiler)["external"] == date(2026, 3, 31)


def test_the_yearly_scheme_counts_12_months_from_the_last_inspection() -> None:
    # TSG T7001-2009, for regions that have not adopted the 2023 scheme: no self-tests.
    lift = replace(LIFT, scheme=Scheme.YEARLY, last={"periodic": date(2024, 1, 5)})
    assert due(lift) == {"periodic": date(2025, 1, 31)}
    assert due(replace(LIFT, scheme=Scheme.YEARLY)) == {"periodic": date(2021, 3, 31)}


def test_a_boilers_internal_inspection_first_one_year_after_entering_operation() -> None:
    # TSG 11-2020: internal every two years, the first one year after entering operation.
    boiler = Facts(Category.BOILER, commissioned_on=date(2024, 5, 10))
    assert due(boiler) == {"external": date(2025, 5, 10), "internal": date(2025, 5, 10)}
    boiler = replace(boiler, last={"external": date(2025, 5, 1), "internal": date(2025, 5, 1)})
    assert due(boiler) == {"external": date(2026, 5, 1), "internal": date(2027, 5, 1)}


def test_a_boiler_restarted_after_a_year_or_relocated_owes_an_internal_inspection() -> None:
    boiler = Facts(Category.BOILER, commissioned_on=date(2020, 1, 1),
                   last={"external": date(2025, 6, 1), "internal": date(2025, 6, 1)})
    restarted = replace(boiler, stopped_on=date(2025, 7, 1), resumed_on=date(2026, 9, 1))
    assert due(restarted) == {"external": date(2026, 6, 1), "internal": date(2026, 9, 1)}
    relocated = replace(boiler, relocated_on=date(2026, 2, 3))
    assert due(relocated)["internal"] == date(2026, 2, 3)
    done = replace(relocated, last={"external": date(2025, 6, 1), "internal": date(2026, 2, 10)})
    assert due(done)["internal"] == date(2028, 2, 10)


def test_a_gas_cylinder_counts_from_its_manufacture_and_ends_at_its_design_life() -> None:
    # TSG 23-2021: an LPG cylinder every 4 years from its manufacturing date; a welded steel
    # cylinder's design life is 8 years, and no inspection moves its end.
    cylinder = Facts(Category.GAS_CYLINDER, type="welded_steel", rated={"gas": "lpg"},
                     manufactured_on=date(2020, 6, 1), commissioned_on=date(2020, 9, 1))
    assert due(cylinder) == {"periodic": date(2024, 6, 1), "design_life": date(2028, 6, 1)}
    inspected = replace(cylinder, last={"periodic": date(2024, 5, 20)})
    assert due(inspected) == {"periodic": date(2028, 5, 20), "design_life": date(2028, 6, 1)}
    assert plan(inspected).next_due == date(2028, 5, 20)


def test_exempt_units_owe_nothing() -> None:
    simple = plan(Facts(Category.PRESSURE_VESSEL, type="simple", commissioned_on=date(2020, 1, 1)))
    assert simple.exempt is not None and "TSG 21-2016" in simple.exempt and simple.schedules == ()
    by_design = plan(Facts(Category.PRESSURE_VESSEL, rated={"periodic_inspection": False}))
    assert by_design.exempt is not None and by_design.next_due is None


def test_non_metallic_vessels_and_piping_first_inspections() -> None:
    # TSG 21-2016: a non-metallic vessel first within one year; TSG D7005-2018: piping within three.
    vessel = Facts(Category.PRESSURE_VESSEL, type="non_metallic", rated={"safety_grade": 1},
                   commissioned_on=date(2025, 2, 10))
    assert due(vessel) == {"periodic": date(2026, 2, 10)}
    piping = Facts(Category.PRESSURE_PIPING, type="GC2", commissioned_on=date(2024, 1, 10))
    assert due(piping) == {"periodic": date(2027, 1, 10)}
    assert due(replace(piping, last={"periodic": date(2027, 1, 5)})) == {"periodic": date(2033, 1, 5)}
    assert due(replace(piping, type="GC3", last={"periodic": date(2027, 1, 5)})) == {"periodic": date(2036, 1, 5)}


def test_mobile_vessels_owe_a_yearly_and_a_full_inspection() -> None:
    tanker = Facts(Category.PRESSURE_VESSEL, type="road_tanker", rated={"safety_grade": 3},
                   commissioned_on=date(2024, 4, 1))
    assert due(tanker) == {"annual": date(2025, 4, 1), "periodic": date(2027, 4, 1)}


def test_an_unknown_category_or_override_is_an_error() -> None:
    with pytest.raises(DueError):
        plan(Facts("lift"))  # type: ignore[arg-type]
    with pytest.raises(DueError, match="no schedule 'internal'"):
        plan(Facts(Category.CRANE, overrides={"internal": 12}))


# --- properties over generated histories -------------------------------------------------------

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))


@st.composite
def elevators(draw: st.DrawFn) -> Facts:
    installed = draw(st.dates(min_value=date(1995, 1, 1), max_value=date(2030, 12, 31)))
    major = draw(st.none() | st.dates(min_value=installed, max_value=date(2045, 12, 31)))
    return Facts(Category.ELEVATOR, installed_on=installed, major_repair_on=major)


@given(elevators(), st.integers(min_value=1, max_value=25), st.data())
@settings(max_examples=300)
def test_any_day_in_a_years_window_counts_the_same(lift: Facts, year: int, data: st.DataObject) -> None:
    """TSG T7001-2023: an inspection anywhere from two months before its due month until the
    next year's window opens gives the same next due date: early and late do not move it."""
    base = service_base(lift)
    assert base is not None
    if lift.major_repair_on is not None and year_due(base, year) <= lift.major_repair_on:
        return  # a year the major repair already stood in for
    d = year_due(base, year)
    opens = add_months(date(d.year, d.month, 1), -2)
    closes = add_months(opens, 12) - timedelta(days=1)
    first = data.draw(st.dates(min_value=opens, max_value=closes))
    second = data.draw(st.dates(min_value=opens, max_value=closes))
    a = due(replace(lift, last={"periodic": first}))
    b = due(replace(lift, last={"periodic": second}))
    assert a == b
    assert a["periodic"] is not None and a["periodic"] > d


@given(elevators(), st.lists(days, max_size=6), st.lists(days, max_size=6))
@settings(max_examples=300)
def test_elevator_due_dates_are_month_ends_of_the_base_month_in_the_right_years(
        lift: Facts, periodic: list[date], self_tests: list[date]) -> None:
    last = {}
    if periodic:
        last["periodic"] = max(periodic)
    if self_tests:
        last["self_test"] = max(self_tests)
    planned = due(replace(lift, last=last))
    base = service_base(lift)
    assert base is not None
    count, month = base
    for name, on in planned.items():
        if on is None:
            assert name == "self_test"
            continue
        assert on == end_of_month(on) and on.month == month
        year = on.year - count.year
        assert year >= 1
        assert is_periodic_year(year, TSG2023) == (name == "periodic")


@given(elevators(), st.lists(days, min_size=1, max_size=8))
@settings(max_examples=300)
def test_a_later_inspection_never_brings_the_due_date_forward(lift: Facts, history: list[date]) -> None:
    """Whatever order the inspections are recorded in, duplicates included, the due date
    depends on the latest one only and never moves earlier as later ones arrive."""
    previous: date | None = None
    latest: date | None = None
    for on in history:
        latest = on if latest is None else max(latest, on)
        now = due(replace(lift, last={"periodic": latest}))["periodic"]
        assert now is not None
        if previous is not None:
            assert now >= previous
        previous = now
    assert previous == due(replace(lift, last={"periodic": max(history)}))["periodic"]


categories = st.sampled_from(list(Category))


@given(categories, st.one_of(st.none(), st.text(max_size=12), st.sampled_from(default_table().types(Category.CRANE))),
       st.dictionaries(st.sampled_from(["safety_grade", "gas", "lifts_molten_metal", "internal_impossible",
                                        "design_life_years", "periodic_inspection"]),
                       st.one_of(st.integers(1, 5), st.booleans(), st.text(max_size=8)), max_size=4),
       st.lists(st.one_of(st.none(), days), min_size=9, max_size=9),
       st.dictionaries(st.sampled_from(["periodic", "self_test", "external", "internal", "annual"]), days, max_size=3),
       st.sampled_from(list(Scheme)))
@settings(max_examples=500)
def test_any_facts_give_a_plan_or_a_due_error(category: Category, type_: str | None, rated: dict[str, object],
                                             dates: list[date | None], last: dict[str, date], scheme: Scheme) -> None:
    """Garbage in a register's facts (odd types, rated values, dates in any order) gives a plan
    whose due dates come after the base, or DueError; never another exception."""
    if isinstance(rated.get("design_life_years"), str):
        rated["design_life_years"] = 8
    facts = Facts(category, type_, rated, scheme=scheme, commissioned_on=dates[0], installed_on=dates[1],
                  renovated_on=dates[2], major_repair_on=dates[3], manufactured_on=dates[4], stopped_on=dates[5],
                  resumed_on=dates[6], relocated_on=dates[7], last=last)
    try:
        result = plan(facts)
    except DueError:
        return
    for p in result.schedules:
        assert p.basis
        if p.due is not None and p.name in last and not facts.stopped_on and not facts.relocated_on:
            assert p.due > last[p.name] or category is Category.ELEVATOR


def test_the_docs_show_the_rules_as_they_are() -> None:
    from pathlib import Path

    from registry.due import rules_markdown

    doc = (Path(__file__).parents[2] / "docs" / "registry.md").read_text(encoding="utf-8")
    assert rules_markdown() in doc


def test_a_supervisory_inspection_after_a_long_stop_settles_the_restart() -> None:
    # Stopped 1 January 2022, renovated (supervised) 20 May 2023, back in use 1 June 2023: the
    # renovation's inspection was done before it ran again (TSG 08-2017), and restarts the count
    # (TSG T7001-2023): year 1 is May 2024.
    lift = replace(LIFT, stopped_on=date(2022, 1, 1), resumed_on=date(2023, 6, 1), renovated_on=date(2023, 5, 20))
    assert due(lift) == {"periodic": date(2024, 5, 31), "self_test": date(2025, 5, 31)}


def test_the_demo_follows_the_schemes_by_region() -> None:
    from registry.demo import demo_units
    from registry.due import Rules

    rules = Rules(default_table(), Scheme.TSG2023, {"6301": Scheme.YEARLY, "630121": Scheme.TSG2023})
    lifts = [u for u in demo_units(2_000, today=date(2026, 11, 30), rules=rules) if u.category is Category.ELEVATOR]
    assert lifts and all(u.facts.scheme is (Scheme.TSG2023 if u.district_code == "630121" else Scheme.YEARLY)
                         for u in lifts)
