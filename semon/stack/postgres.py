"""A private PostgreSQL cluster with TimescaleDB preloaded, started from the system's binaries."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import logging
import os
import signal
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from semon.stack.process import (
    PORT_ATTEMPTS,
    DirLock,
    StackError,
    chown_tree,
    find_binary,
    free_port,
    leftover_server,
    parent_death_option,
    port_taken,
    reachable_by_others,
    read_pid_file,
    service_user,
    stop_process,
    take_port,
    wait_for_port,
    wait_gone,
    write_private,
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


# Client authentication with a password: over TCP from this machine only (no Unix socket is
# opened), scram-sha-256, no trust line.
_HBA_SCRAM = """\
# Written by semon at every start of the local stack.
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""


class PostgresServer:
    """A cluster on 127.0.0.1 whose superuser is ``semon``.

    ``password``: the superuser's password; clients authenticate with scram-sha-256 and
    ``pg_hba.conf`` has no trust line (a cluster made earlier with trust is converted at start).
    ``None``: any local client is trusted (the test fixtures' clusters).

    ``port``: the caller's, never changed (a start fails if it is taken). Else
    ``remembered_port`` (the one of the last start), or a free one: either moves to another free
    port, with a warning, if another process holds it.

    While it runs, the server holds a lock beside its directory (:class:`DirLock`); a start
    stops a postgres still running in the directory from an earlier process that is gone. With
    ``die_with_parent`` the server is also asked to shut down (SIGINT, a fast shutdown) as soon
    as this process dies, however it dies.
    """

    def __init__(self, data_dir: Path, port: int = 0, *, durable: bool = True, password: str | None = None,
                 remembered_port: int = 0, die_with_parent: bool = True) -> None:
        self.password = password
        self.user = service_user("postgres")
        self.data_dir = self._usable_dir(data_dir.resolve())
        self.port = port or remembered_port or free_port()
        self._port_chosen = not port  # ours to change if someone takes it before the server binds
        self._port_remembered = bool(remembered_port) and not port
        self.durable = durable
        self.die_with_parent = die_with_parent
        self._bindir = postgres_bindir()
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = DirLock(self.data_dir.with_name(f".{self.data_dir.name}.lock"))

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
        """The URL of ``database``, with the superuser's password if there is one."""
        secret = f":{quote(self.password, safe='')}" if self.password is not None else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def safe_url(self, database: str = DATABASE) -> str:
        """The URL without the password (safe to log and print)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _as_user(self, *args: str, parent_death: signal.Signals | None = None) -> list[str]:
        """Drop to the service user with setpriv, which execs in place (signals reach the server);
        with ``parent_death``, the command gets that signal when this process dies."""
        option = parent_death_option(parent_death) if parent_death is not None else None
        if self.user is None and option is None:
            return list(args)
        user = [] if self.user is None else [
            f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}", "--init-groups"]
        return [find_binary("setpriv", "/usr/bin/setpriv"), *user, *([option] if option else []), "--", *args]

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
        if self.password is None:
            await self._run(
                str(self._bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
            )
        else:
            # The password reaches initdb in a file of its own (0600, beside the data directory):
            # never on a command line or in the environment, where other local users can read it.
            pwfile = self.data_dir.with_name(f".{self.data_dir.name}.pwfile")
            write_private(pwfile, self.password + "\n")
            chown_tree(pwfile, self.user)
            try:
                await self._run(
                    str(self._bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                    "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C.UTF-8",
                )
            finally:
                pwfile.unlink(missing_ok=True)
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
                "password_encryption = 'scram-sha-256'\n"
            )
            if not self.durable:
                # Test clusters: crash safety of the machine is not under test, throughput is.
                conf.write("fsync = off\nfull_page_writes = off\n")
        if self.password is not None:
            hba = self.data_dir / "pg_hba.conf"
            write_private(hba, _HBA_SCRAM)
            chown_tree(hba, self.user)

    def _hba_trusts(self) -> bool:
        hba = self.data_dir / "pg_hba.conf"
        lines = (line.split("#", 1)[0].split() for line in hba.read_text().splitlines())
        return any(fields and fields[-1] == "trust" for fields in lines)

    async def start(self) -> None:
        """Start the cluster (made first if new); a port picked for it and taken meanwhile is
        picked again. Raises StackError when it does not come up, or when another live process
        runs a server in the directory."""
        self._lock.acquire(f"the PostgreSQL cluster {self.data_dir}")
        try:
            await self._stop_leftover()
            self.port = take_port(self.port, self._port_chosen, "postgres")
            for attempt in range(1, PORT_ATTEMPTS + 1):
                try:
                    await self._start_once()
                    return
                except StackError:
                    if not (self._port_chosen and attempt < PORT_ATTEMPTS and port_taken(self.log_tail(5))):
                        raise
                    log.warning("port %d was taken before postgres bound it; trying another", self.port)
                    self.port = free_port()
        except BaseException:
            self._lock.release()
            raise

    async def _stop_leftover(self) -> None:
        """Stop a postgres left running in our directory by an earlier process, now gone (we hold
        the lock): ``pg_ctl stop -m fast``, a clean shutdown. Its port becomes ours to reuse if
        none was remembered. A pid file of a dead process is left to postgres, which replaces it.

        Stopping it rather than adopting it: it is not our child, so we could not see it fail,
        and it runs with the settings of an earlier start.
        """
        pidfile = self.data_dir / "postmaster.pid"
        lines = read_pid_file(pidfile)
        if lines is None:
            return
        pid = int(lines[0])
        found = leftover_server(pid, "postgres", "-D", self.data_dir)
        if found is None:
            return
        if found is False:
            if pid in (os.getpid(), os.getppid()):
                return  # postgres ignores a lock file naming its parent or grandparent
            raise StackError(
                f"{pidfile} names process {pid}, which is not a postgres of this cluster, so postgres will not "
                f"start; if no postgres uses {self.data_dir}, remove that file")
        port = lines[3].strip() if len(lines) > 3 else ""
        log.warning("postgres (pid %d, port %s) of an earlier start is still running in %s; stopping it",
                    pid, port or "?", self.data_dir)
        try:
            await self._run(str(self._bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast",
                            "-w", "-t", "120")
        except StackError:
            if leftover_server(pid, "postgres", "-D", self.data_dir):
                raise
        if not await wait_gone(pid, 30):
            raise StackError(f"the leftover postgres (pid {pid}) in {self.data_dir} did not exit")
        if self._port_chosen and not self._port_remembered and port.isdigit():
            self.port = int(port)

    async def _start_once(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            await self._initdb()
        # A cluster made while the local stack still trusted every local user: give the superuser
        # its password while trust still lets us in, then authenticate by password from now on.
        convert = self.password is not None and self._hba_trusts()
        logfile = open(self.data_dir / "server.log", "ab")  # noqa: SIM115, ASYNC230 - handed to the server
        try:
            command = (str(self._bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port))
            self._proc = await asyncio.create_subprocess_exec(
                *self._as_user(*command, parent_death=signal.SIGINT if self.die_with_parent else None),
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
            if convert:
                await self._require_password()
        except StackError:
            log.error("postgres log:\n%s", self.log_tail())
            await self._stop_server("fast")  # not left running behind a failed start
            raise
        await self._ensure_database(DATABASE)
        log.info("postgres listening on 127.0.0.1:%d (data in %s)", self.port, self.data_dir)

    async def _wait_ready(self) -> None:
        for _ in range(600):
            if self._proc is not None and self._proc.returncode is not None:
                raise StackError(f"postgres exited with status {self._proc.returncode} while starting")
            try:
                conn = await psycopg.AsyncConnection.connect(self.url_for("postgres"), connect_timeout=2)
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc) and not self._hba_trusts():
                    raise StackError(
                        f"postgres in {self.data_dir} refused the stored password of {SUPERUSER!r} ({exc}); "
                        "restore the secrets file it was made with, or remove the cluster to start afresh") from None
                await asyncio.sleep(0.05)
                continue
            await conn.close()
            return
        raise StackError("postgres accepted TCP connections but never became ready")

    async def _require_password(self) -> None:
        assert self.password is not None
        trusted = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        async with await psycopg.AsyncConnection.connect(trusted, autocommit=True) as conn:
            await conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(self.password)))
            hba = self.data_dir / "pg_hba.conf"
            write_private(hba, _HBA_SCRAM)
            chown_tree(hba, self.user)
            await conn.execute("SELECT pg_reload_conf()")
        log.warning("the local PostgreSQL trusted local users; it now requires the superuser's password")
        await self._wait_ready()

    async def _ensure_database(self, name: str) -> None:
        async with await psycopg.AsyncConnection.connect(self.url_for("postgres"), autocommit=True) as conn:
            cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if await cur.fetchone() is None:
                await conn.execute(f'CREATE DATABASE "{name}"')

    async def stop(self, mode: str = "fast") -> None:
        """``fast`` rolls back open transactions and shuts down cleanly; ``immediate`` is a crash."""
        await self._stop_server(mode)
        self._lock.release()

    async def _stop_server(self, mode: str) -> None:
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
