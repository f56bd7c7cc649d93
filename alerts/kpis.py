"""The rescue KPIs the city publishes (response, arrival, on-site rescue, the response rate and
the 30-minute arrival rate of the 96333 centres' monthly reports), per maintenance unit or per
district, over the incidents raised in a reporting period [since, until). One SQL query; seconds
as numbers, rates in percent.

Response is acknowledged − raised, arrival on_site − dispatched, rescue released − on_site. An
incident contributes to each mean and median only once it has both ends, so a rescue in progress
counts among the incidents but not yet in the times.

The response rate: of the dispatched incidents whose response is decided (a response recorded,
or a response deadline missed), those whose rescuers all responded in time (``response_late``
false). The 30-minute arrival rate: of the dispatched incidents that are not false alarms and
were on site or are past 30 minutes from the first dispatch, those on site within 30 minutes
(the published figure's 30 minutes, whatever the area's limit). A rate with nothing to count is
None. Rates are rounded to two decimals by ``alerts.monthly_report.rate_pct``, the monthly
report's own rounding, so the two agree over the same period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from psycopg import AsyncConnection, sql

from alerts.monthly_report import rate_pct


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
    dispatched: int
    late_responses: int
    response_rate_pct: float | None
    arrival_30min_rate_pct: float | None
    tier_2: int  # reached the second tier
    tier_3: int  # reached the fire brigade

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_QUERY = """
WITH t AS (
    SELECT {key} AS key, state, ack_late, arrival_late, escalated_at, response_late, responded_at, tier,
           dispatched_at IS NOT NULL AS dispatched, on_site_at,
           (dispatched_at IS NOT NULL AND state <> 'false_alarm') AS rescue,
           on_site_at - dispatched_at <= make_interval(secs => %(arrival_rate_s)s) AS arrived_in_time,
           dispatched_at + make_interval(secs => %(arrival_rate_s)s) < %(now)s AS past_arrival_rate,
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
       count(*) FILTER (WHERE escalated_at IS NOT NULL),
       count(*) FILTER (WHERE dispatched),
       count(*) FILTER (WHERE response_late),
       count(*) FILTER (WHERE dispatched AND responded_at IS NOT NULL AND NOT response_late),
       count(*) FILTER (WHERE dispatched AND (responded_at IS NOT NULL OR response_late)),
       count(*) FILTER (WHERE rescue AND arrived_in_time),
       count(*) FILTER (WHERE rescue AND (on_site_at IS NOT NULL OR past_arrival_rate)),
       count(*) FILTER (WHERE tier >= 2),
       count(*) FILTER (WHERE tier = 3)
FROM t
GROUP BY key
ORDER BY key NULLS LAST
"""


ARRIVAL_RATE_S = 1800.0
"""The 30-minute arrival rate's 30 minutes (the 96333 centres' published figure)."""


async def rescue_kpis(conn: AsyncConnection, by: KpiGrouping, since: datetime, until: datetime, *,
                      now: datetime | None = None) -> list[RescueKpis]:
    """One row per group with incidents raised in [since, until); ``now`` (default: the clock)
    decides which rescues still without an arrival are past the 30 minutes."""
    query = sql.SQL(_QUERY).format(key=sql.Identifier(_GROUP_COLUMN[by]))
    cur = await conn.execute(query, {"since": since, "until": until, "now": now or datetime.now(UTC),
                                     "arrival_rate_s": ARRIVAL_RATE_S})
    out = []
    for row in await cur.fetchall():
        (key, incidents, false_alarms, response_mean, response_median, arrival_mean, arrival_median, rescue_mean,
         rescue_median, late_acks, late_arrivals, escalations, dispatched, late_responses, responded,
         response_decided, arrived, arrival_counted, tier_2, tier_3) = row
        out.append(RescueKpis(
            key, incidents, false_alarms, response_mean, response_median, arrival_mean, arrival_median, rescue_mean,
            rescue_median, late_acks, late_arrivals, escalations, dispatched, late_responses,
            response_rate_pct=rate_pct(responded, response_decided),
            arrival_30min_rate_pct=rate_pct(arrived, arrival_counted), tier_2=tier_2, tier_3=tier_3))
    return out
