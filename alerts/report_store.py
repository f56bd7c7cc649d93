"""The incidents the monthly report (``alerts.monthly_report``) reads: those raised in a window,
one query over the columns it needs (migration 0010's source, tier, responded_at,
response_late, persons_released, injuries, cause_class, self_release and place among them)."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from alerts.monthly_report import IncidentRow

_COLUMNS = ("id", "device_id", "source", "state", "raised_at", "dispatched_at", "responded_at", "response_late",
            "on_site_at", "tier", "persons_released", "injuries", "cause_class", "self_release", "place")
_QUERY = f"""SELECT {", ".join(_COLUMNS)} FROM incidents WHERE raised_at >= %s AND raised_at < %s
             ORDER BY raised_at, id"""


async def report_incidents(conn: AsyncConnection, start: datetime, end: datetime) -> list[IncidentRow]:
    """The incidents raised in [start, end) (aware instants), oldest first."""
    cur = await conn.execute(_QUERY, (start, end))
    return [IncidentRow(*row) for row in await cur.fetchall()]
