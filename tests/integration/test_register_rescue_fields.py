"""The register's rescue fields against the real database: imported, stored, exported, served
on the unit's card, one rescue code per lift, and a demo register that has them all."""

from __future__ import annotations

import io
from datetime import date

import psycopg
import pytest

from assembly.parts import city_units
from registry.demo import seed_demo_register
from registry.io import export_register, import_register
from registry.store import unit_entry
from semon.districts import XINING
from tests.integration.helpers import query

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 30)
HEADER = ("registration_code,category,district_code,rescue_code,area,place,latitude,longitude,maintenance_code,"
          "maintenance_name,maintenance_contacts\n")


async def _import(url: str, text: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        report = await import_register(conn, text.encode("utf-8"), "csv", today=TODAY)
    return [str(p) for p in report.problems]


async def test_imported_fields_are_on_the_card_and_in_the_export(database_url: str) -> None:
    problems = await _import(database_url, HEADER + "E1,电梯,630121,100200,其他,住宅,36.95,101.70,WB1,维保公司,"
                             "王工 13800000001; 李工 13800000002\n")
    assert problems == []
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        card = await unit_entry(conn, "E1")
    assert card is not None
    assert (card["rescue_code"], card["area"], card["place"]) == ("100200", "other", "residential")
    assert (card["latitude"], card["longitude"]) == (36.95, 101.70)
    assert card["maintenance_unit"]["contacts"] == [{"name": "王工", "phone": "13800000001"},
                                                   {"name": "李工", "phone": "13800000002"}]
    out = io.BytesIO()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await export_register(conn, out, "csv")
    text = out.getvalue().decode("utf-8-sig")
    assert "100200" in text and "王工 13800000001; 李工 13800000002" in text

    # A file without the contacts column leaves them; one with an empty cell too.
    assert await _import(database_url, "registration_code,category,district_code,maintenance_code\n"
                         "E1,电梯,630121,WB1\n") == []
    rows = await query(database_url, "SELECT jsonb_array_length(contacts) FROM parties WHERE code = 'WB1'")
    assert rows == [(2,)]


async def test_a_rescue_code_of_another_lift_is_refused_with_the_reason(database_url: str) -> None:
    assert await _import(database_url, HEADER + "E1,电梯,630102,555666,,,,,,,\n") == []
    problems = await _import(database_url, HEADER + "E2,电梯,630102,555666,,,,,,,\n")
    assert problems == ["line 2: not stored: rescue_code is another unit's: a 救援识别码 names one lift"]
    assert await query(database_url, "SELECT registration_code FROM equipment ORDER BY 1") == [("E1",)]


async def test_the_demo_register_has_rescue_codes_areas_places_and_positions(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=TODAY, total=3000, given=city_units(20, 2))
        await conn.commit()
    [(elevators, coded, distinct)] = await query(
        database_url, """SELECT count(*), count(rescue_code), count(DISTINCT rescue_code) FROM equipment
                         WHERE category = 'elevator'""")
    assert isinstance(elevators, int) and elevators > 0 and coded == distinct == elevators
    assert await query(database_url, "SELECT count(*) FROM equipment WHERE category <> 'elevator' "
                       "AND rescue_code IS NOT NULL") == [(0,)]
    seats = {d.code: d.seat for d in XINING}
    rows = await query(database_url, "SELECT district_code, area, place, latitude, longitude FROM equipment")
    assert all(place is not None and area in ("urban", "other") for _, area, place, _, _ in rows)
    # Near their own district's seat: urban units within a few km, rural ones within a county's reach.
    for district, area, _, lat, lon in rows:
        assert isinstance(lat, float) and isinstance(lon, float)
        seat_lat, seat_lon = seats[str(district)]
        reach = 0.1 if area == "urban" else 0.45
        assert abs(lat - seat_lat) < reach and abs(lon - seat_lon) < reach * 1.2, (district, lat, lon)
    urban_only = {"630102", "630103", "630104"}
    assert not [r for r in rows if r[0] in urban_only and r[1] != "urban"]
    assert {r[1] for r in rows if r[0] == "630121"} == {"urban", "other"}
    [(contacts,)] = await query(database_url, "SELECT min(jsonb_array_length(contacts)) FROM parties "
                                "WHERE role = 'maintenance'")
    assert contacts == 2
