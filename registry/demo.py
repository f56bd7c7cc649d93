"""A generated register for the demo and the benchmark: Xining's five districts and two
counties, every category, with inspection dates that put the city's rate in the low-to-mid
90s. Units given as they are (``GivenUnit``: the simulated city's elevators and boilers, handed
over by ``semon up``) come first, with their own codes, addresses and rated values, so the
register and the simulated fleet match.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection

from registry.codes import CodeMaker
from registry.due import Category, add_months, default_table, next_due
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
    commissioned_on: date
    rated: dict[str, Any]
    last_inspected: dict[str, date]


def _type_and_rated(category: Category, rng: random.Random) -> tuple[str | None, dict[str, Any]]:
    match category:
        case Category.PRESSURE_VESSEL:
            return None, {"safety_grade": rng.choices((1, 2, 3, 4), (0.35, 0.4, 0.2, 0.05))[0]}
        case Category.PRESSURE_PIPING:
            return rng.choices(("GC1", "GC2", "GC3"), (0.1, 0.6, 0.3))[0], {}
        case Category.GAS_CYLINDER:
            return None, {"gas": rng.choices(("general", "lpg", "inert", "corrosive"), (0.4, 0.4, 0.15, 0.05))[0]}
        case Category.CRANE:
            return rng.choices(("bridge", "gantry", "tower", "mobile", "construction_hoist"),
                               (0.45, 0.15, 0.2, 0.1, 0.1))[0], {}
        case Category.ELEVATOR:
            return "traction_passenger", {"floors": rng.choice((6, 11, 18, 26)), "rated_speed_mps": 1.75}
        case Category.BOILER:
            return None, {"medium": "hot_water", "rated_pressure_mpa": 1.0, "rated_outlet_temp_c": 95.0}
        case _:
            return None, {}


def demo_units(total: int = 20_000, *, today: date, seed: int = 1, given: Sequence[GivenUnit] = (),
               overdue_share: float = 0.06) -> Iterator[DemoUnit]:
    """``total`` units (the ``given`` ones first), with about ``overdue_share`` overdue."""
    rng = random.Random(f"register:{seed}")
    table = default_table()
    scale = total / sum(n for *_, n in _MIX)
    codes = CodeMaker(d.registration_code for d in given)
    by_category = {Category.ELEVATOR: [d for d in given if d.kind == "elevator"],
                   Category.BOILER: [d for d in given if d.kind == "boiler"]}
    shares = [d.share for d in XINING]
    for category, code, count in _MIX:
        simulated = by_category.get(category, [])
        for n in range(max(round(count * scale), len(simulated))):
            device = simulated[n] if n < len(simulated) else None
            district = device.district if device else rng.choices(XINING, shares)[0]
            year = device.installed_year if device else rng.randint(2003, 2025)
            if device:
                registration_code, address, type_, rated = device.registration_code, device.address, None, device.rated
            else:
                address = f"西宁市{district.name}{rng.choice(district.streets)}{rng.randint(1, 280)}号"
                type_, rated = _type_and_rated(category, rng)
                registration_code = codes(category, _CRANE_CODES.get(type_ or "", code), year)
            commissioned = date(year, rng.randint(1, 12), rng.randint(1, 28))
            status = rng.choices(("in_use", "stopped", "scrapped"), (0.96, 0.03, 0.01))[0]
            last: dict[str, date] = {}
            for schedule in table.schedules(category, type_=type_, rated=rated):
                # Where the next due date should fall: mostly ahead, some behind (overdue).
                if rng.random() < overdue_share / len(table.schedules(category, type_=type_, rated=rated)):
                    due = today - timedelta(days=rng.randint(1, 240))
                else:
                    due = today + timedelta(days=rng.randint(0, max(schedule.months * 30 - 1, 1)))
                inspected = add_months(due, -schedule.months)
                last[schedule.name] = max(inspected, commissioned)
            agency = _AGENCIES[2][0] if category in (Category.BOILER, Category.PRESSURE_VESSEL) else \
                rng.choice(_AGENCIES[:2])[0]
            maintenance = rng.choice(_MAINTENANCE)[0] if category is Category.ELEVATOR else None
            yield DemoUnit(registration_code, category, type_, district.code, address, f"OWN{rng.randint(1, 600):04d}",
                           maintenance, agency, status, commissioned, rated, last)


async def _seed_parties(conn: AsyncConnection) -> dict[str, int]:
    rows: list[tuple[Any, ...]] = [(c, n, "agency", None, None, e, None) for c, n, e in _AGENCIES]
    rows += [(c, n, "maintenance", None, p, None, None) for c, n, p in _MAINTENANCE]
    rows += [(BUREAU[0], BUREAU[1], "bureau", None, None, BUREAU[2], None)]
    rows += [(f"OWN{i:04d}", f"西宁业主单位{i:04d}", "owner", None, None, f"owner{i:04d}@example.cn", None)
             for i in range(1, 601)]
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO parties (code, name, role, contact, phone, email, district_code)
               VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (code) DO NOTHING""", rows)
        await cur.execute("SELECT code, id FROM parties")
        return {str(c): int(i) for c, i in await cur.fetchall()}


async def load_units(conn: AsyncConnection, units: Iterator[DemoUnit], *, today: date) -> int:
    """Bulk-load generated units with COPY (the register's own upsert is per row)."""
    ids = await _seed_parties(conn)
    table = default_table()
    count = 0
    async with conn.cursor() as cur:
        async with cur.copy("""COPY equipment (registration_code, category, type, address, district_code, owner_id,
                                 maintenance_id, agency_id, status, commissioned_on, rated, next_due)
                               FROM STDIN""") as equipment_copy:
            schedules: list[tuple[Any, ...]] = []
            for unit in units:
                dues = []
                for schedule in table.schedules(unit.category, type_=unit.type, rated=unit.rated):
                    last = unit.last_inspected.get(schedule.name)
                    due = next_due(schedule, last_inspected=last, commissioned=unit.commissioned_on,
                                   category=unit.category, table=table)
                    dues.append(due)
                    schedules.append((unit.registration_code, schedule.name, schedule.months, last, due))
                known = [d for d in dues if d is not None]
                await equipment_copy.write_row((
                    unit.registration_code, str(unit.category), unit.type, unit.address, unit.district_code,
                    ids[unit.owner], ids.get(unit.maintenance or ""), ids[unit.agency], unit.status,
                    unit.commissioned_on, orjson.dumps(unit.rated).decode(), min(known) if known else None))
                count += 1
        async with cur.copy("""COPY equipment_schedules (registration_code, schedule, interval_months, last_inspected,
                                 next_due) FROM STDIN""") as schedule_copy:
            for row in schedules:
                await schedule_copy.write_row(row)
    return count


async def seed_demo_register(conn: AsyncConnection, *, today: date, total: int = 20_000,
                             given: Sequence[GivenUnit] = ()) -> int:
    """Seed an empty register (a register that has anything in it is left alone) with ``total``
    units, the ``given`` ones among them."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM equipment)")
    row = await cur.fetchone()
    if row and row[0]:
        return 0
    return await load_units(conn, demo_units(total, today=today, given=given), today=today)
