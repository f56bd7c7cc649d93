"""WHERE clauses for the list queries: equality on the given columns and a window on raised_at."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import sql


def where_clause(equal: Iterable[tuple[str, object | None]], since: datetime | None, until: datetime | None,
                 extra: Iterable[sql.Composable] = ()) -> tuple[sql.Composable, list[Any]]:
    """``WHERE …`` (or nothing) and its parameters; None values are left out."""
    where: list[sql.Composable] = list(extra)
    params: list[Any] = []
    for column, value in equal:
        if value is not None:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(str(value))
    if since is not None:
        where.append(sql.SQL("raised_at >= %s"))
        params.append(since)
    if until is not None:
        where.append(sql.SQL("raised_at < %s"))
        params.append(until)
    if not where:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where), params
