"""Run a service's main coroutine until SIGINT/SIGTERM, then let it clean up."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("SEMON_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run(main: Callable[[], Awaitable[T]]) -> T | None:
    """``asyncio.run`` with uvloop where available and a clean stop on SIGINT/SIGTERM."""

    async def guarded() -> T | None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await main()
        except asyncio.CancelledError:
            logging.getLogger(__name__).info("stopped")
            return None

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(guarded())
    return uvloop.run(guarded())
