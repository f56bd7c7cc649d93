"""Read-only alarm queries for the API and the console (``alerts.alarm_store`` writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from alerts.desks import Desk, types_of
from alerts.filters import where_clause
from alerts.model import ALARM_COLUMNS, Alarm, Severity, alarm_from_row
from semon.alarm_types import AlarmType


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    state: str | None = None  # open | cleared
    type: AlarmType | None = None
    severity: Severity | None = None
    kind: str | None = None
    device_id: str | None = None
    district: str | None = None
    since: datetime | None = None  # on raised_at, inclusive
    until: datetime | None = None  # on raised_at, exclusive
    limit: int = 100
    desk: Desk | None = None  # the desk's types (alerts.desks)
    acknowledged: bool | None = None
    shelved: bool | None = None  # shelved now (shelved_until in the future)
    text: str | None = None  # in the device id, the type or the shelving reason, any case


def _handling(filters: AlarmFilter) -> tuple[list[sql.Composable], list[Any]]:
    """The conditions on the desk, the operator's handling and the text, and their parameters
    (``where_clause`` puts these conditions first)."""
    extra: list[sql.Composable] = []
    params: list[Any] = []
    if filters.desk is not None:
        extra.append(sql.SQL("type = ANY(%s)"))
        params.append([str(t) for t in types_of(filters.desk)])
    if filters.acknowledged is not None:
        extra.append(sql.SQL("acknowledged_at IS NOT NULL" if filters.acknowledged else "acknowledged_at IS NULL"))
    if filters.shelved is not None:
        shelved = "shelved_until IS NOT NULL AND shelved_until > now()"
        extra.append(sql.SQL(shelved if filters.shelved else f"NOT ({shelved})"))
    if filters.text:
        pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        extra.append(sql.SQL("(device_id ILIKE %s OR type ILIKE %s OR coalesce(shelved_reason, '') ILIKE %s)"))
        params += [pattern] * 3
    return extra, params


async def list_alarms(conn: AsyncConnection, filters: AlarmFilter) -> list[Alarm]:
    """Newest first."""
    equal = (("state", filters.state), ("type", filters.type), ("severity", filters.severity),
             ("kind", filters.kind), ("device_id", filters.device_id), ("district_code", filters.district))
    extra, extra_params = _handling(filters)
    where, params = where_clause(equal, filters.since, filters.until, extra)
    params = extra_params + params
    query = sql.SQL("SELECT {} FROM alarms").format(sql.SQL(ALARM_COLUMNS)) + where
    query = sql.SQL("{} ORDER BY raised_at DESC, id DESC LIMIT %s").format(query)
    params.append(filters.limit)
    cur = await conn.execute(query, params)
    return [alarm_from_row(r) for r in await cur.fetchall()]


async def get_alarm(conn: AsyncConnection, alarm_id: int) -> Alarm | None:
    cur = await conn.execute(f"SELECT {ALARM_COLUMNS} FROM alarms WHERE id = %s", (alarm_id,))
    row = await cur.fetchone()
    return alarm_from_row(row) if row else None


async def closed_by_operators_since(conn: AsyncConnection, since: datetime) -> list[Alarm]:
    """Alarms cleared at or after ``since`` by an operator closing their incident (closed or
    false alarm), oldest first."""
    cur = await conn.execute(
        f"""SELECT {', '.join('a.' + c.strip() for c in ALARM_COLUMNS.split(','))} FROM alarms a
            JOIN incidents i ON i.alarm_id = a.id
            WHERE a.state = 'cleared' AND i.state IN ('closed', 'false_alarm') AND a.cleared_at >= %s
            ORDER BY a.cleared_at, a.id""", (since,))
    return [alarm_from_row(r) for r in await cur.fetchall()]
