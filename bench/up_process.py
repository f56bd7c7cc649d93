"""A whole ``semon up`` in a process of its own, on a private data directory: for benchmarks and
browser tests that must measure or drive the system as users run it.

It lives with the benchmarks, not in the kernel: it starts the composition root's command, and
the kernel knows nothing above it, not even at run time. It runs the command as a user would and
imports nothing of ``assembly``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

BANNER_END = b"Ctrl-C stops everything.\n"


@contextlib.asynccontextmanager
async def semon_up_process(settings: dict[str, str], *, prefix: str = "semon-up-", start_timeout: float = 120.0,
                           args: Sequence[str] = ()) -> AsyncIterator[dict[str, Any]]:
    """Start it with these ``SEMON_*`` settings (the caller's own are not inherited) and ``args``
    after ``semon up`` (``("--cluster", "3", "--workers", "2")``); yield what it published in
    ``running.json`` once it is up; stop it with Ctrl-C and remove its data."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    os.chmod(root, 0o755)  # as root, PostgreSQL runs as 'postgres' and must reach it
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    env.update({"SEMON_DATA_DIR": str(root), **settings})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "up", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(start_timeout):
            await proc.stdout.readuntil(BANNER_END)
        state: dict[str, Any] = json.loads((root / "running.json").read_text())
        yield state
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(60):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(root, ignore_errors=True)
