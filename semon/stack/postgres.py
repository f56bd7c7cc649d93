"""A private PostgreSQL cluster with TimescaleDB preloaded, started from the system's binaries."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import logging
import os
import signal
from pathlib import Path

import psycopg

from semon.stack.process import (
    StackError,
    chown_tree,
    find_binary,
    free_port,
    reachable_by_others,
    service_user,
    stop_process,
    wait_for_port,
)

log = logging.getLogger(__name__)

DATABASE = "semon"
SUPERUSER = "semon"


def postgres_bindir() -> Path:
    """The newest installed server that has TimescaleDB."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    for bindir in reversed(candidates):
        libdir = Path(bindir).parent / "lib"
        if list(libdir.glob("timescaledb*.so")):
            return Path(bindir)
    if candidates:
        raise StackError("TimescaleDB is not installed for the system PostgreSQL; run bin/setup")
    raise StackError("PostgreSQL is not installed; run bin/setup")


class PostgresServer:
    def __init__(self, data_dir: Path, port: int = 0, *, durable: bool = True) -> None:
        self.user = service_user("postgres")
        self.data_dir = self._usable_dir(data_dir.resolve())
        self.port = port or free_port()
        self.durable = durable
        self._bindir = postgres_bindir()
        self._proc: asyncio.subprocess.Process | None = None

    def _usable_dir(self, wanted: Path) -> Path:
        # The server runs as 'postgres' when we are root; it must be able to reach its directory.
        if self.user is None or reachable_by_others(wanted):
            return wanted
        digest = hashlib.sha1(str(wanted).encode()).hexdigest()[:12]
        fallback = Path("/var/tmp") / f"semon-pg-{digest}"
        log.info("%s is not reachable by the postgres user; keeping the cluster in %s", wanted, fallback)
        return fallback

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _as_user(self, *args: str) -> list[str]:
        """Drop to the service user with setpriv, which execs in place (signals reach the server)."""
        if self.user is None:
            return list(args)
        return [find_binary("setpriv", "/usr/bin/setpriv"), f"--reuid={self.user.pw_uid}",
                f"--regid={self.user.pw_gid}", "--init-groups", "--", *args]

    async def _run(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self._as_user(*args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise StackError(f"{Path(args[0]).name} failed:\n{out.decode(errors='replace')[-2000:]}")

    async def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        chown_tree(self.data_dir, self.user)
        await self._run(
            str(self._bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
        )
        with open(self.data_dir / "postgresql.conf", "a") as conf:  # noqa: ASYNC230 - once, a few lines
            conf.write(
                "\n# semon local stack\n"
                "shared_preload_libraries = 'timescaledb'\n"
                "timescaledb.telemetry_level = off\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = '512MB'\n"
                "max_wal_size = '2GB'\n"
                "wal_compression = on\n"
                "logging_collector = off\n"
            )
            if not self.durable:
                # Test clusters: crash safety of the machine is not under test, throughput is.
                conf.write("fsync = off\nfull_page_writes = off\n")

    async def start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            await self._initdb()
        logfile = open(self.data_dir / "server.log", "ab")  # noqa: SIM115, ASYNC230 - handed to the server
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._as_user(str(self._bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logfile,
                stderr=logfile,
                start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
            )
        finally:
            logfile.close()
        try:
            await wait_for_port(self.port, self._proc, 60, "postgres")
            await self._wait_ready()
        except StackError:
            log.error("postgres log:\n%s", self.log_tail())
            raise
        await self._ensure_database(DATABASE)
        log.info("postgres listening on 127.0.0.1:%d (data in %s)", self.port, self.data_dir)

    async def _wait_ready(self) -> None:
        for _ in range(600):
            try:
                conn = await psycopg.AsyncConnection.connect(self.url_for("postgres"), connect_timeout=2)
            except psycopg.OperationalError:
                await asyncio.sleep(0.05)
                continue
            await conn.close()
            return
        raise StackError("postgres accepted TCP connections but never became ready")

    async def _ensure_database(self, name: str) -> None:
        async with await psycopg.AsyncConnection.connect(self.url_for("postgres"), autocommit=True) as conn:
            cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if await cur.fetchone() is None:
                await conn.execute(f'CREATE DATABASE "{name}"')

    async def stop(self, mode: str = "fast") -> None:
        """``fast`` rolls back open transactions and shuts down cleanly; ``immediate`` is a crash."""
        if self._proc is not None:
            sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
            await stop_process(self._proc, sig, 60)
            self._proc = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
