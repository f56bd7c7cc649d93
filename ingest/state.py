"""The latest state per device, coalesced in memory and written at a steady cadence.

At city scale every device reports every few seconds; upserting ``device_state`` in every
batch doubled the database's work (see docs/ingest.md). Telemetry and events are committed
with their batch; the state derived from them follows within ``interval`` seconds. Should the
ingester die in between, the device's next frame puts it right. Online/offline status is not
derived from anything stored, so it is written inside its batch's transaction instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ingest.batch import DeviceTouch
from ingest.isolate import describe, isolate
from ingest.writer import write_device_state
from semon.backoff import Backoff
from semon.periodic import every

log = logging.getLogger(__name__)


class DeviceStateBuffer:
    """Pending device state, written every ``interval`` seconds.

    ``on_refused(n)`` is told how many devices' state rows the database refused in a flush:
    those rows are found by halving (ingest/isolate.py), logged with the database's reason and
    dropped, so every other device's state keeps flowing; the device's next message brings a
    new row. While the database is away (a transient error) everything is kept and retried.
    """

    def __init__(self, on_refused: Callable[[int], None] = lambda _n: None) -> None:
        self._pending: dict[str, DeviceTouch] = {}
        self._on_refused = on_refused

    def __len__(self) -> int:
        return len(self._pending)

    def merge(self, devices: dict[str, DeviceTouch]) -> None:
        pending = self._pending
        for device_id, touch in devices.items():
            mine = pending.get(device_id)
            if mine is None:
                pending[device_id] = touch
            else:
                mine.merge(touch)

    async def flush(self, pool: AsyncConnectionPool) -> int:
        """Write what is pending; return how many devices' rows were written. Raises on a
        transient error, after putting everything back; refused rows are dropped."""
        if not self._pending:
            return 0
        taken, self._pending = self._pending, {}

        async def attempt(part: Sequence[str]) -> int:
            async with pool.connection(timeout=5) as conn:
                await write_device_state(conn, {d: taken[d] for d in part})
            for device_id in part:
                del taken[device_id]
            return len(part)

        try:
            written, refused = await isolate(sorted(taken), attempt)
        except (psycopg.Error, PoolTimeout):
            # Put what was not written back under anything newer that arrived meanwhile.
            newer, self._pending = self._pending, taken
            self.merge(newer)
            raise
        for device_id, exc in refused:
            del taken[device_id]
            log.error("device state of %r refused by the database, skipped: %s", device_id, describe(exc)[:300])
        if refused:
            self._on_refused(len(refused))
        return sum(written)

    async def run(self, pool: AsyncConnectionPool, interval: float, backoff: Backoff) -> None:
        """Until cancelled: a flush every ``interval`` seconds (``semon.periodic.every``: one
        the database could not take is retried after ``backoff``); the rest at cancellation."""
        try:
            await every("device state flush", interval, functools.partial(self.flush, pool), log=log,
                        backoff=backoff, first_after_s=interval)
        finally:
            if self._pending:
                with contextlib.suppress(psycopg.Error, PoolTimeout, asyncio.CancelledError):
                    await asyncio.shield(self.flush(pool))


_STATE_COLUMNS = ("kind", "online", "last_seen", "last_telemetry_at", "telemetry", "last_event_at", "last_event_code",
                  "status_changed_at")


async def device_state_of(conn: AsyncConnection[Any], device_id: str) -> dict[str, Any] | None:
    """The device's latest state as the ingester wrote it, or None if it has never reported:
    ``kind``, ``online``, ``last_seen``, ``last_telemetry_at``, ``telemetry`` (the latest frame),
    ``last_event_at``, ``last_event_code``, ``status_changed_at``."""
    cur = await conn.execute(f"SELECT {', '.join(_STATE_COLUMNS)} FROM device_state WHERE device_id = %s",
                             (device_id,))
    row = await cur.fetchone()
    return None if row is None else dict(zip(_STATE_COLUMNS, row, strict=True))
