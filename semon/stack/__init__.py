"""The local stack: a private broker and database from the system's binaries, in a data directory."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from semon.stack.mosquitto import ACCOUNTS, DEVICES_ACCOUNT, INGEST_ACCOUNT, RULES_ACCOUNT, MosquittoServer
from semon.stack.postgres import SUPERUSER, PostgresServer
from semon.stack.process import StackError, free_port, load_secrets

__all__ = ["LocalStack", "MosquittoServer", "PostgresServer", "StackError", "free_port"]

log = logging.getLogger(__name__)

SECRETS_FILE = "credentials.json"


class LocalStack:
    """``async with LocalStack(dir) as stack:`` gives the URLs of a private broker and database.

    Neither is open: the database's superuser ``semon`` authenticates with scram-sha-256, and
    the broker has one account each for the ingester, the rules engine and the simulated devices
    (``semon.stack.mosquitto.ACCOUNTS``). The passwords are generated at the first start and kept
    in ``{root}/credentials.json`` (mode 0600); later starts reuse them.
    """

    def __init__(self, root: Path, *, mqtt_port: int = 0, pg_port: int = 0, durable: bool = True) -> None:
        self.root = root
        self.secrets_path = root / SECRETS_FILE
        stored = load_secrets(self.secrets_path, [f"postgres:{SUPERUSER}", *(f"mqtt:{a}" for a in ACCOUNTS)])
        self.mosquitto = MosquittoServer(root / "mosquitto", mqtt_port,
                                         accounts={a: stored[f"mqtt:{a}"] for a in ACCOUNTS})
        self.postgres = PostgresServer(root / "postgres", pg_port, durable=durable,
                                       password=stored[f"postgres:{SUPERUSER}"])

    @property
    def mqtt_url(self) -> str:
        """The devices' account: what simulators, load generators and tools publish with."""
        return self.mosquitto.url_for(DEVICES_ACCOUNT)

    @property
    def ingest_mqtt_url(self) -> str:
        return self.mosquitto.url_for(INGEST_ACCOUNT)

    @property
    def rules_mqtt_url(self) -> str:
        return self.mosquitto.url_for(RULES_ACCOUNT)

    @property
    def database_url(self) -> str:
        """With the superuser's password: keep it out of logs (``postgres.safe_url()`` is not)."""
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
