"""The inspection rules through the stored register: supervisory inspections, report-stated
dates, stops and returns to use, exempt units, a change of scheme by region, and the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import psycopg
import pytest

from registry.api import registry_part
from registry.due import Category, DueError, Result, Rules, Scheme
from registry.model import Equipment, Status
from registry.store import record_inspection, reschedule_if_changed, upsert_equipment
from semon.db.pool import open_pool
from tests.integration.helpers import add_users, http_client, ingest_settings, login, query
from web.app import create_app, serve_app

pytestmark = pytest.mark.integration

LIFT = Equipment("31106301022020000001", Category.ELEVATOR, "630102", installed_on=date(2020, 3, 15),
                 last_inspected={"periodic": date(2021, 3, 10)})


async def schedules(url: str, code: str) -> dict[str, tuple[date | None, str]]:
    rows = await query(url, "SELECT schedule, next_due, basis FROM equipment_schedules WHERE registration_code = %s",
                       (code,))
    return {str(s): (d if isinstance(d, date) else None, str(b)) for s, d, b in rows}


async def test_supervisory_inspections_and_report_stated_dates(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await upsert_equipment(conn, LIFT, today=date(2026, 11, 30))
        code = LIFT.registration_code
        assert {k: v[0] for k, v in (await schedules(database_url, code)).items()} == {
            "periodic": date(2024, 3, 31), "self_test": date(2022, 3, 31)}
        # A self-test one month early counts for year 2 (TSG T7008-2023).
        await record_inspection(conn, code, schedule="self_test", inspected_on=date(2022, 2, 15), result=Result.PASS)
        assert (await schedules(database_url, code))["self_test"][0] == date(2023, 3, 31)
        # A major repair in September 2023 stands in for year 3 and moves the month (TSG T7001-2023).
        await record_inspection(conn, code, schedule="major_repair", inspected_on=date(2023, 9, 20),
                                result=Result.PASS)
        now = await schedules(database_url, code)
        assert (now["periodic"][0], now["self_test"][0]) == (date(2024, 9, 30), date(2025, 9, 30))
        assert "year 4 of service" in now["periodic"][1]
        # The report of year 4's inspection states the next one: May 2027 wins.
        state = await record_inspection(conn, code, schedule="periodic", inspected_on=date(2024, 9, 1),
                                        result=Result.PASS, next_stated=date(2027, 5, 1))
        now = await schedules(database_url, code)
        assert now["periodic"] == (date(2027, 5, 31), "the date the last inspection report states")
        assert state["next_due"] == date(2025, 9, 30)  # the self-test of year 5 comes first
        # A renovation restarts the count: year 1 after August 2026; the older report's date is void.
        await record_inspection(conn, code, schedule="renovation", inspected_on=date(2026, 8, 15),
                                result=Result.PASS)
        await record_inspection(conn, code, schedule="periodic", inspected_on=date(2026, 8, 16), result=Result.PASS)
        now = await schedules(database_url, code)
        assert (now["periodic"][0], now["self_test"][0]) == (date(2027, 8, 31), date(2028, 8, 31))
        with pytest.raises(DueError, match="not after the inspection's month"):
            await record_inspection(conn, code, schedule="periodic", inspected_on=date(2026, 9, 1),
                                    result=Result.PASS, next_stated=date(2026, 9, 1))
        with pytest.raises(DueError, match="has no 'design_life' schedule"):
            await record_inspection(conn, code, schedule="design_life", inspected_on=date(2026, 9, 1),
                                    result=Result.PASS)


async def test_a_long_stop_is_inspected_before_the_unit_runs_again(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        code = LIFT.registration_code
        await upsert_equipment(conn, LIFT, today=date(2021, 6, 1))
        # Stopped on an import of 10 January 2022: the stop is dated that day.
        await upsert_equipment(conn, replace(LIFT, status=Status.STOPPED), today=date(2022, 1, 10))
        assert await query(database_url, "SELECT stopped_on FROM equipment") == [(date(2022, 1, 10),)]
        # Back in use on 1 February 2023, more than a year later: due that day (TSG 08-2017).
        await upsert_equipment(conn, LIFT, today=date(2023, 2, 1))
        assert await query(database_url, "SELECT resumed_on, next_due FROM equipment") == [
            (date(2023, 2, 1), date(2022, 3, 31))]  # the year-2 self-test, overdue, comes first
        assert (await schedules(database_url, code))["periodic"][0] == date(2023, 2, 1)
        await record_inspection(conn, code, schedule="periodic", inspected_on=date(2023, 2, 1), result=Result.PASS)
        assert (await schedules(database_url, code))["periodic"][0] == date(2024, 3, 31)


async def test_exempt_units_and_a_change_of_scheme_by_region(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await upsert_equipment(conn, Equipment("V-SIMPLE", Category.PRESSURE_VESSEL, "630104", type="simple",
                                               commissioned_on=date(2020, 1, 1)))
        assert await query(database_url, "SELECT exempt, next_due, fit_for_use FROM equipment") == [
            (True, None, True)]
        await upsert_equipment(conn, LIFT)
        await upsert_equipment(conn, Equipment("31106301212020000002", Category.ELEVATOR, "630121",
                                               installed_on=date(2020, 3, 15),
                                               last_inspected={"periodic": date(2021, 3, 10)}))
        rules = Rules()
        assert await reschedule_if_changed(conn, rules) == 3  # the first time: every unit
        assert await reschedule_if_changed(conn, rules) == 0  # the same rules: nothing to do
        # Xining's city districts leave the 2023 scheme; the county 630121 keeps it.
        yearly = Rules(rules.table, Scheme.TSG2023, {"6301": Scheme.YEARLY, "630121": Scheme.TSG2023})
        assert await reschedule_if_changed(conn, yearly) == 3
        assert await query(database_url, """SELECT registration_code, schedule, next_due FROM equipment_schedules
                                            WHERE owed ORDER BY 1, 2""") == [
            ("31106301022020000001", "periodic", date(2022, 3, 31)),
            ("31106301212020000002", "periodic", date(2024, 3, 31)),
            ("31106301212020000002", "self_test", date(2022, 3, 31)),
        ]
        # The city's self-test row is kept, not owed, with its history; back on 2023, owed again.
        assert await query(database_url, """SELECT owed, next_due FROM equipment_schedules
                                            WHERE registration_code = '31106301022020000001' AND schedule = 'self_test'
                                            """) == [(False, None)]
        assert await reschedule_if_changed(conn, rules) == 3
        assert await query(database_url, "SELECT count(*) FROM equipment_schedules WHERE NOT owed") == [(0,)]


async def test_the_api_records_stated_dates_and_shows_the_rule(database_url: str) -> None:
    settings = ingest_settings(api_port=0)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await upsert_equipment(conn, LIFT)
    await add_users(database_url)
    async with open_pool(database_url, min_size=1, max_size=4) as pool:
        app = create_app(pool, settings.auth, [registry_part(pool, settings.registry)],
                         backoff=settings.backoff.backoff())
        async with serve_app(app, "127.0.0.1", 0) as port, http_client() as http:
            base = f"http://127.0.0.1:{port}/api/registry/equipment/{LIFT.registration_code}"
            await login(http, f"http://127.0.0.1:{port}/api", "admin")
            resp = await http.post(f"{base}/inspections", json={
                "inspected_on": "2024-03-02", "result": "pass", "next_stated": "2027-02"})
            assert resp.status == 201, await resp.text()
            card = await (await http.get(base)).json()
            periodic = next(s for s in card["schedules"] if s["schedule"] == "periodic")
            assert periodic["next_due"] == "2027-02-28" and periodic["stated_next"] == "2027-02-28"
            assert periodic["basis"] == "the date the last inspection report states"
            assert card["inspections"][0]["next_stated"] == "2027-02" and card["exempt"] is False
            for body in ({"inspected_on": "2024-03-03", "result": "pass", "next_stated": "2027-13"},
                         {"inspected_on": "2024-03-03", "result": "pass", "next_stated": "May 2027"},
                         {"inspected_on": "2024-03-03", "result": "pass", "next_stated": "2024-02"},
                         {"inspected_on": "2024-03-03", "result": "pass", "schedule": "external"}):
                resp = await http.post(f"{base}/inspections", json=body)
                assert resp.status == 400, (body, await resp.text())


async def test_a_unit_the_rules_refuse_never_stops_the_others(database_url: str) -> None:
    """After a change, a boiler whose own hydrostatic interval the rules no longer give keeps its
    dates and is logged; every other unit is computed again, and the scan can start."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await upsert_equipment(conn, Equipment("B-ODD", Category.BOILER, "630102", commissioned_on=date(2020, 1, 1),
                                               rated={"internal_impossible": True},
                                               interval_overrides={"hydrostatic": 60}))
        await upsert_equipment(conn, LIFT)
        await conn.execute("""UPDATE equipment SET rated = '{}' WHERE registration_code = 'B-ODD'""")
        await conn.execute("UPDATE equipment_schedules SET next_due = NULL")
        assert await reschedule_if_changed(conn, Rules()) == 2
        assert await query(database_url, """SELECT registration_code, count(next_due) FROM equipment_schedules
                                            GROUP BY 1 ORDER BY 1""") == [("31106301022020000001", 2), ("B-ODD", 0)]
