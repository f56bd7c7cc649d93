"""Run a service's main coroutine until SIGINT/SIGTERM, then let it clean up; the processes'
logging, with psycopg_pool's warnings during an outage brought down to a few lines."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POOL_LOGGER = "psycopg.pool"


class RepeatedWarnings(logging.Filter):
    """Lets a warning through once per ``every_s`` seconds for each of its message templates
    (``record.msg``, before its arguments), the next one through saying how many were held
    back; each on one line. Errors and everything below a warning pass untouched.

    For psycopg_pool, which warns on every connection attempt while the database is away
    ("error connecting in 'semon-alerts': connection failed: …", several lines each), in every
    pool of every process: hundreds of lines for a one-minute outage, on top of the one
    warning that ``semon.periodic`` logs for each loop waiting it out. Throttled rather than
    silenced, so that a real problem of the pool is still seen: its first warning of each kind
    at once (a pool giving up reconnecting, a broken connection discarded, "error connecting"
    when it starts), and a reminder each ``every_s`` while it goes on."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s = every_s
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # template: (when let through, held since)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        template, now = str(record.msg), self._clock()
        last = self._last.get(template)
        if last is not None and now - last[0] < self.every_s:
            self._last[template] = (last[0], last[1] + 1)
            return False
        held = f" ({last[1]} more like it in the last {now - last[0]:.0f} s)" if last and last[1] else ""
        self._last[template] = (now, 0)
        record.msg, record.args = " ".join(record.getMessage().split()) + held, None
        return True


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("SEMON_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # psycopg_pool warns on every attempt to connect while the database is away: throttled
    # (not silenced: a real pool problem still shows, see RepeatedWarnings).
    logging.getLogger(POOL_LOGGER).addFilter(RepeatedWarnings())


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
