"""A private Mosquitto broker started from the system's binary."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from semon.stack.process import (
    PORT_ATTEMPTS,
    DirLock,
    StackError,
    find_binary,
    free_port,
    leftover_server,
    parent_death_prefix,
    port_taken,
    read_pid_file,
    stop_process,
    take_port,
    terminate,
    wait_for_port,
    write_private,
)

log = logging.getLogger(__name__)

# Same tuning as deploy/mosquitto/mosquitto.conf (see the reasons there). With accounts, every
# client logs in and the ACL below applies; without (the test fixtures' brokers), it is open to
# anyone on 127.0.0.1.
_CONFIG = """\
per_listener_settings false
listener {port} 127.0.0.1
{auth}
persistence true
persistence_location {data_dir}/
autosave_interval {autosave_interval}
autosave_on_changes {autosave_on_changes}
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 1000
max_packet_size {max_packet_size}
set_tcp_nodelay true
queue_qos0_messages false
pid_file {data_dir}/mosquitto.pid
log_dest file {data_dir}/mosquitto.log
log_type error
log_type warning
log_type notice
{user_line}
"""

# What deploy/mosquitto/mosquitto.conf sets, for the reasons given there: a crash loses what
# changed in the last one to two seconds; an MQTT packet over 260 KiB closes the sender's connection.
AUTOSAVE_INTERVAL = 1
AUTOSAVE_ON_CHANGES = False
MAX_PACKET_SIZE = 266_240

# The accounts of the local stack: the ingester and the rules engine only read device topics;
# the simulated devices, `semon simulate` and the benchmarks' load generators only publish on them.
INGEST_ACCOUNT = "semon-ingest"
RULES_ACCOUNT = "semon-rules"
DEVICES_ACCOUNT = "semon-devices"
ACCOUNTS = (INGEST_ACCOUNT, RULES_ACCOUNT, DEVICES_ACCOUNT)

_ACL = f"""\
# Written by semon at every start of the local stack; anything not granted is denied.
user {INGEST_ACCOUNT}
topic read se/#

user {RULES_ACCOUNT}
topic read se/#

user {DEVICES_ACCOUNT}
topic write se/+/+/telemetry
topic write se/+/+/event
topic write se/+/+/status
"""


class MosquittoServer:
    """A broker on 127.0.0.1.

    ``accounts`` (username → password): clients must log in (``allow_anonymous false``), the
    password file is made from them with the system's ``mosquitto_passwd`` at every start (mode
    0600), and the local stack's ACL applies. ``None``: anonymous clients may do anything (the
    test fixtures' brokers).

    ``port``: the caller's, never changed (a start fails if it is taken). Else
    ``remembered_port`` (the one of the last start), or a free one: either moves to another free
    port, with a warning, if another process holds it.

    While it runs, the broker holds a lock beside its directory (:class:`DirLock`) and writes
    its pid to ``mosquitto.pid`` there; a start stops (SIGTERM: it saves its sessions) a broker
    still running on this directory's configuration from an earlier process that is gone. With
    ``die_with_parent`` the broker also gets SIGTERM as soon as this process dies.
    """

    def __init__(self, data_dir: Path, port: int = 0, *, accounts: Mapping[str, str] | None = None,
                 remembered_port: int = 0, die_with_parent: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or remembered_port or free_port()
        self._port_chosen = not port  # ours to change if someone takes it before the server binds
        self._port_remembered = bool(remembered_port) and not port
        self.accounts = dict(accounts) if accounts is not None else None
        self.die_with_parent = die_with_parent
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = DirLock(self.data_dir.with_name(f".{self.data_dir.name}.lock"))

    @property
    def url(self) -> str:
        """The broker's address without credentials (safe to log)."""
        return f"mqtt://127.0.0.1:{self.port}"

    def url_for(self, username: str) -> str:
        """The address with ``username`` and its password, for a client of that account."""
        if self.accounts is None or username not in self.accounts:
            raise KeyError(f"no MQTT account {username!r} on this broker")
        return f"mqtt://{quote(username, safe='')}:{quote(self.accounts[username], safe='')}@127.0.0.1:{self.port}"

    async def _write_auth(self) -> str:
        if self.accounts is None:
            return "allow_anonymous true"
        passwd = self.data_dir / "passwd"
        acl = self.data_dir / "acl"
        # mosquitto_passwd -U hashes a plain "user:password" file in place: no password on a command line.
        write_private(passwd, "".join(f"{user}:{password}\n" for user, password in self.accounts.items()))
        proc = await asyncio.create_subprocess_exec(
            find_binary("mosquitto_passwd", "/usr/bin/mosquitto_passwd"), "-U", str(passwd),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            passwd.unlink(missing_ok=True)
            raise StackError(f"mosquitto_passwd failed: {out.decode(errors='replace')[-500:]}")
        os.chmod(passwd, 0o600)
        write_private(acl, _ACL)
        return f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}"

    async def start(self) -> None:
        """Start the broker; a port picked for it and taken meanwhile is picked again. Raises
        StackError with the log's tail in the log when it does not come up, or when another live
        process runs a broker in the directory."""
        self._lock.acquire(f"the Mosquitto directory {self.data_dir}")
        try:
            await self._stop_leftover()
            self.port = take_port(self.port, self._port_chosen, "mosquitto")
            for attempt in range(1, PORT_ATTEMPTS + 1):
                try:
                    await self._start_once()
                    return
                except StackError:
                    if not (self._port_chosen and attempt < PORT_ATTEMPTS and port_taken(self.log_tail())):
                        raise
                    log.warning("port %d was taken before mosquitto bound it; trying another", self.port)
                    self.port = free_port()
        except BaseException:
            self._lock.release()
            raise

    async def _stop_leftover(self) -> None:
        """Stop a broker left running on our configuration by an earlier process, now gone (we hold
        the lock), named by its pid file: SIGTERM, so it saves its sessions and queued messages.
        Its port becomes ours to reuse if none was remembered. A process that is not a mosquitto
        started with our configuration is never signalled."""
        conf = self.data_dir / "mosquitto.conf"
        lines = read_pid_file(self.data_dir / "mosquitto.pid")
        if lines is None:
            return
        pid = int(lines[0])
        if not leftover_server(pid, "mosquitto", "-c", conf):
            return
        try:
            listener = re.search(r"^listener (\d+)", conf.read_text(errors="replace"), re.MULTILINE)
        except OSError:
            listener = None
        log.warning("mosquitto (pid %d, port %s) of an earlier start is still running in %s; stopping it",
                    pid, listener[1] if listener else "?", self.data_dir)
        if not await terminate(pid, signal.SIGTERM, 30):
            raise StackError(f"the leftover mosquitto (pid {pid}) in {self.data_dir} did not exit on SIGTERM")
        if self._port_chosen and not self._port_remembered and listener:
            self.port = int(listener[1])

    async def _start_once(self) -> None:
        binary = find_binary("mosquitto", "/usr/sbin/mosquitto")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)  # its log and database name every client; the server runs as us
        conf = self.data_dir / "mosquitto.conf"
        # As root, Mosquitto would switch to the 'mosquitto' user and lose access to our files.
        user_line = "user root" if os.geteuid() == 0 else ""
        auth = await self._write_auth()
        write_private(conf, _CONFIG.format(
            port=self.port, data_dir=self.data_dir, auth=auth, user_line=user_line,
            autosave_interval=AUTOSAVE_INTERVAL, autosave_on_changes=str(AUTOSAVE_ON_CHANGES).lower(),
            max_packet_size=MAX_PACKET_SIZE))
        death = parent_death_prefix(signal.SIGTERM) if self.die_with_parent else []
        self._proc = await asyncio.create_subprocess_exec(
            *death, binary, "-c", str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await wait_for_port(self.port, self._proc, 15, "mosquitto")
        except StackError:
            log.error("mosquitto log:\n%s", self.log_tail())
            await self._stop_server(signal.SIGKILL, 5)  # not left running behind a failed start
            raise
        log.info("mosquitto listening on %s (data in %s)", self.url, self.data_dir)

    async def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistence file on SIGTERM."""
        await self._stop_server(signal.SIGTERM, 15)
        self._lock.release()

    async def kill(self) -> None:
        await self._stop_server(signal.SIGKILL, 5)
        self._lock.release()

    async def _stop_server(self, sig: signal.Signals, timeout: float) -> None:
        if self._proc is not None:
            await stop_process(self._proc, sig, timeout)
            self._proc = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def log_tail(self, lines: int = 30) -> str:
        path = self.data_dir / "mosquitto.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
