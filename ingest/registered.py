"""Which devices are in the equipment register, refreshed in the background, so the ingester
can reject telemetry from unregistered devices (``SEMON_INGEST_REJECT_UNREGISTERED``). The
register is read through its own function (``registry.store.registration_codes``), handed in by
the composition root: the ingester imports no other domain package."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from semon.backoff import Backoff
from semon.periodic import every
from semon.protocol.decode import Decoded, Rejection, RejectReason

log = logging.getLogger(__name__)


CodesReader = Callable[[AsyncConnection[Any]], Awaitable[frozenset[str]]]
"""Reads every registration code in the equipment register."""


class RegisteredDevices:
    def __init__(self, read_codes: CodesReader | None = None) -> None:
        """``read_codes``: None where nothing is screened (``load`` then raises RuntimeError)."""
        self._read_codes = read_codes
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
        if self._read_codes is None:
            raise RuntimeError("no reader of the equipment register was given")
        async with pool.connection(timeout=5) as conn:
            self._codes = await self._read_codes(conn)

    async def run(self, pool: AsyncConnectionPool, interval_s: float, backoff: Backoff) -> NoReturn:
        """Read now, then every ``interval_s`` (``semon.periodic``, with ``backoff``); a failed read keeps the
        last copy."""
        await every("equipment register read (registered devices)", interval_s, lambda: self.load(pool), log=log,
                    backoff=backoff)
