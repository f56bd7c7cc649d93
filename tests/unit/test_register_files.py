"""Hostile and broken import files: each is one file problem with its reason, never an exception,
and nothing is expanded into memory before the limits are checked."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.due import default_table
from registry.io import FileLimits, iter_csv, iter_xlsx
from registry.io_rows import Cell, Problem, RegisterRow, Rejected, read_rows
from tests.unit.test_register_rows import TODAY

Outcome = RegisterRow | Rejected | Problem
BASE = ["registration_code", "category", "district_code"]


def workbook(*rows: Sequence[Cell]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (BASE, *rows):
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewrite(data: bytes, part: str, change: Callable[[bytes], bytes],
            compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The workbook with one part's content changed (added when missing)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", compression) as dst:
        names = src.namelist()
        for name in names:
            content = src.read(name)
            dst.writestr(name, change(content) if name == part else content)
        if part not in names:
            dst.writestr(part, change(b""))
    return out.getvalue()


def shared_strings(texts: Sequence[str] | int, text: str = "x") -> bytes:
    items = [text] * texts if isinstance(texts, int) else list(texts)
    body = "".join(f"<si><t>{t}</t></si>" for t in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            f'2006/main" count="{len(items)}" uniqueCount="{len(items)}">{body}</sst>').encode()


def xlsx_rows(data: bytes, limits: FileLimits | None = None) -> list[Outcome]:
    return list(read_rows(iter_xlsx(io.BytesIO(data), limits), table=default_table(), today=TODAY))


def csv_rows(data: bytes, limits: FileLimits | None = None) -> list[Outcome]:
    return list(read_rows(iter_csv(io.BytesIO(data), limits), table=default_table(), today=TODAY))


def file_problem(out: list[Outcome]) -> str:
    problems = [o for o in out if isinstance(o, Problem) and o.line is None]
    assert len(problems) == 1, out
    return problems[0].reason


GOOD = workbook(("E1", "elevator", "630102"), ("E2", "电梯", "630103"))
LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')
EXTERNAL = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def with_doctype(doctype: str, reference: str | None = None) -> Callable[[bytes], bytes]:
    def change(xml: bytes) -> bytes:
        text = xml.decode()
        head, _, rest = text.partition("?>")
        text = f"{head}?>{doctype}{rest}" if rest else f"{doctype}{text}"
        if reference is not None:  # the entity used in the first inline or shared text
            text = text.replace("<t>E1</t>", f"<t>{reference}</t>", 1).replace("<is><t>E1", f"<is><t>{reference}", 1)
        return text.encode()
    return change


def test_a_good_workbook_reads() -> None:
    assert [o.equipment.registration_code for o in xlsx_rows(GOOD) if isinstance(o, RegisterRow)] == ["E1", "E2"]


def test_shared_strings_that_unpack_a_thousand_times_their_size_are_a_zip_bomb() -> None:
    bomb = rewrite(GOOD, "xl/sharedStrings.xml", lambda _: shared_strings(200_000))  # 3.4 MB from a few KB
    reason = file_problem(xlsx_rows(bomb))
    assert reason.startswith("part 'xl/sharedStrings.xml' unpacks ") and "a zip bomb, not a register" in reason


def test_too_many_distinct_shared_strings() -> None:
    many = rewrite(GOOD, "xl/sharedStrings.xml", lambda _: shared_strings([f"s{i}" for i in range(1001)]))
    assert file_problem(xlsx_rows(many, FileLimits(max_shared_strings=1000))) == (
        "the workbook holds more than 1,000 distinct texts (shared strings): split the file")
    assert not any(isinstance(o, Problem) for o in xlsx_rows(many, FileLimits(max_shared_strings=1001)))


def test_the_shared_strings_size_is_checked_from_the_zip_directory() -> None:
    big = rewrite(GOOD, "xl/sharedStrings.xml", lambda _: shared_strings([f"s{i}" for i in range(5000)]))
    reason = file_problem(xlsx_rows(big, FileLimits(max_shared_strings_bytes=50_000)))
    assert reason.startswith("the workbook's shared strings unpack to 0.1 MiB, more than 0.0 MiB")


@pytest.mark.parametrize(("limits", "start"), [
    (FileLimits(max_file_bytes=1000), "the file is 0.0 MiB, more than the 0.0 MiB allowed: split it"),
    (FileLimits(max_members=3), "the workbook has "),
    (FileLimits(max_member_bytes=500), "part "),
    (FileLimits(max_total_bytes=2000), "the workbook unpacks to "),
])
def test_limits_from_the_zip_directory(limits: FileLimits, start: str) -> None:
    assert file_problem(xlsx_rows(GOOD, limits)).startswith(start)


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml"])
def test_billion_laughs_is_refused(part: str) -> None:
    hostile = rewrite(GOOD, part, with_doctype(LAUGHS, "&lol3;"))
    reason = file_problem(xlsx_rows(hostile))
    assert "Forbidden" in reason, reason


def test_billion_laughs_in_the_shared_strings() -> None:
    hostile = rewrite(GOOD, "xl/sharedStrings.xml", lambda _: with_doctype(LAUGHS)(shared_strings(["&lol3;"])))
    assert file_problem(xlsx_rows(hostile)).startswith("not an XLSX workbook (EntitiesForbidden")


def test_an_external_entity_is_refused_and_nothing_is_read_from_the_machine() -> None:
    hostile = rewrite(GOOD, "xl/sharedStrings.xml", with_doctype(EXTERNAL, "&xxe;"))
    out = xlsx_rows(hostile)
    assert "Forbidden" in file_problem(out)
    assert "root:" not in repr(out)


def test_not_a_zip() -> None:
    assert file_problem(xlsx_rows(b"registration_code,category\n")).startswith("not an XLSX workbook (BadZipFile")


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.99])
def test_a_truncated_workbook(keep: float) -> None:
    assert file_problem(xlsx_rows(GOOD[:int(len(GOOD) * keep)])).startswith("not an XLSX workbook")


def test_a_damaged_sheet_is_a_file_problem_after_the_rows_before_it() -> None:
    rows = [(f"E{i}", "elevator", "630102") for i in range(200)]
    data = rewrite(workbook(*rows), "xl/worksheets/sheet1.xml",
                   lambda xml: xml.replace(b'<row r="100"', b'<row r="100"><c r="A100"><broken'))
    out = xlsx_rows(data)
    reason = file_problem(out)
    assert reason.startswith("the workbook is damaged or not a plain XLSX (ExpatError: mismatched tag"), reason
    assert len([o for o in out if isinstance(o, RegisterRow)]) == 98  # rows 2..99


def test_a_corrupted_compressed_part() -> None:
    data = bytearray(workbook(*[(f"E{i}", "elevator", "630102") for i in range(2000)]))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + info.compress_size // 2, start + info.compress_size // 2 + 64):
        data[i] ^= 0x55
    assert file_problem(xlsx_rows(bytes(data))).startswith(("the workbook is damaged", "not an XLSX workbook"))


def test_the_row_limit_ends_the_reading_with_a_file_problem() -> None:
    from registry.io import _source_rows

    data = workbook(*[(f"E{i}", "elevator", "630102") for i in range(20)])
    items = list(_source_rows(data, "xlsx", FileLimits(max_rows=10)))
    assert len(items) == 11 and isinstance(items[-1], Problem)
    assert items[-1].reason == "more than 10 rows: split the file (the rows before were read)"


# --- CSV ---------------------------------------------------------------------------------------

def test_csv_with_nul_bytes_spoils_only_their_rows() -> None:
    out = csv_rows(b"registration_code,category,district_code\nE\x001,elevator,630102\nE2,elevator,630102\n")
    assert isinstance(out[0], Rejected)
    assert [str(p) for p in out[0].problems] == ["line 2: registration_code 'E\\x001' contains a control character"]
    assert isinstance(out[1], RegisterRow)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_csv_in_utf16_or_utf32_is_read(encoding: str) -> None:
    data = "registration_code,category,district_code\nE1,电梯,630102\n".encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    out = csv_rows(data)
    assert [type(o).__name__ for o in out] == ["RegisterRow"]
    assert isinstance(out[0], RegisterRow) and out[0].equipment.category == "elevator"


def test_csv_in_gbk_is_read() -> None:
    data = "registration_code,category,district_code\nE1,电梯,630102\nE2,elevator,630102\n".encode("gbk")
    out = csv_rows(data)
    assert [type(o).__name__ for o in out] == ["RegisterRow", "RegisterRow"]


def test_a_csv_line_past_the_limit_is_skipped_without_being_held() -> None:
    data = (b"registration_code,category,district_code\nE1,elevator,630102\nE2,elevator," + b"9" * 5000
            + b"\nE3,elevator,630102\n")
    out = csv_rows(data, FileLimits(max_line_bytes=1000))
    assert isinstance(out[0], RegisterRow) and isinstance(out[2], RegisterRow)
    assert isinstance(out[1], Rejected) and out[1].line == 3
    assert out[1].problems[0].reason == "a line longer than 0.0 MiB: not read"


def test_a_csv_past_the_size_limit() -> None:
    data = b"registration_code,category,district_code\n" + b"E1,elevator,630102\n" * 100
    assert file_problem(csv_rows(data, FileLimits(max_file_bytes=1000))).startswith("the file is 0.0 MiB, more than")


def test_binary_garbage_as_csv() -> None:
    out = csv_rows(GOOD)
    assert out and all(isinstance(o, Problem) for o in out)


# --- any bytes ---------------------------------------------------------------------------------

@given(st.binary(max_size=2000))
def test_any_bytes_as_csv_give_rows_or_reasons(data: bytes) -> None:
    out = csv_rows(b"registration_code,category,district_code\n" + data, FileLimits(max_line_bytes=200))
    assert all(isinstance(o, RegisterRow | Rejected | Problem) for o in out)


@given(st.binary(max_size=2000))
def test_any_bytes_as_xlsx_are_one_file_problem(data: bytes) -> None:
    assert file_problem(xlsx_rows(data)).startswith("not an XLSX workbook")


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(GOOD) - 1), st.integers(1, 255)), min_size=1,
                max_size=8))
def test_a_workbook_with_damaged_bytes_never_ends_the_import(flips: list[tuple[int, int]]) -> None:
    data = bytearray(GOOD)
    for at, mask in flips:
        data[at] ^= mask
    out = xlsx_rows(bytes(data))
    assert all(isinstance(o, RegisterRow | Rejected | Problem) for o in out)


def test_a_workbook_without_a_worksheet() -> None:
    import re

    empty = rewrite(GOOD, "xl/workbook.xml", lambda xml: re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", xml))
    assert file_problem(xlsx_rows(empty)) == "the workbook has no worksheet"
