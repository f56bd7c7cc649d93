"""``GET /api/reports/monthly``: the monthly 96333 report (``alerts.monthly_report``) as JSON or
as an XLSX workbook, over a calendar month or a range of the register's local days.

The register's elevators (the lifts the report divides by) are read through ``LiftReader``, a
function the composition root hands over (alerts does not import the register)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.api_models import ReportQuery
from alerts.monthly_report import LiftRow, ReportError, month_period, period_bounds, report
from alerts.report_store import report_incidents
from alerts.report_xlsx import MEDIA_TYPE, report_xlsx
from semon.today import DEFAULT_ZONE
from web.http import ApiError
from web.http import read_query as _query

# The register's elevators in use: (registration code, maintenance unit's name, owner's name).
LiftReader = Callable[[AsyncConnection], Awaitable[Sequence[LiftRow]]]


async def no_lifts(conn: AsyncConnection) -> Sequence[LiftRow]:
    """Without a register: no lifts (困人率 and the top ten stay empty)."""
    return ()


@dataclass(frozen=True, slots=True)
class ReportSources:
    """What the report reads beyond the incidents: the register's lifts and its time zone."""

    lifts: LiftReader = no_lifts
    timezone: str = DEFAULT_ZONE  # the register's zone: the days of the period and the time-of-day slots


REPORT = web.AppKey("alerts_report", ReportSources)
POOL = web.AppKey("alerts_report_pool", AsyncConnectionPool)


async def monthly_report(request: web.Request) -> web.Response:
    q = _query(request, ReportQuery)
    sources = request.app[REPORT]
    try:
        since, until = month_period(q.month) if q.month is not None else (q.since, q.until)
        assert since is not None and until is not None  # ReportQuery: one or the other
        start, end = period_bounds(since, until, sources.timezone)
    except ReportError as exc:
        raise ApiError(400, str(exc), key=exc.key, params=exc.params) from None
    async with request.app[POOL].connection() as conn:
        incidents = await report_incidents(conn, start, end)
        lifts = await sources.lifts(conn)
    figures = report(incidents, lifts, since=since, until=until, now=datetime.now(UTC), tz=sources.timezone)
    if q.format == "xlsx":
        last = until - timedelta(days=1)  # inclusive, as the page and the workbook state the period
        name = f"96333-report-{since.isoformat()}-{last.isoformat()}.xlsx"
        return web.Response(body=report_xlsx(figures, q.lang), content_type=MEDIA_TYPE,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return web.Response(body=orjson.dumps(figures.as_json()), content_type="application/json")


def add_report_routes(app: web.Application, pool: AsyncConnectionPool, sources: ReportSources) -> None:
    app[REPORT] = sources
    app[POOL] = pool
    app.router.add_get("/api/reports/monthly", monthly_report)
