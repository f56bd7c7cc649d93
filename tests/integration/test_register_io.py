"""The register's import and export against a real PostgreSQL: good rows stored, bad rows
reported by line and reason, and importing again (or importing an export) changes nothing."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import psycopg
import pytest

from registry.io import ImportReport, RegisterFormat, export_register, import_register
from registry.io_rows import COLUMNS
from semon.db import open_pool
from semon.today import register_today
from tests.integration.helpers import query

pytestmark = pytest.mark.integration

TODAY = date(2025, 6, 1)
HEADER = ["registration_code", "use_registration_no", "category", "type", "address", "district_code", "owner_code",
          "owner_name", "maintenance_code", "maintenance_name", "maintenance_phone", "agency_code", "agency_name",
          "agency_email", "status", "commissioned_on", "floors", "rated_speed_mps", "safety_grade", "gas",
          "last_periodic", "last_external", "last_internal", "periodic_months", "colour"]


def row(**cells: object) -> list[object]:
    unknown = set(cells) - set(HEADER)
    assert not unknown, unknown
    return [cells.get(name) for name in HEADER]


# Sheet rows from row 2; the boiler's address has a newline, so in the CSV every later row
# starts one line further down than in the workbook.
ROWS = [
    row(registration_code="E-001", use_registration_no="梯11青A00123(19)", category="电梯",
        address="城东区八一路 1 号", district_code="630102",
        owner_code="91630100OWNER1", owner_name="西宁某物业有限公司", maintenance_code="91630100MAINT1",
        maintenance_name="青海某电梯维保公司", maintenance_phone="0971-8123456", agency_code="AGENCY-1",
        agency_name="青海省特种设备检验检测院", agency_email="notice@agency.example.cn", floors=18,
        rated_speed_mps=1.75, last_periodic="2025-03-15", colour="red"),
    row(registration_code="B-001", use_registration_no="锅11青A00007（18）", category="锅炉",
        address="城西区\n供热站", district_code="630104",
        owner_code="91630100OWNER1", status="在用", commissioned_on="2019-05-01", last_external="2025-01-10",
        last_internal="2024-06-01"),
    row(registration_code="E-bad", category="lift", district_code="630102"),  # 4
    row(registration_code="V-001", category="压力容器", district_code="630105", safety_grade=5,
        commissioned_on="2020-01-01"),
    row(registration_code="E-002", category="elevator", district_code="630102", commissioned_on="2023-02-30"),  # 6
    row(registration_code="E-001", category="elevator", district_code="630102"),  # 7: repeats line 2
    row(registration_code="G-001", category="气瓶", district_code="630121", gas="LPG", last_periodic="2024-01-01"),
    row(registration_code="E-003", category="elevator", district_code="630102", owner_name="无代码单位"),  # 9
    row(registration_code="E-004", category="elevator", district_code="630102", maintenance_code="UNKNOWN-M"),  # 10
    row(registration_code="E-005", category="elevator", district_code="630102", status="停用", periodic_months=24,
        last_periodic="2024-11-20", maintenance_code="91630100MAINT1", agency_code="AGENCY-1"),
]
GOOD = ["B-001", "E-001", "E-005", "G-001", "V-001"]


def expected_problems(format: RegisterFormat) -> list[str]:
    def line(sheet_row: int) -> int:
        return sheet_row + (1 if format == "csv" and sheet_row > 3 else 0)

    return [
        f"line {line(4)}: category 'lift' is not one of elevator, boiler, pressure_vessel, pressure_piping, "
        "gas_cylinder, crane, in_plant_vehicle, large_amusement_ride, passenger_ropeway (or 电梯, 锅炉, 压力容器, "
        "压力管道, 气瓶, 起重机械, 场(厂)内专用机动车辆, 大型游乐设施, 客运索道)",
        f"line {line(6)}: commissioned_on '2023-02-30' is not a date (YYYY-MM-DD)",
        f"line {line(7)}: registration_code 'E-001' repeats line 2",
        f"line {line(9)}: owner_name given without owner_code",
        f"line {line(10)}: maintenance_code 'UNKNOWN-M' is not registered and maintenance_name is empty",
    ]


def csv_bytes(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER, bom: bool = True) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def xlsx_bytes(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(header))
    for r in rows:
        sheet.append(list(r))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def file_bytes(format: RegisterFormat, rows: Sequence[Sequence[object]] = ROWS) -> bytes:
    return csv_bytes(rows) if format == "csv" else xlsx_bytes(rows)


async def import_(url: str, data: bytes | Path, format: RegisterFormat) -> ImportReport:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await import_register(conn, data, format, today=TODAY)


async def snapshot(url: str) -> tuple[list[tuple[object, ...]], ...]:
    """Everything the import touches, updated_at included."""
    return (
        await query(url, "SELECT * FROM equipment ORDER BY registration_code"),
        await query(url, "SELECT * FROM equipment_schedules ORDER BY registration_code, schedule"),
        await query(url, "SELECT * FROM parties ORDER BY code"),
    )


@pytest.mark.parametrize("format", ["csv", "xlsx"])
async def test_good_rows_are_stored_and_bad_ones_reported(database_url: str, format: RegisterFormat) -> None:
    report = await import_(database_url, file_bytes(format), format)

    assert [str(p) for p in report.problems] == expected_problems(format)
    assert [str(w) for w in report.warnings] == ["line 1: unknown columns ignored: colour"]
    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (5, 0, 0, 5)

    equipment = await query(database_url, """
        SELECT e.registration_code, e.category, e.district_code, e.status, o.code, m.code, a.code, e.rated,
               e.interval_overrides, e.next_due, e.fit_for_use
        FROM equipment e LEFT JOIN parties o ON o.id = e.owner_id LEFT JOIN parties m ON m.id = e.maintenance_id
             LEFT JOIN parties a ON a.id = e.agency_id ORDER BY 1""")
    assert equipment == [
        ("B-001", "boiler", "630104", "in_use", "91630100OWNER1", None, None, {}, {}, date(2026, 1, 10), True),
        ("E-001", "elevator", "630102", "in_use", "91630100OWNER1", "91630100MAINT1", "AGENCY-1",
         {"floors": 18, "rated_speed_mps": 1.75}, {}, date(2026, 3, 31), True),
        ("E-005", "elevator", "630102", "stopped", None, "91630100MAINT1", "AGENCY-1", {}, {"periodic": 24},
         date(2026, 11, 30), True),
        ("G-001", "gas_cylinder", "630121", "in_use", None, None, None, {"gas": "lpg"}, {}, date(2028, 1, 1), True),
        ("V-001", "pressure_vessel", "630105", "in_use", None, None, None, {"safety_grade": 5}, {}, None, False),
    ]
    schedules = await query(database_url, """
        SELECT registration_code, schedule, interval_months, last_inspected, next_due FROM equipment_schedules
        ORDER BY 1, 2""")
    assert schedules == [
        ("B-001", "external", 12, date(2025, 1, 10), date(2026, 1, 10)),
        ("B-001", "internal", 24, date(2024, 6, 1), date(2026, 6, 1)),
        # No installation date: the service years of TSG T7001-2023 cannot be counted, so 12
        # months after the last periodic inspection, and no self-test date.
        ("E-001", "periodic", 12, date(2025, 3, 15), date(2026, 3, 31)),
        ("E-001", "self_test", 12, None, None),
        ("E-005", "periodic", 24, date(2024, 11, 20), date(2026, 11, 30)),
        ("G-001", "periodic", 48, date(2024, 1, 1), date(2028, 1, 1)),
        ("V-001", "periodic", 0, None, None),
    ]
    parties = await query(database_url, "SELECT code, name, role, phone, email FROM parties ORDER BY code")
    assert parties == [
        ("91630100MAINT1", "青海某电梯维保公司", "maintenance", "0971-8123456", None),
        ("91630100OWNER1", "西宁某物业有限公司", "owner", None, None),
        ("AGENCY-1", "青海省特种设备检验检测院", "agency", None, "notice@agency.example.cn"),
    ]
    address = await query(database_url, "SELECT address FROM equipment WHERE registration_code = 'B-001'")
    assert address == [("城西区\n供热站",)]
    numbers = await query(database_url, "SELECT registration_code, use_registration_no FROM equipment ORDER BY 1")
    assert numbers == [("B-001", "锅11青A00007(18)"), ("E-001", "梯11青A00123(19)"), ("E-005", None),
                       ("G-001", None), ("V-001", None)]


@pytest.mark.parametrize("format", ["csv", "xlsx"])
async def test_importing_again_changes_nothing(database_url: str, format: RegisterFormat) -> None:
    first = await import_(database_url, file_bytes(format), format)
    before = await snapshot(database_url)
    again = await import_(database_url, file_bytes(format), format)

    assert await snapshot(database_url) == before  # same rows, same next_due, same updated_at
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.stored)
    assert [str(p) for p in again.problems] == expected_problems(format)


async def test_a_changed_row_is_updated_and_an_older_inspection_is_ignored(database_url: str) -> None:
    await import_(database_url, file_bytes("csv"), "csv")
    changed = [list(r) for r in ROWS]
    changed[0][HEADER.index("floors")] = 20
    changed[7][HEADER.index("last_periodic")] = "2023-01-01"  # older than the stored 2024-01-01
    report = await import_(database_url, file_bytes("csv", changed), "csv")
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 4)
    assert await query(database_url, "SELECT rated->>'floors' FROM equipment WHERE registration_code = 'E-001'") == [
        ("20",)]
    assert await query(database_url, "SELECT next_due FROM equipment WHERE registration_code = 'G-001'") == [
        (date(2028, 1, 1),)]


async def test_a_party_registered_in_another_role_is_refused(database_url: str) -> None:
    await import_(database_url, file_bytes("csv"), "csv")
    rows = [row(registration_code="E-010", category="elevator", district_code="630102",
                agency_code="91630100OWNER1"),
            row(registration_code="E-011", category="elevator", district_code="630102", agency_code="AGENCY-1"),
            row(registration_code="E-012", category="elevator", district_code="630102", maintenance_code="NEW-M"),
            # Names NEW-M, but is refused: so E-012 names a party nobody registers.
            row(registration_code="E-013", category="elevator", district_code="630102", maintenance_code="NEW-M",
                maintenance_name="新维保", agency_code="91630100OWNER1")]
    report = await import_(database_url, csv_bytes(rows), "csv")
    assert [str(p) for p in report.problems] == [
        "line 2: agency_code '91630100OWNER1' is registered as owner, not agency",
        "line 4: maintenance_code 'NEW-M' is not registered and maintenance_name is empty",
        "line 5: agency_code '91630100OWNER1' is registered as owner, not agency",
    ]
    assert (report.inserted, report.rejected) == (1, 3)
    assert await query(database_url, "SELECT count(*) FROM parties WHERE code = 'NEW-M'") == [(0,)]


async def test_a_file_without_a_required_column_stores_nothing(database_url: str) -> None:
    header = [h for h in HEADER if h != "district_code"]
    rows = [[v for h, v in zip(HEADER, r, strict=True) if h != "district_code"] for r in ROWS]
    report = await import_(database_url, csv_bytes(rows, header), "csv")
    assert [str(p) for p in report.problems] == ["line 1: required column district_code (区县代码) is missing"]
    assert report.stored == 0
    assert await query(database_url, "SELECT count(*) FROM equipment") == [(0,)]


async def test_not_a_workbook(database_url: str) -> None:
    report = await import_(database_url, b"registration_code,category,district_code\n", "xlsx")
    assert len(report.problems) == 1 and str(report.problems[0]).startswith("file: not an XLSX workbook")


async def test_a_code_of_another_category_is_stored_with_a_warning(database_url: str) -> None:
    """An elevator's 设备代码 (3110) on a boiler's row and a tower crane's 注册代码 (4300) on an
    elevator's row are stored as the rows say, each with a warning; a code that agrees with its
    row and a device's own id get none."""
    rows = [row(registration_code="311010036201900001", category="锅炉", district_code="630102"),
            row(registration_code="43006301012015000001", category="电梯", district_code="630103"),
            row(registration_code="120010153201800002", category="锅炉", district_code="630104"),
            row(registration_code="E-LOCAL-1", category="电梯", district_code="630105")]
    report = await import_(database_url, csv_bytes(rows), "csv")
    assert report.problems == () and (report.inserted, report.rejected) == (4, 0)
    check = ": check the code and the category"
    assert [str(w) for w in report.warnings] == [
        "line 1: unknown columns ignored: colour",
        "line 2: registration_code 311010036201900001 reads as a 设备代码 of category code 3110 (曳引驱动乘客电梯: "
        f"elevator), but the row's category is boiler{check}",
        "line 3: registration_code 43006301012015000001 reads as a 注册代码 of category code 4300 (塔式起重机: crane), "
        f"but the row's category is elevator{check}"]
    stored = await query(database_url, "SELECT registration_code, category FROM equipment ORDER BY 1")
    assert stored == [("120010153201800002", "boiler"), ("311010036201900001", "boiler"),
                      ("43006301012015000001", "elevator"), ("E-LOCAL-1", "elevator")]


async def test_a_code_excel_turned_into_a_number_is_refused_not_stored_as_another(database_url: str) -> None:
    code = "31106301022026812345"
    rows = [row(registration_code=3.11063010220268e19, category="电梯", district_code="630102"),
            row(registration_code="31106301022026800001", category="电梯", district_code=630102,
                owner_code=9.16301002265e17, owner_name="某物业"),
            row(registration_code=code, category="电梯", district_code=630102)]
    report = await import_(database_url, xlsx_bytes(rows), "xlsx")
    assert report.stored == 1 and report.rejected == 2
    advice = ("is a number in the file, not text: a spreadsheet keeps only 15 digits of a number and drops "
              "leading zeros, so the code may have changed; format the column as text (or start each code with "
              "an apostrophe) and type the codes again")
    assert [str(p) for p in report.problems] == [
        f"line 2: registration_code 3.11063010220268e+19 {advice}",
        f"line 3: owner_code 9.16301002265e+17 {advice}",
        "line 3: owner_name given without owner_code"]
    assert await query(database_url, "SELECT registration_code, district_code FROM equipment") == [(code, "630102")]


async def test_an_inspection_dated_today_in_beijing_imports_at_0130_beijing(database_url: str) -> None:
    """17:30 UTC on the 29th is 01:30 on the 30th in Beijing: an inspection of the 30th is not in the future."""
    today = register_today("Asia/Shanghai", clock=lambda: datetime(2026, 11, 29, 17, 30, tzinfo=UTC))
    rows = [row(registration_code="E-1", category="电梯", district_code="630102", last_periodic="2026-11-30"),
            row(registration_code="E-2", category="电梯", district_code="630102", last_periodic="2026-12-01")]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        report = await import_register(conn, csv_bytes(rows), "csv", today=today)
    assert report.stored == 1
    assert [str(p) for p in report.problems] == ["line 3: last_periodic 2026-12-01 is in the future"]
    assert await query(database_url, "SELECT last_inspected FROM equipment_schedules WHERE schedule = 'periodic'"
                       ) == [(date(2026, 11, 30),)]


async def test_hostile_files_are_file_problems_through_the_import(database_url: str, tmp_path: Path) -> None:
    """The same path the command line takes: a path on disk, the database, the report."""
    from tests.unit.test_register_files import EXTERNAL, GOOD, LAUGHS, rewrite, shared_strings, with_doctype

    hostile = {
        "bomb.xlsx": rewrite(GOOD, "xl/sharedStrings.xml", lambda _: shared_strings(2_000_000)),
        "laughs.xlsx": rewrite(GOOD, "xl/worksheets/sheet1.xml", with_doctype(LAUGHS, "&lol3;")),
        "external.xlsx": rewrite(GOOD, "xl/sharedStrings.xml",
                                 lambda _: with_doctype(EXTERNAL)(shared_strings(["&xxe;"]))),
        "truncated.xlsx": GOOD[: len(GOOD) // 2],
    }
    for name, data in hostile.items():
        path = tmp_path / name
        path.write_bytes(data)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            report = await import_register(conn, path, "csv" if name.endswith(".csv") else "xlsx", today=TODAY)
        assert report.stored == 0 and len(report.problems) == 1 and report.problems[0].line is None, (name, report)
    assert await query(database_url, "SELECT count(*) FROM equipment") == [(0,)]


async def test_csv_export_then_import_is_a_round_trip(database_url: str) -> None:
    await import_(database_url, file_bytes("csv"), "csv")
    before = await snapshot(database_url)
    out = io.BytesIO()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await export_register(conn, out, "csv") == len(GOOD)
    data = out.getvalue()

    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert lines[0] == [c.name for c in COLUMNS]
    by_code = {r[0]: dict(zip(lines[0], r, strict=True)) for r in lines[1:]}
    assert list(by_code) == GOOD
    assert by_code["E-001"]["owner_name"] == "西宁某物业有限公司"
    assert by_code["E-001"]["next_periodic"] == by_code["E-001"]["next_due"] == "2026-03-31"
    assert by_code["B-001"]["next_internal"] == "2026-06-01"
    assert by_code["B-001"]["next_hydrostatic"] == ""  # TSG 11-2020: no routine hydrostatic test
    assert by_code["V-001"]["fit_for_use"] == "false"
    assert by_code["E-005"]["periodic_months"] == "24"
    assert [by_code[c]["use_registration_no"] for c in ("E-001", "E-005")] == ["梯11青A00123(19)", ""]

    report = await import_(database_url, data, "csv")
    assert report.problems == () and report.warnings == ()
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(GOOD))
    assert await snapshot(database_url) == before


async def test_xlsx_export_then_import_is_a_round_trip(database_url: str, tmp_path: Path) -> None:
    await import_(database_url, file_bytes("xlsx"), "xlsx")
    before = await snapshot(database_url)
    path = tmp_path / "register.xlsx"
    async with open_pool(database_url) as pool:
        assert await export_register(pool, path, "xlsx") == len(GOOD)
        sheet = openpyxl.load_workbook(path, read_only=True)["register"]
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == [c.name for c in COLUMNS]
        assert [r[0] for r in rows[1:]] == GOOD
        use_no = [c.name for c in COLUMNS].index("use_registration_no")
        assert [r[use_no] for r in rows[1:3]] == ["锅11青A00007(18)", "梯11青A00123(19)"]  # full-width brackets: ASCII
        report = await import_register(pool, path, "xlsx", today=TODAY)
    assert report.problems == () and report.warnings == ()
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(GOOD))
    assert await snapshot(database_url) == before


async def test_a_thousand_rows(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [row(registration_code=f"E-{n:05d}", category="电梯", district_code="630102",
                owner_code=f"OWNER-{n % 50}", owner_name=f"物业 {n % 50}", maintenance_code=f"M-{n % 7}",
                maintenance_name=f"维保 {n % 7}", floors=6 + n % 30, last_periodic=f"2025-{1 + n % 5:02d}-15")
            for n in range(1000)]
    data = csv_bytes(rows)
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        report = await import_(database_url, data, "csv")
        timings.append(time.perf_counter() - start)
        assert report.stored == 1000 and report.problems == ()
    assert report.unchanged == 1000
    start = time.perf_counter()
    report = await import_(database_url, xlsx_bytes(rows), "xlsx")
    timings.append(time.perf_counter() - start)
    assert report.unchanged == 1000
    out = io.BytesIO()
    start = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        assert await export_register(conn, out, "xlsx") == 1000
    exported = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n1,000 rows: CSV import {timings[0]:.2f} s, CSV re-import (unchanged) {timings[1]:.2f} s, "
              f"XLSX re-import {timings[2]:.2f} s, XLSX export {exported:.2f} s")


async def test_a_row_the_database_refuses_does_not_stop_its_batch(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("""
            CREATE FUNCTION refuse_e13() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.registration_code = 'E-013' THEN
                RAISE EXCEPTION 'E-013 is refused' USING ERRCODE = 'check_violation';
              END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_e13 BEFORE INSERT ON equipment FOR EACH ROW EXECUTE FUNCTION refuse_e13();""")
        rows = [row(registration_code=f"E-{n:03d}", category="elevator", district_code="630102") for n in range(10, 16)]
        report = await import_register(conn, csv_bytes(rows), "csv", today=TODAY, batch_size=4)
    assert [str(p) for p in report.problems] == ["line 5: not stored: E-013 is refused"]
    assert (report.inserted, report.rejected) == (5, 1)
    stored = await query(database_url, "SELECT registration_code FROM equipment ORDER BY 1")
    assert stored == [("E-010",), ("E-011",), ("E-012",), ("E-014",), ("E-015",)]


async def test_problems_past_the_cap_are_counted_not_listed(database_url: str) -> None:
    rows = [row(registration_code=f"X-{n}", category="lift", district_code="630102") for n in range(5)]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        report = await import_register(conn, csv_bytes(rows), "csv", max_problems=2)
    assert [p.line for p in report.problems] == [2, 3]
    assert (report.rejected, report.omitted) == (5, 3)


async def test_an_empty_register_exports_its_header(database_url: str) -> None:
    out = io.BytesIO()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await export_register(conn, out, "csv") == 0
    assert out.getvalue().decode("utf-8-sig").splitlines() == [",".join(c.name for c in COLUMNS)]


async def test_the_command_line_reports_a_bad_file_and_fails(database_url: str, tmp_path: Path) -> None:
    import asyncio
    import os
    import sys

    from tests.unit.test_register_files import GOOD, LAUGHS, rewrite, with_doctype

    path = tmp_path / "laughs.xlsx"
    path.write_bytes(rewrite(GOOD, "xl/worksheets/sheet1.xml", with_doctype(LAUGHS, "&lol3;")))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "semon", "registry", "import", str(path), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "SEMON_DATABASE_URL": database_url})
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 1, (out, err)
    assert "\nfile: not an XLSX workbook (EntitiesForbidden" in "\n" + err.decode()
    assert '"stored": 0' in out.decode()
