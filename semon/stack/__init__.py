"""The local stack: a private broker and database from the system's binaries, in a data directory."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from semon.stack.mosquitto import ACCOUNTS, DEVICES_ACCOUNT, INGEST_ACCOUNT, RULES_ACCOUNT, MosquittoServer
from semon.stack.postgres import SUPERUSER, PostgresServer
from semon.stack.process import StackError, free_port, load_ports, load_secrets, save_ports

__all__ = ["LocalStack", "MosquittoServer", "PostgresServer", "StackError", "free_port"]

log = logging.getLogger(__name__)

SECRETS_FILE = "credentials.json"
PORTS_FILE = "ports.json"


class LocalStack:
    """``async with LocalStack(dir) as stack:`` gives the URLs of a private broker and database.

    Neither is open: the database's superuser ``semon`` authenticates with scram-sha-256, and
    the broker has one account each for the ingester, the rules engine and the simulated devices
    (``semon.stack.mosquitto.ACCOUNTS``). The passwords are generated at the first start and kept
    in ``{root}/credentials.json`` (mode 0600); later starts reuse them.

    Ports: the caller's (``mqtt_port``, ``pg_port``) are used as given. Others are picked free at
    the first start and kept in ``{root}/ports.json``; later starts reuse them, so devices and
    clients keep their address, unless another process holds one: then that server moves to a
    new free port with a warning naming both. A broker or database left running in ``root`` by
    an earlier process that died (even by SIGKILL) is stopped at start; with
    ``die_with_parent`` (the default) both also shut down by themselves when this process dies.
    """

    def __init__(self, root: Path, *, mqtt_port: int = 0, pg_port: int = 0, durable: bool = True,
                 die_with_parent: bool = True) -> None:
        self.root = root
        self.secrets_path = root / SECRETS_FILE
        self.ports_path = root / PORTS_FILE
        stored = load_secrets(self.secrets_path, [f"postgres:{SUPERUSER}", *(f"mqtt:{a}" for a in ACCOUNTS)])
        ports = load_ports(self.ports_path)
        self.mosquitto = MosquittoServer(root / "mosquitto", mqtt_port,
                                         accounts={a: stored[f"mqtt:{a}"] for a in ACCOUNTS},
                                         remembered_port=ports.get("mqtt", 0), die_with_parent=die_with_parent)
        self.postgres = PostgresServer(root / "postgres", pg_port, durable=durable,
                                       password=stored[f"postgres:{SUPERUSER}"],
                                       remembered_port=ports.get("postgres", 0), die_with_parent=die_with_parent)
        self._given = {"mqtt": bool(mqtt_port), "postgres": bool(pg_port)}

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
        self._keep_ports()
        return self

    def _keep_ports(self) -> None:
        kept = load_ports(self.ports_path)
        ports = dict(kept)
        for name, port in (("mqtt", self.mosquitto.port), ("postgres", self.postgres.port)):
            if not self._given[name]:
                ports[name] = port
        if ports != kept:
            save_ports(self.ports_path, ports)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.mosquitto.stop()
        await self.postgres.stop()
