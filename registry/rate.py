"""The inspection rate (定检率) exactly as city statistics compute it:

    rate = (1 − overdue / in use) × 100 %

where "in use" leaves out stopped (停用) and scrapped (报废) units and "overdue" is in use with
its next due date before today. Reported for the city and by category, district and agency,
in one pass over the register; a daily snapshot keeps the trend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NoReturn

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from registry.due import inspection_rate
from semon.backoff import Backoff
from semon.periodic import every
from semon.today import DEFAULT_ZONE, Clock, register_today, utc_now

log = logging.getLogger(__name__)

TARGET_PERCENT = 96.0  # the plan's target for 2025 (from 90 % in 2020)
DIMENSIONS = ("city", "category", "district", "agency")


@dataclass(frozen=True, slots=True)
class RateRow:
    dimension: str  # city | category | district | agency
    key: str
    in_use: int
    overdue: int

    @property
    def rate(self) -> float | None:
        return inspection_rate(self.in_use, self.overdue)

    def as_json(self) -> dict[str, Any]:
        rate = self.rate
        return {"dimension": self.dimension, "key": self.key, "in_use": self.in_use, "overdue": self.overdue,
                "rate": round(rate, 2) if rate is not None else None,
                "meets_target": rate is not None and rate >= TARGET_PERCENT}


_RATE_SQL = """
SELECT CASE WHEN GROUPING(e.category) = 0 THEN 'category'
            WHEN GROUPING(e.district_code) = 0 THEN 'district'
            WHEN GROUPING(a.code) = 0 THEN 'agency'
            ELSE 'city' END AS dimension,
       COALESCE(e.category, e.district_code, a.code, 'all') AS key,
       count(*) AS in_use,
       count(*) FILTER (WHERE e.next_due < %(today)s) AS overdue
FROM equipment e LEFT JOIN parties a ON a.id = e.agency_id
WHERE e.status = 'in_use'
GROUP BY GROUPING SETS ((), (e.category), (e.district_code), (a.code))
"""


async def compute_rates(conn: AsyncConnection, today: date) -> list[RateRow]:
    cur = await conn.execute(_RATE_SQL, {"today": today})
    rows = [RateRow(str(d), str(k) if k is not None else "none", int(n), int(o)) for d, k, n, o in await cur.fetchall()]
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    return sorted(rows, key=lambda r: (order[r.dimension], r.key))


async def snapshot_rates(conn: AsyncConnection, day: date) -> list[RateRow]:
    """Compute and keep the day's rates (a later run the same day replaces them)."""
    rows = await compute_rates(conn, day)
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO rate_snapshots (day, dimension, key, in_use, overdue) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (day, dimension, key) DO UPDATE SET in_use = excluded.in_use, overdue = excluded.overdue""",
            [(day, r.dimension, r.key, r.in_use, r.overdue) for r in rows])
    return rows


async def trend(conn: AsyncConnection, dimension: str, since: date, until: date) -> dict[str, list[tuple[date, float]]]:
    """The kept daily rates of each key of ``dimension``, oldest first."""
    cur = await conn.execute(
        """SELECT key, day, in_use, overdue FROM rate_snapshots
           WHERE dimension = %s AND day >= %s AND day <= %s ORDER BY key, day""", (dimension, since, until))
    series: dict[str, list[tuple[date, float]]] = {}
    for key, day, in_use, overdue in await cur.fetchall():
        rate = inspection_rate(int(in_use), int(overdue))
        if rate is not None:
            series.setdefault(str(key), []).append((day, rate))
    return series


def days_back(today: date, days: int) -> date:
    return today - timedelta(days=days)


async def run_snapshots(pool: AsyncConnectionPool, interval_s: float = 3600.0, *, backoff: Backoff,
                        tz: str = DEFAULT_ZONE, clock: Clock = utc_now) -> NoReturn:
    """Keep today's rates (today in ``tz``, the register's zone) as the day's snapshot, refreshed
    every ``interval_s`` (the last run of a day stands for it), failures by ``semon.periodic`` with
    ``backoff``."""
    async def snapshot() -> None:
        async with pool.connection() as conn:
            await snapshot_rates(conn, register_today(tz, clock=clock))

    await every("inspection-rate snapshot", interval_s, snapshot, log=log, backoff=backoff)
