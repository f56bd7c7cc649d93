"""Shared helpers for the private servers of the local stack."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import secrets
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path


class StackError(Exception):
    """A private server could not be set up or started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
        await asyncio.wait_for(proc.wait(), timeout)
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
