"""The inspection rate (定检率), by one of two formulas (``RegistrySettings.rate_formula``).

Which units count, for a day D (the register's local date):

- *in use*: status in use (在用) and not exempt. Stopped (停用) and scrapped (报废) units are left
  out, and so are exempt units (``equipment.exempt``: no periodic inspection at all, never
  overdue), which each row reports as ``exempt``.
- *overdue*: in use with a next due date before D.
- *no due date*: in use with no next due date at all (no inspection or commissioning date known,
  or no schedule that falls due). They stay in "in use" and are not overdue; each row reports
  them as ``no_due_date``, so that a register with gaps is seen.

The formulas:

- ``not_overdue`` (default), as a city's published statistic computes it:
  rate = (1 − overdue / in use) × 100 %.
- ``passed_over_due``, inspected-and-passed over due, as some cities publish it:
  *due* on D = the units in use that are overdue on D, together with those whose statutory
  inspection (any schedule but the elevator's self-test, 自行检测, which is no statutory
  inspection: TSG T7008-2023) was done in D's calendar year up to D; *passed* = those among
  them whose latest such inspection in that year passed (pass or conditional; of two on its
  day, a fail counts as the later) and that are not overdue on D;
  rate = passed / due × 100 %. Only inspections recorded in the register count (an import's
  last-inspection date carries no result).

Either is reported for the city and by category, district and agency, in one pass over the
register; a daily snapshot keeps the figures the trend needs under the formula it was taken with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, NoReturn

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from registry.due import SELF_TEST
from semon.backoff import Backoff
from semon.periodic import every
from semon.today import DEFAULT_ZONE, Clock, register_today, utc_now

log = logging.getLogger(__name__)

TARGET_PERCENT = 96.0  # the plan's target for 2025 (from 90 % in 2020)
DIMENSIONS = ("city", "category", "district", "agency")


class Formula(StrEnum):
    NOT_OVERDUE = "not_overdue"  # (1 − overdue / in use) × 100
    PASSED_OVER_DUE = "passed_over_due"  # passed / due × 100


def rate_percent(formula: Formula, *, in_use: int, overdue: int, due: int | None = None,
                 passed: int | None = None) -> float | None:
    """The rate in percent under ``formula`` (see the module), or None where it has no
    denominator: nothing in use (not_overdue), nothing due or not counted (passed_over_due)."""
    if formula is Formula.NOT_OVERDUE:
        return (1 - overdue / in_use) * 100 if in_use > 0 else None
    if due is None or passed is None or due <= 0:
        return None
    return passed / due * 100


@dataclass(frozen=True, slots=True)
class RateRow:
    """One group's figures on a day: ``in_use`` (not exempt), ``overdue``, ``no_due_date``,
    ``exempt`` (in use, left out of ``in_use``); ``due`` and ``passed`` under
    ``passed_over_due`` only (None under ``not_overdue``, which does not compute them)."""

    dimension: str  # city | category | district | agency
    key: str
    in_use: int
    overdue: int
    no_due_date: int = 0
    exempt: int = 0
    formula: Formula = Formula.NOT_OVERDUE
    due: int | None = None
    passed: int | None = None

    @property
    def rate(self) -> float | None:
        return rate_percent(self.formula, in_use=self.in_use, overdue=self.overdue, due=self.due,
                            passed=self.passed)

    def as_json(self) -> dict[str, Any]:
        rate = self.rate
        return {"dimension": self.dimension, "key": self.key, "formula": str(self.formula),
                "in_use": self.in_use, "overdue": self.overdue, "no_due_date": self.no_due_date,
                "exempt": self.exempt, "due": self.due, "passed": self.passed,
                "rate": round(rate, 2) if rate is not None else None,
                "meets_target": rate is not None and rate >= TARGET_PERCENT}


# The latest statutory inspection of each unit in D's year up to D (passed_over_due only).
_INSPECTED = f"""
inspected AS (
    SELECT DISTINCT ON (i.registration_code) i.registration_code, i.result IN ('pass', 'conditional') AS passed
    FROM inspections i
    WHERE i.schedule <> '{SELF_TEST}' AND i.inspected_on >= %(year_start)s AND i.inspected_on <= %(today)s
    ORDER BY i.registration_code, i.inspected_on DESC, i.result = 'fail' DESC, i.id DESC
),"""
_DUE_PASSED = """
           count(*) FILTER (WHERE NOT e.exempt AND (e.next_due < %(today)s OR i.registration_code IS NOT NULL)) AS due,
           count(*) FILTER (WHERE NOT e.exempt AND i.passed AND e.fit_for_use
                                  AND NOT coalesce(e.next_due < %(today)s, false)) AS passed
    FROM equipment e LEFT JOIN inspected i USING (registration_code)"""
_NO_DUE_PASSED = """
           NULL::bigint AS due, NULL::bigint AS passed
    FROM equipment e"""

# Counted first by (category, district, agency) in one pass over the units in use (a few hundred
# groups), then rolled up into the city and each dimension.
_RATE_SQL = """
WITH {inspected}
units AS (
    SELECT e.category, e.district_code, e.agency_id,
           count(*) FILTER (WHERE NOT e.exempt) AS in_use,
           count(*) FILTER (WHERE NOT e.exempt AND e.next_due < %(today)s) AS overdue,
           count(*) FILTER (WHERE NOT e.exempt AND e.next_due IS NULL) AS no_due_date,
           count(*) FILTER (WHERE e.exempt) AS exempt,{due_passed}
    WHERE e.status = 'in_use'
    GROUP BY e.category, e.district_code, e.agency_id
)
SELECT CASE WHEN GROUPING(u.category) = 0 THEN 'category'
            WHEN GROUPING(u.district_code) = 0 THEN 'district'
            WHEN GROUPING(a.code) = 0 THEN 'agency'
            ELSE 'city' END AS dimension,
       CASE WHEN GROUPING(u.category) = 0 THEN u.category
            WHEN GROUPING(u.district_code) = 0 THEN u.district_code
            WHEN GROUPING(a.code) = 0 THEN coalesce(a.code, 'none')
            ELSE 'all' END AS key,
       coalesce(sum(u.in_use), 0), coalesce(sum(u.overdue), 0), coalesce(sum(u.no_due_date), 0),
       coalesce(sum(u.exempt), 0), sum(u.due), sum(u.passed)
FROM units u LEFT JOIN parties a ON a.id = u.agency_id
GROUP BY GROUPING SETS ((), (u.category), (u.district_code), (a.code))
"""


def _rate_sql(formula: Formula) -> str:
    if formula is Formula.PASSED_OVER_DUE:
        return _RATE_SQL.format(inspected=_INSPECTED, due_passed=_DUE_PASSED)
    return _RATE_SQL.format(inspected="", due_passed=_NO_DUE_PASSED)


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


async def compute_rates(conn: AsyncConnection, today: date,
                        formula: Formula = Formula.NOT_OVERDUE) -> list[RateRow]:
    """The rate on ``today`` under ``formula``: the city's row first (also of an empty register,
    with no rate), then each category, district and agency (``none``: units without one), each by
    key."""
    cur = await conn.execute(_rate_sql(formula), {"today": today, "year_start": date(today.year, 1, 1)})
    counted = formula is Formula.PASSED_OVER_DUE  # due and passed: 0 of nothing, None when not computed
    rows = [RateRow(str(d), str(k), int(n), int(o), int(nd), int(x), formula,
                    int(due or 0) if counted else None, int(passed or 0) if counted else None)
            for d, k, n, o, nd, x, due, passed in await cur.fetchall()]
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    return sorted(rows, key=lambda r: (order[r.dimension], r.key))


async def snapshot_rates(conn: AsyncConnection, day: date,
                         formula: Formula = Formula.NOT_OVERDUE) -> list[RateRow]:
    """Compute and keep the day's rates (a later run the same day replaces them, formula and all)."""
    rows = await compute_rates(conn, day, formula)
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO rate_snapshots (day, dimension, key, in_use, overdue, no_due_date, exempt, due, passed,
                                           formula)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (day, dimension, key) DO UPDATE SET in_use = excluded.in_use, overdue = excluded.overdue,
                 no_due_date = excluded.no_due_date, exempt = excluded.exempt, due = excluded.due,
                 passed = excluded.passed, formula = excluded.formula""",
            [(day, r.dimension, r.key, r.in_use, r.overdue, r.no_due_date, r.exempt, r.due, r.passed, str(r.formula))
             for r in rows])
    return rows


async def trend(conn: AsyncConnection, dimension: str, since: date, until: date,
                formula: Formula = Formula.NOT_OVERDUE) -> dict[str, list[tuple[date, float]]]:
    """The kept daily rates of each key of ``dimension`` under ``formula``, oldest first. Every
    snapshot has what ``not_overdue`` needs; ``passed_over_due`` only those taken under it (a day
    kept under the other formula has no point)."""
    cur = await conn.execute(
        """SELECT key, day, in_use, overdue, due, passed FROM rate_snapshots
           WHERE dimension = %s AND day >= %s AND day <= %s ORDER BY key, day""", (dimension, since, until))
    series: dict[str, list[tuple[date, float]]] = {}
    for key, day, in_use, overdue, due, passed in await cur.fetchall():
        rate = rate_percent(formula, in_use=int(in_use), overdue=int(overdue), due=_count(due),
                            passed=_count(passed))
        if rate is not None:
            series.setdefault(str(key), []).append((day, rate))
    return series


def days_back(today: date, days: int) -> date:
    return today - timedelta(days=days)


async def run_snapshots(pool: AsyncConnectionPool, interval_s: float = 3600.0, *, backoff: Backoff,
                        tz: str = DEFAULT_ZONE, formula: Formula = Formula.NOT_OVERDUE,
                        clock: Clock = utc_now) -> NoReturn:
    """Keep today's rates (today in ``tz``, the register's zone; under ``formula``) as the day's
    snapshot, refreshed every ``interval_s`` (the last run of a day stands for it), failures by
    ``semon.periodic`` with ``backoff``."""
    async def snapshot() -> None:
        async with pool.connection() as conn:
            await snapshot_rates(conn, register_today(tz, clock=clock), formula)

    await every("inspection-rate snapshot", interval_s, snapshot, log=log, backoff=backoff)
