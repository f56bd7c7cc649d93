"""Due dates of statutory inspections: pure date arithmetic over ``registry/intervals.toml``.

A unit owes one or more independent inspections (schedules): a boiler its external and
internal inspections, an elevator its periodic inspection and, on the 2023 scheme, its
self-tests (自行检测). ``plan`` gives each schedule's next due date from what the register knows
of the unit (``Facts``), with the rule that set it; the rules and their sources are data
(``IntervalTable``), documented in docs/registry.md ("Due dates").

- Elevators, scheme ``tsg2023`` (TSG T7001-2023, TSG T7008-2023): service years are counted
  from the installation or renovation supervisory inspection; every due date is the end of the
  month of the latest supervisory inspection (a major repair's moves it). Periodic inspection is
  due in years 1, 4, 7, 9, 11, 13, 15 and every year after 15; a self-test in the other years.
  An inspection done up to two months early (a self-test one month early) counts for that
  year without moving the schedule; a late one counts for the year it was late for. A major
  repair's supervisory inspection stands in for that year's inspection and keeps the count; a
  renovation restarts it.
- Elevators, scheme ``yearly`` (TSG T7001-2009), and every other category: an interval after
  the last inspection, or after commissioning (a gas cylinder: manufacture) before the first.
- A date stated in the latest inspection report (held as a year and month) is the due date.
- A unit out of use for a year or more is inspected before it runs again (TSG 08-2017); a
  relocated boiler has an internal inspection (TSG 11-2020).
- A gas cylinder is scrapped at the end of its design life (TSG 23-2021): its ``design_life``
  schedule falls due then, and no inspection moves it.
- Exempt units (simple pressure vessels; units whose design needs no periodic inspection) owe
  nothing and are never overdue.

A failed inspection does not move the schedule; it makes the unit unfit for use until an
inspection passes (``registry.store``).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from semon.settings import RegistrySettings

INTERVALS_FILE = Path(__file__).with_name("intervals.toml")


class Category(StrEnum):
    ELEVATOR = "elevator"
    BOILER = "boiler"
    PRESSURE_VESSEL = "pressure_vessel"
    PRESSURE_PIPING = "pressure_piping"
    GAS_CYLINDER = "gas_cylinder"
    CRANE = "crane"
    IN_PLANT_VEHICLE = "in_plant_vehicle"
    LARGE_AMUSEMENT_RIDE = "large_amusement_ride"
    PASSENGER_ROPEWAY = "passenger_ropeway"


class Result(StrEnum):
    PASS = "pass"
    CONDITIONAL = "conditional"  # passes, with conditions to be rectified
    FAIL = "fail"


class Scheme(StrEnum):
    """An elevator's inspection scheme."""

    TSG2023 = "tsg2023"  # TSG T7001-2023: periodic inspection in years 1, 4, 7, 9, 11, 13, 15, then yearly
    YEARLY = "yearly"  # TSG T7001-2009: every 12 months


class Supervision(StrEnum):
    """Supervisory inspections (监督检验) that set an elevator's base (TSG T7001-2023)."""

    INSTALLATION = "installation"  # 安装: starts the count
    RENOVATION = "renovation"  # 改造: restarts it
    MAJOR_REPAIR = "major_repair"  # 重大修理: stands in for that year's inspection, keeps the count


SELF_TEST = "self_test"  # 自行检测 (TSG T7008-2023): the owner's, in the years without a periodic inspection
DESIGN_LIFE = "design_life"  # not an inspection: the day a gas cylinder's use ends


class DueError(ValueError):
    """The equipment's data do not give a schedule (e.g. an unknown category or schedule)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str  # periodic | self_test | external | internal | hydrostatic | annual | design_life
    months: int  # the interval; 0: the unit must not be used at all


@dataclass(frozen=True, slots=True)
class Facts:
    """What the register knows of a unit that its due dates follow from.

    ``last``: the latest passed (or conditionally passed) inspection of each schedule;
    ``stated``: the next date the latest inspection report of a schedule states (the last day of
    its month); ``scheme``: an elevator's scheme, already chosen by unit and region. Dates are
    the register's local dates."""

    category: Category
    type: str | None = None
    rated: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, int] = field(default_factory=dict)
    scheme: Scheme = Scheme.TSG2023
    commissioned_on: date | None = None
    installed_on: date | None = None
    renovated_on: date | None = None
    major_repair_on: date | None = None
    manufactured_on: date | None = None
    stopped_on: date | None = None
    resumed_on: date | None = None
    relocated_on: date | None = None
    last: Mapping[str, date] = field(default_factory=dict)
    stated: Mapping[str, date] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Planned:
    """One schedule's next due date (None: no date can be given) and the rule that set it."""

    name: str
    months: int
    due: date | None
    basis: str


@dataclass(frozen=True, slots=True)
class Plan:
    exempt: str | None  # why the unit owes no inspection (its source), or None
    schedules: tuple[Planned, ...]

    @property
    def next_due(self) -> date | None:
        """The earliest due date of the schedules (None: none has one)."""
        return min((p.due for p in self.schedules if p.due is not None), default=None)


@dataclass(frozen=True, slots=True)
class IntervalTable:
    raw: Mapping[str, Any]

    def entry(self, category: Category | str) -> Mapping[str, Any]:
        entry = self.raw.get(str(category))
        if entry is None:
            raise DueError(f"no intervals for category {category!r}")
        return entry  # type: ignore[no-any-return]

    def types(self, category: Category) -> list[str]:
        """The types with rules of their own (in ``types`` or a ``by = "type"`` limit)."""
        entry = self.entry(category)
        names = list(entry.get("types", {}))
        names += [k for k in entry.get("design_life", {}) if k not in names]
        for spec in entry.get("schedules", {}).values():
            for limit in spec.get("limits", ()):
                if limit["by"] == "type":
                    names += [k for k in limit["values"] if k not in names]
        return names

    def type_aliases(self, category: Category) -> Mapping[str, str]:
        """The types' other names (a Chinese register's: 塔式起重机 → tower)."""
        return self.entry(category).get("aliases", {})  # type: ignore[no-any-return]

    def variety(self, category: Category, code: str) -> Mapping[str, Any] | None:
        """What a category code (特种设备目录 2014) says of a unit's type and rated flags
        (``{"type": "construction_hoist"}`` for 4860): the code's own line, else its family's
        (4210 → 4200); None when the rules have neither."""
        varieties = self.entry(category).get("varieties", {})
        found = varieties.get(code) or varieties.get(f"{code[:2]}00")
        return found  # type: ignore[no-any-return]

    def keys_of(self, category: Category, by: str) -> list[str]:
        """The values of rated key ``by`` (gas, safety_grade…) that some rule of the category names."""
        out: list[str] = []
        for spec in self.entry(category).get("schedules", {}).values():
            for limit in spec.get("limits", ()):
                if limit["by"] == by:
                    out += [k for k in limit["values"] if k not in out]
        return out

    def exempt(self, category: Category, type_: str | None, rated: Mapping[str, Any]) -> str | None:
        """Why a unit owes no periodic inspection at all (the rule's source), or None."""
        if rated.get("periodic_inspection") is False:
            return "its design documents say no periodic inspection is needed (TSG 08-2017)"
        spec = self.entry(category).get("types", {}).get(type_ or "", {})
        return str(spec["source"]) if spec.get("exempt") else None

    def _schedule_specs(self, category: Category, type_: str | None, scheme: Scheme) -> Mapping[str, Any]:
        entry = self.entry(category)
        if "schemes" in entry:
            return entry["schemes"][str(scheme)].get("schedules", {})  # type: ignore[no-any-return]
        typed = entry.get("types", {}).get(type_ or "", {})
        return typed.get("schedules") or entry.get("schedules", {})  # type: ignore[no-any-return]

    def schedules(self, category: Category, *, type_: str | None = None, rated: Mapping[str, Any] | None = None,
                  overrides: Mapping[str, int] | None = None, scheme: Scheme = Scheme.TSG2023) -> list[Schedule]:
        """The schedules a unit owes with their intervals (an exempt unit: none). An elevator on
        the 2023 scheme owes ``periodic`` and ``self_test`` on its service years (12 months
        apart); ``overrides`` (months by schedule) replace an interval, and an elevator with an
        overridden ``periodic`` interval keeps it instead of the scheme. Raises ``DueError`` for
        an unknown category or an override of a schedule the unit does not have."""
        rated = rated or {}
        if self.exempt(category, type_, rated):
            return []
        if category is Category.ELEVATOR and scheme is Scheme.TSG2023 and not (overrides or {}).get("periodic"):
            months = {"periodic": 12, SELF_TEST: 12}
        else:
            if category is Category.ELEVATOR:
                scheme = Scheme.YEARLY
            specs = self._schedule_specs(category, type_, scheme)
            months = {name: _interval(spec, type_, rated) for name, spec in specs.items()
                      if not spec.get("only_if") or _truthy(rated.get(spec["only_if"]))}
        for name, override in (overrides or {}).items():
            if name not in months:
                raise DueError(f"{category} has no schedule {name!r} to override (it has {', '.join(months)})")
            months[name] = int(override)
        schedules = [Schedule(name, m) for name, m in months.items()]
        if (life := self.design_life_years(category, type_, rated)) is not None:
            schedules.append(Schedule(DESIGN_LIFE, life * 12))
        return schedules

    def design_life_years(self, category: Category, type_: str | None, rated: Mapping[str, Any]) -> int | None:
        """A gas cylinder's design life in years: its own (``rated.design_life_years``) or its type's."""
        entry = self.entry(category)
        if "design_life" not in entry:
            return None
        own = rated.get("design_life_years")
        if own is not None:
            return int(own)
        life = entry["design_life"].get(type_ or "")
        return int(life) if life is not None else None

    def spec(self, category: Category, name: str, *, type_: str | None = None,
             scheme: Scheme = Scheme.TSG2023) -> Mapping[str, Any]:
        return self._schedule_specs(category, type_, scheme).get(name, {})  # type: ignore[no-any-return]

    def month_end(self, category: Category) -> bool:
        return bool(self.entry(category).get("month_end", False))

    def fingerprint(self) -> str:
        """A digest of the rules: when it changes, stored due dates must be computed again."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


def rules_markdown(table: IntervalTable | None = None) -> str:
    """The rules of ``table`` as a markdown table (docs/registry.md, "Due dates"): each
    category's schedules, by type where a type has its own, with their sources."""
    table = table or default_table()
    lines = ["| category | schedule | rule | source |", "|---|---|---|---|"]

    def row(where: str, name: str, spec: Mapping[str, Any]) -> None:
        parts = [f"{spec['months']} months" if spec.get("months") else ""]
        for limit in spec.get("limits", ()):
            values = ", ".join(f"{k}: {v or 'not to be used'}" for k, v in limit["values"].items())
            parts.append(f"by {limit['by']} ({values})")
        if spec.get("first"):
            parts.append(f"first {spec['first']} months after entering service")
        if spec.get("only_if"):
            parts.append(f"only where {spec['only_if']}")
        source = str(spec.get("source", ""))
        lines.append(f"| {where} | {name} | {'; '.join(p for p in parts if p)} | {source} |")

    for category in Category:
        entry = table.entry(category)
        title = f"{category} ({entry.get('name', '')})"
        for scheme, spec in entry.get("schemes", {}).items():
            lines.append(f"| {title} | scheme `{scheme}` | {spec['rule']} | {spec['source']} |")
        for name, spec in entry.get("schedules", {}).items():
            row(title, name, spec)
        for type_, spec in entry.get("types", {}).items():
            if spec.get("exempt"):
                lines.append(f"| {title}, type `{type_}` | none | exempt: never overdue | {spec['source']} |")
            for name, inner in spec.get("schedules", {}).items():
                row(f"{title}, type `{type_}`", name, inner)
        if "design_life" in entry:
            lives = ", ".join(f"{k} {v} years" for k, v in entry["design_life"].items())
            lines.append(f"| {title} | design_life | ends its use: {lives} (or its own design_life_years) | "
                         f"{entry['design_life_source']} |")
        if "restart" in entry:
            lines.append(f"| {title} | {entry['restart']} | before it runs again after "
                         f"{entry.get('restart_after_months', 12)} months or more out of use | "
                         f"{entry['restart_source']} |")
        if "relocation" in entry:
            lines.append(f"| {title} | {entry['relocation']} | after a relocation | {entry['relocation_source']} |")
        if aliases := entry.get("aliases"):
            names = ", ".join(f"{k} → {v}" for k, v in aliases.items())
            lines.append(f"| {title} | (type names) | {names} | a Chinese register's names for the types |")
    return "\n".join(lines) + "\n"


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def _interval(spec: Mapping[str, Any], type_: str | None, rated: Mapping[str, Any]) -> int:
    """The smallest interval any of the schedule's limits gives the unit; its ``months`` if none does."""
    found: list[int] = []
    for limit in spec.get("limits", ()):
        key = type_ if limit["by"] == "type" else rated.get(limit["by"])
        if key is None:
            continue
        value = limit["values"].get(str(key).lower() if isinstance(key, bool) else str(key))
        if value is None and limit["by"] == "safety_grade" and str(key).isdigit():
            graded = [int(k) for k in limit["values"] if str(k).isdigit()]
            if graded and int(key) > max(graded):  # worse than the worst the rules grade: not to be used
                value = 0
        if value is not None:
            found.append(int(value))
    return min(found) if found else int(spec["months"])


@cache
def default_table() -> IntervalTable:
    return load_table(INTERVALS_FILE)


def load_table(path: Path) -> IntervalTable:
    return IntervalTable(tomllib.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules a register applies: the table, and which scheme an elevator is on: its own
    (the register's ``scheme``), else its region's (the longest division code prefix of
    ``by_region`` its district starts with), else ``elevator_scheme``."""

    table: IntervalTable = field(default_factory=default_table)
    elevator_scheme: Scheme = Scheme.TSG2023
    by_region: Mapping[str, Scheme] = field(default_factory=dict)

    def scheme_of(self, own: str | None, district_code: str | None) -> Scheme:
        if own:
            return Scheme(own)
        best = max((p for p in self.by_region if district_code and district_code.startswith(p)), key=len, default=None)
        return Scheme(self.by_region[best]) if best is not None else self.elevator_scheme

    @classmethod
    def of(cls, settings: RegistrySettings) -> Rules:
        """The shipped rules with the schemes ``settings`` choose (``SEMON_REGISTRY_ELEVATOR_SCHEME*``)."""
        return cls(default_table(), Scheme(settings.elevator_scheme),
                   {k: Scheme(v) for k, v in settings.elevator_scheme_by_region.items()})

    def fingerprint(self) -> str:
        """A digest of the rules and the scheme settings: when it changes, every stored due date
        is computed again (``registry.store.reschedule_if_changed``)."""
        settings = json.dumps([str(self.elevator_scheme), sorted((k, str(v)) for k, v in self.by_region.items())])
        return hashlib.sha256((self.table.fingerprint() + settings).encode()).hexdigest()[:16]


def add_months(d: date, months: int) -> date:
    """Calendar months later; the day is clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    total = d.year * 12 + (d.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def end_of_month(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


# --- the plan -----------------------------------------------------------------------------------


def plan(facts: Facts, table: IntervalTable | None = None) -> Plan:
    """Every schedule's next due date for the unit ``facts`` describes, by the rules of
    ``table`` (the shipped ``registry/intervals.toml`` by default). Raises ``DueError`` when the
    category has no rules or an override names a schedule the unit does not have."""
    table = table or default_table()
    if reason := table.exempt(facts.category, facts.type, facts.rated):
        return Plan(reason, ())
    schedules = table.schedules(facts.category, type_=facts.type, rated=facts.rated, overrides=facts.overrides,
                                scheme=facts.scheme)
    names = {s.name for s in schedules}
    if facts.category is Category.ELEVATOR and SELF_TEST in names:
        planned = list(_elevator_2023(facts, table))
    else:
        planned = [_interval_due(facts, s, table) for s in schedules if s.name != DESIGN_LIFE]
    planned = [_stated(facts, p) for p in planned]
    planned = [_before_running_again(facts, p, table) for p in planned]
    life = next((s for s in schedules if s.name == DESIGN_LIFE), None)
    if life is not None:
        base = facts.manufactured_on or facts.commissioned_on
        planned.append(Planned(DESIGN_LIFE, life.months, add_months(base, life.months) if base else None,
                               f"end of a {life.months // 12}-year design life (TSG 23-2021)"))
    return Plan(None, tuple(planned))


def _last(facts: Facts, name: str, since: date | None = None) -> date | None:
    last = facts.last.get(name)
    return last if last is not None and (since is None or last >= since) else None


def _interval_due(facts: Facts, schedule: Schedule, table: IntervalTable) -> Planned:
    """An interval after the last inspection, or after the base (commissioning; a gas cylinder's
    manufacture) before the first: the base plus the schedule's ``first`` months where given."""
    if schedule.months <= 0:
        return Planned(schedule.name, schedule.months, None, "not to be used")
    category = facts.category
    last = _last(facts, schedule.name)
    if category is Category.ELEVATOR:  # the yearly scheme: a supervisory inspection counts as one
        last = max((d for d in (last, facts.renovated_on, facts.major_repair_on) if d is not None), default=None)
        base = facts.installed_on or facts.commissioned_on
        first = None
    else:
        entry = table.entry(category)
        base = (facts.manufactured_on or facts.commissioned_on) if entry.get("base") == "manufactured" \
            else facts.commissioned_on
        first = table.spec(category, schedule.name, type_=facts.type).get("first")
    if last is not None:
        due, basis = add_months(last, schedule.months), f"{schedule.months} months after the last inspection"
    elif base is not None:
        months = int(first) if first is not None else schedule.months
        what = "manufacture" if base == facts.manufactured_on else "entering service"
        due, basis = add_months(base, months), f"first inspection, {months} months after {what}"
    else:
        return Planned(schedule.name, schedule.months, None, "no inspection or commissioning date known")
    if table.month_end(category):
        due = end_of_month(due)
    return Planned(schedule.name, schedule.months, due, basis)


def service_base(facts: Facts) -> tuple[date, int] | None:
    """An elevator's count base and due month on the 2023 scheme (TSG T7001-2023): the date its
    service years count from (the latest of its installation and renovation supervisory
    inspections; the commissioning date when neither is known) and the month of its latest
    supervisory inspection (a major repair's included). None when no date is known."""
    count = max((d for d in (facts.installed_on, facts.renovated_on) if d is not None), default=None)
    count = count or facts.commissioned_on
    if count is None:
        return None
    latest = facts.major_repair_on if facts.major_repair_on is not None and facts.major_repair_on >= count else count
    return count, latest.month


def year_due(base: tuple[date, int], year: int) -> date:
    """The due date of service year ``year`` (1, 2, …): the end of the base month, ``year``
    years after the count's base (TSG T7001-2023)."""
    count, month = base
    return end_of_month(date(count.year + year, month, 1))


def year_counted(base: tuple[date, int], inspected_on: date, early_months: int) -> int:
    """The service year an inspection done on ``inspected_on`` counts for (0: none yet): the
    latest year whose window has opened, the window opening ``early_months`` calendar months
    before the due month (TSG T7001-2023: 2 for a periodic inspection, TSG T7008-2023: 1 for a
    self-test). So an early inspection within the window counts for its year and a late one
    for the year it was late for; neither moves the schedule."""
    count, month = base
    opened = inspected_on.year * 12 + inspected_on.month - 1 - (count.year * 12 + month - 1 - early_months)
    return max(0, opened // 12)


def is_periodic_year(year: int, scheme: Mapping[str, Any]) -> bool:
    """Whether service year ``year`` owes a periodic inspection (TSG T7001-2023: years 1, 4, 7,
    9, 11, 13, 15 and every year after 15) rather than a self-test."""
    return year in scheme["periodic_years"] or year > int(scheme["yearly_after"])


def _elevator_2023(facts: Facts, table: IntervalTable) -> list[Planned]:
    rules = table.entry(Category.ELEVATOR)["schemes"][str(Scheme.TSG2023)]
    early = rules["early_months"]
    base = service_base(facts)
    if base is None:
        # Without the base the service years cannot be counted: the most frequent rule holds,
        # 12 months after the last periodic inspection, until the register learns the base.
        yearly = _interval_due(replace(facts, scheme=Scheme.YEARLY), Schedule("periodic", 12), table)
        why = "no installation or commissioning date known"
        return [Planned("periodic", 12, yearly.due, f"{yearly.basis} ({why}: the service years cannot be counted)"),
                Planned(SELF_TEST, 12, None, why)]
    count = base[0]
    # A major repair's supervisory inspection stands in for that year's periodic inspection.
    periodic_done = max((d for d in (_last(facts, "periodic", count), facts.major_repair_on) if d is not None
                         and d >= count), default=None)
    year_p = year_counted(base, periodic_done, int(early["periodic"])) if periodic_done else 0
    next_p = year_p + 1
    while not is_periodic_year(next_p, rules):
        next_p += 1
    out = [Planned("periodic", 12, year_due(base, next_p), f"year {next_p} of service: periodic inspection "
                   "(TSG T7001-2023)")]
    self_done = _last(facts, SELF_TEST, count)
    year_s = max(year_p, year_counted(base, self_done, int(early[SELF_TEST])) if self_done else 0)
    next_s = year_s + 1
    while next_s <= int(rules["yearly_after"]) and is_periodic_year(next_s, rules):
        next_s += 1
    if next_s <= int(rules["yearly_after"]):
        out.append(Planned(SELF_TEST, 12, year_due(base, next_s), f"year {next_s} of service: self-test "
                           "(TSG T7008-2023)"))
    else:
        out.append(Planned(SELF_TEST, 12, None, "no self-test after year 15 of service: periodic inspection "
                           "every year (TSG T7001-2023)"))
    return out


def _stated(facts: Facts, planned: Planned) -> Planned:
    """The date the latest report states wins (the registration record holds it as a year and month)."""
    stated = facts.stated.get(planned.name)
    if stated is None or planned.months <= 0:
        return planned
    return Planned(planned.name, planned.months, end_of_month(stated), "the date the last inspection report states")


def _before_running_again(facts: Facts, planned: Planned, table: IntervalTable) -> Planned:
    """A unit back in use after a stop of a year or more (TSG 08-2017), or a relocated boiler
    (TSG 11-2020), owes the named inspection by the day it runs again (or was relocated), unless
    one was done since the stop began (or since the relocation)."""
    entry = table.entry(facts.category)
    due = planned.due
    if due is None:
        return planned
    last = facts.last.get(planned.name)
    if facts.category is Category.ELEVATOR and planned.name == "periodic":  # a supervisory inspection counts
        last = max((d for d in (last, facts.installed_on, facts.renovated_on, facts.major_repair_on) if d),
                   default=None)
    if (entry.get("restart") == planned.name and facts.stopped_on and facts.resumed_on
            and facts.resumed_on >= add_months(facts.stopped_on, int(entry.get("restart_after_months", 12)))
            and not (last is not None and last >= facts.stopped_on) and facts.resumed_on < due):
        return Planned(planned.name, planned.months, facts.resumed_on,
                       f"back in use on {facts.resumed_on} after a stop of a year or more: inspected before it "
                       "runs again (TSG 08-2017)")
    if (entry.get("relocation") == planned.name and facts.relocated_on
            and not (last is not None and last >= facts.relocated_on) and facts.relocated_on < due):
        return Planned(planned.name, planned.months, facts.relocated_on,
                       f"relocated on {facts.relocated_on}: inspected after a relocation (TSG 11-2020)")
    return planned


def notice_day(due: date, months_before: int = 1) -> date:
    """The owner must apply one month before the due date: the due notice goes out then."""
    return add_months(due, -months_before)


def is_overdue(next_due_date: date | None, today: date) -> bool:
    return next_due_date is not None and next_due_date < today


class Standing(StrEnum):
    """Where a unit stands on a given day, for notices, lists and the rate."""

    NOT_COUNTED = "not_counted"  # stopped or scrapped: no notices, left out of the rate
    UNFIT = "unfit"  # a failed inspection not yet passed, or a unit not to be used at all
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"  # within the notice period: the owner must apply now
    OK = "ok"
    EXEMPT = "exempt"  # owes no periodic inspection: never overdue, left out of the rate
    NO_DUE_DATE = "no_due_date"  # in use, but the register holds nothing a due date follows from


def standing(*, status: str, fit_for_use: bool, next_due_date: date | None, today: date,
             months_before: int = 1, exempt: bool = False) -> Standing:
    """Where a unit stands on ``today``: not counted (stopped, scrapped), exempt, unfit,
    overdue, due soon (its owner must apply: one month before, TSG 08-2017), without a due
    date, or ok."""
    if status != "in_use":
        return Standing.NOT_COUNTED
    if exempt:
        return Standing.EXEMPT
    if not fit_for_use:
        return Standing.UNFIT
    if is_overdue(next_due_date, today):
        return Standing.OVERDUE
    if next_due_date is None:
        return Standing.NO_DUE_DATE
    if notice_day(next_due_date, months_before) <= today:
        return Standing.DUE_SOON
    return Standing.OK
