"""A generated register for the demo and the benchmark: Xining's five districts and two
counties, every category, with inspection dates that put the city's rate in the low-to-mid
90s. Units given as they are (``GivenUnit``: the simulated city's elevators and boilers, handed
over by ``semon up``) come first, with their own codes, addresses and rated values, so the
register and the simulated fleet match.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection

from registry.codes import CodeMaker
from registry.due import (
    DESIGN_LIFE,
    SELF_TEST,
    Category,
    Facts,
    Rules,
    Scheme,
    add_months,
    end_of_month,
    is_periodic_year,
    plan,
    service_base,
    year_due,
)
from registry.model import Area, Place
from registry.store import record_rules
from semon.district_outlines import place_in_district
from semon.districts import XINING, District

# The 品种 code (特种设备目录 2014, registry.codes.CATALOG) that opens each unit's 设备代码, and how
# many of each in 20,000: traction passenger elevators, hot-water boilers, class II vessels,
# industrial piping (GC), seamless cylinders, cranes (by type: _CRANE_CODES), forklifts' class,
# observation wheels' class, aerial ropeways.
_MIX: tuple[tuple[Category, str, int], ...] = (
    (Category.ELEVATOR, "3110", 9000),
    (Category.BOILER, "1200", 800),
    (Category.PRESSURE_VESSEL, "2150", 5000),
    (Category.PRESSURE_PIPING, "8300", 1200),
    (Category.GAS_CYLINDER, "2310", 2000),
    (Category.CRANE, "4100", 1500),
    (Category.IN_PLANT_VEHICLE, "5100", 800),
    (Category.LARGE_AMUSEMENT_RIDE, "6100", 150),
    (Category.PASSENGER_ROPEWAY, "9100", 10),
)
_CRANE_CODES = {"bridge": "4100", "gantry": "4200", "tower": "4300", "mobile": "4400", "construction_hoist": "4860"}
_AGENCIES = (("QHTJY", "青海省特种设备检验检测院", "inspect@qhtjy.example.cn"),
             ("XNTJS", "西宁市特种设备检验所", "jianyan@xntjs.example.cn"),
             ("QHGLJ", "青海省锅炉压力容器检验所", "glrq@qhglj.example.cn"))
_MAINTENANCE = tuple((f"WB{i:03d}", f"{name}电梯维保有限公司", f"0971-{6100000 + i * 137:07d}") for i, name in
                     enumerate(("西宁通达", "青海三菱", "高原迅达", "湟水奥的斯", "夏都日立", "昆仑通力", "青海康力",
                                "西宁快意", "三江富士", "柴达木蒂森")))
BUREAU = ("XNSJJ", "西宁市市场监督管理局", "tzsb@xining-amr.example.cn")
DEMO_AGENCY = _AGENCIES[1][0]  # the agency the demo's agency user belongs to (semon up)


@dataclass(frozen=True, slots=True)
class GivenUnit:
    """A unit the generated register holds as it is: ``kind`` ``"elevator"`` or ``"boiler"``;
    ``rated``: the register's rated values (``floors``, ``rated_speed_mps``,
    ``reports_events`` of an elevator; ``medium``, ``rated_pressure_mpa``,
    ``rated_outlet_temp_c`` of a boiler)."""

    registration_code: str
    kind: str
    district: District
    address: str
    installed_year: int
    rated: dict[str, Any]
    location: tuple[float, float] | None = None  # (latitude, longitude), WGS84; None: the register places it


@dataclass(frozen=True, slots=True)
class DemoUnit:
    registration_code: str
    category: Category
    type: str | None
    district_code: str
    address: str
    owner: str
    maintenance: str | None
    agency: str
    status: str
    facts: Facts  # what its due dates follow from
    rescue_code: str | None = None  # elevators: 救援识别码
    area: Area = Area.URBAN
    place: Place = Place.OTHER
    latitude: float | None = None  # WGS84, inside its district's outline (semon.district_outlines)
    longitude: float | None = None

    @property
    def rated(self) -> dict[str, Any]:
        return dict(self.facts.rated)


def _type_and_rated(category: Category, rng: random.Random) -> tuple[str | None, dict[str, Any]]:
    match category:
        case Category.PRESSURE_VESSEL:
            type_ = rng.choices(("fixed", "simple", "non_metallic", "road_tanker", "tube_trailer"),
                                (0.86, 0.06, 0.03, 0.03, 0.02))[0]
            return type_, {"safety_grade": rng.choices((1, 2, 3), (0.4, 0.45, 0.15))[0]} if type_ != "simple" else {}
        case Category.PRESSURE_PIPING:
            return rng.choices(("GC1", "GC2", "GC3"), (0.1, 0.6, 0.3))[0], {}
        case Category.GAS_CYLINDER:
            gas = rng.choices(("general", "lpg", "inert", "corrosive"), (0.4, 0.4, 0.15, 0.05))[0]
            return ("welded_steel" if gas == "lpg" else "seamless_steel"), {"gas": gas}
        case Category.CRANE:
            type_ = rng.choices(("bridge", "gantry", "tower", "mobile", "construction_hoist"),
                                (0.45, 0.15, 0.2, 0.1, 0.1))[0]
            return type_, {"lifts_molten_metal": True} if type_ == "bridge" and rng.random() < 0.08 else {}
        case Category.ELEVATOR:
            return "traction_passenger", {"floors": rng.choice((6, 11, 18, 26)), "rated_speed_mps": 1.75}
        case Category.BOILER:
            rated: dict[str, Any] = {"medium": "hot_water", "rated_pressure_mpa": 1.0, "rated_outlet_temp_c": 95.0}
            if rng.random() < 0.04:
                rated["internal_impossible"] = True
            return None, rated
        case _:
            return None, {}


def _done(due: date, rng: random.Random) -> date:
    """When an inspection due on ``due`` was done: on time, within six weeks before."""
    return due - timedelta(days=rng.randint(0, 42))


def _history(category: Category, type_: str | None, rated: dict[str, Any], commissioned: date, status: str,
             today: date, rng: random.Random, overdue_share: float, rules: Rules, district_code: str) -> Facts:
    """A unit's inspection history, drawn so that each schedule falls due ahead of ``today``,
    or (with probability ``overdue_share`` per schedule) within the last eight months."""
    facts = Facts(category, type_, rated, commissioned_on=commissioned)
    if category is Category.GAS_CYLINDER:
        life = rules.table.design_life_years(category, type_, rated) or 30
        made = date(rng.randint(max(2003, today.year - life + 1), today.year - 1), rng.randint(1, 12),
                    rng.randint(1, 28))
        facts = replace(facts, manufactured_on=made, commissioned_on=made + timedelta(days=rng.randint(10, 90)))
    if category is Category.ELEVATOR:
        installed = commissioned - timedelta(days=rng.randint(3, 30))
        facts = replace(facts, installed_on=installed)
        if installed.year < today.year - 12 and rng.random() < 0.1:  # renovated (改造): the count restarts
            facts = replace(facts, renovated_on=date(rng.randint(installed.year + 8, today.year - 1),
                                                     rng.randint(1, 12), rng.randint(1, 28)))
        elif installed.year < today.year - 6 and rng.random() < 0.05:  # a major repair (重大修理)
            facts = replace(facts, major_repair_on=date(rng.randint(installed.year + 3, today.year - 1),
                                                        rng.randint(1, 12), rng.randint(1, 28)))
        facts = replace(facts, scheme=rules.scheme_of(None, district_code))
    if status == "stopped":
        facts = replace(facts, stopped_on=today - timedelta(days=rng.randint(30, 900)))
    elif status == "in_use" and rng.random() < 0.01:  # back in use after a long stop
        facts = replace(facts, stopped_on=today - timedelta(days=rng.randint(500, 900)),
                        resumed_on=today - timedelta(days=rng.randint(1, 60)))
    unit_plan = plan(facts, rules.table)
    last: dict[str, date] = {}
    if category is Category.ELEVATOR and facts.scheme is Scheme.TSG2023:
        last = _elevator_history(facts, today, rng, overdue_share, rules)
    else:
        owed = [p for p in unit_plan.schedules if p.name != DESIGN_LIFE and p.months > 0 and p.due is not None]
        base = facts.manufactured_on or facts.commissioned_on or today
        for p in owed:
            assert p.due is not None
            if rng.random() < overdue_share / len(owed):  # the latest inspection is late
                inspected = add_months(today - timedelta(days=rng.randint(1, 240)), -p.months)
            elif p.due > today:  # the first inspection is still ahead
                continue
            else:  # inspected within the last interval
                earliest = max(base, add_months(today, -p.months)) + timedelta(days=1)
                inspected = earliest + timedelta(days=rng.randint(0, max((today - earliest).days, 0)))
            if base < inspected <= today:
                last[p.name] = inspected
    if facts.stopped_on is not None and facts.resumed_on is not None and rng.random() < 0.8:
        restart = str(rules.table.entry(category).get("restart", "periodic"))  # inspected before the restart
        last[restart] = max(last.get(restart, facts.resumed_on), facts.resumed_on - timedelta(days=rng.randint(0, 20)))
    facts = replace(facts, last=last)
    if last and rng.random() < 0.03:  # the last report states the next date (year and month)
        name, on = rng.choice(sorted(last.items()))
        stated = next((p.due for p in plan(facts, rules.table).schedules if p.name == name), None)
        if stated is not None and stated > on:
            facts = replace(facts, stated={name: end_of_month(stated)})
    return facts


def _elevator_history(facts: Facts, today: date, rng: random.Random, overdue_share: float,
                      rules: Rules) -> dict[str, date]:
    """The last periodic inspection and self-test of an elevator on the 2023 scheme, each done on
    time in its service year (TSG T7001-2023), the latest one left undone with probability
    ``overdue_share``."""
    base = service_base(facts)
    if base is None:
        return {}
    scheme = rules.table.entry(Category.ELEVATOR)["schemes"][str(Scheme.TSG2023)]
    year = 0
    while year_due(base, year + 1) <= today:
        year += 1
    skipped = year if year > 0 and rng.random() < overdue_share else None
    periodic = max((n for n in range(1, year + 1) if is_periodic_year(n, scheme) and n != skipped), default=None)
    self_test = max((n for n in range(1, year + 1) if not is_periodic_year(n, scheme) and n != skipped
                     and (periodic is None or n > periodic)), default=None)
    count = base[0]
    last: dict[str, date] = {}
    if periodic is not None:
        last["periodic"] = max(_done(year_due(base, periodic), rng), count)
    if self_test is not None:
        last[SELF_TEST] = max(_done(year_due(base, self_test), rng), count)
    return last


_PLACES: dict[Category, tuple[tuple[Place, ...], tuple[float, ...]]] = {
    Category.ELEVATOR: ((Place.RESIDENTIAL, Place.OFFICE, Place.MALL, Place.HOSPITAL, Place.HOTEL, Place.SCHOOL,
                         Place.TRANSPORT, Place.PUBLIC, Place.INDUSTRIAL),
                        (0.62, 0.1, 0.08, 0.05, 0.05, 0.04, 0.02, 0.02, 0.02)),
    Category.LARGE_AMUSEMENT_RIDE: ((Place.PUBLIC,), (1.0,)),
    Category.PASSENGER_ROPEWAY: ((Place.PUBLIC,), (1.0,)),
}
_OTHER_PLACES = ((Place.INDUSTRIAL, Place.PUBLIC, Place.HOSPITAL, Place.SCHOOL, Place.OTHER),
                 (0.6, 0.15, 0.05, 0.05, 0.15))


RURAL_SPREAD_KM = 10.0  # a township's units: spread over the district around its seat, not in the town


def _where(district: District, rng: random.Random, address: str | None = None) -> tuple[Area, str]:
    """Area and address (``address`` when given): the four districts are urban, a county or
    Huangzhong has a rural part (township addresses, placed farther from the seat: ``_position``)."""
    if address is not None:
        rural = bool(district.rural) and not any(street in address for street in district.streets)
        return (Area.OTHER if rural else Area.URBAN), address
    rural = bool(district.rural) and rng.random() < (0.3 if district.county or district.code == "630106" else 0.1)
    if rural:
        return Area.OTHER, f"西宁市{district.name}{rng.choice(district.rural)}{rng.randint(1, 30)}村"
    return Area.URBAN, f"西宁市{district.name}{rng.choice(district.streets)}{rng.randint(1, 280)}号"


def _position(district: District, area: Area, key: str) -> tuple[float, float] | tuple[None, None]:
    """Where a generated unit stands, ``(latitude, longitude)``: inside its district's shipped
    outline, around the district's seat (urban: within its built-up core, a spread of 1–3 km;
    rural: ``RURAL_SPREAD_KM``), from a generator of its own seeded by ``key``, so the position
    changes none of the register's other draws (``semon.district_outlines.place``)."""
    spread = RURAL_SPREAD_KM if area is Area.OTHER else None
    return place_in_district(district.code, key, centre=district.seat, spread=spread) or (None, None)


def _rescue_codes(rng: random.Random) -> Iterator[str]:
    """Six-digit 救援识别码, unique, in no particular order."""
    seen: set[int] = set()
    while True:
        n = rng.randint(100_000, 999_999)
        if n not in seen:
            seen.add(n)
            yield f"{n:06d}"


def demo_units(total: int = 20_000, *, today: date, seed: int = 1, given: Sequence[GivenUnit] = (),
               overdue_share: float = 0.055, rules: Rules | None = None) -> Iterator[DemoUnit]:
    """``total`` units (the ``given`` ones first), with about ``overdue_share`` of their
    schedules overdue, each unit's inspection history drawn so that ``rules`` give its due dates
    (elevators on the 2023 scheme have self-tests due in their other years)."""
    rng = random.Random(f"register:{seed}")
    rules = rules or Rules()
    scale = total / sum(n for *_, n in _MIX)
    codes = CodeMaker(d.registration_code for d in given)
    by_category = {Category.ELEVATOR: [d for d in given if d.kind == "elevator"],
                   Category.BOILER: [d for d in given if d.kind == "boiler"]}
    shares = [d.share for d in XINING]
    rescue_codes = _rescue_codes(random.Random(f"rescue:{seed}"))
    for category, code, count in _MIX:
        simulated = by_category.get(category, [])
        for n in range(max(round(count * scale), len(simulated))):
            device = simulated[n] if n < len(simulated) else None
            district = device.district if device else rng.choices(XINING, shares)[0]
            year = device.installed_year if device else rng.randint(2003, 2025)
            area, address = _where(district, rng, device.address if device else None)
            if device:
                registration_code, type_, rated = device.registration_code, None, device.rated
            else:
                type_, rated = _type_and_rated(category, rng)
            places, weights = _PLACES.get(category, _OTHER_PLACES)
            place = rng.choices(places, weights)[0]
            commissioned = date(year, rng.randint(1, 12), rng.randint(1, 28))
            status = rng.choices(("in_use", "stopped", "scrapped"), (0.96, 0.03, 0.01))[0]
            facts = _history(category, type_, rated, commissioned, status, today, rng, overdue_share, rules,
                             district.code)
            if not device:  # the code's year is the manufacturing year (TSG 08-2017)
                made = facts.manufactured_on or facts.commissioned_on or commissioned
                registration_code = codes(category, _CRANE_CODES.get(type_ or "", code), made.year)
            agency = _AGENCIES[2][0] if category in (Category.BOILER, Category.PRESSURE_VESSEL) else \
                rng.choice(_AGENCIES[:2])[0]
            maintenance = rng.choice(_MAINTENANCE)[0] if category is Category.ELEVATOR else None
            latitude, longitude = (device.location if device and device.location else
                                   _position(district, area, f"register:{seed}:{registration_code}"))
            yield DemoUnit(registration_code, category, facts.type, district.code, address,
                           f"OWN{rng.randint(1, 600):04d}", maintenance, agency, status, facts,
                           next(rescue_codes) if category is Category.ELEVATOR else None, area, place, latitude,
                           longitude)


async def _seed_parties(conn: AsyncConnection) -> dict[str, int]:
    rows: list[tuple[Any, ...]] = [(c, n, "agency", None, None, e, None) for c, n, e in _AGENCIES]
    rows += [(c, n, "maintenance", "值班调度", p, None, None) for c, n, p in _MAINTENANCE]
    rows += [(BUREAU[0], BUREAU[1], "bureau", None, None, BUREAU[2], None)]
    rows += [(f"OWN{i:04d}", f"西宁业主单位{i:04d}", "owner", None, f"0971-{5200000 + i * 7:07d}",
              f"owner{i:04d}@example.cn", None) for i in range(1, 601)]
    # Each maintenance unit's duty engineers, besides its dispatch desk's phone.
    contacts = {c: orjson.dumps([{"name": f"{surname}工", "phone": f"138{i:04d}{k:04d}"}
                                 for k, surname in enumerate(("王", "李"))]).decode()
                for i, (c, _, _) in enumerate(_MAINTENANCE)}
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO parties (code, name, role, contact, phone, email, district_code, contacts)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (code) DO NOTHING""",
            [(*row, contacts.get(row[0], "[]")) for row in rows])
        await cur.execute("SELECT code, id FROM parties")
        return {str(c): int(i) for c, i in await cur.fetchall()}


async def load_units(conn: AsyncConnection, units: Iterator[DemoUnit], *, today: date,
                     rules: Rules | None = None) -> int:
    """Bulk-load generated units with COPY (the register's own upsert is per row), their due
    dates by ``rules``, and note the rules they follow."""
    rules = rules or Rules()
    ids = await _seed_parties(conn)
    count = 0
    async with conn.cursor() as cur:
        async with cur.copy("""COPY equipment (registration_code, category, type, address, district_code, owner_id,
                                 maintenance_id, agency_id, status, commissioned_on, rated, next_due, scheme,
                                 installed_on, renovated_on, major_repair_on, manufactured_on, stopped_on,
                                 resumed_on, exempt, rescue_code, area, place, latitude, longitude)
                               FROM STDIN""") as equipment_copy:
            schedules: list[tuple[Any, ...]] = []
            for unit in units:
                facts = unit.facts
                unit_plan = plan(facts, rules.table)
                schedules += [(unit.registration_code, p.name, p.months, facts.last.get(p.name), p.due,
                               facts.stated.get(p.name), p.basis) for p in unit_plan.schedules]
                await equipment_copy.write_row((
                    unit.registration_code, str(unit.category), unit.type, unit.address, unit.district_code,
                    ids[unit.owner], ids.get(unit.maintenance or ""), ids[unit.agency], unit.status,
                    facts.commissioned_on, orjson.dumps(dict(facts.rated)).decode(), unit_plan.next_due, None,
                    facts.installed_on, facts.renovated_on, facts.major_repair_on, facts.manufactured_on,
                    facts.stopped_on, facts.resumed_on, unit_plan.exempt is not None, unit.rescue_code,
                    str(unit.area), str(unit.place), unit.latitude, unit.longitude))
                count += 1
        async with cur.copy("""COPY equipment_schedules (registration_code, schedule, interval_months, last_inspected,
                                 next_due, stated_next, basis) FROM STDIN""") as schedule_copy:
            for row in schedules:
                await schedule_copy.write_row(row)
    await record_rules(conn, rules)
    return count


async def seed_demo_register(conn: AsyncConnection, *, today: date, total: int = 20_000,
                             given: Sequence[GivenUnit] = (), rules: Rules | None = None) -> int:
    """Seed an empty register (a register that has anything in it is left alone) with ``total``
    units, the ``given`` ones among them."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM equipment)")
    row = await cur.fetchone()
    if row and row[0]:
        return 0
    return await load_units(conn, demo_units(total, today=today, given=given, rules=rules), today=today, rules=rules)
