"""Equipment codes (TSG 08-2017 and the older 注册代码): each kind read, the catalog's categories,
generated codes that read back, and no district taken from any code."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.codes import CATALOG, EARLIEST_YEAR, CodeKind, CodeMaker, category_conflict, read_code
from registry.demo import GivenUnit, demo_units
from registry.due import Category
from semon.districts import XINING
from semon.equipment_codes import (
    BOILER_MANUFACTURERS,
    ELEVATOR_MANUFACTURERS,
    MAX_SERIAL,
    OTHER_MANUFACTURERS,
    device_code,
    serial_text,
)
from semon.protocol.topics import DEVICE_ID_PATTERN
from semon.today import register_today
from simulators.city import city_fleet

YEAR = 2026


def test_an_18_character_device_code_is_read_into_its_parts() -> None:
    reading = read_code("311010036201900001", this_year=YEAR)
    assert reading.kind is CodeKind.DEVICE_CODE
    assert (reading.variety, reading.issuer, reading.year, reading.serial) == ("3110", "10036", 2019, "00001")
    assert reading.category is Category.ELEVATOR and reading.entry is not None
    assert reading.entry.name == "曳引驱动乘客电梯" and reading.doubts == ()


def test_a_19_character_device_code_carries_the_registration_authority() -> None:
    reading = read_code("2150630100201700042", this_year=YEAR)
    assert reading.kind is CodeKind.DEVICE_CODE
    assert (reading.variety, reading.issuer, reading.year, reading.serial) == ("2150", "630100", 2017, "00042")
    assert reading.category is Category.PRESSURE_VESSEL


def test_a_20_digit_registration_code_is_read_and_its_division_code_is_the_authority_s() -> None:
    reading = read_code("31106301212019000555", this_year=YEAR)
    assert reading.kind is CodeKind.REGISTRATION_CODE
    assert (reading.variety, reading.issuer, reading.year, reading.serial) == ("3110", "630121", 2019, "000555")
    assert reading.category is Category.ELEVATOR


@pytest.mark.parametrize("code", ["E-1", "ELEV0001", "BENCH000042", "3110", "311010036201900001X" * 2, "",
                                  "311010036201900001 "])
def test_another_id_is_neither_kind_and_has_no_parts(code: str) -> None:
    reading = read_code(code, this_year=YEAR)
    assert reading.kind is CodeKind.OTHER and reading.category is None
    assert (reading.variety, reading.issuer, reading.year, reading.serial) == (None, None, None, None)


@pytest.mark.parametrize(("code", "doubt"), [
    ("311010036189000001", f"year 1890 is not from {EARLIEST_YEAR} to {YEAR}"),
    ("311010036202700001", f"year 2027 is not from {EARLIEST_YEAR} to {YEAR}"),
    ("31106301022031000001", f"year 2031 is not from {EARLIEST_YEAR} to {YEAR}"),
    ("999910036201900001", "category code 9999 is not in the 特种设备目录 (2014)"),
    ("21606301012006010101", "category code 2160 is not in the 特种设备目录 (2014)"),
])
def test_a_code_of_a_standard_length_that_fails_a_check_is_another_id_with_the_reason(code: str, doubt: str) -> None:
    reading = read_code(code, this_year=YEAR)
    assert reading.kind is CodeKind.OTHER and reading.doubts == (doubt,)


@pytest.mark.parametrize("code", ["3110100A6201900001", "3110063010201900001", "3110630102201900012X",
                                  "3110１００３６201900001", "3110a0036201900001"])
def test_a_code_of_a_standard_length_but_another_shape_says_so(code: str) -> None:
    reading = read_code(code, this_year=YEAR)
    assert reading.kind is CodeKind.OTHER
    assert len(reading.doubts) == 1 and reading.doubts[0].startswith(f"{len(code)} characters, but not ")


def test_the_year_bound_defaults_to_the_register_s_today() -> None:
    this_year = register_today().year
    assert read_code(f"311010036{this_year}00001").kind is CodeKind.DEVICE_CODE
    assert read_code(f"311010036{this_year + 1}00001").kind is CodeKind.OTHER


@pytest.mark.parametrize(("variety", "category"), [
    ("1200", Category.BOILER), ("1310", Category.BOILER), ("2150", Category.PRESSURE_VESSEL),
    ("2220", Category.PRESSURE_VESSEL), ("2410", Category.PRESSURE_VESSEL), ("2310", Category.GAS_CYLINDER),
    ("23T0", Category.GAS_CYLINDER), ("3310", Category.ELEVATOR), ("3430", Category.ELEVATOR),
    ("4300", Category.CRANE), ("4860", Category.CRANE), ("4A00", Category.CRANE), ("4D00", Category.CRANE),
    ("5110", Category.IN_PLANT_VEHICLE), ("5200", Category.IN_PLANT_VEHICLE),
    ("6A00", Category.LARGE_AMUSEMENT_RIDE), ("6E40", Category.LARGE_AMUSEMENT_RIDE),
    ("8300", Category.PRESSURE_PIPING), ("8120", Category.PRESSURE_PIPING), ("9100", Category.PASSENGER_ROPEWAY),
    ("9320", Category.PASSENGER_ROPEWAY),
])
def test_each_category_code_belongs_to_one_register_category(variety: str, category: Category) -> None:
    reading = read_code(device_code(variety, "10036", 2020, 7), this_year=YEAR)
    assert reading.kind is CodeKind.DEVICE_CODE and reading.variety == variety and reading.category is category


def test_the_catalog_covers_every_register_category_and_its_kinds_are_grouped() -> None:
    assert {e.category for e in CATALOG.values()} == set(Category)
    first = {"1": {Category.BOILER}, "2": {Category.PRESSURE_VESSEL, Category.GAS_CYLINDER},
             "3": {Category.ELEVATOR}, "4": {Category.CRANE}, "5": {Category.IN_PLANT_VEHICLE},
             "6": {Category.LARGE_AMUSEMENT_RIDE}, "8": {Category.PRESSURE_PIPING}, "9": {Category.PASSENGER_ROPEWAY}}
    for code, entry in CATALOG.items():
        assert len(code) == 4 and code == entry.code and entry.name
        assert entry.category in first[code[0]], code
        assert (entry.category is Category.GAS_CYLINDER) == code.startswith("23"), code


def test_a_code_of_another_category_conflicts_with_the_row() -> None:
    why = category_conflict("311010036201900001", Category.BOILER, this_year=YEAR)
    assert why == ("registration_code 311010036201900001 reads as a 设备代码 of category code 3110 (曳引驱动乘客电梯: "
                   "elevator), but the row's category is boiler: check the code and the category")
    old = category_conflict("23106301012010000001", Category.PRESSURE_VESSEL, this_year=YEAR)
    assert old is not None and "注册代码 of category code 2310 (无缝气瓶: gas_cylinder)" in old
    assert category_conflict("311010036201900001", Category.ELEVATOR, this_year=YEAR) is None
    assert category_conflict("24106301012010000001", Category.PRESSURE_VESSEL, this_year=YEAR) is None  # 氧舱
    assert category_conflict("E-1", Category.BOILER, this_year=YEAR) is None
    assert category_conflict("311010036189000001", Category.BOILER, this_year=YEAR) is None  # not read: no claim


# --- writing codes -----------------------------------------------------------------------------

def test_the_serial_takes_a_letter_past_99999() -> None:
    assert [serial_text(n) for n in (0, 1, 99_999, 100_000, 100_001, 110_000, MAX_SERIAL)] == [
        "00000", "00001", "99999", "A0000", "A0001", "B0000", "Z9999"]
    for bad in (-1, MAX_SERIAL + 1):
        with pytest.raises(ValueError, match="制造顺序号"):
            serial_text(bad)


@pytest.mark.parametrize(("parts", "message"), [
    (("311", "10036", 2020, 1), "设备类别代码"), (("3110", "1003", 2020, 1), "制造单位代号"),
    (("3110", "1003A", 2020, 1), "制造单位代号"), (("3110", "10036", 999, 1), "制造年份"),
])
def test_a_part_that_does_not_fit_is_refused(parts: tuple[str, str, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        device_code(*parts)


@given(variety=st.sampled_from(sorted(CATALOG)), maker=st.from_regex(r"[0-9]{5}", fullmatch=True),
       year=st.integers(EARLIEST_YEAR, YEAR), serial=st.integers(0, MAX_SERIAL))
def test_a_written_code_reads_back(variety: str, maker: str, year: int, serial: int) -> None:
    code = device_code(variety, maker, year, serial)
    reading = read_code(code, this_year=YEAR)
    assert len(code) == 18 and DEVICE_ID_PATTERN.fullmatch(code)
    assert reading.kind is CodeKind.DEVICE_CODE
    assert (reading.variety, reading.issuer, reading.year) == (variety, maker, year)
    assert reading.serial == serial_text(serial)
    assert reading.category is CATALOG[variety].category


@given(variety=st.sampled_from(sorted(CATALOG)), authority=st.from_regex(r"[1-9][0-9]{5}", fullmatch=True),
       year=st.integers(EARLIEST_YEAR, YEAR), serial=st.integers(0, 999_999))
def test_an_authority_s_codes_read_back(variety: str, authority: str, year: int, serial: int) -> None:
    nineteen = read_code(f"{variety}{authority}{year}{serial % 100_000:05d}", this_year=YEAR)
    twenty = read_code(f"{variety}{authority}{year}{serial:06d}", this_year=YEAR)
    assert (nineteen.kind, twenty.kind) == (CodeKind.DEVICE_CODE, CodeKind.REGISTRATION_CODE)
    assert nineteen.issuer == twenty.issuer == authority and nineteen.year == twenty.year == year


@given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789ABTZ", min_size=17, max_size=21)),
       st.integers(0, 9999))
def test_any_text_is_read_without_raising(text: str, this_year: int) -> None:
    reading = read_code(text, this_year=this_year)
    assert reading.code == text
    if reading.kind is CodeKind.OTHER:
        assert reading.variety is None and reading.category is None
    else:
        assert reading.variety in CATALOG and reading.year is not None
        assert EARLIEST_YEAR <= reading.year <= this_year and not reading.doubts
    for category in Category:
        category_conflict(text, category, this_year=this_year)


# --- generated registers: codes of the right category, no district inside ----------------------

def test_the_code_maker_is_unique_deterministic_and_keeps_off_taken_codes() -> None:
    taken = [device_code("3110", ELEVATOR_MANUFACTURERS[0], 2020, n) for n in (1, 2, 4)]
    calls = [(Category.ELEVATOR, "3110", 2020)] * 40 + [(Category.CRANE, "4300", 2020)] * 20
    make, again = CodeMaker(taken), CodeMaker(taken)
    codes = [make(*c) for c in calls]
    assert codes == [again(*c) for c in calls]
    assert len(set(codes)) == len(codes) and not set(codes) & set(taken)
    assert {c[4:9] for c in codes[:40]} == set(ELEVATOR_MANUFACTURERS)
    assert {c[4:9] for c in codes[40:]} <= set(OTHER_MANUFACTURERS)
    assert all(read_code(c, this_year=YEAR).category is cat for c, (cat, _, _) in zip(codes, calls, strict=True))
    with pytest.raises(ValueError, match="not a category code of boiler"):
        make(Category.BOILER, "3110", 2020)


def test_the_demo_register_s_codes_are_device_codes_of_each_unit_s_kind() -> None:
    given_units = [GivenUnit(d.device_id, str(d.kind), d.district, d.address, d.installed_year, {})
                   for d in city_fleet(30, 5)]
    units = list(demo_units(2_000, today=date(2025, 6, 1), given=given_units))
    codes = [u.registration_code for u in units]
    assert len(set(codes)) == len(codes) and abs(len(codes) - 2_000) <= 9  # rounded per category
    assert codes[:30] == [g.registration_code for g in given_units[:30]]  # the city's elevators as they are
    crane_codes = {"bridge": "4100", "gantry": "4200", "tower": "4300", "mobile": "4400", "construction_hoist": "4860"}
    wanted = {Category.BOILER: {"1100", "1200"}, Category.PRESSURE_VESSEL: {"2150"},
              Category.PRESSURE_PIPING: {"8300"}, Category.GAS_CYLINDER: {"2310"},
              Category.IN_PLANT_VEHICLE: {"5100"}, Category.LARGE_AMUSEMENT_RIDE: {"6100"},
              Category.PASSENGER_ROPEWAY: {"9100"}, Category.ELEVATOR: {"3110"}}
    for unit in units:
        reading = read_code(unit.registration_code, this_year=2025)
        assert reading.kind is CodeKind.DEVICE_CODE and len(unit.registration_code) == 18, unit
        made = unit.facts.manufactured_on or unit.facts.commissioned_on
        assert made is not None and reading.category is unit.category and reading.year == made.year
        if unit.category is Category.CRANE:
            assert unit.type is not None and reading.variety == crane_codes[unit.type]
        else:
            assert reading.variety in wanted[unit.category], unit
    given_codes = {g.registration_code for g in given_units}
    generated_boilers = [u for u in units if u.category is Category.BOILER and u.registration_code not in given_codes]
    assert generated_boilers and all(u.registration_code.startswith("1200") for u in generated_boilers)
    again = [u.registration_code for u in demo_units(2_000, today=date(2025, 6, 1), given=given_units)]
    other_seed = [u.registration_code for u in demo_units(2_000, today=date(2025, 6, 1), given=given_units, seed=2)]
    assert again == codes and other_seed != codes


def test_the_simulated_city_s_codes_hold_no_district() -> None:
    fleet = city_fleet(300, 30, seed=3)
    assert len({d.device_id for d in fleet}) == len(fleet)
    for n, device in enumerate(fleet):
        reading = read_code(device.device_id, this_year=YEAR)
        assert reading.kind is CodeKind.DEVICE_CODE and reading.year == device.installed_year
        assert reading.category is (Category.ELEVATOR if str(device.kind) == "elevator" else Category.BOILER)
        makers = ELEVATOR_MANUFACTURERS if str(device.kind) == "elevator" else BOILER_MANUFACTURERS
        assert reading.issuer in makers and reading.serial == serial_text(n + 1)
    assert {d.district for d in fleet} == set(XINING)  # the district is the device's own attribute
    moved = city_fleet(300, 30, seed=3, first_serial=200_001)
    assert [d.device_id[:13] for d in moved] == [d.device_id[:13] for d in fleet]
    assert [read_code(d.device_id, this_year=YEAR).serial for d in moved][:2] == ["K0001", "K0002"]
