"""Periodic and retried work with one policy, for every loop of semon that does something every
so often (a deadline check, a notice scan, a rate snapshot, a retention pass, a re-read of the
register, a checkpoint), that retries one piece of work until it is done (a migration, a batch
to commit, an alarm change to write), or that keeps a connection up (the broker's sessions, the
database's LISTEN connections): written once here, so that every loop fails, backs off and
recovers the same way, and reads the same in the log.

The policy, the same for all (``Failures``):

- **An outage** (the broker, the database or the network away: ``OUTAGES``) logs a warning
  with the error and retries after a backoff (``semon.backoff``: doubling from its initial
  delay up to its maximum, jittered), whatever the interval: a 1 s check does not hammer a
  database that is down, an hourly one does not wait an hour for one that is back.
- **Any other error** logs its traceback (a bug, a schema mismatch, a row nobody expected) and
  backs off the same way: the loop never ends while its process runs.
- **Recovery** after failures logs once, at info, with how many tries failed.
- **An overrun** (a periodic pass that took longer than its interval) logs a warning: the work
  no longer fits its schedule.

The shapes:

- ``every``: a pass every interval (or sooner, when woken), passes never overlapping.
- ``until_done``: one piece of work tried until it succeeds; an error the caller says is not
  worth retrying (a refusal of the data) is raised to it at once.
- ``keep_connected``: a connection made, used until it is lost, and made again, for as long
  as the task runs. The only reconnect loop of semon: the broker's sessions
  (``semon.mqtt.session``) and the LISTEN connections use it; the pool's own connections are
  the pool's (psycopg_pool reconnects them), their users retry their work with the shapes
  above.

Cancellation always passes through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import psycopg

from semon.backoff import Backoff
from semon.mqtt.client import MqttError

T = TypeVar("T")

OUTAGES: tuple[type[BaseException], ...] = (psycopg.OperationalError, MqttError, OSError, TimeoutError)
"""What an unavailable broker, database or network raises (``psycopg_pool.PoolTimeout`` is an
``OperationalError``; the MQTT client's errors all derive from ``MqttError``): warned about,
not tracebacked."""


def _default_backoff() -> Backoff:
    return Backoff(1.0, 60.0)


class Failures:
    """The policy's state for one loop: the failures since the last success and the backoff.

    ``name`` says what the work is in the log ("deadline check"); ``backoff`` defaults to 1 s
    doubling up to 60 s; the services pass theirs from the settings (``backoff_initial_s``,
    ``backoff_max_s``)."""

    def __init__(self, name: str, *, log: logging.Logger, backoff: Backoff | None = None) -> None:
        self.name = name
        self.log = log
        self.backoff = backoff or _default_backoff()
        self.count = 0

    async def failed(self, exc: BaseException) -> None:
        """Log ``exc`` by the policy (an outage: a warning; anything else: an error with its
        traceback) and sleep the backoff's next delay."""
        self.count += 1
        delay = self.backoff.next_delay()
        if isinstance(exc, OUTAGES):
            self.log.warning("%s: unavailable (%s: %s); retrying in %.1f s", self.name, type(exc).__name__,
                             exc, delay)
        else:
            self.log.error("%s failed; retrying in %.1f s", self.name, delay, exc_info=exc)
        await asyncio.sleep(delay)

    def succeeded(self) -> None:
        """After a success: recovery logged once (if anything had failed), the backoff anew."""
        if self.count:
            self.log.info("%s: working again after %d failure(s)", self.name, self.count)
            self.count = 0
            self.backoff.reset()


async def every(name: str, interval_s: float, work: Callable[[], Awaitable[object]], *,
                log: logging.Logger, backoff: Backoff | None = None, first_after_s: float = 0.0,
                wake: asyncio.Event | None = None) -> NoReturn:
    """Run ``work`` after ``first_after_s`` seconds, then ``interval_s`` seconds after each pass
    ends (or as soon as ``wake`` is set, which the next pass clears before it starts), until
    cancelled, with the policy above. Never returns."""
    failures = Failures(name, log=log, backoff=backoff)
    if first_after_s > 0:
        await asyncio.sleep(first_after_s)
    while True:
        if wake is not None:
            wake.clear()
        started = time.monotonic()
        try:
            await work()
        except Exception as exc:
            await failures.failed(exc)
            continue
        took = time.monotonic() - started
        failures.succeeded()
        if took > interval_s:
            log.warning("%s took %.1f s, longer than its interval of %.1f s", name, took, interval_s)
        if wake is None:
            await asyncio.sleep(interval_s)
        elif not wake.is_set():
            try:
                async with asyncio.timeout(interval_s):
                    await wake.wait()
            except TimeoutError:
                pass


def _always(_exc: Exception) -> bool:
    return True


async def until_done(name: str, work: Callable[[], Awaitable[T]], *, log: logging.Logger,
                     backoff: Backoff | Failures | None = None,
                     retry: Callable[[Exception], bool] = _always) -> T:
    """``await work()`` until it returns, and return what it returned; each failure by the
    policy above. An error for which ``retry(exc)`` is false (a refusal that would come back on
    every try) is raised at once, unlogged. ``backoff`` may be a ``Failures`` kept by the caller
    across calls (a writer's, so that one outage is one run of growing delays and one recovery
    message, however many batches wait it out)."""
    failures = backoff if isinstance(backoff, Failures) else Failures(name, log=log, backoff=backoff)
    while True:
        try:
            result = await work()
        except Exception as exc:
            if not retry(exc):
                raise
            await failures.failed(exc)
            continue
        failures.succeeded()
        return result


class ConnectionEnded(ConnectionError):
    """What ``keep_connected`` logs when a connection's work returned: the connection was
    closed without an error (the peer went away in order)."""


async def keep_connected(name: str, serve: Callable[[Callable[[], None]], Awaitable[object]], *,
                         log: logging.Logger, backoff: Backoff | None = None) -> NoReturn:
    """Keep a connection up until cancelled. ``serve(working)`` makes the connection, calls
    ``working()`` once it is in place and doing its work, and uses it until it is lost (raises)
    or closed (returns). Every end is a failure by the policy above (a lost connection is an
    outage: a warning), followed by the backoff's next delay; ``working()`` logs the recovery
    and resets the backoff, so a connection lost after it worked is made again after the
    shortest delay, and one that cannot be made is tried ever more slowly. Never returns."""
    failures = Failures(name, log=log, backoff=backoff)
    while True:
        try:
            await serve(failures.succeeded)
        except Exception as exc:
            await failures.failed(exc)
        else:
            await failures.failed(ConnectionEnded("the connection ended"))
