"""The incidents the monthly report (``alerts.monthly_report``) reads: those raised in a window,
one query.

Each row is read as JSON (``to_jsonb``), so that the fields of migration 0010 (source, tier,
responded_at, response_late, persons_released, injuries, cause_class, self_release, place) are
taken where the table has them and fall back to what an older table knows (a device's incident,
no response recorded, the tier from its escalation) where it does not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from alerts.monthly_report import IncidentRow


def _at(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _tier(row: dict[str, Any]) -> int | None:
    if row.get("tier") is not None:
        return int(row["tier"])
    if row.get("dispatched_at") is None:
        return None
    return 2 if row.get("second_tier") else 1  # before 0010: a second tier named means tier 2


def incident_row(row: dict[str, Any]) -> IncidentRow:
    """One ``incidents`` row as JSON → the report's row."""
    raised = _at(row["raised_at"])
    assert raised is not None  # NOT NULL in the table
    return IncidentRow(
        id=int(row["id"]), device_id=str(row["device_id"]), source=str(row.get("source") or "device"),
        state=str(row["state"]), raised_at=raised, dispatched_at=_at(row.get("dispatched_at")),
        responded_at=_at(row.get("responded_at")), response_late=bool(row.get("response_late")),
        on_site_at=_at(row.get("on_site_at")), tier=_tier(row),
        persons_released=_int(row.get("persons_released")), injuries=_int(row.get("injuries")),
        cause_class=row.get("cause_class"), self_release=row.get("self_release"), place=row.get("place"))


async def report_incidents(conn: AsyncConnection, start: datetime, end: datetime) -> list[IncidentRow]:
    """The incidents raised in [start, end) (aware instants), oldest first."""
    cur = await conn.execute(
        "SELECT to_jsonb(i) FROM incidents i WHERE i.raised_at >= %s AND i.raised_at < %s ORDER BY i.raised_at, i.id",
        (start, end))
    return [incident_row(row) for (row,) in await cur.fetchall()]
