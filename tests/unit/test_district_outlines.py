"""The shipped outlines of Xining's districts (semon/geodata/xining-districts.json): one simple
polygon per district, holding its own seat and no other district's, and the demo's placement
of units inside them."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semon.district_outlines import (
    OUTLINES_FILE,
    Outline,
    Ring,
    district_at,
    parse_outlines,
    place,
    place_in_district,
    ring_area,
    xining_outlines,
)
from semon.districts import XINING, District

OUTLINES = xining_outlines()


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: tuple[float, float], p2: tuple[float, float], q1: tuple[float, float],
                    q2: tuple[float, float]) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4)


def ring_problems(ring: Ring) -> list[str]:
    """Why ``ring`` is not a simple closed ring (empty: it is)."""
    problems = []
    if ring[0] != ring[-1]:
        problems.append("not closed")
    if len(set(ring)) < 3:
        problems.append("fewer than 3 distinct points")
    if abs(ring_area(ring)) < 1e-9:
        problems.append("no area")
    edges = list(itertools.pairwise(ring))
    for i, (a, b) in enumerate(edges):
        for j in range(i + 2, len(edges)):
            if i == 0 and j == len(edges) - 1:
                continue  # the closing edge meets the first at the ring's start
            if _segments_cross(a, b, *edges[j]):
                problems.append(f"edges {i} and {j} cross")
    return problems


def test_every_district_has_one_outline_with_its_name() -> None:
    assert sorted(OUTLINES) == sorted(d.code for d in XINING)
    for district in XINING:
        outline = OUTLINES[district.code]
        # 大通县 is the short name of 大通回族土族自治县
        assert outline.name.startswith(district.name.removesuffix("县").removesuffix("区"))


@pytest.mark.parametrize("code", sorted(OUTLINES))
def test_each_outline_is_a_simple_polygon(code: str) -> None:
    outline = OUTLINES[code]
    assert outline.polygons
    for polygon in outline.polygons:
        for ring in polygon:
            assert ring_problems(ring) == [], code
    assert 20 < outline.area_km2 < 5000  # Xining's smallest district, 城西区, is about 54 km², 大通 3,090


@pytest.mark.parametrize("code", sorted(OUTLINES))
def test_each_outline_holds_its_seat_and_no_other(code: str) -> None:
    seat = OUTLINES[code].seat  # the data's 行政中心 (longitude, latitude)
    assert district_at(OUTLINES, seat[1], seat[0]) == code
    assert [c for c, o in OUTLINES.items() if o.contains(*seat)] == [code]


@pytest.mark.parametrize("district", XINING, ids=lambda d: d.code)
def test_each_districts_seat_is_inside_its_outline(district: District) -> None:
    """The seat the demo places units around (``semon.districts``, latitude first)."""
    assert district_at(OUTLINES, *district.seat) == district.code


def test_the_outlines_lie_where_xining_is() -> None:
    # 西宁市 spans about 100.9–102.0° E, 36.2–37.5° N
    for outline in OUTLINES.values():
        west, south, east, north = outline.bbox
        assert 100.8 < west < east < 102.1 and 36.1 < south < north < 37.6


def test_the_file_is_small_enough_to_serve() -> None:
    assert OUTLINES_FILE.stat().st_size < 64 * 1024


def test_a_hole_is_outside() -> None:
    square: Ring = ((0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0))
    hole: Ring = ((1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0), (1.0, 1.0))
    outline = Outline("x", "x", (0.5, 0.5), ((square, hole),))
    assert outline.contains(0.5, 0.5) and not outline.contains(2.0, 2.0) and not outline.contains(5.0, 2.0)
    assert "edges 0 and 2 cross" in ring_problems(((0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)))


def test_bad_files_are_refused() -> None:
    with pytest.raises(ValueError, match="not the districts' outlines"):
        parse_outlines(b'{"features": [{"properties": {}}]}')
    with pytest.raises(ValueError, match="not the districts' outlines"):
        parse_outlines(b"[")


@settings(max_examples=60, deadline=None)
@given(code=st.sampled_from(sorted(OUTLINES)), seed=st.integers(0, 2**32))
def test_a_placed_unit_is_inside_its_own_district_only(code: str, seed: int) -> None:
    latitude, longitude = place(OUTLINES[code], random.Random(seed))
    assert district_at(OUTLINES, latitude, longitude) == code


def test_placement_is_denser_near_the_seat() -> None:
    for code in ("630103", "630121"):  # a city district, a county: both cluster in their towns
        outline = OUTLINES[code]
        points = [place_in_district(code, f"t:{n}") for n in range(400)]
        near = sum(1 for p in points if p and abs(p[0] - outline.seat[1]) < 0.03 and abs(p[1] - outline.seat[0]) < 0.03)
        west, south, east, north = outline.bbox
        box_share = (0.06 * 0.06) / ((east - west) * (north - south))
        assert near / len(points) > 4 * box_share, code  # far above what a uniform spread would put there
    assert place_in_district("630102", "same") == place_in_district("630102", "same")
    assert place_in_district("999999", "x") is None


def test_the_demo_register_and_the_simulated_city_place_units_in_their_districts() -> None:
    from datetime import date

    from assembly.parts import city_units
    from registry.demo import demo_units
    from simulators.city import city_fleet

    fleet = city_fleet(30, 5, seed=3)
    for device in fleet:
        assert device.location is not None
        assert district_at(OUTLINES, *device.location) == device.district.code, device
    given = city_units(30, 5, seed=3)
    units = list(demo_units(600, today=date(2026, 11, 30), seed=3, given=given))
    by_code = {u.registration_code: u for u in units}
    for device in fleet:  # the register holds the city's devices where they stand
        unit = by_code[device.device_id]
        assert (unit.latitude, unit.longitude) == device.location
    for unit in units:
        assert unit.latitude is not None and unit.longitude is not None
        assert district_at(OUTLINES, unit.latitude, unit.longitude) == unit.district_code, unit.registration_code
    assert len({(u.latitude, u.longitude) for u in units}) == len(units)
    # Urban units stand in their district's built-up core, within three spreads (3 km at most) of the seat.
    seats = {d.code: d.seat for d in XINING}
    for unit in units:
        if unit.area == "urban":
            assert unit.latitude is not None and unit.longitude is not None
            lat, lon = seats[unit.district_code]
            assert abs(unit.latitude - lat) < 0.082 and abs(unit.longitude - lon) < 0.102, unit.registration_code
