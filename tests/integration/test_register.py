"""The register against the real database: the generated demo register, the inspection rate
with its snapshots and trend chart, inspections moving schedules and failing units."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from assembly.parts import city_units
from registry.chart import trend_svg
from registry.demo import seed_demo_register
from registry.due import Category, Result
from registry.model import Equipment, Party, Role, Status
from registry.notices import run_scans
from registry.rate import compute_rates, run_snapshots, snapshot_rates, trend
from registry.store import record_inspection, upsert_equipment, upsert_party
from semon.db import open_pool
from simulators.city import city_fleet
from tests.flat_settings import flat_settings
from tests.integration.helpers import query, wait_for_count

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 27)


async def test_demo_register_matches_the_city_and_rates_in_the_low_to_mid_90s(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        n = await seed_demo_register(conn, today=TODAY, given=city_units(100, 10))
        await conn.commit()
        assert 19_000 <= n <= 21_000
        assert await seed_demo_register(conn, today=TODAY) == 0  # seeded once
        rates = {(r.dimension, r.key): r for r in await compute_rates(conn, TODAY)}
        city = rates[("city", "all")]
        assert city.rate is not None and 90 <= city.rate < 96
        assert {k for d, k in rates if d == "category"} == {c.value for c in Category}
        assert len([k for d, k in rates if d == "district"]) == 7
        assert sum(r.in_use for (d, _), r in rates.items() if d == "district") == city.in_use
        cur = await conn.execute("SELECT count(*) FROM equipment WHERE registration_code = ANY(%s)",
                                 ([d.device_id for d in city_fleet(100, 10, seed=1)],))
        assert (await cur.fetchone()) == (110,)  # every simulated device is registered
        # The rate by hand, from the same table.
        cur = await conn.execute("""SELECT count(*), count(*) FILTER (WHERE next_due < %s)
                                    FROM equipment WHERE status = 'in_use' AND NOT exempt""", (TODAY,))
        assert (await cur.fetchone()) == (city.in_use, city.overdue)


async def test_snapshots_keep_the_trend_and_draw_it(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=TODAY, total=2_000)
        for back in range(10, -1, -1):
            await snapshot_rates(conn, TODAY - timedelta(days=back))
        await snapshot_rates(conn, TODAY)  # again the same day: replaced, not doubled
        await conn.commit()
        series = await trend(conn, "district", TODAY - timedelta(days=30), TODAY)
        assert len(series) == 7 and all(len(points) == 11 for points in series.values())
        # Later days see more units overdue: the rate cannot rise without inspections.
        for points in series.values():
            assert points[-1][1] <= points[0][1]
    svg = trend_svg(series, title="定检率 by district", labels={"630102": "城东区"})
    assert svg.startswith("<svg") and "城东区" in svg and "96%" in svg and svg.count("<polyline") == 7


async def test_inspections_move_the_schedule_and_a_failure_makes_the_unit_unfit(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_party(conn, Party("AG1", "检验所", Role.AGENCY, email="a@example.cn"))
        # TSG 11-2020: a hydrostatic test every three years where internal inspection is impossible.
        boiler = Equipment("11006301022020000001", Category.BOILER, "630102", agency="AG1",
                           commissioned_on=date(2020, 5, 1), rated={"internal_impossible": True},
                           last_inspected={"external": date(2025, 10, 1), "internal": date(2024, 4, 20),
                                           "hydrostatic": date(2023, 5, 5)})
        await upsert_equipment(conn, boiler)
        await upsert_equipment(conn, boiler)  # idempotent
        cur = await conn.execute("SELECT schedule, next_due FROM equipment_schedules ORDER BY schedule")
        assert await cur.fetchall() == [("external", date(2026, 10, 1)), ("hydrostatic", date(2026, 5, 5)),
                                        ("internal", date(2026, 4, 20))]
        state = await record_inspection(conn, boiler.registration_code, schedule="internal",
                                        inspected_on=date(2026, 4, 10), result=Result.PASS, agency="AG1",
                                        report_no="R-1")
        assert state["next_due"] == date(2026, 5, 5) and state["fit_for_use"]
        state = await record_inspection(conn, boiler.registration_code, schedule="hydrostatic",
                                        inspected_on=date(2026, 5, 1), result=Result.FAIL)
        assert state["next_due"] == date(2026, 5, 5) and not state["fit_for_use"]  # not moved, and unfit
        state = await record_inspection(conn, boiler.registration_code, schedule="hydrostatic",
                                        inspected_on=date(2026, 5, 20), result=Result.CONDITIONAL)
        assert state["next_due"] == date(2026, 10, 1) and state["fit_for_use"]
        # A stopped unit is left out of the rate; the boiler's external inspection lapsed on 1 October.
        await upsert_equipment(conn, Equipment("31106301022020000002", Category.ELEVATOR, "630102",
                                               status=Status.STOPPED, last_inspected={"periodic": date(2020, 1, 1)}))
        rates = {(r.dimension, r.key): r for r in await compute_rates(conn, TODAY)}
        assert (rates[("city", "all")].in_use, rates[("city", "all")].overdue) == (1, 1)


async def test_a_unit_is_fit_only_when_the_latest_result_of_every_schedule_is(database_url: str) -> None:
    """A boiler's external pass does not undo its internal fail; only an internal pass does."""
    code = "11006301022020000077"

    async def fit() -> bool:
        cur = await conn.execute("SELECT fit_for_use FROM equipment WHERE registration_code = %s", (code,))
        row = await cur.fetchone()
        assert row is not None
        return bool(row[0])

    async def record(schedule: str, day: date, result: Result) -> bool:
        state = await record_inspection(conn, code, schedule=schedule, inspected_on=day, result=result)
        assert state["fit_for_use"] == await fit()
        return bool(state["fit_for_use"])

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        boiler = Equipment(code, Category.BOILER, "630102", commissioned_on=date(2020, 5, 1),
                           rated={"internal_impossible": True},
                           last_inspected={"external": date(2025, 10, 1), "internal": date(2024, 4, 20)})
        await upsert_equipment(conn, boiler)
        assert await fit()
        assert not await record("internal", date(2026, 4, 10), Result.FAIL)
        assert not await record("external", date(2026, 4, 12), Result.PASS)  # the fault: this made it fit
        assert not await record("hydrostatic", date(2026, 4, 12), Result.CONDITIONAL)
        await upsert_equipment(conn, boiler)  # a re-import does not clear the fail either
        assert not await fit()
        assert await record("internal", date(2026, 4, 20), Result.PASS)  # the failed schedule passes
        # An older fail entered late is not the latest result: still fit.
        assert await record("internal", date(2026, 4, 1), Result.FAIL)
        assert not await record("external", date(2026, 4, 25), Result.FAIL)
        assert not await record("internal", date(2026, 4, 26), Result.PASS)  # the external still failed
        assert await record("external", date(2026, 4, 27), Result.CONDITIONAL)
        # A schedule of 0 months (a grade 5 vessel) is unfit whatever the results.
        vessel = Equipment("21106301022020000078", Category.PRESSURE_VESSEL, "630102",
                           commissioned_on=date(2024, 1, 1), rated={"safety_grade": 5})
        await upsert_equipment(conn, vessel)
        cur = await conn.execute("SELECT fit_for_use FROM equipment WHERE registration_code = %s",
                                 (vessel.registration_code,))
        assert await cur.fetchone() == (False,)
        await conn.rollback()


async def test_the_daily_work_at_0130_beijing_uses_the_beijing_date(database_url: str) -> None:
    """17:30 UTC on 29 November is 01:30 on the 30th in Beijing: a schedule due on the 29th is
    overdue there (by the UTC date it would be due today, and owe nothing)."""
    def clock() -> datetime:
        return datetime(2026, 11, 29, 17, 30, tzinfo=UTC)

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_party(conn, Party("AG1", "检验所", Role.AGENCY, email="a@example.cn"))
        await upsert_equipment(conn, Equipment(
            "11006301022020000099", Category.BOILER, "630102", agency="AG1",
            last_inspected={"external": date(2025, 11, 29), "internal": date(2026, 1, 1),
                            "hydrostatic": date(2026, 1, 1)}))
        await conn.commit()
    settings = flat_settings(notice_scan_interval_s=3600)
    async with open_pool(database_url, min_size=1, max_size=2) as pool:
        tasks = [asyncio.create_task(run_scans(pool, settings.notices, settings.registry, settings.backoff,
                                               clock=clock)),
                 asyncio.create_task(run_snapshots(pool, backoff=settings.backoff.backoff(),
                                                   tz=settings.registry.timezone, clock=clock))]
        try:
            assert await wait_for_count(database_url, "SELECT count(*) FROM notices", 1, timeout=30) == 1
            assert await wait_for_count(database_url, "SELECT count(*) FROM rate_snapshots", 1, timeout=30) >= 1
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    assert await query(database_url, "SELECT kind, payload->>'as_of', payload->>'days_overdue' FROM notices") == [
        ("overdue", "2026-11-30", "1")]
    assert await query(database_url, """SELECT day, in_use, overdue FROM rate_snapshots
                                        WHERE dimension = 'city'""") == [(date(2026, 11, 30), 1, 1)]


async def test_the_migration_recomputes_fitness_stored_by_the_old_rule(database_url: str) -> None:
    from semon.db.migrations import _migration_files

    (sql,) = [text for name, text in _migration_files() if name == "0006_fit_for_use_every_schedule.sql"]
    code = "11006301022020000088"
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_equipment(conn, Equipment(code, Category.BOILER, "630102", commissioned_on=date(2020, 5, 1)))
        await record_inspection(conn, code, schedule="internal", inspected_on=date(2026, 4, 10), result=Result.FAIL)
        await record_inspection(conn, code, schedule="external", inspected_on=date(2026, 4, 12), result=Result.PASS)
        await conn.execute("UPDATE equipment SET fit_for_use = true")  # what the old rule left
        await conn.execute(sql.encode())
        cur = await conn.execute("SELECT fit_for_use FROM equipment")
        assert await cur.fetchall() == [(False,)]
