"""The register in PostgreSQL: parties, equipment and its schedules, inspections.

Each piece of equipment keeps one row per schedule with its last inspection and next due
date; ``equipment.next_due`` is the earliest of them, so the daily scan and the inspection
rate are one indexed pass over one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from registry.due import Category, DueError, IntervalTable, Result, Schedule, default_table, next_due
from registry.model import Equipment, Party


async def upsert_party(conn: AsyncConnection, party: Party) -> int:
    cur = await conn.execute(
        """INSERT INTO parties (code, name, role, contact, phone, email, webhook_url, webhook_secret, district_code)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (code) DO UPDATE SET name = excluded.name, role = excluded.role, contact = excluded.contact,
             phone = excluded.phone, email = excluded.email, webhook_url = excluded.webhook_url,
             webhook_secret = excluded.webhook_secret, district_code = excluded.district_code
           RETURNING id""",
        (party.code, party.name, str(party.role), party.contact, party.phone, party.email, party.webhook_url,
         party.webhook_secret, party.district_code),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def party_ids(conn: AsyncConnection, codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    cur = await conn.execute("SELECT code, id FROM parties WHERE code = ANY(%s)", (list(codes),))
    return {str(code): int(id_) for code, id_ in await cur.fetchall()}


async def upsert_equipment(conn: AsyncConnection, item: Equipment, *, table: IntervalTable | None = None,
                           parties: dict[str, int] | None = None) -> None:
    """Insert or update one piece of equipment and its schedules (idempotent: the same record
    twice changes nothing). Known last inspections are kept unless the record brings newer."""
    table = table or default_table()
    schedules = table.schedules(item.category, type_=item.type, rated=item.rated, overrides=item.interval_overrides)
    ids = parties if parties is not None else await party_ids(
        conn, {c for c in (item.owner, item.maintenance, item.agency) if c})
    for role, code in (("owner", item.owner), ("maintenance unit", item.maintenance), ("agency", item.agency)):
        if code and code not in ids:
            raise DueError(f"{role} {code!r} is not a registered party")
    await conn.execute(
        """INSERT INTO equipment (registration_code, category, type, address, district_code, owner_id, maintenance_id,
             agency_id, status, commissioned_on, rated, interval_overrides, use_registration_no)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (registration_code) DO UPDATE SET category = excluded.category, type = excluded.type,
             address = excluded.address, district_code = excluded.district_code, owner_id = excluded.owner_id,
             maintenance_id = excluded.maintenance_id, agency_id = excluded.agency_id, status = excluded.status,
             commissioned_on = excluded.commissioned_on, rated = excluded.rated,
             interval_overrides = excluded.interval_overrides, use_registration_no = excluded.use_registration_no,
             updated_at = now()""",
        (item.registration_code, str(item.category), item.type, item.address, item.district_code,
         ids.get(item.owner or ""), ids.get(item.maintenance or ""), ids.get(item.agency or ""), str(item.status),
         item.commissioned_on, Jsonb(item.rated), Jsonb(item.interval_overrides), item.use_registration_no),
    )
    cur = await conn.execute(
        "SELECT schedule, last_inspected FROM equipment_schedules WHERE registration_code = %s",
        (item.registration_code,))
    known: dict[str, date | None] = {str(s): d for s, d in await cur.fetchall()}
    names = [s.name for s in schedules]
    await conn.execute("DELETE FROM equipment_schedules WHERE registration_code = %s AND NOT schedule = ANY(%s)",
                       (item.registration_code, names))
    for schedule in schedules:
        last = _later(known.get(schedule.name), item.last_inspected.get(schedule.name))
        due = next_due(schedule, last_inspected=last, commissioned=item.commissioned_on, category=item.category,
                       table=table)
        await conn.execute(
            """INSERT INTO equipment_schedules (registration_code, schedule, interval_months, last_inspected, next_due)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (registration_code, schedule) DO UPDATE SET interval_months = excluded.interval_months,
                 last_inspected = excluded.last_inspected, next_due = excluded.next_due""",
            (item.registration_code, schedule.name, schedule.months, last, due))
    await _refresh(conn, item.registration_code)


def _later(a: date | None, b: date | None) -> date | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


# A unit is fit for use only when every one of its schedules is: none may be a 0-month schedule
# (a grade 5 vessel: not to be used at all) and none may have a failed inspection as its latest
# one. A pass on one schedule (a boiler's external) does not undo a fail on another (its internal).
_REFRESH = """
UPDATE equipment SET
  next_due = (SELECT min(s.next_due) FROM equipment_schedules s
              WHERE s.registration_code = equipment.registration_code),
  fit_for_use = NOT EXISTS (
    SELECT 1 FROM equipment_schedules s
    WHERE s.registration_code = equipment.registration_code
      AND (s.interval_months <= 0
           OR (SELECT i.result FROM inspections i
               WHERE i.registration_code = s.registration_code AND i.schedule = s.schedule
               ORDER BY i.inspected_on DESC LIMIT 1) = 'fail'))
WHERE registration_code = %s
"""


async def _refresh(conn: AsyncConnection, code: str) -> None:
    """Recompute the unit's earliest due date and its fitness from its schedules and inspections."""
    await conn.execute(_REFRESH, (code,))


async def record_inspection(conn: AsyncConnection, code: str, *, schedule: str, inspected_on: date, result: Result,
                            agency: str | None = None, report_no: str | None = None, recorded_by: str | None = None,
                            table: IntervalTable | None = None) -> dict[str, Any]:
    """Record an inspection. A pass (or conditional pass) moves its schedule on; a fail leaves
    the schedule where it was. The unit is fit for use when the latest inspection of every one
    of its schedules is not a fail (and none is a 0-month schedule): a pass on one schedule does
    not make up for a fail on another."""
    table = table or default_table()
    cur = await conn.execute(
        """SELECT e.category, e.commissioned_on, s.interval_months, s.last_inspected
           FROM equipment e JOIN equipment_schedules s USING (registration_code)
           WHERE e.registration_code = %s AND s.schedule = %s FOR UPDATE""", (code, schedule))
    row = await cur.fetchone()
    if row is None:
        raise DueError(f"no equipment {code!r} with a {schedule!r} schedule")
    category, commissioned, months, last = row
    agency_id = (await party_ids(conn, {agency})).get(agency) if agency else None
    if agency and agency_id is None:
        raise DueError(f"agency {agency!r} is not a registered party")
    await conn.execute(
        """INSERT INTO inspections
             (registration_code, schedule, inspected_on, result, agency_id, report_no, recorded_by)
           VALUES (%s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (registration_code, schedule, inspected_on) DO UPDATE SET result = excluded.result,
             agency_id = excluded.agency_id, report_no = excluded.report_no, recorded_by = excluded.recorded_by""",
        (code, schedule, inspected_on, str(result), agency_id, report_no, recorded_by))
    if result is not Result.FAIL:
        newest = _later(last, inspected_on)
        due = next_due(Schedule(schedule, int(months)), last_inspected=newest, commissioned=commissioned,
                       category=Category(category), table=table)
        await conn.execute(
            """UPDATE equipment_schedules SET last_inspected = %s, next_due = %s
               WHERE registration_code = %s AND schedule = %s""", (newest, due, code, schedule))
    await _refresh(conn, code)
    cur = await conn.execute("SELECT next_due, fit_for_use FROM equipment WHERE registration_code = %s", (code,))
    state = await cur.fetchone()
    assert state is not None
    return {"registration_code": code, "next_due": state[0], "fit_for_use": state[1]}


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


_CARD_SQL = """
SELECT e.category, e.type, e.address, e.district_code, e.status, e.next_due, e.fit_for_use, e.commissioned_on,
       o.code, o.name, m.code, m.name, m.phone, m.contact, a.code, a.name, e.use_registration_no
FROM equipment e LEFT JOIN parties o ON o.id = e.owner_id
     LEFT JOIN parties m ON m.id = e.maintenance_id LEFT JOIN parties a ON a.id = e.agency_id
WHERE e.registration_code = %s"""
_SCHEDULES_SQL = """SELECT schedule, interval_months, last_inspected, next_due FROM equipment_schedules
                    WHERE registration_code = %s ORDER BY schedule"""
_LAST_INSPECTION_SQL = """SELECT schedule, inspected_on, result, report_no FROM inspections
                          WHERE registration_code = %s ORDER BY inspected_on DESC, id DESC LIMIT 1"""


def _party_json(code: str | None, name: str | None, **extra: Any) -> dict[str, Any] | None:
    return {"code": code, "name": name, **extra} if code else None


async def unit_entry(conn: AsyncConnection[Any], code: str) -> dict[str, Any] | None:
    """One unit as the register holds it, or None if it is not registered: ``category``,
    ``type``, ``address``, ``district_code`` (the district it stands in), ``use_registration_no``
    (使用登记证编号 or None), ``status``, ``next_due``, ``fit_for_use``,
    ``commissioned_on``, ``owner`` / ``agency`` (``{"code", "name"}`` or None),
    ``maintenance_unit`` (also ``phone``, ``contact``), ``schedules`` (``schedule``,
    ``interval_months``, ``last_inspected``, ``next_due``; by schedule) and ``last_inspection``
    (the newest recorded: ``schedule``, ``inspected_on``, ``result``, ``report_no``; or None)."""
    cur = await conn.execute(_CARD_SQL, (code,))
    row = await cur.fetchone()
    if row is None:
        return None
    (category, type_, address, district, status, next_due, fit, commissioned, owner_code, owner, maint_code, maint,
     maint_phone, maint_contact, agency_code, agency, use_no) = row
    cur = await conn.execute(_SCHEDULES_SQL, (code,))
    schedules = [{"schedule": s, "interval_months": m, "last_inspected": li, "next_due": nd}
                 for s, m, li, nd in await cur.fetchall()]
    cur = await conn.execute(_LAST_INSPECTION_SQL, (code,))
    last = await cur.fetchone()
    return {
        "category": category, "type": type_, "address": address, "district_code": district,
        "use_registration_no": use_no, "status": status,
        "next_due": next_due, "fit_for_use": fit, "commissioned_on": commissioned,
        "owner": _party_json(owner_code, owner),
        "maintenance_unit": _party_json(maint_code, maint, phone=maint_phone, contact=maint_contact),
        "agency": _party_json(agency_code, agency),
        "last_inspection": None if last is None else dict(zip(("schedule", "inspected_on", "result", "report_no"),
                                                              last, strict=True)),
        "schedules": schedules,
    }


async def agency_exists(conn: AsyncConnection[Any], code: str) -> bool:
    """Whether ``code`` is an inspection agency's party code in the register."""
    cur = await conn.execute("SELECT 1 FROM parties WHERE code = %s AND role = 'agency'", (code,))
    return await cur.fetchone() is not None
