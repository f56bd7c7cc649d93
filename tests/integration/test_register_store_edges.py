"""The stored register at its edges against a real PostgreSQL: partial imports, a scheme switched
and back, stated dates without an inspection, failed supervisory inspections, the passed-over-due rate.

Each test states the rule and the hand computation it checks."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from registry.due import Category, Result, Rules, Scheme
from registry.io import import_register
from registry.model import Equipment
from registry.rate import Formula, compute_rates
from registry.store import record_inspection, reschedule, upsert_equipment
from tests.integration.helpers import query

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 30)


async def _schedules(url: str, code: str) -> dict[str, tuple[object, ...]]:
    rows = await query(url, """SELECT schedule, last_inspected, stated_next, next_due FROM equipment_schedules
                               WHERE registration_code = %s""", (code,))
    return {str(r[0]): tuple(r[1:]) for r in rows}


async def test_a_stated_date_without_a_last_inspection_is_kept_on_the_first_import(database_url: str) -> None:
    # stated_next_periodic 2027-05 on a new elevator: due 2027-05-31 ("the report-stated date
    # wins"). The first import drops it (the schedule row does not exist yet when it is written),
    # the same file imported again stores it: an import that is not idempotent.
    csv = ("registration_code,category,district_code,installed_on,stated_next_periodic\n"
           "E-ST1,电梯,630102,2020-03-15,2027-05\n").encode()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await import_register(conn, csv, "csv", today=TODAY)
    first = await _schedules(database_url, "E-ST1")
    assert first["periodic"][1:] == (date(2027, 5, 31), date(2027, 5, 31)), first


async def test_a_scheme_switched_and_back_keeps_the_last_self_test(database_url: str) -> None:
    # An elevator self-tested 2022-03-01 (year 2), its report stating 2023-02. The region goes to
    # the yearly scheme (a restart with SEMON_REGISTRY_ELEVATOR_SCHEME_BY_REGION set) and back.
    # The self-test schedule row is deleted on the way, its last date and stated date with it:
    # back on tsg2023 the self-test of year 2 is due 2022-03-31 again, overdue for years.
    lift = Equipment("E-SW", Category.ELEVATOR, "630102", installed_on=date(2020, 3, 15),
                     last_inspected={"periodic": date(2021, 3, 1), "self_test": date(2022, 3, 1)},
                     stated_next={"self_test": date(2023, 2, 28)})
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await upsert_equipment(conn, lift, today=TODAY)
        await reschedule(conn, ["E-SW"], Rules(by_region={"6301": Scheme.YEARLY}))
        await reschedule(conn, ["E-SW"], Rules())
    after = await _schedules(database_url, "E-SW")
    assert after["self_test"] == (date(2022, 3, 1), date(2023, 2, 28), date(2023, 2, 28)), after


async def test_an_import_without_some_columns_does_not_erase_them(database_url: str) -> None:
    # An agency's file of inspections done: registration_code, category, district_code,
    # last_periodic. A crane lifting molten metal (yearly, TSG Q7015-2016) loses its type, its
    # flag and its owner and agency: 24 months, no notices to anyone.
    full = ("registration_code,category,type,district_code,commissioned_on,lifts_molten_metal,owner_code,owner_name,"
            "agency_code,agency_name\nC-1,起重机械,桥式起重机,630102,2024-01-01,是,OWN-1,业主,AG-1,检验院\n").encode()
    partial = "registration_code,category,district_code,last_periodic\nC-1,起重机械,630102,2025-12-01\n".encode()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await import_register(conn, full, "csv", today=TODAY)
        await import_register(conn, partial, "csv", today=TODAY)
    rows = await query(database_url, """SELECT e.type, e.owner_id IS NOT NULL, e.agency_id IS NOT NULL, s.next_due
                                        FROM equipment e JOIN equipment_schedules s USING (registration_code)""")
    assert rows == [("bridge", True, True, date(2026, 12, 1))], rows


async def test_a_failed_renovation_inspection_makes_the_unit_unfit(database_url: str) -> None:
    # A supervisory inspection that fails (TSG T7001-2023): the elevator must not be put back into
    # use. The register keeps it fit_for_use.
    lift = Equipment("E-R", Category.ELEVATOR, "630102", installed_on=date(2010, 3, 15),
                     last_inspected={"periodic": date(2026, 3, 1)})
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await upsert_equipment(conn, lift, today=TODAY)
        state = await record_inspection(conn, "E-R", schedule="renovation", inspected_on=date(2026, 10, 10),
                                        result=Result.FAIL)
    assert state["fit_for_use"] is False, state


async def test_passed_over_due_does_not_count_an_unfit_unit_as_passed(database_url: str) -> None:
    # A boiler's internal inspection fails in May 2026, its external passes in June. It is unfit
    # ("a pass on a boiler's external inspection does not make up for a failed internal one"), so
    # under passed_over_due on 2026-11-30 it is due and not passed: due 1, passed 0, rate 0 %.
    boiler = Equipment("B-1", Category.BOILER, "630123", commissioned_on=date(2020, 1, 1),
                       last_inspected={"external": date(2025, 12, 5), "internal": date(2025, 11, 5)})
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await upsert_equipment(conn, boiler, today=TODAY)
        await record_inspection(conn, "B-1", schedule="internal", inspected_on=date(2026, 5, 1), result=Result.FAIL)
        await record_inspection(conn, "B-1", schedule="external", inspected_on=date(2026, 6, 1), result=Result.PASS)
        city = (await compute_rates(conn, TODAY, Formula.PASSED_OVER_DUE))[0]
    assert (city.due, city.passed) == (1, 0), city.as_json()
