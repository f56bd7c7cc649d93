"""Which devices are in the equipment register, refreshed in the background, so the ingester
can reject telemetry from unregistered devices (``SEMON_INGEST_REJECT_UNREGISTERED``)."""

from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg_pool import AsyncConnectionPool

from semon.protocol.decode import Decoded, Rejection, RejectReason

log = logging.getLogger(__name__)


class RegisteredDevices:
    def __init__(self) -> None:
        self._codes: frozenset[str] | None = None  # None until loaded: nothing is rejected blind

    @property
    def loaded(self) -> bool:
        return self._codes is not None

    def screen(self, outcome: Decoded | Rejection) -> Decoded | Rejection:
        codes = self._codes
        if codes is None or not isinstance(outcome, Decoded) or outcome.topic.device_id in codes:
            return outcome
        topic = outcome.topic
        return Rejection(RejectReason.UNREGISTERED_DEVICE, f"{topic.device_id} is not in the equipment register",
                         kind=topic.kind.value, device_id=topic.device_id)

    async def load(self, pool: AsyncConnectionPool) -> None:
        async with pool.connection(timeout=5) as conn:
            cur = await conn.execute("SELECT registration_code FROM equipment")
            self._codes = frozenset(str(r[0]) for r in await cur.fetchall())

    async def run(self, pool: AsyncConnectionPool, interval_s: float) -> None:
        while True:
            try:
                await self.load(pool)
            except (psycopg.Error, TimeoutError) as exc:
                log.warning("equipment register not read (%s); keeping the last copy", exc)
            await asyncio.sleep(interval_s)
