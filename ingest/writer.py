"""Write one batch in one transaction: COPY into per-connection staging tables, then insert
with ON CONFLICT DO NOTHING so a redelivered message is stored once."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection, sql

from ingest.batch import (
    BOILER_COLUMNS,
    ELEVATOR_COLUMNS,
    EVENT_COLUMNS,
    Batch,
    DeviceTouch,
)
from semon import dead_letters

_ELEVATOR_TYPES = ["timestamptz", "text", "int8", "bool", "text", "int2", "bool", "bool", "bool",
                   "text", "text", "float4", "int8", "float8", "timestamptz"]
_BOILER_TYPES = ["timestamptz", "text", "int8", "bool", "bool", *["float4"] * 7, "timestamptz"]
_EVENT_TYPES = ["timestamptz", "text", "text", "int8", "int2", "int2", "text", "timestamptz"]
_DEVICE_COLUMNS = ("device_id", "kind", "first_seen", "last_seen", "last_telemetry_at", "last_seq",
                   "telemetry", "last_event_at", "last_event_code", "online", "status_changed_at")
_DEVICE_TYPES = ["text", "text", "timestamptz", "timestamptz", "timestamptz", "int8", "text",
                 "timestamptz", "int2", "bool", "timestamptz"]

STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_elevator (LIKE elevator_telemetry) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_boiler (LIKE boiler_telemetry) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_events (LIKE device_events) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_devices (
    device_id text, kind text, first_seen timestamptz, last_seen timestamptz,
    last_telemetry_at timestamptz, last_seq bigint, telemetry text, last_event_at timestamptz,
    last_event_code smallint, online boolean, status_changed_at timestamptz
) ON COMMIT DELETE ROWS;
"""

# Newer telemetry, events and status changes win; an older frame arriving late changes nothing.
_UPSERT_DEVICES = """
INSERT INTO device_state AS s (device_id, kind, first_seen, last_seen, last_telemetry_at, last_seq,
                               telemetry, last_event_at, last_event_code, online, status_changed_at)
SELECT device_id, kind, first_seen, last_seen, last_telemetry_at, last_seq, telemetry::jsonb,
       last_event_at, last_event_code, online, status_changed_at
FROM stage_devices ORDER BY device_id
ON CONFLICT (device_id) DO UPDATE SET
    kind = EXCLUDED.kind,
    last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
    last_telemetry_at = CASE WHEN {newer_tel} THEN EXCLUDED.last_telemetry_at ELSE s.last_telemetry_at END,
    last_seq = CASE WHEN {newer_tel} THEN EXCLUDED.last_seq ELSE s.last_seq END,
    telemetry = CASE WHEN {newer_tel} THEN EXCLUDED.telemetry ELSE s.telemetry END,
    last_event_at = CASE WHEN {newer_evt} THEN EXCLUDED.last_event_at ELSE s.last_event_at END,
    last_event_code = CASE WHEN {newer_evt} THEN EXCLUDED.last_event_code ELSE s.last_event_code END,
    online = COALESCE(EXCLUDED.online, s.online),
    status_changed_at = CASE
        WHEN EXCLUDED.online IS NOT NULL AND EXCLUDED.online IS DISTINCT FROM s.online
        THEN EXCLUDED.status_changed_at ELSE s.status_changed_at END
""".format(
    newer_tel="(EXCLUDED.last_telemetry_at IS NOT NULL AND (s.last_telemetry_at IS NULL OR "
    "(EXCLUDED.last_telemetry_at, EXCLUDED.last_seq) > (s.last_telemetry_at, s.last_seq)))",
    newer_evt="(EXCLUDED.last_event_at IS NOT NULL AND (s.last_event_at IS NULL OR "
    "EXCLUDED.last_event_at >= s.last_event_at))",
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    elevator: int
    boiler: int
    events: int
    rejected: int
    duplicates: int

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(self.elevator + other.elevator, self.boiler + other.boiler,
                           self.events + other.events, self.rejected + other.rejected,
                           self.duplicates + other.duplicates)

    @property
    def stored(self) -> int:
        return self.elevator + self.boiler + self.events


async def prepare_connection(conn: AsyncConnection) -> None:
    """Pool ``configure`` hook: the staging tables live as long as the connection."""
    await conn.execute(STAGING_DDL + dead_letters.STAGING_DDL)
    await conn.commit()


async def _copy(conn: AsyncConnection, table: str, columns: tuple[str, ...], types: list[str],
                rows: list[tuple[object, ...]]) -> None:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    async with conn.cursor().copy(stmt) as copy:
        copy.set_types(types)
        for row in rows:
            await copy.write_row(row)


async def _insert_staged(conn: AsyncConnection, stage: str, target: str, columns: tuple[str, ...],
                         types: list[str], rows: list[tuple[object, ...]]) -> int:
    if not rows:
        return 0
    await _copy(conn, stage, columns, types, rows)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur = await conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
            sql.Identifier(target), cols, cols, sql.Identifier(stage)
        )
    )
    return cur.rowcount


def _device_row(device_id: str, t: DeviceTouch) -> tuple[object, ...]:
    tel = t.telemetry
    return (
        device_id, t.kind, t.first_seen, t.last_seen,
        tel.ts if tel else None, tel.seq if tel else None,
        tel.document.decode() if tel else None,
        t.event_at, t.event_code, t.online, t.status_at,
    )


async def _upsert_devices(conn: AsyncConnection, devices: dict[str, DeviceTouch]) -> None:
    if devices:
        rows = [_device_row(d, t) for d, t in sorted(devices.items())]
        await _copy(conn, "stage_devices", _DEVICE_COLUMNS, _DEVICE_TYPES, rows)
        await conn.execute(_UPSERT_DEVICES)


async def write_device_state(conn: AsyncConnection, devices: dict[str, DeviceTouch]) -> None:
    async with conn.transaction():
        await _upsert_devices(conn, devices)


async def write_batch(conn: AsyncConnection, batch: Batch) -> WriteResult:
    """Everything in one transaction; the caller acknowledges only after it returns."""
    async with conn.transaction():
        elevator = await _insert_staged(conn, "stage_elevator", "elevator_telemetry", ELEVATOR_COLUMNS,
                                        _ELEVATOR_TYPES, batch.elevator)
        boiler = await _insert_staged(conn, "stage_boiler", "boiler_telemetry", BOILER_COLUMNS,
                                      _BOILER_TYPES, batch.boiler)
        events = await _insert_staged(conn, "stage_events", "device_events", EVENT_COLUMNS,
                                      _EVENT_TYPES, batch.events)
        # A redelivered rejection has the same key (topic and payload) and is recorded once.
        rejected = await dead_letters.write_staged(conn, batch.rejected)
        await _upsert_devices(conn, batch.status_changes())
    offered = len(batch.elevator) + len(batch.boiler) + len(batch.events)
    stored = elevator + boiler + events
    return WriteResult(elevator, boiler, events, rejected, offered - stored)
