"""The register in PostgreSQL: parties, equipment and its schedules, inspections.

Each piece of equipment keeps one row per schedule with its last inspection and next due
date; ``equipment.next_due`` is the earliest of them, so the daily scan and the inspection
rate are one indexed pass over one table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from registry.due import (
    DESIGN_LIFE,
    Category,
    DueError,
    Facts,
    Result,
    Rules,
    Supervision,
    end_of_month,
    plan,
)
from registry.model import Equipment, Party, Status
from semon.today import register_today

log = logging.getLogger(__name__)


async def upsert_party(conn: AsyncConnection, party: Party) -> int:
    cur = await conn.execute(
        """INSERT INTO parties (code, name, role, contact, phone, email, webhook_url, webhook_secret, district_code,
             contacts)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (code) DO UPDATE SET name = excluded.name, role = excluded.role, contact = excluded.contact,
             phone = excluded.phone, email = excluded.email, webhook_url = excluded.webhook_url,
             webhook_secret = excluded.webhook_secret, district_code = excluded.district_code,
             contacts = excluded.contacts
           RETURNING id""",
        (party.code, party.name, str(party.role), party.contact, party.phone, party.email, party.webhook_url,
         party.webhook_secret, party.district_code, Jsonb(contacts_json(party.contacts))),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def contacts_json(contacts: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """A party's duty contacts as stored and served: ``[{"name", "phone"}, …]``."""
    return [{"name": name, "phone": phone} for name, phone in contacts]


async def party_ids(conn: AsyncConnection, codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    cur = await conn.execute("SELECT code, id FROM parties WHERE code = ANY(%s)", (list(codes),))
    return {str(code): int(id_) for code, id_ in await cur.fetchall()}


# Columns a record overwrites when it gives them (an import's file may leave some out: they stay).
_OVERWRITTEN = (("category", "category"), ("type", "type"), ("address", "address"),
                ("district_code", "district_code"), ("owner_id", "owner"), ("maintenance_id", "maintenance"),
                ("agency_id", "agency"), ("status", "status"), ("commissioned_on", "commissioned_on"),
                ("use_registration_no", "use_registration_no"), ("scheme", "scheme"), ("rescue_code", "rescue_code"),
                ("area", "area"), ("place", "place"), ("latitude", "latitude"), ("longitude", "longitude"))


async def upsert_equipment(conn: AsyncConnection, item: Equipment, *, rules: Rules | None = None,
                           parties: dict[str, int] | None = None, today: date | None = None) -> None:
    """Insert or update one piece of equipment and its schedules (idempotent: the same record
    twice changes nothing). Known last inspections are kept unless the record brings newer,
    and so are the dates of its latest renovation, major repair and relocation; a date the
    record leaves empty keeps the stored one. A record that does not give a field at all
    (``item.given``: an import's file without that column) leaves it as stored. A unit that goes
    from in use to stopped without a ``stopped_on`` is stopped ``today``, and one that comes
    back without a ``resumed_on`` resumes ``today`` (the register's local date): a stop of a
    year or more is inspected before the unit runs again (TSG 08-2017). Raises ``DueError`` for a party not registered
    or an interval the rules do not have."""
    rules = rules or Rules()
    today = today or register_today()
    if item.given is None:  # a partial record is checked against what it is merged with (reschedule)
        rules.table.schedules(item.category, type_=item.type, rated=item.rated, overrides=item.interval_overrides,
                              scheme=rules.scheme_of(str(item.scheme) if item.scheme else None, item.district_code))
    ids = parties if parties is not None else await party_ids(
        conn, {c for c in (item.owner, item.maintenance, item.agency) if c})
    for role, code in (("owner", item.owner), ("maintenance unit", item.maintenance), ("agency", item.agency)):
        if code and code not in ids:
            raise DueError(f"{role} {code!r} is not a registered party")
    cur = await conn.execute("SELECT status, stopped_on FROM equipment WHERE registration_code = %s",
                             (item.registration_code,))
    before = await cur.fetchone()
    stopped_on, resumed_on = item.stopped_on, item.resumed_on
    if before is not None and item.gave("status"):
        was, known_stop = before
        if item.status == Status.STOPPED and was == "in_use" and stopped_on is None:
            stopped_on = today
        if item.status == Status.IN_USE and was == "stopped" and resumed_on is None and known_stop is not None:
            resumed_on = today
    elif item.status == Status.STOPPED and stopped_on is None:
        stopped_on = today
    sets = [f"{column} = excluded.{column}" for column, field in _OVERWRITTEN if item.gave(field)]
    for mapping, keys in (("rated", "rated_keys"), ("interval_overrides", "months_keys")):
        if item.given is None:
            sets.append(f"{mapping} = excluded.{mapping}")
        elif item.gave(mapping):  # the keys the record gives (empty ones clear); the others stay
            sets.append(f"{mapping} = (equipment.{mapping} - %({keys})s::text[]) || excluded.{mapping}")
    await conn.execute(
        f"""INSERT INTO equipment (registration_code, category, type, address, district_code, owner_id,
             maintenance_id, agency_id, status, commissioned_on, rated, interval_overrides, use_registration_no, scheme,
             installed_on, renovated_on, major_repair_on, manufactured_on, stopped_on, resumed_on, relocated_on,
             rescue_code, area, place, latitude, longitude)
           VALUES (%(code)s, %(category)s, %(type)s, %(address)s, %(district)s, %(owner)s, %(maintenance)s,
             %(agency)s, %(status)s, %(commissioned)s, %(rated)s, %(months)s, %(use_no)s, %(scheme)s, %(installed)s,
             %(renovated)s, %(major_repair)s, %(manufactured)s, %(stopped)s, %(resumed)s, %(relocated)s,
             %(rescue_code)s, %(area)s, %(place)s, %(latitude)s, %(longitude)s)
           ON CONFLICT (registration_code) DO UPDATE SET {", ".join(sets)},
             installed_on = coalesce(excluded.installed_on, equipment.installed_on),
             renovated_on = greatest(excluded.renovated_on, equipment.renovated_on),
             major_repair_on = greatest(excluded.major_repair_on, equipment.major_repair_on),
             manufactured_on = coalesce(excluded.manufactured_on, equipment.manufactured_on),
             stopped_on = coalesce(excluded.stopped_on, equipment.stopped_on),
             resumed_on = coalesce(excluded.resumed_on, equipment.resumed_on),
             relocated_on = greatest(excluded.relocated_on, equipment.relocated_on),
             updated_at = now()""",
        {"code": item.registration_code, "category": str(item.category), "type": item.type, "address": item.address,
         "district": item.district_code, "owner": ids.get(item.owner or ""),
         "maintenance": ids.get(item.maintenance or ""), "agency": ids.get(item.agency or ""),
         "status": str(item.status), "commissioned": item.commissioned_on, "rated": Jsonb(item.rated),
         "months": Jsonb(item.interval_overrides), "use_no": item.use_registration_no,
         "scheme": str(item.scheme) if item.scheme else None, "installed": item.installed_on,
         "renovated": item.renovated_on, "major_repair": item.major_repair_on, "manufactured": item.manufactured_on,
         "stopped": stopped_on, "resumed": resumed_on, "relocated": item.relocated_on,
         "rescue_code": item.rescue_code, "area": str(item.area) if item.area else None,
         "place": str(item.place) if item.place else None, "latitude": item.latitude, "longitude": item.longitude,
         "rated_keys": sorted(item.given_keys("rated")), "months_keys": sorted(item.given_keys("interval_overrides"))},
    )
    for schedule, last in item.last_inspected.items():
        await _note_inspection(conn, item.registration_code, schedule, last, item.stated_next.get(schedule),
                               keep_stated=schedule not in item.stated_next)
    for schedule in item.stated_next.keys() - item.last_inspected.keys():
        await conn.execute("""INSERT INTO equipment_schedules AS s (registration_code, schedule, interval_months,
                                stated_next) VALUES (%s, %s, 12, %s)
                              ON CONFLICT (registration_code, schedule)
                              DO UPDATE SET stated_next = excluded.stated_next""",
                           (item.registration_code, schedule, item.stated_next[schedule]))
    await reschedule(conn, [item.registration_code], rules)


async def _note_inspection(conn: AsyncConnection, code: str, schedule: str, inspected_on: date,
                           stated: date | None, *, keep_stated: bool = False) -> None:
    """Keep ``inspected_on`` as the schedule's last inspection when it is the newest; the newest
    inspection's stated next date goes with it (an older one's is not the one that counts)."""
    await conn.execute(
        """INSERT INTO equipment_schedules AS s (registration_code, schedule, interval_months, last_inspected,
             stated_next)
           VALUES (%(code)s, %(schedule)s, 12, %(on)s, %(stated)s)
           ON CONFLICT (registration_code, schedule) DO UPDATE SET
             stated_next = CASE WHEN s.last_inspected IS NULL OR %(on)s > s.last_inspected
                                THEN CASE WHEN %(keep)s THEN NULL ELSE %(stated)s END
                                WHEN %(on)s = s.last_inspected AND NOT %(keep)s THEN %(stated)s
                                ELSE s.stated_next END,
             last_inspected = greatest(s.last_inspected, %(on)s)""",
        {"code": code, "schedule": schedule, "on": inspected_on, "stated": stated, "keep": keep_stated})


# --- due dates --------------------------------------------------------------------------------

_FACTS_SQL = """
SELECT e.registration_code, e.category, e.type, e.rated, e.interval_overrides, e.scheme, e.district_code,
       e.commissioned_on, e.installed_on, e.renovated_on, e.major_repair_on, e.manufactured_on, e.stopped_on,
       e.resumed_on, e.relocated_on,
       coalesce((SELECT jsonb_object_agg(s.schedule, jsonb_build_array(s.last_inspected, s.stated_next))
                 FROM equipment_schedules s WHERE s.registration_code = e.registration_code), '{}')
FROM equipment e WHERE e.registration_code = ANY(%s)"""

# A unit is fit for use only when every one of its schedules is: none may be a 0-month schedule
# (a grade 5 vessel: not to be used at all) and none may have a failed inspection as its latest
# one. A pass on one schedule (a boiler's external) does not undo a fail on another (its internal).
_REFRESH = """
UPDATE equipment SET
  next_due = (SELECT min(s.next_due) FROM equipment_schedules s
              WHERE s.registration_code = equipment.registration_code),
  fit_for_use = NOT EXISTS (
    SELECT 1 FROM equipment_schedules s
    WHERE s.registration_code = equipment.registration_code AND s.owed
      AND (s.interval_months <= 0
           OR (SELECT i.result FROM inspections i
               WHERE i.registration_code = s.registration_code AND i.schedule = s.schedule
               ORDER BY i.inspected_on DESC LIMIT 1) = 'fail'))
    -- and a failed supervisory inspection (TSG T7001-2023) until a later one passes
    AND coalesce((SELECT i.result <> 'fail' FROM inspections i
                  WHERE i.registration_code = equipment.registration_code
                    AND i.schedule IN ('installation', 'renovation', 'major_repair')
                  ORDER BY i.inspected_on DESC, i.id DESC LIMIT 1), true)
WHERE registration_code = ANY(%s)
"""


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def facts_of(row: Sequence[Any], rules: Rules) -> Facts:
    """A ``_FACTS_SQL`` row as the rules read it (without its registration code)."""
    (category, type_, rated, overrides, scheme, district, commissioned, installed, renovated, major_repair,
     manufactured, stopped, resumed, relocated, schedules) = row
    last = {name: d for name, (li, _) in schedules.items() if (d := _day(li)) is not None}
    stated = {name: d for name, (_, sn) in schedules.items() if (d := _day(sn)) is not None}
    return Facts(Category(category), type_, rated or {}, overrides or {}, rules.scheme_of(scheme, district),
                 commissioned, installed, renovated, major_repair, manufactured, stopped, resumed, relocated,
                 last, stated)


def _plans(records: Sequence[Sequence[Any]], rules: Rules, *, strict: bool,
           ) -> tuple[list[tuple[str, str, int, date | None, str]], dict[str, bool], dict[str, str]]:
    """The planned schedules of ``_FACTS_SQL`` records, each unit's exemption, and (not
    ``strict``) the units the rules refuse, with why; ``strict`` raises ``DueError`` instead."""
    rows: list[tuple[str, str, int, date | None, str]] = []
    exempt: dict[str, bool] = {}
    refused: dict[str, str] = {}
    for code, *facts in records:
        try:
            unit_plan = plan(facts_of(facts, rules), rules.table)
        except DueError as exc:
            if strict:
                raise
            refused[str(code)] = str(exc)
            continue
        exempt[str(code)] = unit_plan.exempt is not None
        rows += [(str(code), p.name, p.months, p.due, p.basis) for p in unit_plan.schedules]
    return rows, exempt, refused


async def reschedule(conn: AsyncConnection, codes: Sequence[str], rules: Rules | None = None, *,
                     strict: bool = True) -> dict[str, str]:
    """Compute the due dates of the ``codes``' schedules from what is stored (``registry.due.plan``)
    and store them with the rule that set each, mark schedules the rules no longer give as not
    owed, and refresh each unit's earliest due date, exemption and fitness. A unit the rules
    refuse (``DueError``: an override of a schedule they no longer give) raises, or, not
    ``strict``, keeps its stored dates and is returned with the reason (code → reason)."""
    rules = rules or Rules()
    cur = await conn.execute(_FACTS_SQL, (list(codes),))
    records = await cur.fetchall()
    # Planning many units is CPU work: off the event loop, so nothing else in the process waits.
    rows, exempt, refused = (_plans(records, rules, strict=strict) if len(records) <= 1
                             else await asyncio.to_thread(_plans, records, rules, strict=strict))
    if not exempt:
        return refused
    columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], [], []]
    # A schedule the rules no longer give keeps its row and history (a scheme switched back, a
    # type corrected, finds them again), without a due date.
    await conn.execute(
        """UPDATE equipment_schedules SET owed = false, next_due = NULL,
             basis = 'not owed under the rules now in force'
           WHERE registration_code = ANY(%s) AND owed
             AND (registration_code, schedule) NOT IN (SELECT * FROM unnest(%s::text[], %s::text[]))""",
        (list(exempt), columns[0], columns[1]))
    await conn.execute(
        """INSERT INTO equipment_schedules (registration_code, schedule, interval_months, next_due, basis, owed)
           SELECT *, true FROM unnest(%s::text[], %s::text[], %s::int[], %s::date[], %s::text[])
           ON CONFLICT (registration_code, schedule) DO UPDATE SET interval_months = excluded.interval_months,
             next_due = excluded.next_due, basis = excluded.basis, owed = true""", columns)
    await conn.execute(
        """UPDATE equipment e SET exempt = v.exempt FROM unnest(%s::text[], %s::bool[]) AS v (code, exempt)
           WHERE e.registration_code = v.code AND e.exempt IS DISTINCT FROM v.exempt""",
        (list(exempt), list(exempt.values())))
    await conn.execute(_REFRESH, (list(exempt),))
    return refused


async def reschedule_if_changed(conn: AsyncConnection, rules: Rules, *, batch: int = 2000) -> int:
    """When the rules (``registry/intervals.toml``) or the scheme settings differ from those the
    stored due dates were computed by, compute every unit's again, ``batch`` units per
    transaction (committed as it goes); return how many were computed (0: nothing changed). An
    empty register only records the rules. A unit the new rules refuse keeps its dates and is
    logged with why; it never stops the others."""
    fingerprint = rules.fingerprint()
    cur = await conn.execute("SELECT fingerprint FROM registry_rules")
    row = await cur.fetchone()
    if row is not None and row[0] == fingerprint:
        return 0
    done = 0
    after = ""
    while True:
        cur = await conn.execute("""SELECT registration_code FROM equipment WHERE registration_code > %s
                                    ORDER BY registration_code LIMIT %s""", (after, batch))
        codes = [str(r[0]) for r in await cur.fetchall()]
        if not codes:
            break
        for code, reason in (await reschedule(conn, codes, rules, strict=False)).items():
            log.warning("register: %s keeps its due dates: the rules refuse it (%s)", code, reason)
        await _commit(conn)
        done += len(codes)
        after = codes[-1]
    await record_rules(conn, rules)
    await _commit(conn)
    if done:
        log.info("register: the inspection rules changed; due dates of %d units computed again", done)
    return done


async def _commit(conn: AsyncConnection) -> None:
    if not conn.autocommit:
        await conn.commit()


async def record_rules(conn: AsyncConnection, rules: Rules) -> None:
    """Note that the stored due dates follow ``rules``."""
    await conn.execute("""INSERT INTO registry_rules (id, fingerprint, applied_at) VALUES (1, %s, now())
                          ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint,
                            applied_at = excluded.applied_at""", (rules.fingerprint(),))


EARLIEST_INSPECTION = date(1950, 1, 1)  # before the register's records begin: a typo, not an inspection


def inspection_too_early(inspected_on: date, commissioned_on: date | None, schedule: str = "periodic") -> str | None:
    """Why an inspection date is implausible, or None: before the unit was commissioned (投用日期;
    not for the installation's supervisory inspection, which comes first), or before
    ``EARLIEST_INSPECTION`` (1950-01-01), the bound when the register does not know the date."""
    if commissioned_on is not None and inspected_on < commissioned_on and schedule != "installation":
        return (f"inspected_on {inspected_on.isoformat()} is before the unit was commissioned "
                f"({commissioned_on.isoformat()})")
    if inspected_on < EARLIEST_INSPECTION:
        return f"inspected_on {inspected_on.isoformat()} is before {EARLIEST_INSPECTION.isoformat()}"
    return None


async def record_inspection(conn: AsyncConnection, code: str, *, schedule: str, inspected_on: date, result: Result,
                            agency: str | None = None, report_no: str | None = None, recorded_by: str | None = None,
                            next_stated: date | None = None, rules: Rules | None = None,
                            conclusion: str | None = None, kind: str = "regular", inspector: str | None = None,
                            safety_grade: int | None = None) -> dict[str, Any]:
    """Record an inspection of one of the unit's schedules, or a supervisory inspection
    (``schedule`` ``installation``, ``renovation`` or ``major_repair``: TSG T7001-2023). A pass
    (or conditional pass) counts for its schedule: the due dates follow the rules, so an early
    or late elevator inspection does not move the base. ``next_stated``: the next inspection
    date the report states (kept as its month's last day; it must be after ``inspected_on``),
    the due date from then on. A fail leaves the schedule where it was and makes the unit unfit
    until that schedule passes; a pass on one schedule does not make up for a fail on another.
    ``conclusion`` (as the report words it), ``kind`` (regular or reinspection 复检) and
    ``inspector`` (检验员) are kept with it (``registry.conclusions.judge`` checks them); a
    ``safety_grade`` becomes the unit's, which its interval follows (TSG 21-2016, TSG D7005-2018).
    An inspection is keyed by unit, schedule, day and kind (migration 0014): a 复检 on the day of
    the failure it follows is a record of its own; a second record of the same kind on the same
    day corrects the first (``replaced``: True, the same ``id``).
    A 复检 with no earlier failure of that schedule on record is stored with a warning.
    Returns the unit's standing, the inspection's ``id``, ``replaced`` and ``warnings`` (English).
    Raises ``DueError`` for an unknown unit or schedule, a design life, or an unknown agency."""
    rules = rules or Rules()
    cur = await conn.execute("SELECT category FROM equipment WHERE registration_code = %s FOR UPDATE", (code,))
    if await cur.fetchone() is None:
        raise DueError(f"no equipment {code!r} with a {schedule!r} schedule")
    supervisory = schedule in {str(s) for s in Supervision}
    if not supervisory:
        cur = await conn.execute("SELECT schedule FROM equipment_schedules WHERE registration_code = %s AND owed",
                                 (code,))
        owed = sorted(str(r[0]) for r in await cur.fetchall() if r[0] != DESIGN_LIFE)
        if schedule not in owed:
            kinds = ", ".join([*owed, *(str(s) for s in Supervision)])
            raise DueError(f"unit {code!r} has no {schedule!r} schedule to inspect (it has {kinds})")
    if next_stated is not None:
        next_stated = end_of_month(next_stated)
        if next_stated <= end_of_month(inspected_on):
            raise DueError(f"the stated next inspection {next_stated:%Y-%m} is not after the inspection's month")
    agency_id = (await party_ids(conn, {agency})).get(agency) if agency else None
    if agency and agency_id is None:
        raise DueError(f"agency {agency!r} is not a registered party")
    cur = await conn.execute(
        """INSERT INTO inspections
             (registration_code, schedule, inspected_on, result, agency_id, report_no, recorded_by, next_stated,
              conclusion, kind, inspector, safety_grade)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (registration_code, schedule, inspected_on, kind) DO UPDATE SET result = excluded.result,
             agency_id = excluded.agency_id, report_no = excluded.report_no, recorded_by = excluded.recorded_by,
             next_stated = excluded.next_stated, conclusion = excluded.conclusion, kind = excluded.kind,
             inspector = excluded.inspector, safety_grade = excluded.safety_grade
           RETURNING id, xmax <> 0""",
        (code, schedule, inspected_on, str(result), agency_id, report_no, recorded_by, next_stated, conclusion,
         kind, inspector, safety_grade))
    inserted = await cur.fetchone()
    assert inserted is not None
    warnings: list[str] = []
    if kind == "reinspection" and result is not Result.FAIL:
        cur = await conn.execute(
            """SELECT 1 FROM inspections WHERE registration_code = %s AND schedule = %s AND result = 'fail'
               AND inspected_on <= %s AND id <> %s LIMIT 1""", (code, schedule, inspected_on, inserted[0]))
        if await cur.fetchone() is None:  # 复检 follows a failure, once rectified (registry.conclusions.KINDS)
            warnings.append(f"a reinspection (复检) of {code}'s {schedule} with no earlier failure on record")
    if safety_grade is not None:
        await conn.execute("""UPDATE equipment SET rated = rated || jsonb_build_object('safety_grade', %s::int)
                              WHERE registration_code = %s""", (safety_grade, code))
    if result is not Result.FAIL:
        if supervisory:
            column = {"installation": "installed_on", "renovation": "renovated_on",
                      "major_repair": "major_repair_on"}[schedule]
            # The installation is one event (a corrected date replaces it); renovations and major
            # repairs recur, and the latest counts.
            value = "%s" if schedule == "installation" else f"greatest({column}, %s)"
            await conn.execute(f"UPDATE equipment SET {column} = {value} WHERE registration_code = %s",
                               (inspected_on, code))
        else:
            await _note_inspection(conn, code, schedule, inspected_on, next_stated)
    await reschedule(conn, [code], rules)
    cur = await conn.execute("SELECT next_due, fit_for_use FROM equipment WHERE registration_code = %s", (code,))
    state = await cur.fetchone()
    assert state is not None
    return {"registration_code": code, "next_due": state[0], "fit_for_use": state[1], "inspection_id": inserted[0],
            "replaced": bool(inserted[1]), "warnings": warnings}


# --- what other packages read of the register: through these, never its tables ---------------


async def registration_codes(conn: AsyncConnection[Any]) -> frozenset[str]:
    """Every registration code (设备代码) in the register, whatever its status."""
    cur = await conn.execute("SELECT registration_code FROM equipment")
    return frozenset(str(r[0]) for r in await cur.fetchall())


@dataclass(frozen=True, slots=True)
class MonitoredUnit:
    """An elevator or boiler of the register that is not scrapped, as the rules need it:
    ``category`` ``"elevator"`` or ``"boiler"``; ``rated`` its rated values and per-unit rule
    overrides (JSON object); ``fit_for_use`` False when an inspection is overdue or failed;
    ``next_due`` the earliest due date of its schedules (None: none); ``district_code`` the
    district it stands in (what its alarms are filed under: never read from its code)."""

    registration_code: str
    category: str
    rated: dict[str, Any]
    status: str
    fit_for_use: bool
    next_due: date | None
    district_code: str


async def monitored_units(conn: AsyncConnection[Any]) -> list[MonitoredUnit]:
    """The elevators and boilers that are not scrapped (``MonitoredUnit``)."""
    cur = await conn.execute(
        """SELECT registration_code, category, rated, status, fit_for_use, next_due, district_code FROM equipment
           WHERE category IN ('elevator', 'boiler') AND status <> 'scrapped'""")
    return [MonitoredUnit(str(code), str(category), rated or {}, str(status), bool(fit), due, str(district))
            for code, category, rated, status, fit, due, district in await cur.fetchall()]


async def elevators_in_use(conn: AsyncConnection[Any]) -> list[tuple[str, str | None, str | None]]:
    """The elevators in use (在用; stopped and scrapped left out), each as (registration code, its
    maintenance unit's name, its owner's name; None where the register names none): the lifts the
    monthly 96333 report divides by (困人率, entrapments per 100 lifts)."""
    cur = await conn.execute(
        """SELECT e.registration_code, m.name, o.name FROM equipment e
           LEFT JOIN parties m ON m.id = e.maintenance_id LEFT JOIN parties o ON o.id = e.owner_id
           WHERE e.category = 'elevator' AND e.status = 'in_use'""")
    return [(str(code), maint, owner) for code, maint, owner in await cur.fetchall()]


_CARD_SQL = """
SELECT e.category, e.type, e.address, e.district_code, e.status, e.next_due, e.fit_for_use, e.commissioned_on,
       o.code, o.name, m.code, m.name, m.phone, m.contact, a.code, a.name, e.use_registration_no,
       e.rescue_code, e.area, e.place, e.latitude, e.longitude, o.phone, o.contacts, m.contacts
FROM equipment e LEFT JOIN parties o ON o.id = e.owner_id
     LEFT JOIN parties m ON m.id = e.maintenance_id LEFT JOIN parties a ON a.id = e.agency_id
WHERE e.registration_code = %s"""
_SCHEDULES_SQL = """SELECT schedule, interval_months, last_inspected, next_due FROM equipment_schedules
                    WHERE registration_code = %s AND owed ORDER BY schedule"""
_LAST_INSPECTION_SQL = """SELECT schedule, inspected_on, result, report_no FROM inspections
                          WHERE registration_code = %s ORDER BY inspected_on DESC, id DESC LIMIT 1"""


def _party_json(code: str | None, name: str | None, **extra: Any) -> dict[str, Any] | None:
    return {"code": code, "name": name, **extra} if code else None


async def unit_entry(conn: AsyncConnection[Any], code: str) -> dict[str, Any] | None:
    """One unit as the register holds it, or None if it is not registered: ``category``,
    ``type``, ``address``, ``district_code`` (the district it stands in), ``use_registration_no``
    (使用登记证编号 or None), ``status``, ``next_due``, ``fit_for_use``,
    ``commissioned_on``, ``rescue_code`` (救援识别码), ``area`` (``urban`` | ``other``: the arrival
    limit's), ``place`` (使用场所, ``registry.model.Place``), ``latitude`` / ``longitude`` (WGS84
    degrees or None), ``owner`` / ``agency`` (``{"code", "name"}`` or None; the owner also
    ``phone`` and ``contacts``), ``maintenance_unit`` (also ``phone``, ``contact`` and ``contacts``,
    ``[{"name", "phone"}]``: its duty contacts), ``schedules`` (``schedule``,
    ``interval_months``, ``last_inspected``, ``next_due``; by schedule) and ``last_inspection``
    (the newest recorded: ``schedule``, ``inspected_on``, ``result``, ``report_no``; or None)."""
    cur = await conn.execute(_CARD_SQL, (code,))
    row = await cur.fetchone()
    if row is None:
        return None
    (category, type_, address, district, status, next_due, fit, commissioned, owner_code, owner, maint_code, maint,
     maint_phone, maint_contact, agency_code, agency, use_no, rescue_code, area, place, latitude, longitude,
     owner_phone, owner_contacts, maint_contacts) = row
    cur = await conn.execute(_SCHEDULES_SQL, (code,))
    schedules = [{"schedule": s, "interval_months": m, "last_inspected": li, "next_due": nd}
                 for s, m, li, nd in await cur.fetchall()]
    cur = await conn.execute(_LAST_INSPECTION_SQL, (code,))
    last = await cur.fetchone()
    return {
        "category": category, "type": type_, "address": address, "district_code": district,
        "use_registration_no": use_no, "status": status,
        "next_due": next_due, "fit_for_use": fit, "commissioned_on": commissioned,
        "rescue_code": rescue_code, "area": area, "place": place, "latitude": latitude, "longitude": longitude,
        "owner": _party_json(owner_code, owner, phone=owner_phone, contacts=owner_contacts or []),
        "maintenance_unit": _party_json(maint_code, maint, phone=maint_phone, contact=maint_contact,
                                        contacts=maint_contacts or []),
        "agency": _party_json(agency_code, agency),
        "last_inspection": None if last is None else dict(zip(("schedule", "inspected_on", "result", "report_no"),
                                                              last, strict=True)),
        "schedules": schedules,
    }


async def agency_exists(conn: AsyncConnection[Any], code: str) -> bool:
    """Whether ``code`` is an inspection agency's party code in the register."""
    cur = await conn.execute("SELECT 1 FROM parties WHERE code = %s AND role = 'agency'", (code,))
    return await cur.fetchone() is not None


async def locations_of(conn: AsyncConnection[Any], codes: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Where the registered units among ``codes`` stand: ``{registration_code: (latitude,
    longitude)}`` in WGS84 degrees (``equipment.latitude``/``longitude``); a unit not registered,
    or registered without both coordinates, is left out."""
    if not codes:
        return {}
    cur = await conn.execute("""SELECT registration_code, latitude, longitude FROM equipment
                                WHERE registration_code = ANY(%s) AND latitude IS NOT NULL AND longitude IS NOT NULL""",
                             (list(codes),))
    return {str(code): (float(lat), float(lon)) for code, lat, lon in await cur.fetchall()}
