"""Find the rows a database refuses in a batch, and describe database errors in one line.

Which errors are a refusal of the rows and which are retried is the kernel's one rule
(``semon.db.errors``): a refusal (a data exception, a constraint, a program limit, a value the
driver cannot encode) is isolated here, row by row, and the refused rows are dead-lettered;
everything else from the database (an outage, an undefined table) is retried by the writer
with nothing acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import psycopg

from semon.db.errors import is_refusal

T = TypeVar("T")
R = TypeVar("R")


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
