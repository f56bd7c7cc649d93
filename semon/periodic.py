"""Periodic work with one policy, for every loop of semon that does something every so often
(a deadline check, a notice scan, a rate snapshot, a retention pass, a re-read of the register).

The policy, the same for all:

- **An outage** (the database or the network away: ``psycopg.OperationalError``, which the
  pool's timeout is one of, ``OSError``, ``TimeoutError``) logs a warning with the error and
  retries after a backoff (``semon.backoff``: doubling from its initial delay up to its
  maximum, jittered), whatever the interval: a 1 s check does not hammer a database that is
  down, an hourly one does not wait an hour for one that is back.
- **Any other error** logs its traceback (a bug, a schema mismatch, a row nobody expected) and
  backs off the same way: the loop never ends while its process runs.
- **Recovery** after failures logs once, at info, with how many passes failed.
- **An overrun** (a pass that took longer than the interval) logs a warning: the work no
  longer fits its schedule.

Passes do not overlap: the next starts ``interval_s`` after the previous one ended.
Cancellation passes through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn

import psycopg

from semon.backoff import Backoff

OUTAGES: tuple[type[BaseException], ...] = (psycopg.OperationalError, OSError, TimeoutError)
"""What an unavailable database or network raises: warned about, not tracebacked."""


async def every(name: str, interval_s: float, work: Callable[[], Awaitable[object]], *,
                log: logging.Logger, backoff: Backoff | None = None, first_after_s: float = 0.0) -> NoReturn:
    """Run ``work`` after ``first_after_s`` seconds, then ``interval_s`` seconds after each pass
    ends, until cancelled, with the policy above. ``name`` says what the work is in the log
    ("deadline check"); ``backoff`` defaults to 1 s doubling up to 60 s. Never returns."""
    backoff = backoff or Backoff(1.0, 60.0)
    failed = 0
    if first_after_s > 0:
        await asyncio.sleep(first_after_s)
    while True:
        started = time.monotonic()
        try:
            await work()
        except Exception as exc:
            failed += 1
            delay = backoff.next_delay()
            if isinstance(exc, OUTAGES):
                log.warning("%s: unavailable (%s: %s); retrying in %.1f s", name, type(exc).__name__, exc, delay)
            else:
                log.exception("%s failed; retrying in %.1f s", name, delay)
            await asyncio.sleep(delay)
            continue
        took = time.monotonic() - started
        if failed:
            log.info("%s: working again after %d failed pass(es)", name, failed)
            failed = 0
            backoff.reset()
        if took > interval_s:
            log.warning("%s took %.1f s, longer than its interval of %.1f s", name, took, interval_s)
        await asyncio.sleep(interval_s)
