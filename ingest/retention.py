"""Retention of raw telemetry by whole chunks.

Where the server's TimescaleDB edition has background policies, they do the work; the
Apache edition has none, so the ingester drops expired chunks itself on a timer.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from semon import dead_letters
from semon.backoff import Backoff
from semon.periodic import every

log = logging.getLogger(__name__)

HYPERTABLES = ("elevator_telemetry", "boiler_telemetry", "device_events")


async def has_policies(conn: AsyncConnection) -> bool:
    cur = await conn.execute("SELECT current_setting('timescaledb.license', true)")
    row = await cur.fetchone()
    return row is not None and row[0] not in (None, "apache")


async def install_policies(conn: AsyncConnection, keep: timedelta) -> None:
    for table in HYPERTABLES:
        await conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
        await conn.execute("SELECT add_retention_policy(%s, drop_after => %s)", (table, keep))


async def drop_expired(conn: AsyncConnection, keep: timedelta) -> int:
    """Drop every chunk wholly older than ``keep``; return how many went."""
    dropped = 0
    for table in HYPERTABLES:
        cur = await conn.execute("SELECT drop_chunks(%s, older_than => now() - %s::interval)", (table, keep))
        dropped += len(await cur.fetchall())
    await dead_letters.forget_older_than(conn, keep)
    return dropped


async def run_retention(pool: AsyncConnectionPool, keep: timedelta, interval_s: float, backoff: Backoff) -> None:
    """Install policies once, or drop chunks every ``interval_s`` (failures by ``semon.periodic``
    with ``backoff``); runs until cancelled."""
    async def retention_pass() -> None:
        async with pool.connection() as conn:
            await conn.set_autocommit(True)
            if await has_policies(conn):
                await install_policies(conn, keep)
                log.info("retention: TimescaleDB policies keep %s of raw telemetry", keep)
                await dead_letters.forget_older_than(conn, keep)
            else:
                dropped = await drop_expired(conn, keep)
                if dropped:
                    log.info("retention: dropped %d chunks older than %s", dropped, keep)

    await every("retention pass", interval_s, retention_pass, log=log, backoff=backoff)
