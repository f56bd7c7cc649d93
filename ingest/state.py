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
import logging

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ingest.batch import DeviceTouch
from ingest.writer import write_device_state

log = logging.getLogger(__name__)


class DeviceStateBuffer:
    def __init__(self) -> None:
        self._pending: dict[str, DeviceTouch] = {}

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
        if not self._pending:
            return 0
        taken, self._pending = self._pending, {}
        try:
            async with pool.connection(timeout=5) as conn:
                await write_device_state(conn, taken)
        except (psycopg.Error, PoolTimeout):
            # Put it back under anything newer that arrived meanwhile, and try next time.
            newer, self._pending = self._pending, taken
            self.merge(newer)
            raise
        return len(taken)

    async def run(self, pool: AsyncConnectionPool, interval: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.flush(pool)
                except (psycopg.Error, PoolTimeout) as exc:
                    log.warning("device state not written (%s); retrying", str(exc).strip()[:200])
        finally:
            if self._pending:
                with contextlib.suppress(psycopg.Error, PoolTimeout, asyncio.CancelledError):
                    await asyncio.shield(self.flush(pool))
