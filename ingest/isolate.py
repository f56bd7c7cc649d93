"""Tell a database that is away from one that refuses a row, and find the refused rows.

Two kinds of failure reach a writer:

- *transient*: the connection is lost, the pool has no connection, the server is shutting
  down, out of resources, or a lock or serialization conflict. Nothing is wrong with the rows:
  wait and try the same work again; nothing is acknowledged meanwhile.
- *refusal*: the server (or the driver, encoding a value) says a row cannot be stored: a data
  exception (SQLSTATE class 22, e.g. a character PostgreSQL cannot hold), an integrity
  constraint (23), a program limit (54). Trying again gives the same answer, so the refused
  rows are found and dead-lettered, and the others are stored.

Any other database error (an undefined table, a permission revoked) is not the rows' fault
either and is treated as transient: retried with backoff and logged, until an operator fixes
it, with nothing acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import psycopg
from psycopg_pool import PoolTimeout

T = TypeVar("T")
R = TypeVar("R")

_REFUSED_CLASSES = frozenset({"22", "23", "54"})


def is_refusal(exc: BaseException) -> bool:
    """True when ``exc`` says the rows themselves cannot be stored (see the module docstring)."""
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:  # raised by the driver, before the server saw the rows
            return isinstance(exc, psycopg.DataError | psycopg.IntegrityError)
        return state[:2] in _REFUSED_CLASSES
    # The driver failed to encode a value (a lone surrogate, an integer beyond int8, ...).
    return isinstance(exc, ValueError | OverflowError)


def is_transient(exc: BaseException) -> bool:
    """True for a database error that another attempt of the same work may overcome."""
    return isinstance(exc, PoolTimeout) or (isinstance(exc, psycopg.Error) and not is_refusal(exc))


def describe(exc: BaseException) -> str:
    """One line for a log or a dead letter: SQLSTATE (when there is one) and the message."""
    state = exc.sqlstate if isinstance(exc, psycopg.Error) else None
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{state}: {text}" if state else f"{type(exc).__name__}: {text}"


async def isolate(items: Sequence[T], attempt: Callable[[Sequence[T]], Awaitable[R]],
                  ) -> tuple[list[R], list[tuple[T, BaseException]]]:
    """Run ``attempt`` (one transaction over the items it is given) on all of ``items``; when
    it raises a refusal, split the part in halves and try each, down to single items.

    Returns the results of the attempts that committed, and each refused item with its error.
    k refused items among n cost at most about 2·k·log2(n) extra attempts, instead of n.
    ``attempt`` retries transient errors itself; any exception that is not a refusal
    propagates, after the parts already committed.
    """
    results: list[R] = []
    refused: list[tuple[T, BaseException]] = []
    parts: list[Sequence[T]] = [items] if items else []
    while parts:
        part = parts.pop()
        try:
            results.append(await attempt(part))
        except Exception as exc:
            if not is_refusal(exc):
                raise
            if len(part) == 1:
                refused.append((part[0], exc))
            else:
                middle = len(part) // 2
                parts.append(part[middle:])
                parts.append(part[:middle])  # popped first: items keep their order
    return results, refused
