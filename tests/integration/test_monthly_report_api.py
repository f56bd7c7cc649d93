"""GET /api/reports/monthly against a real PostgreSQL: the incidents of a Beijing month read
from the table, the lifts from the function handed over, JSON and XLSX, and refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from io import BytesIO

import aiohttp
import pytest
from openpyxl import load_workbook
from psycopg import AsyncConnection, sql

from alerts.alarm_store import raise_alarm
from alerts.api import alerts_part
from alerts.hub import LiveHub
from alerts.incident_store import open_incident
from alerts.model import Source
from alerts.monthly_report import LiftRow
from alerts.report_api import ReportSources
from semon.alarm_types import AlarmType
from semon.db.pool import open_pool
from tests.flat_settings import flat_settings
from tests.integration.helpers import add_users, http_client, login
from web.app import create_app, serve_app
from web.users import Role

pytestmark = pytest.mark.integration

LIFTS = [LiftRow("L1", "甲维保", "业主一"), LiftRow("L2", "甲维保", "业主一"), LiftRow("L3", "乙维保", "业主二"),
         LiftRow("L4", "乙维保", "业主二")]


async def lifts(conn: AsyncConnection) -> Sequence[LiftRow]:
    return LIFTS


async def entrapment(conn: AsyncConnection, device: str, raised: datetime, **columns: object) -> int:
    settings = flat_settings()
    alarm = await raise_alarm(conn, device_id=device, kind="elevator", type=AlarmType.ENTRAPMENT,
                              source=Source.TELEMETRY, raised_at=raised, details={}, district_code="630102")
    assert alarm is not None
    incident = (await open_incident(conn, alarm, settings.incidents)).incident
    columns = {"raised_at": raised, **columns}  # the centre's clock: raised_seen_at, now; the month's own time
    for column, value in columns.items():  # the steps' results, set as a finished month holds them
        await conn.execute(sql.SQL("UPDATE incidents SET {} = %s WHERE id = %s").format(sql.Identifier(column)),
                           (value, incident.id))
    return incident.id


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    settings = flat_settings()
    await add_users(database_url, (("bureau-1", Role.BUREAU, None),))
    async with open_pool(database_url, max_size=2, name="test-report") as pool:
        async with pool.connection() as conn, conn.transaction():
            t1 = datetime(2025, 2, 28, 16, 30, tzinfo=UTC)  # 2025-03-01 00:30 Beijing
            await entrapment(conn, "L1", t1, state="closed", source="phone", dispatched_at=t1 + timedelta(minutes=1),
                             tier=1, responded_at=t1 + timedelta(minutes=3), on_site_at=t1 + timedelta(minutes=21),
                             persons_released=3, cause_class="human",
                             self_release=False, place="mall")
            t2 = datetime(2025, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 Beijing
            await entrapment(conn, "L3", t2, state="dispatched", dispatched_at=t2 + timedelta(minutes=1))
            t3 = datetime(2025, 3, 12, 4, 0, tzinfo=UTC)
            await entrapment(conn, "L4", t3, state="false_alarm")
            await entrapment(conn, "L2", datetime(2025, 3, 31, 16, 0, tzinfo=UTC))  # April 1st in Beijing
            for i, late in enumerate((False, True, True)):  # May: 1 of 3 responded and arrived in time
                t = datetime(2025, 5, 10 + i, 4, 0, tzinfo=UTC)
                await entrapment(conn, f"M{i}", t, state="released", dispatched_at=t, tier=1,
                                 responded_at=t + timedelta(minutes=10 if late else 2), response_late=late,
                                 on_site_at=t + timedelta(minutes=45 if late else 20))
        part = alerts_part(pool, LiveHub(16), settings.incidents, report=ReportSources(lifts=lifts))
        app = create_app(pool, settings.auth, [part], backoff=settings.backoff.backoff())
        async with serve_app(app, "127.0.0.1", 0) as port, http_client(f"http://127.0.0.1:{port}") as http:
            await login(http, f"http://127.0.0.1:{port}/api", "bureau-1")
            yield f"http://127.0.0.1:{port}", http


async def test_a_month_as_json_and_as_a_workbook(api: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = api
    async with http.get(f"{url}/api/reports/monthly", params={"month": "2025-03"}) as resp:
        assert resp.status == 200
        body = await resp.json()
    # Incidents 1, 2, 3 (4 is April's in Beijing); 3 a false alarm; entrapments on L1 (甲) and L3 (乙)
    assert (body["incidents"], body["false_alarms"], body["entrapments"]) == (3, 1, 2)
    assert body["dispatched"] == 2 and body["arrived_30min"] == 1 and body["arrival_30min_rate_pct"] == 50.0
    assert body["lifts"] == 4 and body["entrapments_per_lift"] == 0.5  # 2 / 4
    assert body["calls"] == 1 and body["persons_released"] == 3  # the columns of migration 0010, read
    assert body["response_rate_pct"] == 100.0  # 1 responded in time; 2's response not decided
    # The same rates as the rescue KPIs over the same instants (one district here).
    since, until = "2025-02-28T16:00:00Z", "2025-03-31T16:00:00Z"  # March in Beijing
    async with http.get(f"{url}/api/kpis/rescue", params={"by": "district", "since": since, "until": until}) as resp:
        (kpis,) = (await resp.json())["rows"]
    assert kpis["incidents"] == body["incidents"]
    assert kpis["arrival_30min_rate_pct"] == body["arrival_30min_rate_pct"]
    assert kpis["response_rate_pct"] == body["response_rate_pct"]
    assert body["tiers"]["1"] == 1 and body["causes"]["human"] == 1 and body["places"]["mall"] == 1
    assert {s["slot"]: s["entrapments"] for s in body["slots"]}["00:00–02:00"] == 1
    assert [(u["name"], u["per_100_lifts"]) for u in body["top_units"]] == [("乙维保", 50.0), ("甲维保", 50.0)]
    async with http.get(f"{url}/api/reports/monthly",
                        params={"since": "2025-03-01", "until": "2025-04-02", "format": "xlsx", "lang": "en"}) as resp:
        assert resp.status == 200
        # the last day inclusive, as the page and the workbook state the period
        assert resp.headers["Content-Disposition"] == 'attachment; filename="96333-report-2025-03-01-2025-04-01.xlsx"'
        book = load_workbook(BytesIO(await resp.read()))
    figures = {row[0]: row[1] for row in book["report"].iter_rows(values_only=True) if row and row[0]}
    assert figures["entrapments"] == 3 and figures["incidents"] == 4  # April 1st is in this range
    assert figures["entrapments per lift"] == 0.75
    assert book["report"]["A2"].value == "Period: 2025-03-01 to 2025-04-01"


async def test_the_kpis_and_the_report_agree_on_one_of_three(api: tuple[str, aiohttp.ClientSession]) -> None:
    """May: 3 dispatched entrapments, 1 responded and arrived in time: 33.33 % in both answers
    (one rounding, two decimals), not 33.3 in one and 33.33 in the other."""
    url, http = api
    async with http.get(f"{url}/api/reports/monthly", params={"month": "2025-05"}) as resp:
        body = await resp.json()
    since, until = "2025-04-30T16:00:00Z", "2025-05-31T16:00:00Z"  # May in Beijing
    async with http.get(f"{url}/api/kpis/rescue", params={"by": "district", "since": since, "until": until}) as resp:
        (kpis,) = (await resp.json())["rows"]
    assert body["response_rate_pct"] == kpis["response_rate_pct"] == 33.33
    assert body["arrival_30min_rate_pct"] == kpis["arrival_30min_rate_pct"] == 33.33


async def test_bad_periods_are_400(api: tuple[str, aiohttp.ClientSession]) -> None:
    url, http = api
    for params in ({}, {"month": "2025-3"}, {"month": "2025-13"}, {"since": "2025-03-01"},
                   {"since": "2025-03-02", "until": "2025-03-01"}, {"month": "2025-03", "format": "pdf"}):
        async with http.get(f"{url}/api/reports/monthly", params=params) as resp:
            assert resp.status == 400, params
            assert (await resp.json())["error"]
