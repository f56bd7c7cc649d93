"""The rescue KPIs the city publishes (response, arrival, on-site rescue), per maintenance unit or
per district, over the incidents raised in a time window. One SQL query; seconds as numbers.

Response is acknowledged − raised, arrival on_site − dispatched, rescue released − on_site. An
incident contributes to each mean and median only once it has both ends, so a rescue in progress
counts among the incidents but not yet in the times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from psycopg import AsyncConnection, sql


class KpiGrouping(StrEnum):
    DISTRICT = "district"
    MAINTENANCE_UNIT = "maintenance_unit"


_GROUP_COLUMN: dict[KpiGrouping, str] = {
    KpiGrouping.DISTRICT: "district_code",
    KpiGrouping.MAINTENANCE_UNIT: "maintenance_unit",
}


@dataclass(frozen=True, slots=True)
class RescueKpis:
    key: str | None  # the district code or maintenance unit; None: unknown district, or never dispatched
    incidents: int
    false_alarms: int
    response_mean_s: float | None
    response_median_s: float | None
    arrival_mean_s: float | None
    arrival_median_s: float | None
    rescue_mean_s: float | None
    rescue_median_s: float | None
    late_acks: int
    late_arrivals: int
    escalations: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_QUERY = """
WITH t AS (
    SELECT {key} AS key, state, ack_late, arrival_late, escalated_at,
           extract(epoch FROM acknowledged_at - raised_at)::float8 AS response_s,
           extract(epoch FROM on_site_at - dispatched_at)::float8 AS arrival_s,
           extract(epoch FROM released_at - on_site_at)::float8 AS rescue_s
    FROM incidents
    WHERE raised_at >= %(since)s AND raised_at < %(until)s
)
SELECT key,
       count(*),
       count(*) FILTER (WHERE state = 'false_alarm'),
       avg(response_s), percentile_cont(0.5) WITHIN GROUP (ORDER BY response_s),
       avg(arrival_s), percentile_cont(0.5) WITHIN GROUP (ORDER BY arrival_s),
       avg(rescue_s), percentile_cont(0.5) WITHIN GROUP (ORDER BY rescue_s),
       count(*) FILTER (WHERE ack_late),
       count(*) FILTER (WHERE arrival_late),
       count(*) FILTER (WHERE escalated_at IS NOT NULL)
FROM t
GROUP BY key
ORDER BY key NULLS LAST
"""


async def rescue_kpis(conn: AsyncConnection, by: KpiGrouping, since: datetime, until: datetime) -> list[RescueKpis]:
    """One row per group with incidents raised in [since, until)."""
    query = sql.SQL(_QUERY).format(key=sql.Identifier(_GROUP_COLUMN[by]))
    cur = await conn.execute(query, {"since": since, "until": until})
    return [RescueKpis(*row) for row in await cur.fetchall()]
