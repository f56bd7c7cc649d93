"""Files as Chinese offices make them: the encoding told (GB18030/GBK as Excel saves "CSV" on a
Chinese Windows, UTF-16 "Unicode Text", UTF-8 with its BOM), Chinese headings and values as
aliases of the register's columns (hypothesis), and a zh-CN export's values read back."""

from __future__ import annotations

import codecs
import io
import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.due import Category, default_table
from registry.io import iter_csv
from registry.io_encoding import delimiter_of, detect_encoding, gb_or_same
from registry.io_headings import ALIASES, HEADINGS, chinese_heading
from registry.io_rows import (
    COLUMNS,
    REQUIRED,
    Cell,
    Header,
    Problem,
    RegisterRow,
    Rejected,
    parse_cell,
    read_rows,
    zh_names,
)
from registry.model import Status

TODAY = date(2026, 6, 1)
# A register as a Chinese office keeps it: Chinese headings, codes as Chinese names.
HEADER = "设备代码,设备类别,设备品种/类型,安装地址,区县代码,使用单位,在用状态,使用登记证编号,上次检验日期,下次检验日期"
ROWS = [
    "311010001202300001,电梯,,城东区八一路1号,630102,西宁市第一人民医院,在用,梯11青A00123(19),2026-03-15,2027-03",
    "431010002202000007,起重机械,塔式起重机,湟中区多巴镇工地,630106,青海某建设公司,停用,起11青A00007(20),,",
    "220010003201900003,压力容器,固定式压力容器,城北区生物园区,630105,青海某化工厂,报废,容11青A00003(19),,",
]


def read(data: bytes) -> list[RegisterRow | Rejected | Problem]:
    return list(read_rows(iter_csv(io.BytesIO(data)), table=default_table(), today=TODAY))


def stored(out: list[RegisterRow | Rejected | Problem]) -> list[RegisterRow]:
    assert not [o for o in out if isinstance(o, Rejected)], out
    return [o for o in out if isinstance(o, RegisterRow)]


def test_a_csv_excel_saved_on_a_chinese_system_is_read() -> None:
    # Excel's plain "CSV" on a Chinese Windows: code page 936 (GBK), CRLF, a trailing empty line.
    data = ("\r\n".join([HEADER, *ROWS]) + "\r\n\r\n").encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    out = read(data)
    rows = stored(out)
    assert [r.line for r in rows] == [2, 3, 4]
    lift, crane, vessel = (r.equipment for r in rows)
    assert (lift.category, lift.status, lift.address, lift.district_code) == (
        Category.ELEVATOR, Status.IN_USE, "城东区八一路1号", "630102")
    assert lift.use_registration_no == "梯11青A00123(19)" and lift.last_inspected == {"periodic": date(2026, 3, 15)}
    assert lift.stated_next == {"periodic": date(2027, 3, 31)}  # the registration record's 下次检验日期
    assert (crane.category, crane.type, crane.status) == (Category.CRANE, "tower", Status.STOPPED)
    assert (vessel.type, vessel.status) == ("fixed", Status.SCRAPPED)
    # 使用单位 alone (a name, no code) cannot name a party: left out, said once.
    assert [str(p) for p in out if isinstance(p, Problem)] == [
        "line 1: owner_name ignored: without owner_code (使用单位代码) no party can be named"]


def test_gb18030_characters_beyond_gbk_are_read() -> None:
    # 䶮 (U+4DAE, CJK extension A) and 𠮷 (U+20BB7, a 4-byte GB18030 sequence) are not in GBK.
    text = HEADER + "\r\n" + ROWS[0].replace("西宁市第一人民医院", "䶮𠮷物业") + "\r\n"
    data = text.encode("gb18030")
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    assert detect_encoding(data).name == "gb18030"
    assert len(stored(read(data))) == 1


def test_a_short_gbk_file_is_not_taken_for_big5() -> None:
    # Two Chinese characters decode as well in Big5, CP949 or Shift-JIS: the register is a
    # mainland office's, GB18030 wins the tie.
    data = "registration_code,category,district_code\r\nE1,电梯,630102\r\n".encode("gbk")
    assert detect_encoding(data).name == "gb18030"
    assert stored(read(data))[0].equipment.category is Category.ELEVATOR


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
                                               ("utf-16-be", codecs.BOM_UTF16_BE),
                                               ("utf-32-le", codecs.BOM_UTF32_LE)])
def test_a_bom_tells_the_encoding(encoding: str, bom: bytes) -> None:
    data = bom + ("\r\n".join([HEADER, *ROWS]) + "\r\n").encode(encoding)
    assert detect_encoding(data).name == encoding and detect_encoding(data).bom == len(bom)
    assert len(stored(read(data))) == 3


def test_excel_unicode_text_is_tab_separated_utf16() -> None:
    # Excel's "Unicode Text" (*.txt): UTF-16 LE with its BOM, tabs between the cells.
    lines = [line.replace(",", "\t") for line in [HEADER, *ROWS]]
    data = codecs.BOM_UTF16_LE + ("\r\n".join(lines) + "\r\n").encode("utf-16-le")
    rows = stored(read(data))
    assert [r.equipment.registration_code for r in rows] == [r.split(",")[0] for r in ROWS]


def test_detected_gbk_and_gb2312_are_read_as_gb18030() -> None:
    assert {gb_or_same(n) for n in ("gbk", "GB2312", "cp936", "gb18030")} == {"gb18030"}
    assert gb_or_same("big5") == "big5"
    assert delimiter_of("a\tb\tc") == "\t" and delimiter_of("a,b;c,d") == "," and delimiter_of("x") == ","


def test_every_column_has_one_chinese_heading_and_no_heading_names_two() -> None:
    assert {c.name for c in COLUMNS} <= set(HEADINGS)
    names: dict[str, str] = {}
    for column, heading in HEADINGS.items():
        for name in (heading, *ALIASES.get(column, ())):
            assert names.setdefault(name, column) == column, name
    assert chinese_heading("district_code") == "区县代码"


# --- aliasing, over generated headers --------------------------------------------------------

_COLUMNS = [c for c in COLUMNS if not c.read_only]


def _spellings(name: str) -> list[str]:
    """Every way a file may head the column: its name, its Chinese heading, its aliases."""
    return [name, name.upper(), HEADINGS[name], *ALIASES.get(name, ())]


def _disguise(text: str, wide: bool, pad: bool) -> str:
    """Full-width brackets and letters (a Chinese input method's), and stray spaces."""
    if wide:
        text = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
    return f" {text} " if pad else text


@st.composite
def headers(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    chosen = draw(st.lists(st.sampled_from(_COLUMNS), unique_by=lambda c: c.name, max_size=12))
    names = [*REQUIRED, *(c.name for c in chosen if c.name not in REQUIRED)]
    names = list(draw(st.permutations(names)))
    cells = [_disguise(draw(st.sampled_from(_spellings(n))), draw(st.booleans()), draw(st.booleans()))
             for n in names]
    return names, cells


@given(headers())
def test_any_spelling_of_a_heading_names_the_same_column(header: tuple[list[str], list[str]]) -> None:
    names, cells = header
    parsed, problems = Header.parse(1, cells)
    english, _ = Header.parse(1, names)
    assert parsed is not None and english is not None, problems
    assert dict(parsed.index) == dict(english.index)
    assert not [p for p in problems if not p.warning]


_TABLE = default_table()
_NAMES = zh_names(_TABLE)
_COLUMN = {c.name: c for c in COLUMNS}


@st.composite
def coded(draw: st.DrawFn) -> tuple[Category, Status, str | None]:
    category = draw(st.sampled_from(list(Category)))
    types: list[str | None] = [None, *sorted(set(_TABLE.type_aliases(category).values()))]
    type_ = draw(st.sampled_from(types))
    return category, draw(st.sampled_from(list(Status))), type_


@given(coded())
def test_a_chinese_exports_values_read_back_as_themselves(value: tuple[Category, Status, str | None]) -> None:
    category, status, type_ = value
    cells: list[object] = [None] * len(COLUMNS)
    at = {c.name: i for i, c in enumerate(COLUMNS)}
    cells[at["category"]], cells[at["status"]], cells[at["type"]] = str(category), str(status), type_
    zh = _NAMES.row(cells)  # type: ignore[arg-type]
    assert parse_cell(_COLUMN["category"], zh[at["category"]]) is category
    assert parse_cell(_COLUMN["status"], zh[at["status"]]) is status
    assert all(not str(zh[at[n]]).isascii() for n in ("category", "status"))
    for column in ("area", "place"):  # the rescue fields' coded values too
        for code, zh_name in _NAMES.others[column].items():
            plain: list[Cell] = [code if i == at[column] else c for i, c in enumerate(cells)]  # type: ignore[misc]
            assert str(parse_cell(_COLUMN[column], _NAMES.row(plain)[at[column]])) == code
            assert not zh_name.isascii()
    if type_ is not None:
        name = str(zh[at["type"]])
        assert not name.isascii() and _TABLE.type_aliases(category)[name] == type_


@given(st.sampled_from(list(Category)), st.booleans())
def test_category_names_in_either_language_and_width(category: Category, wide: bool) -> None:
    zh = _NAMES.categories[str(category)]
    assert parse_cell(_COLUMN["category"], _disguise(zh, wide, False)) is category
    assert parse_cell(_COLUMN["category"], str(category).replace("_", " ").title()) is category
    assert unicodedata.normalize("NFKC", _disguise(zh, wide, False)) == unicodedata.normalize("NFKC", zh)
