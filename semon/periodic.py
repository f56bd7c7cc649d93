"""Periodic and retried work with one policy, for every loop of semon that does something every
so often (a deadline check, a notice scan, a rate snapshot, a retention pass, a re-read of the
register, a checkpoint), that retries one piece of work until it is done (a migration, a batch
to commit, an alarm change to write), or that keeps a connection up (the broker's sessions, the
database's LISTEN connections): written once here, so that every loop fails, backs off and
recovers the same way, and reads the same in the log.

The policy, the same for all (``Failures``):

- **An outage** (the broker, the database or the network away: ``OUTAGES``) logs one warning
  when it starts, with what is away and the error, and retries after a backoff
  (``semon.backoff``: doubling from its initial delay up to its maximum, jittered), whatever
  the interval: a 1 s check does not hammer a database that is down, an hourly one does not
  wait an hour for one that is back. The retries that fail after it are logged at debug, with
  a warning at most every ``REMIND_AFTER_S`` ("still unavailable after N attempts, since
  HH:MM:SS"): a database away for minutes is a handful of lines per loop, not one per try.
- **Any other error** logs its traceback (a bug, a schema mismatch, a row nobody expected) and
  backs off the same way: the loop never ends while its process runs. The same error again
  (its type and message) is logged like an outage's retries (debug, with a reminder); another
  error, or an outage after it, is logged in full again.
- **Recovery** after failures logs once, at info, with how many tries failed.
- **An overrun** (a periodic pass that worked and took longer than its interval) logs a
  warning: the work no longer fits its schedule. A pass that overlapped an outage of any loop
  of the process (it waited for work that was waiting the outage out, like the rules'
  checkpoint for the alarm writes) is not an overrun: it is logged at debug.

The backoff is always the caller's (the settings' ``BackoffSettings``, handed down by the
composition root): every shape requires it.

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
import weakref
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import psycopg

from semon.backoff import Backoff
from semon.db.errors import is_outage
from semon.mqtt.client import MqttError

T = TypeVar("T")

OUTAGES: tuple[type[BaseException], ...] = (psycopg.OperationalError, MqttError, OSError, TimeoutError)
"""What an unavailable broker, database or network raises (``psycopg_pool.PoolTimeout`` is an
``OperationalError``; the MQTT client's errors all derive from ``MqttError``): warned about,
not tracebacked. A database error is one by ``semon.db.errors.is_outage`` alone (a program
limit exceeded is an ``OperationalError`` too, and a refusal)."""


REMIND_AFTER_S = 60.0
"""While failures go on, the least time between two warnings (or errors) about them."""


class _Outages:
    """The loops of this process now waiting out an outage (weakly held: a loop cancelled in
    an outage drops out with its ``Failures``), and when the last such wait ended."""

    def __init__(self) -> None:
        self.waiting: weakref.WeakSet[Failures] = weakref.WeakSet()
        self.last_end = float("-inf")  # time.monotonic()

    def end(self, failures: Failures) -> None:
        if failures in self.waiting:
            self.waiting.discard(failures)
            self.last_end = time.monotonic()


_outages = _Outages()


def outage_since(started: float, *, besides: Failures | None = None) -> bool:
    """Whether a loop of this process (other than ``besides``) was waiting out an outage at
    some time after ``started`` (``time.monotonic()`` seconds)."""
    return _outages.last_end >= started or any(f is not besides for f in _outages.waiting)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Failures:
    """The policy's state for one loop: the failures since the last success and the backoff.

    ``name`` says what the work is in the log ("deadline check", "MQTT semon-ingest-1 at
    127.0.0.1:1883"); ``backoff`` is the settings' (``BackoffSettings.backoff()``)."""

    def __init__(self, name: str, *, log: logging.Logger, backoff: Backoff) -> None:
        self.name = name
        self.log = log
        self.backoff = backoff
        self.count = 0
        self._kind: str | None = None  # "outage", or the other error (type and message), being failed on
        self._since = 0.0  # wall clock, when this run of failures began
        self._reported_at = 0.0  # monotonic, the last warning or error about it

    async def failed(self, exc: BaseException) -> None:
        """Log ``exc`` by the policy (an outage: a warning when it starts; anything else: an
        error with its traceback; their repeats at debug with a reminder every
        ``REMIND_AFTER_S``) and sleep the backoff's next delay."""
        self.count += 1
        delay = self.backoff.next_delay()
        outage = is_outage(exc) if isinstance(exc, psycopg.Error) else isinstance(exc, OUTAGES)
        kind = "outage" if outage else f"{type(exc).__qualname__}: {exc}"
        now = time.monotonic()
        if self.count == 1:
            self._since = time.time()
        if kind != self._kind:  # it starts, or the failure changed
            self._kind, self._reported_at = kind, now
            if outage:
                self.log.warning("%s: unavailable (%s: %s); retrying in %.1f s", self.name, type(exc).__name__,
                                 _one_line(exc), delay)
            else:
                self.log.error("%s failed; retrying in %.1f s", self.name, delay, exc_info=exc)
        elif now - self._reported_at >= REMIND_AFTER_S:
            self._reported_at = now
            self.log.log(logging.WARNING if outage else logging.ERROR,
                         "%s: still %s after %d attempts, since %s (%s: %s); retrying in %.1f s", self.name,
                         "unavailable" if outage else "failing", self.count,
                         time.strftime("%H:%M:%S", time.localtime(self._since)), type(exc).__name__,
                         _one_line(exc), delay)
        else:
            self.log.debug("%s: %s again (attempt %d; %s: %s); retrying in %.1f s", self.name,
                           "unavailable" if outage else "failed", self.count, type(exc).__name__, _one_line(exc),
                           delay)
        if outage:
            _outages.waiting.add(self)
        else:
            _outages.end(self)
        await asyncio.sleep(delay)

    def succeeded(self) -> None:
        """After a success: recovery logged once (if anything had failed), the backoff anew."""
        if self.count:
            self.log.info("%s: working again after %d failure(s)", self.name, self.count)
            self.count = 0
            self._kind = None
            self.backoff.reset()
            _outages.end(self)


async def every(name: str, interval_s: float, work: Callable[[], Awaitable[object]], *,
                log: logging.Logger, backoff: Backoff, first_after_s: float = 0.0,
                wake: asyncio.Event | None = None) -> NoReturn:
    """Run ``work`` after ``first_after_s`` seconds, then ``interval_s`` seconds after each pass
    ends (or as soon as ``wake`` is set, which the next pass clears before it starts), until
    cancelled, with the policy above. A pass's time is measured from its start to its end,
    sleeps and waits included; it is an overrun only if the pass worked and no outage overlapped
    it (``outage_since``). Never returns."""
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
        if took > interval_s:
            if outage_since(started, besides=failures):
                log.debug("%s took %.1f s, waiting out an outage", name, took)
            else:
                log.warning("%s took %.1f s, longer than its interval of %.1f s", name, took, interval_s)
        failures.succeeded()
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
                     backoff: Backoff | Failures,
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
                         log: logging.Logger, backoff: Backoff) -> NoReturn:
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
