"""Alarms in PostgreSQL. The partial unique index ``alarms_one_open`` makes "at most one open
alarm per device and type" a fact of the database, not only of the engine's memory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.desks import alarm_class
from alerts.messages import ALARM_ACTION_NAMES, ALARM_TYPE_NAMES, named
from alerts.model import ALARM_COLUMNS, SEVERITY, Alarm, Severity, Source, alarm_from_row
from semon.alarm_types import AlarmType
from web.i18n import KeyedError


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


# An operator's handling of an alarm that is not an entrapment (issue 15): acknowledge, shelve
# for a while with a reason, unshelve. Entrapments are worked through their incidents.


class AlarmHandlingError(KeyedError):
    """An alarm cannot be handled so; ``status`` is the HTTP answer (404 not found, 400 never
    allowed for its type, 409 not in a state that allows it); ``key`` and ``params`` name it in
    ``alerts.messages``."""

    def __init__(self, status: int, message: str, *, key: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, key=key, params=params)
        self.status = status


async def _open_for_handling(conn: AsyncConnection, alarm_id: int, action: str) -> Alarm:
    """The alarm, locked for this transaction; raises AlarmHandlingError unless it is open and
    of a type that may be handled so."""
    cur = await conn.execute(f"SELECT {ALARM_COLUMNS} FROM alarms WHERE id = %s FOR UPDATE", (alarm_id,))
    row = await cur.fetchone()
    if row is None:
        raise AlarmHandlingError(404, f"alarm {alarm_id} not found", key="alerts.alarm_not_found",
                                 params={"id": alarm_id})
    alarm = alarm_from_row(row)
    if not alarm_class(alarm.type).shelvable:
        raise AlarmHandlingError(400, f"alarm {alarm_id} is an {alarm.type}: it cannot be {action}; "
                                      "work it through its rescue incident", key="alerts.alarm_not_handled",
                                 params={"id": alarm_id, "type": named(ALARM_TYPE_NAMES, str(alarm.type)),
                                         "action": named(ALARM_ACTION_NAMES, action)})
    if alarm.state != "open":
        raise AlarmHandlingError(409, f"alarm {alarm_id} is cleared already", key="alerts.alarm_cleared",
                                 params={"id": alarm_id})
    return alarm


async def acknowledge_alarm(conn: AsyncConnection, alarm_id: int, *, actor: str, now: datetime) -> tuple[Alarm, bool]:
    """Acknowledge the open alarm ``alarm_id`` as ``actor``: ``(alarm, changed)``; an alarm
    acknowledged already keeps its first acknowledgement (``changed`` False). Raises
    AlarmHandlingError (404, 400 for an entrapment, 409 when cleared)."""
    alarm = await _open_for_handling(conn, alarm_id, "acknowledged")
    if alarm.acknowledged_at is not None:
        return alarm, False
    cur = await conn.execute(
        f"""UPDATE alarms SET acknowledged_at = %s, acknowledged_by = %s WHERE id = %s RETURNING {ALARM_COLUMNS}""",
        (now, actor, alarm_id))
    row = await cur.fetchone()
    assert row is not None  # locked above
    return alarm_from_row(row), True


async def shelve_alarm(conn: AsyncConnection, alarm_id: int, *, actor: str, minutes: int, reason: str,
                       now: datetime) -> Alarm:
    """Shelve the open alarm ``alarm_id`` until ``now`` + ``minutes`` (a shelved alarm shelved
    again gets the new time and reason). It comes back by itself when the time ends: nothing is
    written then, ``Alarm.shelved(now)`` is simply false. Raises AlarmHandlingError (404, 400
    for an entrapment, 409 when cleared)."""
    await _open_for_handling(conn, alarm_id, "shelved")
    cur = await conn.execute(
        f"""UPDATE alarms SET shelved_until = %s, shelved_by = %s, shelved_reason = %s WHERE id = %s
            RETURNING {ALARM_COLUMNS}""",
        (now + timedelta(minutes=minutes), actor, reason, alarm_id))
    row = await cur.fetchone()
    assert row is not None
    return alarm_from_row(row)


async def unshelve_alarm(conn: AsyncConnection, alarm_id: int, *, now: datetime) -> tuple[Alarm, bool]:
    """End the shelving of ``alarm_id`` now (``shelved_until`` becomes ``now``; who shelved it
    and why stay on the row): ``(alarm, changed)``, ``changed`` False when it was not shelved.
    Raises AlarmHandlingError (404, 400 for an entrapment, 409 when cleared)."""
    alarm = await _open_for_handling(conn, alarm_id, "unshelved")
    if not alarm.shelved(now):
        return alarm, False
    cur = await conn.execute(f"UPDATE alarms SET shelved_until = %s WHERE id = %s RETURNING {ALARM_COLUMNS}",
                             (now, alarm_id))
    row = await cur.fetchone()
    assert row is not None
    return alarm_from_row(row), True
