"""The local stack: a private broker and database from the system's binaries, in a data directory."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from semon.stack.mosquitto import MosquittoServer
from semon.stack.postgres import PostgresServer
from semon.stack.process import StackError, free_port

__all__ = ["LocalStack", "MosquittoServer", "PostgresServer", "StackError", "free_port"]

log = logging.getLogger(__name__)


class LocalStack:
    """``async with LocalStack(dir) as stack:`` gives ``stack.mqtt_url`` and ``stack.database_url``."""

    def __init__(self, root: Path, *, mqtt_port: int = 0, pg_port: int = 0, durable: bool = True) -> None:
        self.root = root
        self.mosquitto = MosquittoServer(root / "mosquitto", mqtt_port)
        self.postgres = PostgresServer(root / "postgres", pg_port, durable=durable)

    @property
    def mqtt_url(self) -> str:
        return self.mosquitto.url

    @property
    def database_url(self) -> str:
        return self.postgres.url

    async def __aenter__(self) -> LocalStack:
        await self.postgres.start()
        try:
            await self.mosquitto.start()
        except BaseException:
            await self.postgres.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.mosquitto.stop()
        await self.postgres.stop()
