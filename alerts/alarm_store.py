"""Alarms in PostgreSQL. The partial unique index ``alarms_one_open`` makes "at most one open
alarm per device and type" a fact of the database, not only of the engine's memory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.model import ALARM_COLUMNS, SEVERITY, Alarm, Severity, Source, alarm_from_row
from semon.alarm_types import AlarmType


async def raise_alarm(conn: AsyncConnection, *, device_id: str, kind: str, type: AlarmType, source: Source,
                      raised_at: datetime, details: dict[str, Any] | None = None,
                      replay: bool = False, district_code: str | None = None) -> Alarm | None:
    """Open an alarm; None if one of this device and type is open already. With ``replay``
    (the rules engine), also None if an alarm of this device and type was raised at or after
    ``raised_at``: the engine restored from a checkpoint replays the messages since, and an
    alarm raised and cleared in that span is history already written, not a new one.
    ``district_code``: the district the unit stands in, as the register holds it (None: not
    registered); the alarm and its incident are filed under it (the county's longer arrival
    limit follows it). Never taken from the device's code, which names no district."""
    cur = await conn.execute(
        f"""INSERT INTO alarms (device_id, kind, type, severity, source, raised_at, district_code, details)
            SELECT %s, %s, %s, %s, %s, %s, %s, %s
            WHERE NOT (%s AND EXISTS (SELECT 1 FROM alarms WHERE device_id = %s AND type = %s AND raised_at >= %s))
            ON CONFLICT (device_id, type) WHERE state = 'open' DO NOTHING
            RETURNING {ALARM_COLUMNS}""",
        (device_id, kind, str(type), str(SEVERITY.get(type, Severity.MINOR)), str(source), raised_at,
         district_code, Jsonb(details or {}), replay, device_id, str(type), raised_at),
    )
    row = await cur.fetchone()
    return alarm_from_row(row) if row else None


async def clear_alarm(conn: AsyncConnection, *, device_id: str, type: AlarmType, cleared_at: datetime,
                      reason: str) -> Alarm | None:
    """Clear the open alarm of this device and type; None if there is none."""
    cur = await conn.execute(
        f"""UPDATE alarms SET state = 'cleared', cleared_at = %s, clear_reason = %s
            WHERE device_id = %s AND type = %s AND state = 'open'
            RETURNING {ALARM_COLUMNS}""",
        (cleared_at, reason, device_id, str(type)),
    )
    row = await cur.fetchone()
    return alarm_from_row(row) if row else None


async def clear_alarm_by_id(conn: AsyncConnection, alarm_id: int, *, cleared_at: datetime,
                            reason: str) -> Alarm | None:
    cur = await conn.execute(
        f"""UPDATE alarms SET state = 'cleared', cleared_at = %s, clear_reason = %s
            WHERE id = %s AND state = 'open' RETURNING {ALARM_COLUMNS}""",
        (cleared_at, reason, alarm_id),
    )
    row = await cur.fetchone()
    return alarm_from_row(row) if row else None


async def open_alarms(conn: AsyncConnection) -> list[Alarm]:
    cur = await conn.execute(f"SELECT {ALARM_COLUMNS} FROM alarms WHERE state = 'open' ORDER BY raised_at")
    return [alarm_from_row(r) for r in await cur.fetchall()]


async def open_alarms_readable(conn: AsyncConnection) -> tuple[list[Alarm], list[tuple[Any, Any, str]]]:
    """The open alarms, and apart those rows that cannot be read as one (an unknown type or
    source, say from a later version): ``(id, device_id, why)`` each."""
    cur = await conn.execute(f"SELECT {ALARM_COLUMNS} FROM alarms WHERE state = 'open' ORDER BY raised_at")
    alarms: list[Alarm] = []
    unreadable: list[tuple[Any, Any, str]] = []
    for row in await cur.fetchall():
        try:
            alarms.append(alarm_from_row(row))
        except (ValueError, TypeError) as exc:
            unreadable.append((row[0], row[1], f"{type(exc).__name__}: {exc}"))
    return alarms, unreadable


async def open_alarms_of(conn: AsyncConnection, device_id: str) -> list[Alarm]:
    """The device's open alarms, newest first."""
    cur = await conn.execute(f"SELECT {ALARM_COLUMNS} FROM alarms WHERE device_id = %s AND state = 'open' "
                             "ORDER BY raised_at DESC", (device_id,))
    return [alarm_from_row(r) for r in await cur.fetchall()]
