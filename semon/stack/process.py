"""Shared helpers for the private servers of the local stack."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


class StackError(Exception):
    """A private server could not be set up or started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be listened on now (as the servers bind it: with
    SO_REUSEADDR, so connections of an earlier server still in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


PORT_ATTEMPTS = 3  # a port picked by free_port() can be taken before the server binds it


def port_taken(log_tail: str) -> bool:
    """Whether a server's log says its port was taken by someone else (the race after free_port)."""
    return "Address already in use" in log_tail


def find_binary(name: str, *candidates: str) -> str:
    for path in (*candidates, shutil.which(name)):
        if path and os.access(path, os.X_OK):
            return path
    raise StackError(f"{name} not found; run bin/setup to install it")


def service_user(name: str) -> pwd.struct_passwd | None:
    """The unprivileged account to run a server as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise StackError(f"running as root needs the system user {name!r} to run the server") from None


def reachable_by_others(path: Path) -> bool:
    """Whether every parent directory lets another user through (o+x)."""
    return all(os.stat(parent).st_mode & 0o001 for parent in path.resolve().parents if parent.exists())


def chown_tree(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


async def wait_for_port(port: int, proc: asyncio.subprocess.Process, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if proc.returncode is not None:
            raise StackError(f"{what} exited with status {proc.returncode} while starting")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise StackError(f"{what} did not open port {port} within {timeout:.0f}s") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def stop_process(proc: asyncio.subprocess.Process, sig: int, timeout: float) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(sig)
    try:
        async with asyncio.timeout(timeout):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by its owner only (mode 0600).

    The file is written beside its final name and renamed over it, so a reader never sees a
    partial file and an existing file with a wider mode is replaced, not reused.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def load_secrets(path: Path, names: Iterable[str]) -> dict[str, str]:
    """The secret for each name, kept in the JSON file ``path`` (mode 0600).

    A name without a secret gets a new one from :mod:`secrets` (24 random bytes, URL-safe, so it
    needs no percent-encoding in a URL) and the file is rewritten; existing secrets are reused.
    Raises :class:`StackError` if the file exists but is not a JSON object of strings.
    """
    stored: dict[str, str] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StackError(f"{path}: unreadable secrets file ({exc}); remove it to generate new ones") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) and v for v in data.values()):
            raise StackError(f"{path}: not a JSON object of secrets; remove it to generate new ones")
        stored = data
    missing = [name for name in names if name not in stored]
    for name in missing:
        stored[name] = secrets.token_urlsafe(24)
    if missing or not path.exists() or (path.stat().st_mode & 0o077):
        write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored


def parent_death_option(sig: signal.Signals) -> str | None:
    """setpriv's option that has the command it runs get ``sig`` when we die, even by SIGKILL.

    setpriv execs the command in place, so the server stays our child. The setting is made after
    setpriv's own change of user (the kernel clears it at a change of credentials, so a
    ``preexec_fn`` would not survive dropping to 'postgres'). The kernel sends it when the
    *thread* that started the child ends: only children of the main thread get it. ``None`` off
    the main thread or without setpriv; a leftover server is then stopped at the next start.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        find_binary("setpriv", "/usr/bin/setpriv")
    except StackError:
        return None
    return f"--pdeathsig={sig.name}"


def parent_death_prefix(sig: signal.Signals) -> list[str]:
    """``setpriv --pdeathsig=SIG --`` to run a server under (see :func:`parent_death_option`), or nothing."""
    option = parent_death_option(sig)
    return [find_binary("setpriv", "/usr/bin/setpriv"), option, "--"] if option else []


def take_port(port: int, chosen: bool, what: str) -> int:
    """``port`` if it is free or not ours to change (``chosen`` false: the caller's, whose server
    then fails to start, saying so); else a new free port, with a warning naming both."""
    if not chosen or port_free(port):
        return port
    new = free_port()
    log.warning("port %d kept for %s is taken by another process; %s moves to port %d "
                "(clients configured with port %d must change)", port, what, what, new, port)
    return new


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def read_pid_file(path: Path) -> list[str] | None:
    """The lines of a pid file, or ``None`` if there is none or its first line is not a pid."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise StackError(f"{path}: unreadable ({exc})") from None
    return lines if lines and lines[0].strip().isdigit() else None


def leftover_server(pid: int, binary: str, option: str, path: Path) -> bool | None:
    """What process ``pid`` is, named by the pid file of a server of ours.

    ``True``: alive, and its command line is ``binary`` (by its file name) with ``option path``
    (absolute, as our servers are started),
    so it is a server of this directory (ours to stop). ``False``: alive but something else, never
    to be signalled. ``None``: not running (the pid file is stale).
    """
    if pid <= 0 or not _alive(pid):
        return None
    args = _cmdline(pid)
    if not args or Path(args[0]).name != binary:
        return False
    wanted = path.resolve()
    return any(flag == option and Path(value).is_absolute() and Path(value).resolve() == wanted
               for flag, value in itertools.pairwise(args))


async def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` has exited (a pidfd becomes readable then); whether it did in time."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        async with asyncio.timeout(timeout):
            await exited
        return True
    except TimeoutError:
        return not _alive(pid)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


async def terminate(pid: int, sig: signal.Signals, timeout: float) -> bool:
    """Send ``sig`` to ``pid`` and wait for it to exit; whether it did within ``timeout``."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        signal.pidfd_send_signal(pidfd, sig)  # by pidfd: never a process that reused the pid since
    except ProcessLookupError:
        return True
    finally:
        os.close(pidfd)
    return await wait_gone(pid, timeout)


class DirLock:
    """An exclusive lock on a server's directory while a process of ours runs a server in it.

    The kernel releases it when that process ends, even by SIGKILL: so a server found running in
    the directory while we hold the lock is a leftover of a process that is gone, never the server
    of a live one. The lock's file holds the pid of its holder, for the message.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, what: str) -> None:
        """Raises :class:`StackError` naming the holder if another live process holds it."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StackError(f"{what} is in use by another running process (pid {holder}, lock {self.path}); "
                             "stop it first") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def load_ports(path: Path) -> dict[str, int]:
    """The ports kept in the JSON file ``path`` (name → port); none if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s); picking new ports", path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("%s is not a JSON object; picking new ports", path)
        return {}
    return {name: port for name, port in data.items()
            if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536}


def save_ports(path: Path, ports: dict[str, int]) -> None:
    """Keep ``ports`` (name → port) in ``path``, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
