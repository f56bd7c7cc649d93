"""The register file's rows: every cell checked, every bad row reported by line and reason."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.due import Category, default_table
from registry.io import iter_csv, iter_xlsx
from registry.io_rows import (
    COLUMN_BY_NAME,
    COLUMNS,
    SCHEDULES,
    Cell,
    Header,
    PartyRef,
    Problem,
    RegisterRow,
    Rejected,
    SourceRow,
    columns_markdown,
    csv_text,
    is_blank,
    parse_row,
    read_rows,
    row_cells,
)
from registry.model import Equipment, Role, Status

TODAY = date(2025, 6, 1)
BASE = ("registration_code", "category", "district_code")
Outcome = RegisterRow | Rejected | Problem


def rows_of(*records: Sequence[Cell], header: Sequence[str] = BASE) -> list[Outcome]:
    """Read records given as cells, the header being line 1."""
    source = [SourceRow(1, list(header))] + [SourceRow(n, list(r)) for n, r in enumerate(records, 2)]
    return list(read_rows(source, table=default_table(), today=TODAY))


def one(*cells: Cell, header: Sequence[str] = BASE) -> RegisterRow | Rejected:
    out = [o for o in rows_of(cells, header=header) if not isinstance(o, Problem)]
    assert len(out) == 1
    return out[0]


def reasons(*cells: Cell, header: Sequence[str] = BASE) -> list[str]:
    outcome = one(*cells, header=header)
    assert isinstance(outcome, Rejected), outcome
    return [str(p) for p in outcome.problems]


def good(*cells: Cell, header: Sequence[str] = BASE) -> RegisterRow:
    outcome = one(*cells, header=header)
    assert isinstance(outcome, RegisterRow), [str(p) for p in outcome.problems]
    return outcome


def csv_rows(data: bytes) -> list[Outcome]:
    return list(read_rows(iter_csv(io.BytesIO(data)), table=default_table(), today=TODAY))


# --- the header --------------------------------------------------------------------------------

def test_a_missing_required_column_is_one_error_for_the_file() -> None:
    out = rows_of(("E1", "elevator"), ("E2", "elevator"), header=("registration_code", "category"))
    assert [str(o) for o in out] == ["line 1: required column district_code (区县代码) is missing"]


def test_unknown_columns_are_one_warning_and_export_only_columns_are_ignored() -> None:
    out = rows_of(("E1", "elevator", "630102", "x", "2030-01-01", "y"),
                  ("E2", "elevator", "630102", "x", "nonsense", "y"),
                  header=(*BASE, "colour", "next_due", "Remarks"))
    warnings = [o for o in out if isinstance(o, Problem)]
    assert [str(w) for w in warnings] == ["line 1: unknown columns ignored: colour, Remarks"]
    assert warnings[0].warning
    assert [o.equipment.registration_code for o in out if isinstance(o, RegisterRow)] == ["E1", "E2"]


def test_a_column_named_twice_is_an_error() -> None:
    header, problems = Header.parse(1, [*BASE, "Category"])
    assert header is None
    assert [str(p) for p in problems] == ["line 1: column category appears twice"]


def test_header_names_are_trimmed_and_case_folded() -> None:
    header, problems = Header.parse(3, [" Registration_Code ", "CATEGORY", "district_code", None, ""])
    assert problems == []
    assert header is not None and dict(header.index) == {"registration_code": 0, "category": 1, "district_code": 2}


# --- one cell at a time ------------------------------------------------------------------------

def test_registration_code_missing() -> None:
    assert reasons("  ", "elevator", "630102") == ["line 2: registration_code missing"]


def test_registration_code_must_be_a_device_id() -> None:
    assert reasons("E 1", "elevator", "630102") == [
        "line 2: registration_code 'E 1' is not valid: 1–64 letters, digits, '_', '.', '-', "
        "starting with a letter or digit"]


def test_an_unknown_category_lists_the_valid_ones() -> None:
    (reason,) = reasons("E1", "lift", "630102")
    assert reason.startswith("line 2: category 'lift' is not one of elevator, boiler, pressure_vessel")
    assert "电梯" in reason and "客运索道" in reason


@pytest.mark.parametrize(("name", "category"), [
    ("电梯", Category.ELEVATOR), ("锅炉", Category.BOILER), ("压力容器", Category.PRESSURE_VESSEL),
    ("压力管道", Category.PRESSURE_PIPING), ("气瓶", Category.GAS_CYLINDER), ("起重机械", Category.CRANE),
    ("场(厂)内专用机动车辆", Category.IN_PLANT_VEHICLE), ("场（厂）内专用机动车辆", Category.IN_PLANT_VEHICLE),
    ("场内专用机动车辆", Category.IN_PLANT_VEHICLE), ("大型游乐设施", Category.LARGE_AMUSEMENT_RIDE),
    ("客运索道", Category.PASSENGER_ROPEWAY), ("Pressure Vessel", Category.PRESSURE_VESSEL),
    ("passenger_ropeway", Category.PASSENGER_ROPEWAY),
])
def test_category_names(name: str, category: Category) -> None:
    assert good("E1", f" {name} ", "630102").equipment.category is category


@pytest.mark.parametrize(("name", "status"), [
    ("在用", Status.IN_USE), ("停用", Status.STOPPED), ("报废", Status.SCRAPPED), ("Stopped", Status.STOPPED),
    ("in use", Status.IN_USE), ("", Status.IN_USE),
])
def test_status_names(name: str, status: Status) -> None:
    assert good("E1", "elevator", "630102", name, header=(*BASE, "status")).equipment.status is status


def test_an_unknown_status() -> None:
    assert reasons("E1", "elevator", "630102", "broken", header=(*BASE, "status")) == [
        "line 2: status 'broken' is not one of in_use, stopped, scrapped (or 在用, 停用, 报废)"]


@pytest.mark.parametrize("code", ["63010", "6301021", "63O102", "630 102"])
def test_district_code_is_six_digits(code: str) -> None:
    assert reasons("E1", "elevator", code) == [f"line 2: district_code {code!r} is not 6 digits"]


def test_district_code_from_an_excel_number() -> None:
    assert good("E1", "elevator", 630102.0).equipment.district_code == "630102"


@pytest.mark.parametrize("text", ["2023-02-30", "2023-13-01", "01/02/2023", "yesterday", "2023-2"])
def test_a_bad_date(text: str) -> None:
    assert reasons("E1", "elevator", "630102", text, header=(*BASE, "commissioned_on")) == [
        f"line 2: commissioned_on {text!r} is not a date (YYYY-MM-DD)"]


@pytest.mark.parametrize(("cell", "expected"), [
    ("2023-02-01", date(2023, 2, 1)), ("2023/2/1", date(2023, 2, 1)), ("2023-02-01 00:00:00", date(2023, 2, 1)),
    (datetime(2023, 2, 1), date(2023, 2, 1)), (date(2023, 2, 1), date(2023, 2, 1)),
])
def test_dates(cell: Cell, expected: date) -> None:
    row = good("E1", "elevator", "630102", cell, header=(*BASE, "commissioned_on"))
    assert row.equipment.commissioned_on == expected


@pytest.mark.parametrize(("column", "text", "reason"), [
    ("floors", "12.5", "floors '12.5' is not a whole number from 1 to 300"),
    ("floors", "0", "floors '0' is not a whole number from 1 to 300"),
    ("floors", "abc", "floors 'abc' is not a whole number from 1 to 300"),
    ("safety_grade", "6", "safety_grade '6' is not a whole number from 1 to 5"),
    ("rated_speed_mps", "1,5", "rated_speed_mps '1,5' is not a number above 0 and at most 30"),
    ("rated_speed_mps", "-1", "rated_speed_mps '-1' is not a number above 0 and at most 30"),
    ("rated_speed_mps", "nan", "rated_speed_mps 'nan' is not a number above 0 and at most 30"),
    ("rated_pressure_mpa", "inf", "rated_pressure_mpa 'inf' is not a number above 0 and at most 1000"),
    ("periodic_months", "0", "periodic_months '0' is not a whole number from 1 to 240"),
    ("maintenance_phone", "call us", "maintenance_phone 'call us' is not a phone number"),
    ("agency_email", "agency.example.cn", "agency_email 'agency.example.cn' is not an e-mail address"),
    ("agency_webhook_url", "ftp://x.cn/h", "agency_webhook_url 'ftp://x.cn/h' is not an http or https URL"),
    ("address", "a\x00b", "address 'a\\x00b' contains a control character"),
])
def test_bad_values(column: str, text: str, reason: str) -> None:
    party = {"maintenance_phone": "maintenance_code", "agency_email": "agency_code",
             "agency_webhook_url": "agency_code"}.get(column)
    header = (*BASE, column, *([party] if party else []))
    cells = ("E1", "elevator", "630102", text, *(["P1"] if party else []))
    assert reasons(*cells, header=header) == [f"line 2: {reason}"]


def test_values_are_trimmed_and_empty_cells_are_none() -> None:
    header = (*BASE, "type", "address", "floors", "rated_speed_mps", "owner_code", "owner_name")
    row = good(" E1 ", "elevator ", "\u3000630102", "  ", None, " 12 ", "1.75", " O1 ", "  Owner Ltd ",
               header=header)
    assert row.equipment == Equipment("E1", Category.ELEVATOR, "630102", owner="O1",
                                      rated={"floors": 12, "rated_speed_mps": 1.75})
    assert row.parties == (PartyRef(Role.OWNER, "O1", "Owner Ltd"),)


def test_safety_grade_5_is_stored_not_rejected() -> None:
    # A grade-5 vessel must not be used: a fact for the store (unfit), not an error in the file.
    row = good("V1", "pressure_vessel", "630102", "5", header=(*BASE, "safety_grade"))
    assert row.equipment.rated == {"safety_grade": 5}


def test_a_party_detail_without_its_code() -> None:
    header = (*BASE, "owner_name", "maintenance_phone", "agency_code", "agency_name")
    # A Chinese register's 使用单位 is the owner's name alone: the column is left out with a warning.
    out = rows_of(("E1", "elevator", "630102", "Owner", "0971-8123456", "A1", "Agency"), header=header)
    assert [str(p) for p in out if isinstance(p, Problem)] == [
        "line 1: owner_name ignored: without owner_code (使用单位代码) no party can be named",
        "line 1: maintenance_phone ignored: without maintenance_code (维保单位代码) no party can be named"]
    row = out[-1]
    assert isinstance(row, RegisterRow) and row.equipment.owner is None
    assert row.equipment.given is not None and "owner" not in row.equipment.given
    assert row.parties == (PartyRef(Role.AGENCY, "A1", "Agency"),)


def test_a_party_code_alone_names_a_registered_party() -> None:
    row = good("E1", "elevator", "630102", "M1", header=(*BASE, "maintenance_code"))
    assert row.equipment.maintenance == "M1"
    assert row.parties == (PartyRef(Role.MAINTENANCE, "M1"),)


def test_every_bad_cell_of_a_row_is_reported() -> None:
    header = (*BASE, "commissioned_on", "floors")
    assert reasons("", "lift", "123", "2023-02-30", "x", header=header) == [
        "line 2: registration_code missing",
        "line 2: category 'lift' is not one of elevator, boiler, pressure_vessel, pressure_piping, gas_cylinder, "
        "crane, in_plant_vehicle, large_amusement_ride, passenger_ropeway (or 电梯, 锅炉, 压力容器, 压力管道, 气瓶, "
        "起重机械, 场(厂)内专用机动车辆, 大型游乐设施, 客运索道)",
        "line 2: district_code '123' is not 6 digits",
        "line 2: commissioned_on '2023-02-30' is not a date (YYYY-MM-DD)",
        "line 2: floors 'x' is not a whole number from 1 to 300",
    ]


# --- schedules ---------------------------------------------------------------------------------

def test_last_inspections_and_overrides_by_schedule() -> None:
    header = (*BASE, "last_external", "last_internal", "internal_months")
    row = good("B1", "锅炉", "630102", "2025-01-10", "2024-03-01", "12", header=header)
    assert row.equipment.last_inspected == {"external": date(2025, 1, 10), "internal": date(2024, 3, 1)}
    assert row.equipment.interval_overrides == {"internal": 12}


def test_a_schedule_the_category_does_not_have() -> None:
    header = (*BASE, "last_external", "internal_months")
    assert reasons("E1", "elevator", "630102", "2025-01-10", "12", header=header) == [
        "line 2: last_external given, but elevator has no external schedule (it has periodic, self_test)",
        "line 2: internal_months given, but elevator has no internal schedule (it has periodic, self_test)",
    ]
    # TSG 11-2020: a boiler has a hydrostatic schedule only where internal inspection is impossible.
    boiler = (*BASE, "hydrostatic_months")
    assert reasons("B1", "boiler", "630102", "60", header=boiler) == [
        "line 2: hydrostatic_months given, but boiler has no hydrostatic schedule (it has external, internal)"]
    assert good("B1", "boiler", "630102", "60", "true", header=(*boiler, "internal_impossible")
                ).equipment.interval_overrides == {"hydrostatic": 60}


def test_a_self_test_belongs_to_an_elevator_on_the_2023_scheme() -> None:
    header = (*BASE, "scheme", "last_self_test", "stated_next_periodic", "last_periodic")
    row = good("E1", "elevator", "630102", "", "2025-03-01", "2026-04", "2025-04-02", header=header)
    assert row.equipment.last_inspected == {"self_test": date(2025, 3, 1), "periodic": date(2025, 4, 2)}
    assert row.equipment.stated_next == {"periodic": date(2026, 4, 30)}
    assert reasons("E1", "elevator", "630102", "yearly", "2025-03-01", "", "", header=header) == [
        "line 2: last_self_test given, but elevator has no self_test schedule (it has periodic)"]
    assert reasons("E1", "elevator", "630102", "", "", "2025-03", "2025-04-02", header=header) == [
        "line 2: stated_next_periodic 2025-03 is not after last_periodic 2025-04-02"]
    assert reasons("B1", "boiler", "630102", "yearly", "", "", "", header=header) == [
        "line 2: scheme given, but only an elevator has an inspection scheme, not a boiler"]


def test_an_exempt_unit_has_no_schedule_to_import() -> None:
    header = (*BASE, "type", "last_periodic")
    assert reasons("V1", "pressure_vessel", "630102", "simple", "2025-01-02", header=header) == [
        "line 2: last_periodic given, but the unit owes no periodic inspection (TSG 21-2016: simple pressure "
        "vessels (简单压力容器) need no periodic inspection)"]


def test_event_dates_in_the_future_are_refused() -> None:
    header = (*BASE, "renovated_on", "resumed_on")
    assert reasons("E1", "elevator", "630102", "2025-06-02", "2025-05-01", header=header) == [
        "line 2: renovated_on 2025-06-02 is in the future"]


def test_a_last_inspection_in_the_future() -> None:
    assert reasons("E1", "elevator", "630102", "2025-06-02", header=(*BASE, "last_periodic")) == [
        "line 2: last_periodic 2025-06-02 is in the future"]


def test_gas_must_be_a_class_of_the_interval_table() -> None:
    assert good("G1", "气瓶", "630102", "LPG", header=(*BASE, "gas")).equipment.rated == {"gas": "lpg"}
    assert reasons("G1", "气瓶", "630102", "oxygen", header=(*BASE, "gas")) == [
        "line 2: gas 'oxygen' is not one of corrosive, general, inert, lpg"]


def test_a_type_is_matched_to_the_interval_table_and_an_unknown_one_is_a_warning() -> None:
    assert good("C1", "crane", "630102", "Tower", header=(*BASE, "type")).equipment.type == "tower"
    assert good("P1", "pressure_piping", "630102", "gc3", header=(*BASE, "type")).equipment.type == "GC3"
    # A Chinese register's names pick the same interval (TSG Q7015-2016: a tower crane yearly).
    assert good("C2", "起重机械", "630102", "塔式起重机", header=(*BASE, "type")).equipment.type == "tower"
    assert good("V2", "压力容器", "630102", "简单压力容器", header=(*BASE, "type")).equipment.type == "simple"
    out = rows_of(("C3", "crane", "630102", "吊车"), header=(*BASE, "type"))
    assert [str(o) for o in out if isinstance(o, Problem)] == [
        "line 2: type '吊车' has no interval of its own for crane (tower, mobile, construction_hoist, "
        "hoist, bridge, gantry, portal, cable, mast, parking, light): the default applies"]
    assert isinstance(out[-1], RegisterRow) and out[-1].equipment.type == "吊车"


# --- codes and the 使用登记证编号 --------------------------------------------------------------------

def test_a_code_of_another_category_is_stored_with_a_warning() -> None:
    out = rows_of(("311010036201900001", "锅炉", "630102"), ("43006301012015000001", "elevator", "630103"),
                  ("120010153201800002", "boiler", "630104"), ("E-LOCAL-1", "boiler", "630105"),
                  ("311010036189000001", "boiler", "630105"))  # 1890: not read as a code, so no claim
    assert [str(o) for o in out if isinstance(o, Problem)] == [
        "line 2: registration_code 311010036201900001 reads as a 设备代码 of category code 3110 (曳引驱动乘客电梯: "
        "elevator), but the row's category is boiler: check the code and the category",
        "line 3: registration_code 43006301012015000001 reads as a 注册代码 of category code 4300 (塔式起重机: "
        "crane), but the row's category is elevator: check the code and the category"]
    assert all(p.warning for p in out if isinstance(p, Problem))
    stored = [(o.equipment.registration_code, o.equipment.category) for o in out if isinstance(o, RegisterRow)]
    assert stored == [("311010036201900001", Category.BOILER), ("43006301012015000001", Category.ELEVATOR),
                      ("120010153201800002", Category.BOILER), ("E-LOCAL-1", Category.BOILER),
                      ("311010036189000001", Category.BOILER)]
    row = one("311010036201900001", "锅炉", "630102")
    assert isinstance(row, RegisterRow) and [p.reason[:40] for p in row.warnings] == [
        "registration_code 311010036201900001 rea"]


def test_the_year_a_code_is_checked_against_is_the_import_s_today() -> None:
    """TODAY is 2025-06-01: a 设备代码 of 2026 is not read as one, so it claims no category."""
    assert good("311010036202600001", "boiler", "630102").warnings == ()
    assert len(good("311010036202500001", "boiler", "630102").warnings) == 1


@pytest.mark.parametrize(("number", "kept"), [
    ("梯11青A00123(19)", "梯11青A00123(19)"), ("起17青A-0042", "起17青A-0042"), ("GB1234", "GB1234"), ("㐀1", "㐀1"),
    ("容2LQ青A00001（17）", "容2LQ青A00001(17)"), ("梯１１青Ａ００１２３", "梯11青A00123"),  # full-width: as ASCII
])
def test_a_use_registration_number_of_letters_digits_chinese_and_brackets_is_kept(number: str, kept: str) -> None:
    header = (*BASE, "use_registration_no")
    assert good("E1", "elevator", "630102", number, header=header).equipment.use_registration_no == kept
    assert good("E1", "elevator", "630102", None, header=header).equipment.use_registration_no is None


@pytest.mark.parametrize("number", ["梯11 青A00123", "梯11/青A", "x" * 65, "梯11青A;DROP", "No.5", "梯11　青A"])
def test_a_use_registration_number_with_other_characters_refuses_its_row(number: str) -> None:
    assert reasons("E1", "elevator", "630102", number, header=(*BASE, "use_registration_no")) == [
        f"line 2: use_registration_no {number!r} is not a 使用登记证编号: 1–64 letters, digits, Chinese "
        "characters, '-' and brackets" if len(number) <= 60 else
        f"line 2: use_registration_no {number[:57] + '...'!r} is not a 使用登记证编号: 1–64 letters, digits, "
        "Chinese characters, '-' and brackets"]


def test_a_use_registration_number_the_spreadsheet_made_a_number_refuses_its_row() -> None:
    why = reasons("E1", "elevator", "630102", 12345678.0, header=(*BASE, "use_registration_no"))
    assert len(why) == 1 and why[0].startswith("line 2: use_registration_no 12345678 is a number in the file")


def test_the_docs_table_is_the_layout() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "registry.md").read_text(encoding="utf-8")
    assert columns_markdown() in doc
    assert list(COLUMN_BY_NAME)[:2] == ["registration_code", "use_registration_no"]


def test_the_layout_covers_every_schedule_of_the_interval_table() -> None:
    table = default_table()
    names = {s.name for c in Category for s in table.schedules(c)}
    assert names <= set(SCHEDULES)


# --- across rows -------------------------------------------------------------------------------

def test_a_repeated_registration_code_names_the_first_line() -> None:
    out = rows_of(("E1", "elevator", "630102"), ("E2", "elevator", "630102"), ("E1", "boiler", "630102"))
    assert isinstance(out[0], RegisterRow) and isinstance(out[1], RegisterRow)
    assert isinstance(out[2], Rejected)
    assert [str(p) for p in out[2].problems] == ["line 4: registration_code 'E1' repeats line 2"]


def test_a_repeat_of_a_bad_row_is_still_a_repeat() -> None:
    out = rows_of(("E1", "lift", "630102"), ("E1", "elevator", "630102"))
    assert isinstance(out[1], Rejected)
    assert [str(p) for p in out[1].problems] == ["line 3: registration_code 'E1' repeats line 2"]


def test_a_party_has_one_role_and_one_set_of_details_in_a_file() -> None:
    header = (*BASE, "owner_code", "owner_name", "maintenance_code", "maintenance_phone")
    out = rows_of(("E1", "elevator", "630102", "P1", "Owner Ltd", "M1", "0971-1111111"),
                  ("E2", "elevator", "630102", "P1", "", "P1", ""),
                  ("E3", "elevator", "630102", "P1", "Owner Limited", "M1", "0971-2222222"),
                  ("E4", "elevator", "630102", "P1", "Owner Ltd", "M1", ""),
                  header=header)
    assert [type(o).__name__ for o in out] == ["RegisterRow", "Rejected", "Rejected", "RegisterRow"]
    assert isinstance(out[1], Rejected) and isinstance(out[2], Rejected)
    assert [str(p) for p in out[1].problems] == [
        "line 3: maintenance_code 'P1' is the owner on line 2; a party has one role"]
    assert [str(p) for p in out[2].problems] == [
        "line 4: owner_name 'Owner Limited' differs from 'Owner Ltd' given for owner_code 'P1' on line 2",
        "line 4: maintenance_phone '0971-2222222' differs from '0971-1111111' given for maintenance_code 'M1' "
        "on line 2",
    ]


def test_blank_rows_are_skipped_and_keep_their_line_numbers() -> None:
    out = rows_of(("E1", "elevator", "630102"), ("", " ", None), (), ("E2", "lift", "630102"))
    assert isinstance(out[-1], Rejected) and out[-1].line == 5


# --- CSV ---------------------------------------------------------------------------------------

def test_csv_with_a_bom_and_quoted_newlines_counts_lines_as_an_editor_does() -> None:
    data = ("\ufeffregistration_code,category,district_code,address\r\n"
            'E1,电梯,630102,"城东区\r\n八一路 1 号"\r\n'
            "\r\n"
            'E2,lift,630102,"a ""quoted""\nthree\nline address"\r\n'
            "E3,锅炉,630102,\r\n"
            "E4,起重机械,6301,x\r\n").encode()
    out = csv_rows(data)
    assert isinstance(out[0], RegisterRow)
    assert out[0].equipment.address == "城东区\n八一路 1 号"
    assert isinstance(out[1], Rejected) and out[1].line == 5
    assert isinstance(out[2], RegisterRow) and out[2].line == 8
    assert [str(p) for p in out[3].problems] == ["line 9: district_code '6301' is not 6 digits"]  # type: ignore[union-attr]


def test_csv_without_a_bom() -> None:
    out = csv_rows("registration_code,category,district_code\nE1,压力容器,630102\n".encode())
    assert isinstance(out[0], RegisterRow) and out[0].equipment.category is Category.PRESSURE_VESSEL


def test_csv_header_with_a_bom_is_recognised() -> None:
    # Without stripping it, Excel's BOM would make the first column "\ufeffregistration_code".
    out = csv_rows(b"\xef\xbb\xbfregistration_code,category,district_code\r\nE1,elevator,630102\r\n")
    assert [type(o).__name__ for o in out] == ["RegisterRow"]


def test_a_line_in_another_encoding_than_the_files_start_spoils_only_its_record() -> None:
    # UTF-8 at the start; one line saved in GBK (\xb5\xe7 is 电 in GBK, no UTF-8).
    data = (b"registration_code,category,district_code\n" + "E1,电梯,630102\n".encode()
            + "E2,电梯,630102\n".encode("gbk") + b"E3,elevator,630102\n")
    out = csv_rows(data)
    assert isinstance(out[0], RegisterRow)
    assert isinstance(out[1], Rejected)
    assert [str(p) for p in out[1].problems] == ["line 3: not UTF-8 text, the encoding of the file's start: save "
                                                 "the whole file in one encoding (in Excel, 'CSV UTF-8')"]
    assert isinstance(out[2], RegisterRow) and out[2].line == 4


def test_a_line_in_no_known_encoding() -> None:
    out = csv_rows("registration_code,category,district_code\nE0,电梯,630102\n".encode()
                   + b"E1,\xff\x80,630102\nE2,elevator,630102\n")
    assert isinstance(out[1], Rejected)
    assert "not UTF-8 text" in out[1].problems[0].reason
    assert isinstance(out[0], RegisterRow) and isinstance(out[2], RegisterRow)


def test_broken_quotes_are_reported_and_reading_goes_on() -> None:
    data = b'registration_code,category,district_code\nE1,"elevator" x,630102\nE2,elevator,630102\n'
    out = csv_rows(data)
    assert isinstance(out[0], Rejected) and out[0].line == 2
    assert str(out[0].problems[0]).startswith("line 2: not valid CSV")
    assert isinstance(out[1], RegisterRow) and out[1].line == 3


def test_an_unclosed_quote_is_reported_at_the_line_it_opens() -> None:
    out = csv_rows(b'registration_code,category,district_code\nE1,elevator,630102\nE2,"elevator,630102\nE3\n')
    assert isinstance(out[1], Rejected) and out[1].line == 3


def test_an_empty_file() -> None:
    assert [str(p) for p in csv_rows(b"")] == ["file: no header row: the file is empty"]
    assert [str(p) for p in csv_rows(b"\xef\xbb\xbf\r\n,,\r\n")] == ["file: no header row: the file is empty"]


# --- XLSX --------------------------------------------------------------------------------------

def test_xlsx_rows_are_numbered_as_excel_shows_them() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["registration_code", "category", "district_code", "floors", "commissioned_on"])
    sheet.append(["E1", "电梯", 630102, 12, date(2020, 5, 6)])
    sheet.append([])
    sheet.append(["E2", "电梯", 630102, 12.5, "2020-02-30"])
    sheet.append(["E3", "锅炉", "630102", None, datetime(2021, 1, 2)])
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    out = list(read_rows(iter_xlsx(data), table=default_table(), today=TODAY))
    assert isinstance(out[0], RegisterRow)
    assert out[0].equipment == Equipment("E1", Category.ELEVATOR, "630102", commissioned_on=date(2020, 5, 6),
                                         rated={"floors": 12})
    assert isinstance(out[1], Rejected)
    assert [str(p) for p in out[1].problems] == [
        "line 4: floors '12.5' is not a whole number from 1 to 300",
        "line 4: commissioned_on '2020-02-30' is not a date (YYYY-MM-DD)"]
    assert isinstance(out[2], RegisterRow) and out[2].line == 5
    assert out[2].equipment.commissioned_on == date(2021, 1, 2)


def test_not_a_workbook() -> None:
    out = list(read_rows(iter_xlsx(io.BytesIO(b"registration_code,category\n")), table=default_table()))
    assert len(out) == 1 and isinstance(out[0], Problem) and out[0].line is None
    assert str(out[0]).startswith("file: not an XLSX workbook")


# --- export cells ------------------------------------------------------------------------------

def test_an_exported_row_reads_back_as_the_same_record() -> None:
    equipment = Equipment(
        "B-1", Category.BOILER, "630103", type="steam", address="=1+2 城西区", owner="O1", maintenance="M1",
        agency="A1", status=Status.STOPPED, commissioned_on=date(2015, 3, 4),
        rated={"rated_pressure_mpa": 1.25, "rated_outlet_temp_c": 194.0, "medium": "steam"},
        interval_overrides={"internal": 36}, last_inspected={"external": date(2025, 1, 2)},
        use_registration_no="锅11青A00007(15)")
    parties = (PartyRef(Role.OWNER, "O1", "Owner"), PartyRef(Role.MAINTENANCE, "M1", "Maint", phone="+86 971 1"),
               PartyRef(Role.AGENCY, "A1", "Agency", email="a@x.cn", webhook_url="https://x.cn/h"))
    cells = row_cells(equipment, parties, {"next_external": date(2026, 1, 2), "fit_for_use": True})
    assert cells[[c.name for c in COLUMNS].index("next_external")] == date(2026, 1, 2)
    text = [csv_text(c) for c in cells]
    assert text[[c.name for c in COLUMNS].index("address")] == "'=1+2 城西区"  # no formula for Excel
    assert text[[c.name for c in COLUMNS].index("rated_outlet_temp_c")] == "194"
    out = one(*text, header=[c.name for c in COLUMNS])
    assert isinstance(out, RegisterRow), out
    assert out.equipment == equipment
    assert out.parties == parties


def test_the_markdown_documents_every_column() -> None:
    doc = columns_markdown()
    assert all(f"| `{c.name}` |" in doc for c in COLUMNS)
    assert COLUMN_BY_NAME["next_due"].read_only and not COLUMN_BY_NAME["last_periodic"].read_only


def test_parse_row_alone_needs_no_file_state() -> None:
    header, _ = Header.parse(1, list(BASE))
    assert header is not None
    outcome = parse_row(header, 7, ["E1", "lift", "630102"], table=default_table(), today=TODAY)
    assert isinstance(outcome, Rejected) and outcome.line == 7


# --- identifiers a spreadsheet turned into numbers ---------------------------------------------

AS_TEXT = "format the column as text (or start each code with an apostrophe) and type the codes again"


def xlsx_of(*rows: Sequence[Cell]) -> list[Outcome]:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    return list(read_rows(iter_xlsx(data), table=default_table(), today=TODAY))


def test_a_20_digit_code_in_a_number_cell_is_refused_not_changed() -> None:
    """Excel keeps 15 digits: 31106301022026812345 typed into a number cell is 3.11063010220268E+19."""
    out = xlsx_of(BASE, (3.11063010220268e19, "elevator", "630102"), ("31106301022026812345", "elevator", "630102"))
    assert isinstance(out[0], Rejected)
    assert [str(p) for p in out[0].problems] == [
        "line 2: registration_code 3.11063010220268e+19 is a number in the file, not text: a spreadsheet keeps only "
        f"15 digits of a number and drops leading zeros, so the code may have changed; {AS_TEXT}"]
    assert isinstance(out[1], RegisterRow) and out[1].equipment.registration_code == "31106301022026812345"


@pytest.mark.parametrize("cell", [3.11063010220268e19, 31106301022026800000, 12345, 12345.0, -1.5])
def test_any_number_in_the_code_column_is_refused(cell: Cell) -> None:
    (problem,) = reasons(cell, "elevator", "630102")
    assert "is a number in the file, not text" in problem and problem.endswith(AS_TEXT)


@pytest.mark.parametrize("text", ["3.11063E+19", "3.11063e+19", "3,11063E+19", "1E+05", "3.1106301022E19"])
def test_a_code_in_exponent_form_from_a_csv_excel_saved(text: str) -> None:
    assert reasons(text, "elevator", "630102") == [
        f"line 2: registration_code {text!r} is a number in exponent form: the spreadsheet has cut the code to 15 "
        f"digits; {AS_TEXT}"]


@pytest.mark.parametrize(("column", "cell"), [
    ("owner_code", 9.16301002265e17), ("owner_code", "9.16301E+17"), ("maintenance_code", 12345678),
    ("agency_code", "1.2E+10"), ("maintenance_phone", 9718123456), ("maintenance_phone", "1.38123E+10"),
    ("district_code", "6.30102E+05"), ("district_code", 63010.2), ("district_code", 63010),
])
def test_other_identifier_columns(column: str, cell: Cell) -> None:
    header: tuple[str, ...]
    cells: tuple[Cell, ...]
    if column == "district_code":
        header, cells = BASE, ("E1", "elevator", cell)
    elif column.endswith("_code"):  # a party code alone names a registered party
        header, cells = (*BASE, column), ("E1", "elevator", "630102", cell)
    else:
        header, cells = (*BASE, column, "maintenance_code"), ("E1", "elevator", "630102", cell, "P1")
    (problem,) = reasons(*cells, header=header)
    assert problem.startswith(f"line 2: {column} ") and problem.endswith(AS_TEXT), problem


def test_a_six_digit_district_number_is_exact_and_kept() -> None:
    out = xlsx_of(BASE, ("E1", "elevator", 630102), ("E2", "elevator", 630102.0))
    assert [o.equipment.district_code for o in out if isinstance(o, RegisterRow)] == ["630102", "630102"]


@pytest.mark.parametrize("cell", [45000, 45000.0, "45000", "44927.5"])
def test_a_date_shown_as_a_day_count_is_refused(cell: Cell) -> None:
    assert reasons("E1", "elevator", "630102", cell, header=(*BASE, "commissioned_on")) == [
        f"line 2: commissioned_on {cell_text_of(cell)!r} is a number, not a date (a spreadsheet's day count?): "
        "format the column as a date or as text, YYYY-MM-DD"]


def cell_text_of(cell: Cell) -> str:
    return str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)


def test_xlsx_dates_as_date_cells_and_as_text_are_both_read() -> None:
    out = xlsx_of((*BASE, "commissioned_on", "last_periodic"),
                  ("E1", "elevator", "630102", datetime(2020, 5, 6), "2025-05-01"),
                  ("E2", "elevator", "630102", "2020/5/6", date(2025, 5, 1)))
    assert [(o.equipment.commissioned_on, o.equipment.last_inspected) for o in out if isinstance(o, RegisterRow)] \
        == [(date(2020, 5, 6), {"periodic": date(2025, 5, 1)})] * 2


def test_a_csv_the_spreadsheet_saved_with_exponent_codes() -> None:
    data = "registration_code,category,district_code\n3.11063E+19,电梯,630102\n31106301022026812345,电梯,630102\n"
    out = csv_rows(data.encode())
    assert isinstance(out[0], Rejected) and "exponent form" in out[0].problems[0].reason
    assert isinstance(out[1], RegisterRow)


cells = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                  st.booleans(), st.dates(), st.datetimes())


@given(st.lists(cells, min_size=0, max_size=len(COLUMNS) + 2))
def test_any_cells_give_a_row_or_its_reasons_never_an_exception(row: list[Cell]) -> None:
    header = [c.name for c in COLUMNS if not c.read_only]
    out = [o for o in rows_of(row, header=header) if not isinstance(o, Problem)]
    assert len(out) == (0 if is_blank(row) else 1)  # a blank row is skipped
    if out and isinstance(out[0], RegisterRow):
        code = out[0].equipment.registration_code
        assert isinstance(row[0], str) and code == row[0].strip()  # an identifier is kept as typed, never a number


@given(st.one_of(st.integers(), st.floats(allow_nan=False)))
def test_a_number_is_never_taken_as_a_registration_code(number: float) -> None:
    outcome = one(number, "elevator", "630102")
    assert isinstance(outcome, Rejected)


@given(st.one_of(cells, st.from_regex(r"[0-9A-Za-z][0-9A-Za-z_.\-]{0,30}", fullmatch=True),
                 st.from_regex(r"\d{1,3}(\.\d{1,14})?[eE]\+\d{1,2}", fullmatch=True)))
def test_a_registration_code_is_stored_exactly_as_typed_or_refused(cell: Cell) -> None:
    outcome = one(cell, "elevator", "630102")
    if isinstance(outcome, RegisterRow):
        assert isinstance(cell, str) and outcome.equipment.registration_code == cell.strip()
        assert not re.fullmatch(r"[+-]?\d+([.,]\d*)?[eE][+-]?\d+", cell.strip())


@pytest.mark.parametrize(("cell", "kind"), [(True, "TRUE/FALSE cell"), (date(2024, 3, 12), "date cell"),
                                            (datetime(2024, 3, 12, 0, 0), "date cell")])
def test_a_code_the_spreadsheet_read_as_a_date_or_a_boolean(cell: Cell, kind: str) -> None:
    (problem,) = reasons(cell, "elevator", "630102")
    assert f"is a {kind} in the file, not text" in problem and problem.endswith(AS_TEXT)


def test_a_row_without_a_type_takes_it_from_its_code() -> None:
    # TSG Q7015-2016: a construction hoist (4860 施工升降机) is inspected yearly, a bridge crane
    # lifting molten metal (4150 冶金桥式起重机) too; the code says what the unit is.
    header = (*BASE, "type")
    hoist = good("486012345202000001", "crane", "630102", "", header=header).equipment
    assert hoist.type == "construction_hoist"
    molten = good("415012345202000002", "起重机械", "630102", "", header=header).equipment
    assert (molten.type, molten.rated) == ("bridge", {"lifts_molten_metal": True})
    tanker = good("222012345202000003", "压力容器", "630102", "", header=header).equipment
    assert tanker.type == "road_tanker"
    # The row's own type wins; a code of another category, or another id, says nothing.
    assert good("486012345202000004", "crane", "630102", "tower", header=header).equipment.type == "tower"
    assert good("C-1", "crane", "630102", "", header=header).equipment.type is None


@pytest.mark.parametrize("code", ["999999", "630100", "110101"])
def test_a_district_code_not_of_the_citys_divisions_is_refused_with_the_valid_ones(code: str) -> None:
    (reason,) = reasons("E1", "elevator", code)
    assert reason.startswith(f"line 2: district_code {code} is not one of the city's divisions: ")
    assert "630102 城东区" in reason and "630123 湟源县" in reason


def test_a_commissioning_date_in_the_future_is_refused() -> None:
    assert reasons("E1", "elevator", "630102", "2025-06-02", header=(*BASE, "commissioned_on")) == [
        "line 2: commissioned_on 2025-06-02 is in the future"]
