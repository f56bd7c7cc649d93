"""What the ingester has stored, as another package may read it.

The telemetry hypertables are the ingester's; a package above it (the benchmarks) asks it what
arrived rather than reading them, so their shape stays the ingester's to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from psycopg import AsyncConnection


@dataclass(frozen=True, slots=True)
class StoredTelemetry:
    """``rows`` stored; ``distinct`` of them by (device, seq), so ``rows - distinct`` are frames a
    device sent twice under one sequence number; ``last_received_at``: when the last of them was
    taken in (seconds since the epoch, 0.0 if none)."""

    rows: int
    distinct: int
    last_received_at: float


async def elevator_telemetry_of(conn: AsyncConnection, device_prefix: str,
                                within: timedelta = timedelta(days=1)) -> StoredTelemetry:
    """The elevator telemetry stored of the devices whose id starts with ``device_prefix`` (taken
    literally: ``_`` and ``%`` are no wildcards), of frames timed within ``within`` of now."""
    escaped = device_prefix.replace("\\", "\\\\").replace("_", r"\_").replace("%", r"\%")
    cur = await conn.execute(
        "SELECT count(*), count(DISTINCT (device_id, seq)), extract(epoch FROM max(received_at))"
        " FROM elevator_telemetry WHERE device_id LIKE %s AND time > now() - %s::interval",
        (escaped + "%", within),
    )
    row = await cur.fetchone()
    assert row is not None  # an aggregate always answers one row
    return StoredTelemetry(int(row[0]), int(row[1]), float(row[2] or 0))
