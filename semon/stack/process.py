"""Shared helpers for the private servers of the local stack."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
from pathlib import Path


class StackError(Exception):
    """A private server could not be set up or started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
