"""The inspection rate over a hand-built register in a real PostgreSQL, by both formulas: exempt
units left out, units with no due date counted apart, stopped units left out, a year's
inspections (passes, conditional passes, fails, self-tests, last year's, one after the day) for
passed-over-due; the snapshots, the trend, the API and the command line under the setting."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from registry.api import registry_part
from registry.cli import rate as rate_command
from registry.due import SELF_TEST, Category, Result
from registry.model import Equipment, Party, Role, Status
from registry.rate import Formula, RateRow, compute_rates, run_snapshots, snapshot_rates, trend
from registry.store import record_inspection, upsert_equipment, upsert_party
from semon.db.pool import open_pool
from tests.flat_settings import flat_settings
from tests.integration.helpers import add_users, http_client, ingest_settings, login, query, wait_for_count
from web.app import create_app, serve_app

pytestmark = pytest.mark.integration

D = date(2026, 11, 27)  # the day the rate is for


def lift(code: str, *, last: date | None = None, **kw: Any) -> Equipment:
    return Equipment(code, Category.ELEVATOR, "630102", last_inspected={"periodic": last} if last else {},
                     **{"agency": "AG1", **kw})


async def build_register(url: str) -> None:
    """Ten units in use and not exempt (three overdue on D, one with no due date), one exempt, one
    stopped; six of the ten due on D under passed-over-due, three of them passed."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await upsert_party(conn, Party("AG1", "青海省特种设备检验检测院", Role.AGENCY, email="ag1@example.test"))
        await upsert_party(conn, Party("AG2", "青海省锅炉压力容器检验所", Role.AGENCY, email="ag2@example.test"))

        async def inspect(code: str, day: date, result: Result, schedule: str = "periodic") -> None:
            await record_inspection(conn, code, schedule=schedule, inspected_on=day, result=result, agency="AG1")

        await upsert_equipment(conn, lift("E-OK", last=date(2025, 3, 10)))
        await inspect("E-OK", date(2026, 3, 10), Result.PASS)  # due, passed
        await upsert_equipment(conn, lift("E-OVER", last=date(2025, 6, 10)))  # due 30 June: overdue, due
        await upsert_equipment(conn, lift("E-FAILED", last=date(2025, 5, 1)))
        await inspect("E-FAILED", date(2026, 5, 20), Result.FAIL)  # still due 31 May: overdue, due, not passed
        await upsert_equipment(conn, lift("E-COND", last=date(2025, 4, 1)))
        await inspect("E-COND", date(2026, 4, 2), Result.CONDITIONAL)  # due, passed
        await upsert_equipment(conn, lift("E-FAILPASS", last=date(2025, 3, 1)))
        await inspect("E-FAILPASS", date(2026, 3, 1), Result.FAIL)
        await inspect("E-FAILPASS", date(2026, 3, 15), Result.PASS)  # the latest passed: due, passed
        await upsert_equipment(conn, lift("E-LASTYEAR", last=date(2024, 12, 20)))
        await inspect("E-LASTYEAR", date(2025, 12, 20), Result.PASS)  # last year's: not due in 2026
        await upsert_equipment(conn, lift("E-SELFTEST", last=date(2025, 12, 1)))
        await conn.execute("""INSERT INTO equipment_schedules (registration_code, schedule, interval_months, next_due)
                              VALUES ('E-SELFTEST', %s, 12, '2026-06-30')
                              ON CONFLICT (registration_code, schedule) DO UPDATE SET next_due = excluded.next_due""",
                           (SELF_TEST,))
        await inspect("E-SELFTEST", date(2026, 6, 1), Result.PASS, SELF_TEST)  # no statutory inspection
        await upsert_equipment(conn, lift("E-AFTER", last=date(2025, 11, 28)))
        await inspect("E-AFTER", date(2026, 11, 28), Result.PASS)  # after D: not counted for D
        await upsert_equipment(conn, lift("E-NODUE"))  # nothing known: no due date
        await upsert_equipment(conn, lift("E-EXEMPT", last=date(2024, 1, 1)))
        await conn.execute("UPDATE equipment SET exempt = true WHERE registration_code = 'E-EXEMPT'")
        await upsert_equipment(conn, lift("E-STOP", last=date(2024, 1, 1), status=Status.STOPPED))
        # A boiler: its external inspection passed this year, its internal one lapsed in January.
        await upsert_equipment(conn, Equipment(
            "B-1", Category.BOILER, "630103", agency="AG2",
            last_inspected={"external": date(2025, 2, 1), "internal": date(2024, 1, 10),
                            "hydrostatic": date(2024, 1, 10)}))
        await record_inspection(conn, "B-1", schedule="external", inspected_on=date(2026, 2, 1),
                                result=Result.PASS, agency="AG2")
        await conn.commit()


def by_key(rows: list[RateRow]) -> dict[tuple[str, str], RateRow]:
    return {(r.dimension, r.key): r for r in rows}


async def test_both_formulas_by_hand(database_url: str) -> None:
    await build_register(database_url)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        plain = by_key(await compute_rates(conn, D))
        passed = by_key(await compute_rates(conn, D, Formula.PASSED_OVER_DUE))

    city = plain[("city", "all")]
    assert (city.in_use, city.overdue, city.no_due_date, city.exempt) == (10, 3, 1, 1)
    assert city.rate == pytest.approx(70.0) and (city.due, city.passed) == (None, None)
    assert city.as_json()["formula"] == "not_overdue"
    elevators, boilers = plain[("category", "elevator")], plain[("category", "boiler")]
    assert (elevators.in_use, elevators.overdue, elevators.no_due_date, elevators.exempt) == (9, 2, 1, 1)
    assert (boilers.in_use, boilers.overdue, boilers.no_due_date, boilers.exempt) == (1, 1, 0, 0)
    assert plain[("district", "630103")].rate == 0.0
    assert plain[("agency", "AG1")].rate == pytest.approx((1 - 2 / 9) * 100)
    assert {k for d, k in plain if d == "agency"} == {"AG1", "AG2"}

    city = passed[("city", "all")]
    # due: E-OVER, E-FAILED, B-1 (overdue); E-OK, E-COND, E-FAILPASS (and again E-FAILED, B-1)
    # inspected in 2026 up to D. passed: E-OK, E-COND, E-FAILPASS.
    assert (city.in_use, city.overdue, city.no_due_date, city.exempt, city.due, city.passed) == (10, 3, 1, 1, 6, 3)
    assert city.rate == pytest.approx(50.0) and city.as_json()["formula"] == "passed_over_due"
    assert (passed[("category", "boiler")].due, passed[("category", "boiler")].passed) == (1, 0)
    assert passed[("category", "elevator")].rate == pytest.approx(3 / 5 * 100)

    # The day after E-AFTER's inspection it is due and passed; a year on, nothing of 2026 counts.
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        later = by_key(await compute_rates(conn, D + timedelta(days=1), Formula.PASSED_OVER_DUE))[("city", "all")]
        next_year = by_key(await compute_rates(conn, date(2027, 1, 2), Formula.PASSED_OVER_DUE))[("city", "all")]
    assert (later.due, later.passed) == (7, 4)
    # On 2 January 2027: overdue are E-OVER, E-FAILED, B-1, E-LASTYEAR (31 December), E-SELFTEST's
    # periodic (31 December); nothing inspected in 2027 yet.
    assert (next_year.overdue, next_year.due, next_year.passed) == (5, 5, 0)


@pytest.mark.parametrize("formula", list(Formula))
async def test_an_empty_register_has_a_city_row_and_no_rate(database_url: str, formula: Formula) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        [city] = await compute_rates(conn, D, formula)
        await upsert_equipment(conn, lift("E-STOP", last=date(2024, 1, 1), status=Status.STOPPED, agency=None))
        [still] = await compute_rates(conn, D, formula)  # nothing in use: groups of nothing are not listed
        await upsert_equipment(conn, lift("E-NOAGENCY", last=date(2024, 1, 1), agency=None))
        agencies = {r.key: r for r in await compute_rates(conn, D, formula) if r.dimension == "agency"}
    counted = 0 if formula is Formula.PASSED_OVER_DUE else None
    for row in (city, still):
        assert row == RateRow("city", "all", 0, 0, 0, 0, formula, counted, counted)
        assert row.rate is None and not row.as_json()["meets_target"]
    assert list(agencies) == ["none"] and (agencies["none"].in_use, agencies["none"].overdue) == (1, 1)


async def test_snapshots_keep_each_formulas_figures_and_the_trend_follows_the_setting(database_url: str) -> None:
    await build_register(database_url)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await snapshot_rates(conn, D - timedelta(days=2))  # the days before the formula was changed
        await snapshot_rates(conn, D - timedelta(days=1))
        await snapshot_rates(conn, D, Formula.PASSED_OVER_DUE)
        await conn.commit()
        assert await (await conn.execute(
            """SELECT day, in_use, overdue, no_due_date, exempt, due, passed, formula FROM rate_snapshots
               WHERE dimension = 'city' ORDER BY day""")).fetchall() == [
            (D - timedelta(days=2), 10, 3, 1, 1, None, None, "not_overdue"),
            (D - timedelta(days=1), 10, 3, 1, 1, None, None, "not_overdue"),
            (D, 10, 3, 1, 1, 6, 3, "passed_over_due")]
        def rounded(series: dict[str, list[tuple[date, float]]]) -> dict[str, list[tuple[date, float]]]:
            return {k: [(day, round(v, 9)) for day, v in points] for k, points in series.items()}

        plain = await trend(conn, "city", D - timedelta(days=7), D)
        assert rounded(plain) == {"all": [(D - timedelta(days=back), 70.0) for back in (2, 1, 0)]}
        assert rounded(await trend(conn, "city", D - timedelta(days=7), D, Formula.PASSED_OVER_DUE)) == {
            "all": [(D, 50.0)]}


@contextlib.asynccontextmanager
async def api(database_url: str, formula: str) -> AsyncIterator[str]:
    settings = ingest_settings(api_port=0)
    registry = settings.registry.model_copy(update={"rate_formula": formula})
    async with open_pool(database_url, min_size=1, max_size=4) as pool:
        app = create_app(pool, settings.auth, [registry_part(pool, registry)], backoff=settings.backoff.backoff())
        async with serve_app(app, "127.0.0.1", 0) as port:
            yield f"http://127.0.0.1:{port}/api"


@pytest.mark.parametrize(("formula", "city"), [
    ("not_overdue", {"in_use": 10, "overdue": 3, "no_due_date": 1, "exempt": 1, "due": None, "passed": None,
                     "rate": 70.0}),
    ("passed_over_due", {"in_use": 10, "overdue": 3, "no_due_date": 1, "exempt": 1, "due": 6, "passed": 3,
                         "rate": 50.0}),
])
async def test_the_api_and_the_command_line_compute_the_configured_formula(
    database_url: str, capsys: pytest.CaptureFixture[str], formula: str, city: dict[str, Any],
) -> None:
    await build_register(database_url)
    await add_users(database_url)
    async with api(database_url, formula) as base, http_client() as http:
        await login(http, base, "bureau")
        answer = await (await http.get(f"{base}/registry/rate?date={D}")).json()
        assert answer["formula"] == formula
        [row] = [r for r in answer["rates"] if r["dimension"] == "city"]
        assert row == {"dimension": "city", "key": "all", "formula": formula, **city, "meets_target": False}
        districts = await (await http.get(f"{base}/registry/rate?date={D}&by=district")).json()
        assert {r["key"]: r["name"] for r in districts["rates"]} == {"630102": "城东区", "630103": "城中区"}
        trend_answer = await (await http.get(f"{base}/registry/rate/trend?by=city&days=3")).json()
        assert trend_answer["formula"] == formula

    settings = flat_settings().model_copy(update={"registry": flat_settings().registry.model_copy(
        update={"rate_formula": formula})})
    args = argparse.Namespace(date=str(D), by=None, snapshot=True, chart=None, days=90)
    assert await rate_command(database_url, args, settings) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed[0] == {"dimension": "city", "key": "all", "formula": formula, **city, "meets_target": False}
    assert await query(database_url, "SELECT formula, due FROM rate_snapshots WHERE dimension = 'city'") == [
        (formula, city["due"])]


async def test_the_snapshot_job_keeps_the_configured_formula(database_url: str) -> None:
    await build_register(database_url)

    def clock() -> datetime:
        return datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 12:00 in Beijing, on D

    async with open_pool(database_url, min_size=1, max_size=2) as pool:
        job = asyncio.create_task(run_snapshots(pool, backoff=flat_settings().backoff.backoff(),
                                                formula=Formula.PASSED_OVER_DUE, clock=clock))
        try:
            await wait_for_count(database_url, "SELECT count(*) FROM rate_snapshots WHERE dimension = 'city'", 1,
                                 timeout=30)
        finally:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
    assert await query(database_url, """SELECT day, due, passed, formula FROM rate_snapshots
                                        WHERE dimension = 'city'""") == [(D, 6, 3, "passed_over_due")]


async def test_agency_rows_are_named_and_the_trend_takes_a_reporting_period(database_url: str) -> None:
    """The bureau's page: the rate by agency shows the agency's name; the trend follows the
    period picked, its days [since, until)."""
    await build_register(database_url)
    await add_users(database_url)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for back in range(5):  # D-4 … D
            await snapshot_rates(conn, D - timedelta(days=back))
        await conn.commit()
    async with api(database_url, "not_overdue") as base, http_client() as http:
        await login(http, base, "bureau")
        answer = await (await http.get(f"{base}/registry/rate?date={D}&by=agency")).json()
        names = {r["key"]: r["name"] for r in answer["rates"]}
        assert names["AG1"] == "青海省特种设备检验检测院"
        assert all(r["dimension"] == "agency" for r in answer["rates"])
        period = f"since={D - timedelta(days=3)}&until={D - timedelta(days=1)}"  # D-3 and D-2
        got = await (await http.get(f"{base}/registry/rate/trend?by=city&{period}")).json()
        assert [day for day, _ in got["series"]["all"]] == [str(D - timedelta(days=3)), str(D - timedelta(days=2))]
        for bad in (f"since={D}", f"since={D}&until={D}", "since=0&until=1"):
            resp = await http.get(f"{base}/registry/rate/trend?by=city&{bad}")
            assert resp.status == 400, bad
