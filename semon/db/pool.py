"""The shared psycopg connection pool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# psycopg_pool waits 30 s by default: an outage would be noticed (warned, backed off) half a
# minute late, and a checkpoint or an alarm write would sit that long before its retry.
POOL_WAIT_S = 5.0


def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 8,
    name: str = "semon",
    configure: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    timeout_s: float = POOL_WAIT_S,
) -> AsyncConnectionPool:
    """An unopened pool: use it as ``async with open_pool(url) as pool``.

    ``check`` validates a connection before handing it out, so a restarted database costs one
    failed attempt rather than a burst of errors from stale connections. ``timeout_s``: how long
    ``pool.connection()`` waits for a connection before ``PoolTimeout`` (an outage, to
    ``semon.db.errors``), unless the caller gives its own.
    """
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        configure=configure,
        check=AsyncConnectionPool.check_connection,
        kwargs={"application_name": name},
        timeout=timeout_s,
        reconnect_timeout=0,  # keep trying for ever; callers retry their work (semon.periodic)
    )
