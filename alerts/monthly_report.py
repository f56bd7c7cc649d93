"""The monthly 96333 report (电梯应急处置月报): what a city's emergency centre publishes about a
month of entrapments, computed from the incidents of a period and the register's lifts.

Pure: a function over rows (``report``) → the figures (``MonthlyReport``); the rows come from
``alerts.report_store`` (the incidents) and from a function the composition root hands over (the
register's elevators in use, ``LiftRow``), since alerts does not import the register.

Definitions (the same in docs/reports.md, where each figure's source is named):

- *calls*: phone-reported incidents (``source = 'phone'``), false alarms included.
- *entrapments*: incidents raised in the period that are not false alarms, whatever their source.
- *persons released*, *injuries*: the sums of ``persons_released`` and ``injuries`` recorded at
  closing (entrapments only).
- *30-minute arrival rate*: of the entrapments dispatched (``dispatched_at``) that were on site
  or are past 30 minutes from dispatch at ``now``, those on site (``on_site_at``) at most
  ``arrival_limit_s`` (1,800 s) after dispatch, in percent (the published figure's 30 minutes,
  whatever the area's limit; TSG T5002). None with nothing to count.
- *response rate*: of the incidents dispatched whose response is decided (a response recorded,
  ``responded_at``, or its deadline missed, ``response_late``), those that responded in time, in
  percent. None with nothing to count.

Both rates are those of the rescue KPIs (``alerts.kpis``), so the report and the bureau page's
KPI tables agree over the same period.
- *tier split*: the entrapments by the last tier dispatched (1 maintenance unit, 2 网格救援站,
  3 fire brigade 119; ``none``: never dispatched).
- *causes*: the entrapments by ``cause_class`` (``unrecorded``: not closed yet).
- *places*: the entrapments by the place (使用场所) the register gave the unit (``unknown``).
- *time-of-day slots*: the entrapments by the hour they were raised in the register's zone
  (Asia/Shanghai), in slots of ``slot_hours`` hours from midnight.
- *top ten*: the maintenance units (and owners) of the register with the most entrapments per
  100 of their elevators in use (entrapments ÷ lifts × 100, units with at least one lift and one
  entrapment; ties by entrapments, then name). An entrapment counts for the unit and owner the
  register names for its device today.
- *困人率*: entrapments ÷ elevators in use in the register (per lift, in the period); also per
  100 lifts. None with no lift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from web.i18n import KeyedError
from web.inputs import MAX_YEAR, MIN_YEAR

ARRIVAL_LIMIT_S = 1800.0  # TSG T5002: 30 minutes in a city's urban area
TOP = 10
CAUSES = ("human", "external", "door_system", "control_system", "other")
PLACES = ("residential", "mall", "hospital", "school", "office", "hotel", "transport", "public", "industrial",
          "other")
TIERS = ("1", "2", "3")


class ReportError(KeyedError, ValueError):
    """A period or a slot width the report cannot take (an empty period, a slot that does not
    divide a day); ``key`` and ``params`` name it in ``alerts.messages``."""


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One incident as the report needs it (the columns of migration 0010's ``incidents``)."""

    id: int
    device_id: str
    source: str  # device | phone
    state: str
    raised_at: datetime  # aware
    dispatched_at: datetime | None = None
    responded_at: datetime | None = None
    response_late: bool = False
    on_site_at: datetime | None = None
    tier: int | None = None
    persons_released: int | None = None
    injuries: int | None = None
    cause_class: str | None = None
    self_release: bool | None = None
    place: str | None = None


@dataclass(frozen=True, slots=True)
class LiftRow:
    """An elevator in use in the register: its code, maintenance unit's and owner's names."""

    registration_code: str
    maintenance_unit: str | None
    owner: str | None


@dataclass(frozen=True, slots=True)
class Ranked:
    """One maintenance unit or owner in the top ten."""

    name: str
    entrapments: int
    lifts: int

    @property
    def per_100_lifts(self) -> float:
        return self.entrapments / self.lifts * 100

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "entrapments": self.entrapments, "lifts": self.lifts,
                "per_100_lifts": round(self.per_100_lifts, 2)}


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    """The report's figures over [since, until) (``since``/``until``: the register's local days,
    ``until`` exclusive). Percentages are 0–100, None without a denominator."""

    since: date
    until: date
    timezone: str
    incidents: int
    calls: int
    false_alarms: int
    entrapments: int
    persons_released: int
    injuries: int
    dispatched: int  # entrapments dispatched
    arrived_30min: int
    arrival_counted: int
    responded_in_time: int
    response_counted: int
    arrival_30min_rate_pct: float | None
    response_rate_pct: float | None
    tiers: dict[str, int]
    causes: dict[str, int]
    places: dict[str, int]
    slots: list[tuple[str, int]]  # ("00:00–02:00", n), in order
    lifts: int
    entrapments_per_lift: float | None  # 困人率
    top_units: list[Ranked] = field(default_factory=list)
    top_owners: list[Ranked] = field(default_factory=list)

    @property
    def entrapments_per_100_lifts(self) -> float | None:
        return None if self.entrapments_per_lift is None else self.entrapments_per_lift * 100

    def as_json(self) -> dict[str, Any]:
        per_lift = self.entrapments_per_lift
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "timezone": self.timezone,
            "incidents": self.incidents, "calls": self.calls, "false_alarms": self.false_alarms,
            "entrapments": self.entrapments, "persons_released": self.persons_released, "injuries": self.injuries,
            "dispatched": self.dispatched, "arrived_30min": self.arrived_30min,
            "arrival_counted": self.arrival_counted, "responded_in_time": self.responded_in_time,
            "response_counted": self.response_counted,
            "arrival_30min_rate_pct": self.arrival_30min_rate_pct,
            "response_rate_pct": self.response_rate_pct,
            "tiers": self.tiers, "causes": self.causes, "places": self.places,
            "slots": [{"slot": s, "entrapments": n} for s, n in self.slots],
            "lifts": self.lifts,
            "entrapments_per_lift": None if per_lift is None else round(per_lift, 6),
            "entrapments_per_100_lifts": None if per_lift is None else round(per_lift * 100, 4),
            "top_units": [r.as_json() for r in self.top_units],
            "top_owners": [r.as_json() for r in self.top_owners],
        }


def month_period(month: str) -> tuple[date, date]:
    """``YYYY-MM`` → (its first day, the next month's first day). ReportError when malformed."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError as exc:
        raise ReportError(f"month must be YYYY-MM, not {month[:20]!r}", key="alerts.report_month",
                          params={"month": repr(month[:20])}) from exc
    if not MIN_YEAR <= first.year <= MAX_YEAR:  # every period's years (web.inputs): no overflow at the ends
        raise ReportError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}", key="alerts.report_year",
                          params={"min": MIN_YEAR, "max": MAX_YEAR})
    return first, (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def period_bounds(since: date, until: date, tz: str) -> tuple[datetime, datetime]:
    """The local days [since, until) of zone ``tz`` as aware instants (for the SQL's window)."""
    if since >= until:
        raise ReportError("since must be before until", key="alerts.since_until")
    zone = ZoneInfo(tz)
    return datetime.combine(since, time(), zone), datetime.combine(until, time(), zone)


def _slots(slot_hours: int) -> list[str]:
    if slot_hours < 1 or 24 % slot_hours:
        raise ReportError("slot_hours must divide 24")
    return [f"{h:02d}:00–{h + slot_hours:02d}:00" for h in range(0, 24, slot_hours)]


def rate_pct(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, 0-100 rounded to two decimals (half up, on the exact
    fraction), or None when ``whole`` is 0. The one rounding of every published rate: this report
    and the rescue KPIs (``alerts.kpis``) both use it, so they agree to the last digit."""
    if not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def _ranked(counts: Counter[str], lifts: Counter[str]) -> list[Ranked]:
    rows = [Ranked(name, n, lifts[name]) for name, n in counts.items() if lifts[name] > 0]
    rows.sort(key=lambda r: (-r.per_100_lifts, -r.entrapments, r.name))
    return rows[:TOP]


def report(incidents: Iterable[IncidentRow], lifts: Sequence[LiftRow], *, since: date, until: date, now: datetime,
           tz: str = "Asia/Shanghai", slot_hours: int = 2,
           arrival_limit_s: float = ARRIVAL_LIMIT_S) -> MonthlyReport:
    """The report over the local days [since, until) of ``tz``: ``incidents`` raised in that
    window (others are left out here too), ``lifts`` the register's elevators in use; ``now``
    (aware) decides which rescues still without an arrival are past the 30 minutes. ReportError
    for an empty period or a slot width that does not divide a day."""
    start, end = period_bounds(since, until, tz)
    zone = ZoneInfo(tz)
    labels = _slots(slot_hours)
    by_code = {lift.registration_code: lift for lift in lifts}
    lifts_of_unit = Counter(lift.maintenance_unit for lift in lifts if lift.maintenance_unit)
    lifts_of_owner = Counter(lift.owner for lift in lifts if lift.owner)

    total = calls = false_alarms = released = injuries = dispatched = arrived = counted = 0
    responded = response_counted = 0
    limit = timedelta(seconds=arrival_limit_s)
    tiers: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    places: Counter[str] = Counter()
    slots: Counter[int] = Counter()
    of_unit: Counter[str] = Counter()
    of_owner: Counter[str] = Counter()
    entrapments = 0
    for row in incidents:
        if not start <= row.raised_at < end:
            continue
        total += 1
        calls += row.source == "phone"
        if row.dispatched_at is not None and (row.responded_at is not None or row.response_late):
            response_counted += 1  # decided: a response recorded, or its deadline missed
            responded += row.responded_at is not None and not row.response_late
        if row.state == "false_alarm":
            false_alarms += 1
            continue
        entrapments += 1
        released += row.persons_released or 0
        injuries += row.injuries or 0
        tiers[str(row.tier) if row.tier in (1, 2, 3) else "none"] += 1
        causes[row.cause_class or "unrecorded"] += 1
        places[row.place or "unknown"] += 1
        slots[row.raised_at.astimezone(zone).hour // slot_hours] += 1
        lift = by_code.get(row.device_id)
        if lift is not None and lift.maintenance_unit:
            of_unit[lift.maintenance_unit] += 1
        if lift is not None and lift.owner:
            of_owner[lift.owner] += 1
        if row.dispatched_at is None:
            continue
        dispatched += 1
        if row.on_site_at is not None or row.dispatched_at + limit < now:
            counted += 1
            arrived += row.on_site_at is not None and row.on_site_at - row.dispatched_at <= limit

    def ordered(counts: Counter[str], keys: Sequence[str], rest: str) -> dict[str, int]:
        out = {k: counts.get(k, 0) for k in keys}
        extra = sorted(k for k in counts if k not in out)
        out.update({k: counts[k] for k in extra})
        out.setdefault(rest, 0)
        return out

    n_lifts = len(lifts)
    return MonthlyReport(
        since=since, until=until, timezone=tz, incidents=total, calls=calls, false_alarms=false_alarms,
        entrapments=entrapments, persons_released=released, injuries=injuries, dispatched=dispatched,
        arrived_30min=arrived, arrival_counted=counted, responded_in_time=responded,
        response_counted=response_counted,
        arrival_30min_rate_pct=rate_pct(arrived, counted), response_rate_pct=rate_pct(responded, response_counted),
        tiers=ordered(tiers, TIERS, "none"), causes=ordered(causes, CAUSES, "unrecorded"),
        places=ordered(places, PLACES, "unknown"),
        slots=[(label, slots.get(i, 0)) for i, label in enumerate(labels)],
        lifts=n_lifts, entrapments_per_lift=entrapments / n_lifts if n_lifts else None,
        top_units=_ranked(of_unit, lifts_of_unit), top_owners=_ranked(of_owner, lifts_of_owner))
