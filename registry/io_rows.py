"""The register's file layout and its row parsing: pure, no database.

One row per piece of equipment. ``COLUMNS`` is the only description of the layout: the import
reads it, the export writes it, and ``columns_markdown`` documents it. Every cell is checked;
a bad row yields every reason it is bad, with the line the user sees in an editor (CSV: the
line where the record starts, the header being line 1; XLSX: the row number).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from registry.codes import category_conflict, read_code
from registry.due import Category, DueError, IntervalTable, Rules, Scheme, default_table, end_of_month
from registry.io_headings import chinese_heading, column_of, heading_index
from registry.model import Area, Equipment, Place, Role, Status
from semon.districts import XINING
from semon.protocol.codes import table_names
from semon.protocol.models import ServiceMode
from semon.protocol.topics import DEVICE_ID_PATTERN, Kind
from semon.today import register_today

# What a cell holds: text from CSV; text, numbers, dates (datetime for date cells) from XLSX.
Cell = str | int | float | date | None

SCHEDULES = ("periodic", "self_test", "external", "internal", "hydrostatic", "annual")
# Schedules without an interval of their own to override (an elevator's self-tests follow its service years).
_NO_OVERRIDE = ("self_test",)
PARTY_ROLES = (Role.OWNER, Role.MAINTENANCE, Role.AGENCY)

Group = Literal["equipment", "owner", "maintenance", "agency", "rated", "last", "stated", "months", "read_only"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # picks the parser: see _PARSERS
    doc: str
    group: Group
    key: str  # the field within the group: Equipment attribute, party attribute, rated key, schedule
    required: bool = False
    lo: float | None = None  # ints: lo ≤ v ≤ hi; floats: lo < v ≤ hi
    hi: float | None = None

    @property
    def read_only(self) -> bool:
        return self.group == "read_only"


def _schedule_columns() -> tuple[Column, ...]:
    out: list[Column] = []
    for s in SCHEDULES:
        out += [
            Column(f"last_{s}", "date", f"last {s} inspection (YYYY-MM-DD); an older date than the stored one is "
                   "ignored", "last", s),
            Column(f"stated_next_{s}", "month", f"the next {s} inspection the last report states (YYYY-MM, as the "
                   "registration record holds it): the due date from then on", "stated", s),
        ]
        if s not in _NO_OVERRIDE:
            out.append(Column(f"{s}_months", "int", f"interval override for the {s} schedule, in months (empty: "
                              "the statutory interval)", "months", s, lo=1, hi=240))
        out.append(Column(f"next_{s}", "date", f"next {s} inspection due (export only)", "read_only", f"next_{s}"))
    return tuple(out)


COLUMNS: tuple[Column, ...] = (
    Column("registration_code", "code", "设备代码 (18 or 19 characters) or 注册代码 (20 digits), or the device's own "
           "id: 1–64 letters, digits, `_`, `.`, `-`, starting with a letter or digit (also the device's MQTT id). A "
           "设备代码 or 注册代码 whose category code is another category's is stored with a warning", "equipment",
           "registration_code", required=True),
    Column("use_registration_no", "use_no", "使用登记证编号, the registration certificate's own number (not the "
           "设备代码): 1–64 letters, digits, Chinese characters, `-` and brackets, e.g. 梯11青A00123(19); full-width "
           "digits, letters and brackets are kept as ASCII ones", "equipment", "use_registration_no"),
    Column("rescue_code", "rescue_code", "救援识别码, the code on the plate in the car that a caller reads to the "
           "emergency centre (96333): 3–20 digits or letters (six digits in Xining), unique in the register",
           "equipment", "rescue_code"),
    Column("category", "category", "elevator, boiler, pressure_vessel, pressure_piping, gas_cylinder, crane, "
           "in_plant_vehicle, large_amusement_ride, passenger_ropeway; or 电梯, 锅炉, 压力容器, 压力管道, 气瓶, "
           "起重机械, 场(厂)内专用机动车辆, 大型游乐设施, 客运索道", "equipment", "category", required=True),
    Column("type", "text", "e.g. tower, mobile, bridge (crane); GC1, GC2, GC3 (piping): picks the interval",
           "equipment", "type"),
    Column("address", "text", "where it is installed", "equipment", "address"),
    Column("district_code", "district", "the district it stands in, administrative division code, 6 digits (e.g. "
           "630102), one of the city's divisions (semon.districts.XINING): the only source of its district (its "
           "alarms, the rate by district)", "equipment",
           "district_code", required=True),
    Column("area", "area", "urban (the urban core, county seats included) or other; or 城区, 县城 / 其他: the area "
           "that sets the maintenance unit's arrival limit", "equipment", "area"),
    Column("place", "place", "使用场所: residential, mall, hospital, school, office, hotel, transport, public, "
           "industrial, other; or 住宅, 商场, 医院, 学校, 办公, 宾馆, 交通, 公共场所, 厂房, 其他", "equipment",
           "place"),
    Column("latitude", "degrees", "WGS84 latitude in degrees (with longitude)", "equipment", "latitude", lo=-90,
           hi=90),
    Column("longitude", "degrees", "WGS84 longitude in degrees (with latitude)", "equipment", "longitude",
           lo=-180, hi=180),
    Column("owner_code", "party_code", "使用单位: unified social credit code (the party's identity)", "owner", "code"),
    Column("owner_name", "text", "使用单位 name (needed the first time a code appears)", "owner", "name"),
    Column("maintenance_code", "party_code", "维保单位 code", "maintenance", "code"),
    Column("maintenance_name", "text", "维保单位 name", "maintenance", "name"),
    Column("maintenance_phone", "phone", "维保单位 phone (digits, spaces, `+ - ( )`)", "maintenance", "phone"),
    Column("maintenance_contacts", "contacts", "维保单位 duty contacts beyond its phone, `name phone` separated by "
           "`;`, e.g. `王工 13800000001; 值班室 0971-6100001`", "maintenance", "contacts"),
    Column("agency_code", "party_code", "检验机构 code", "agency", "code"),
    Column("agency_name", "text", "检验机构 name", "agency", "name"),
    Column("agency_email", "email", "检验机构 e-mail for notices", "agency", "email"),
    Column("agency_webhook_url", "url", "检验机构 webhook for notices (http or https)", "agency", "webhook_url"),
    Column("status", "status", "in_use (default), stopped, scrapped; or 在用, 停用, 报废", "equipment", "status"),
    Column("commissioned_on", "date", "commissioning date (YYYY-MM-DD)", "equipment", "commissioned_on"),
    Column("scheme", "scheme", "elevator: inspection scheme, tsg2023 (TSG T7001-2023: periodic inspection in years 1, "
           "4, 7, 9, 11, 13, 15 and yearly after, self-tests in the other years) or yearly (empty: the region's "
           "setting)", "equipment", "scheme"),
    Column("installed_on", "date", "elevator: installation supervisory inspection (安装监督检验), the base its service "
           "years count from (empty: the commissioning date)", "equipment", "installed_on"),
    Column("renovated_on", "date", "latest renovation supervisory inspection (改造监督检验): restarts an elevator's "
           "count; an older date than the stored one is ignored", "equipment", "renovated_on"),
    Column("major_repair_on", "date", "latest major repair supervisory inspection (重大修理监督检验): stands in for "
           "that year's inspection and keeps the count", "equipment", "major_repair_on"),
    Column("manufactured_on", "date", "gas cylinder: manufacturing date, which its periods and design life count "
           "from", "equipment", "manufactured_on"),
    Column("stopped_on", "date", "when the latest stop (停用) began (empty with status stopped: the import's day)",
           "equipment", "stopped_on"),
    Column("resumed_on", "date", "when the unit came back into use after it: after a stop of a year or more it is "
           "inspected before it runs again", "equipment", "resumed_on"),
    Column("relocated_on", "date", "boiler: latest relocation (移装), after which an internal inspection is due",
           "equipment", "relocated_on"),
    Column("floors", "int", "elevator: floors served", "rated", "floors", lo=1, hi=300),
    Column("rated_speed_mps", "float", "rated speed, m/s", "rated", "rated_speed_mps", lo=0, hi=30),
    Column("rated_pressure_mpa", "float", "rated pressure, MPa", "rated", "rated_pressure_mpa", lo=0, hi=1000),
    Column("rated_outlet_temp_c", "float", "boiler: rated outlet temperature, °C", "rated", "rated_outlet_temp_c",
           lo=-273.15, hi=2000),
    Column("medium", "text", "working medium (steam, hot water, …)", "rated", "medium"),
    Column("safety_grade", "int", "pressure vessel safety grade 1–5 (5: not to be used)", "rated", "safety_grade",
           lo=1, hi=5),
    Column("gas", "gas", "gas cylinder class: corrosive, general, inert, lpg (picks the interval)", "rated", "gas"),
    Column("design_life_years", "int", "gas cylinder: design life in years (empty: its type's: seamless_steel 30, "
           "welded_steel 8, aluminium 20, composite 15)", "rated", "design_life_years", lo=1, hi=100),
    Column("internal_impossible", "flag", "boiler: its structure makes internal inspection impossible (a hydrostatic "
           "test every 3 years)", "rated", "internal_impossible"),
    Column("lifts_molten_metal", "flag", "crane: lifts molten or hot metal (inspected every year)", "rated",
           "lifts_molten_metal"),
    Column("periodic_inspection", "flag", "false: its design documents say no periodic inspection is needed (exempt, "
           "never overdue)", "rated", "periodic_inspection"),
    Column("reports_events", "flag", "elevator, boiler: the device sends its own fault codes (true, the default) or "
           "its faults are derived from telemetry (false)", "rated", "reports_events"),
    Column("code_table", "code_table", "elevator, boiler: the device's code table (`semon-v1`, the default; "
           "`gbt24476-2023`; `chongqing`): docs/protocol.md section 7", "rated", "code_table"),
    Column("entrapment_outside_door_zone_s", "float", "elevator: seconds stopped outside the door zone before an "
           "entrapment (empty: the city's setting, 15)", "rated", "entrapment_outside_door_zone_s", lo=0, hi=3600),
    Column("entrapment_in_door_zone_s", "float", "elevator: seconds at a landing with the doors not reopened before "
           "an entrapment (empty: the city's setting, 90)", "rated", "entrapment_in_door_zone_s", lo=0, hi=3600),
    Column("entrapment_min_detections", "int", "elevator: presence detections within the window that make it an "
           "entrapment (empty: the city's setting, 1)", "rated", "entrapment_min_detections", lo=1, hi=1000),
    Column("entrapment_held_modes", "modes", "elevator: service modes in which no entrapment is judged from "
           "telemetry, space-separated, or `none` (empty: the city's setting, `inspection`)", "rated",
           "entrapment_held_modes"),
    *_schedule_columns(),
    Column("next_due", "date", "earliest due date of all schedules (export only)", "read_only", "next_due"),
    Column("fit_for_use", "bool", "false after a failed inspection or for a unit not to be used (export only)",
           "read_only", "fit_for_use"),
)
COLUMN_BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
_HEADING_INDEX = heading_index(tuple(COLUMN_BY_NAME))

# A text cell starting with one of these is a formula to Excel: the CSV export prefixes an apostrophe
# (OWASP's advice against CSV injection) and the import takes it off again.
FORMULA_START = ("=", "+", "-", "@")

_CATEGORY_NAMES: dict[str, Category] = {
    "电梯": Category.ELEVATOR, "锅炉": Category.BOILER, "压力容器": Category.PRESSURE_VESSEL,
    "压力管道": Category.PRESSURE_PIPING, "气瓶": Category.GAS_CYLINDER, "起重机械": Category.CRANE,
    "场(厂)内专用机动车辆": Category.IN_PLANT_VEHICLE, "大型游乐设施": Category.LARGE_AMUSEMENT_RIDE,
    "客运索道": Category.PASSENGER_ROPEWAY,
}
# Both spellings of the in-plant vehicles' name are in use.
_CATEGORY_ALIASES = {**_CATEGORY_NAMES, "场内专用机动车辆": Category.IN_PLANT_VEHICLE,
                     "厂内专用机动车辆": Category.IN_PLANT_VEHICLE}
_STATUS_NAMES: dict[str, Status] = {"在用": Status.IN_USE, "停用": Status.STOPPED, "报废": Status.SCRAPPED}
_AREA_NAMES: dict[str, Area] = {"城区": Area.URBAN, "市区": Area.URBAN, "县城": Area.URBAN, "其他": Area.OTHER,
                                "其他区域": Area.OTHER, "郊区": Area.OTHER, "乡镇": Area.OTHER, "农村": Area.OTHER}
_PLACE_NAMES: dict[str, Place] = {
    "住宅": Place.RESIDENTIAL, "住宅小区": Place.RESIDENTIAL, "商场": Place.MALL, "商场超市": Place.MALL,
    "医院": Place.HOSPITAL, "学校": Place.SCHOOL, "办公": Place.OFFICE, "办公楼": Place.OFFICE, "宾馆": Place.HOTEL,
    "酒店": Place.HOTEL, "宾馆酒店": Place.HOTEL, "交通": Place.TRANSPORT, "车站": Place.TRANSPORT,
    "机场": Place.TRANSPORT, "地铁": Place.TRANSPORT, "公共场所": Place.PUBLIC, "厂房": Place.INDUSTRIAL,
    "工厂": Place.INDUSTRIAL, "其他": Place.OTHER,
}


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None  # None: the whole file
    reason: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{'file' if self.line is None else f'line {self.line}'}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PartyRef:
    """A party as a row names it: the code always, the rest where the row gives it."""

    role: Role
    code: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    webhook_url: str | None = None
    contacts: tuple[tuple[str, str], ...] | None = None  # (name, phone); None: not given


@dataclass(frozen=True, slots=True)
class RegisterRow:
    line: int
    equipment: Equipment
    parties: tuple[PartyRef, ...] = ()
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of the file as read: its first line and its cells, or why it could not be read."""

    line: int
    cells: Sequence[Cell]
    problem: str | None = None


class CellError(ValueError):
    """A cell's value is not valid; the message is the reason."""


# --- cells -------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def cell_text(cell: Cell) -> str | None:
    """The cell as trimmed text; None when empty."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        text = "true" if cell else "false"
    elif isinstance(cell, float) and cell.is_integer():
        text = str(int(cell))  # Excel keeps 630102 as 630102.0
    elif isinstance(cell, datetime):
        text = cell.date().isoformat() if cell.time() == time() else cell.isoformat(sep=" ")
    elif isinstance(cell, date):
        text = cell.isoformat()
    else:
        text = str(cell).replace("\r\n", "\n")
    text = text.strip()
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_START:
        text = text[1:]
    return text or None


def _normal(text: str) -> str:
    # NFKC folds full-width brackets and letters (（厂）→ (厂)); "Pressure Vessel" → pressure_vessel.
    return re.sub(r"[\s\-]+", "_", unicodedata.normalize("NFKC", text).lower())


def _text(col: Column, text: str, cell: Cell) -> Any:
    return text


def _code(col: Column, text: str, cell: Cell) -> Any:
    if not DEVICE_ID_PATTERN.fullmatch(text):
        raise CellError(f"{col.name} {_show(text)} is not valid: 1–64 letters, digits, '_', '.', '-', "
                        "starting with a letter or digit")
    return text


# Letters, digits, CJK ideographs (with extension A), '-' and brackets: the certificate's number
# ends with its year in brackets, e.g. 梯11青A00123(19).
_USE_NO = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff()-]{1,64}")


def _use_no(col: Column, text: str, cell: Cell) -> Any:
    """A 使用登记证编号 in its NFKC form: full-width digits, letters and brackets (typed with a
    Chinese input method) are the ASCII ones."""
    number = unicodedata.normalize("NFKC", text)
    if not _USE_NO.fullmatch(number):
        raise CellError(f"{col.name} {_show(text)} is not a 使用登记证编号: 1–64 letters, digits, Chinese characters, "
                        "'-' and brackets")
    return number


_RESCUE_CODE = re.compile(r"[0-9A-Za-z-]{3,20}")


def _rescue_code(col: Column, text: str, cell: Cell) -> Any:
    """A 救援识别码 in its NFKC form (full-width digits typed with a Chinese input method are the ASCII ones)."""
    code = unicodedata.normalize("NFKC", text).upper()
    if not _RESCUE_CODE.fullmatch(code):
        raise CellError(f"{col.name} {_show(text)} is not a rescue code: 3–20 digits, letters or '-'")
    return code


def _named(col: Column, text: str, names: Mapping[str, Any], values: type[StrEnum]) -> Any:
    """One of ``values``, by its value or by one of its Chinese ``names``."""
    key = _normal(text)
    found = names.get(key) or next((v for v in values if v.value == key), None)
    if found is None:
        raise CellError(f"{col.name} {_show(text)} is not one of {', '.join(values)} (or {', '.join(names)})")
    return found


def _area(col: Column, text: str, cell: Cell) -> Any:
    return _named(col, text, _AREA_NAMES, Area)


def _place(col: Column, text: str, cell: Cell) -> Any:
    return _named(col, text, _PLACE_NAMES, Place)


def _degrees(col: Column, text: str, cell: Cell) -> Any:
    value = _number(text, cell)
    assert col.lo is not None and col.hi is not None
    if value is None or not col.lo <= value <= col.hi:  # also rejects NaN
        raise CellError(f"{col.name} {_show(text)} is not a number of degrees from {col.lo:g} to {col.hi:g}")
    return value


_CONTACT = re.compile(r"(.+?)[\s:：]+(\+?[\d()\-]{3,32})")


def _contacts(col: Column, text: str, cell: Cell) -> Any:
    """``name phone; name phone``: (name, phone) pairs, at most 10."""
    found: list[tuple[str, str]] = []
    for part in (p.strip() for p in re.split(r"[;；\n]", text)):
        if not part:
            continue
        m = _CONTACT.fullmatch(part)
        if m is None or sum(ch.isdigit() for ch in m[2]) < 3:
            raise CellError(f"{col.name}: {_show(part)} is not `name phone`")
        found.append((m[1].strip(), m[2]))
    if len(found) > 10:
        raise CellError(f"{col.name}: {len(found)} contacts, at most 10")
    return tuple(found)


def _category(col: Column, text: str, cell: Cell) -> Any:
    key = _normal(text)
    found = _CATEGORY_ALIASES.get(key) or next((c for c in Category if c.value == key), None)
    if found is None:
        raise CellError(f"category {_show(text)} is not one of {', '.join(Category)} "
                        f"(or {', '.join(_CATEGORY_NAMES)})")
    return found


def _status(col: Column, text: str, cell: Cell) -> Any:
    return _named(col, text, _STATUS_NAMES, Status)


# The divisions the register accepts: the city's own (semon.districts.XINING, GB/T 2260). A code
# of another division, or none at all, would file the unit under a district no one names.
REGISTER_DISTRICTS: Mapping[str, str] = {d.code: d.name for d in XINING}


def _district(col: Column, text: str, cell: Cell) -> Any:
    if not re.fullmatch(r"\d{6}", text):
        raise CellError(f"district_code {_show(text)} is not 6 digits")
    if text not in REGISTER_DISTRICTS:
        valid = ", ".join(f"{code} {name}" for code, name in REGISTER_DISTRICTS.items())
        raise CellError(f"district_code {text} is not one of the city's divisions: {valid}")
    return text


def _phone(col: Column, text: str, cell: Cell) -> Any:
    if not re.fullmatch(r"\+?[\d\s()\-]{3,32}", text) or sum(ch.isdigit() for ch in text) < 3:
        raise CellError(f"{col.name} {_show(text)} is not a phone number")
    return text


def _email(col: Column, text: str, cell: Cell) -> Any:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", text):
        raise CellError(f"{col.name} {_show(text)} is not an e-mail address")
    return text


def _url(col: Column, text: str, cell: Cell) -> Any:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in text):
        raise CellError(f"{col.name} {_show(text)} is not an http or https URL")
    return text


_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?: 00:00(?::00)?)?")


def _date(col: Column, text: str, cell: Cell) -> Any:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    m = _DATE.fullmatch(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    raise CellError(f"{col.name} {_show(text)} is not a date (YYYY-MM-DD)")


_MONTH = re.compile(r"(\d{4})[-/年.](\d{1,2})月?(?:[-/](\d{1,2}))?")


def _month(col: Column, text: str, cell: Cell) -> Any:
    """A year and month (YYYY-MM, YYYY年MM月, or a full date): the month's last day."""
    if isinstance(cell, datetime):
        return end_of_month(cell.date())
    if isinstance(cell, date):
        return end_of_month(cell)
    m = _MONTH.fullmatch(text)
    if m and 1 <= int(m[2]) <= 12 and 1900 <= int(m[1]) <= 2200:
        return end_of_month(date(int(m[1]), int(m[2]), 1))
    raise CellError(f"{col.name} {_show(text)} is not a year and month (YYYY-MM)")


def _scheme(col: Column, text: str, cell: Cell) -> Any:
    try:
        return Scheme(_normal(text))
    except ValueError:
        raise CellError(f"{col.name} {_show(text)} is not one of {', '.join(Scheme)}") from None


def _int(col: Column, text: str, cell: Cell) -> Any:
    value: int | None = None
    if isinstance(cell, int) and not isinstance(cell, bool):
        value = cell
    elif isinstance(cell, float) and cell.is_integer():
        value = int(cell)
    elif isinstance(cell, str) and re.fullmatch(r"[+-]?\d+", text):
        value = int(text)
    assert col.lo is not None and col.hi is not None
    if value is None or not col.lo <= value <= col.hi:
        raise CellError(f"{col.name} {_show(text)} is not a whole number from {col.lo:g} to {col.hi:g}")
    return value


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(text: str, cell: Cell) -> float | None:
    """The cell as a number: a workbook's number, or text that is one; None otherwise."""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return float(cell)
    if isinstance(cell, str) and _NUMBER.fullmatch(text):
        return float(text)
    return None


def _float(col: Column, text: str, cell: Cell) -> Any:
    value = _number(text, cell)
    assert col.lo is not None and col.hi is not None
    if value is None or not col.lo < value <= col.hi:  # also rejects NaN
        raise CellError(f"{col.name} {_show(text)} is not a number above {col.lo:g} and at most {col.hi:g}")
    return value


def _gas(col: Column, text: str, cell: Cell) -> Any:
    return _normal(text)  # checked against the interval table with the rest of the row


def _bool(col: Column, text: str, cell: Cell) -> Any:
    return _normal(text) in ("true", "yes", "1")


_FLAGS = {"true": True, "yes": True, "1": True, "是": True, "false": False, "no": False, "0": False, "否": False}


def _flag(col: Column, text: str, cell: Cell) -> Any:
    if isinstance(cell, bool):
        return cell
    value = _FLAGS.get(_normal(text))
    if value is None:
        raise CellError(f"{col.name} {_show(text)} is not true or false")
    return value


def _code_table(col: Column, text: str, cell: Cell) -> Any:
    known = sorted({name for kind in Kind for name in table_names(kind)})
    if text not in known:
        raise CellError(f"{col.name} {_show(text)} is no code table; shipped: {', '.join(known)}")
    return text


def _modes(col: Column, text: str, cell: Cell) -> Any:
    """Service modes (protocol ``mode``), space- or comma-separated; ``none`` for none."""
    words = [w for w in re.split(r"[\s,]+", _normal(text)) if w]
    if words == ["none"]:
        return "none"
    known = {str(m) for m in ServiceMode}
    wrong = [w for w in words if w not in known]
    if wrong or not words:
        raise CellError(f"{col.name} {_show(text)} is not a list of service modes ({', '.join(sorted(known))}) "
                        "or none")
    return " ".join(sorted(set(words)))


_PARSERS: dict[str, Callable[[Column, str, Cell], Any]] = {
    "text": _text, "party_code": _text, "code": _code, "use_no": _use_no, "category": _category, "status": _status,
    "district": _district, "phone": _phone, "email": _email, "url": _url, "date": _date, "int": _int,
    "float": _float, "gas": _gas, "bool": _bool, "flag": _flag, "code_table": _code_table, "modes": _modes,
    "month": _month, "scheme": _scheme, "rescue_code": _rescue_code, "area": _area, "place": _place,
    "degrees": _degrees, "contacts": _contacts,
}


# Columns of identifiers: digits that are not a quantity. Typed into a number cell, Excel keeps
# 15 significant digits (a 20-digit 注册代码 becomes 3.11063010220268E+19) and drops leading
# zeros, and its CSV shows the exponent form: the code read back is another code.
IDENTIFIER_KINDS = frozenset({"code", "use_no", "party_code", "phone", "district", "rescue_code"})
_EXPONENT = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+")
_AS_TEXT = "format the column as text (or start each code with an apostrophe) and type the codes again"


def _number_shown(cell: int | float) -> str:
    return f"{cell:.15g}" if isinstance(cell, float) else str(cell)


def _identifier_check(col: Column, text: str, cell: Cell) -> None:
    """Refuse an identifier the spreadsheet turned into a number, a date or a TRUE/FALSE; a
    6-digit district code kept as a whole number is exact (no district code starts with 0)."""
    if isinstance(cell, bool):
        raise CellError(f"{col.name} {_show(text)} is a TRUE/FALSE cell in the file, not text; {_AS_TEXT}")
    if isinstance(cell, date):  # Excel reads a code such as 3-12 or 2024/1 as a date
        raise CellError(f"{col.name} {_show(text)} is a date cell in the file, not text: the spreadsheet read the "
                        f"code as a date; {_AS_TEXT}")
    if isinstance(cell, int | float):
        if col.kind == "district" and float(cell).is_integer() and 100_000 <= cell <= 999_999:
            return
        raise CellError(f"{col.name} {_number_shown(cell)} is a number in the file, not text: a spreadsheet keeps "
                        f"only 15 digits of a number and drops leading zeros, so the code may have changed; "
                        f"{_AS_TEXT}")
    if _EXPONENT.fullmatch(text):
        raise CellError(f"{col.name} {_show(text)} is a number in exponent form: the spreadsheet has cut the code "
                        f"to 15 digits; {_AS_TEXT}")


def _date_number_check(col: Column, text: str, cell: Cell) -> None:
    """A date cell shown as a number is Excel's day count (45000 is 2023-03-15), not a date."""
    number = isinstance(cell, int | float) and not isinstance(cell, bool)
    if number or re.fullmatch(r"\d+(?:\.\d+)?", text):
        raise CellError(f"{col.name} {_show(text)} is a number, not a date (a spreadsheet's day count?): format "
                        "the column as a date or as text, YYYY-MM-DD")


def parse_cell(col: Column, cell: Cell) -> Any:
    """The cell's value, None when empty; raises CellError with the reason."""
    text = cell_text(cell)
    if text is None:
        if col.required:
            raise CellError(f"{col.name} missing")
        return None
    if _CONTROL.search(text):  # XLSX cannot hold them, so the export would fail later
        raise CellError(f"{col.name} {_show(text)} contains a control character")
    if col.kind in IDENTIFIER_KINDS:
        _identifier_check(col, text, cell)
    elif col.kind == "date":
        _date_number_check(col, text, cell)
    return _PARSERS[col.kind](col, text, cell)


# --- header and rows ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Header:
    line: int
    index: Mapping[str, int]  # import column name → cell position

    @classmethod
    def parse(cls, line: int, cells: Sequence[Cell]) -> tuple[Header | None, list[Problem]]:
        """The header, or None with the errors that make the file unreadable; unknown columns are
        one warning."""
        index: dict[str, int] = {}
        unknown: list[str] = []
        errors: list[Problem] = []
        for pos, cell in enumerate(cells):
            heading = cell_text(cell) or ""
            if not heading:
                continue
            # English names, Chinese headings and their aliases alike (registry.io_headings).
            name = column_of(heading, _HEADING_INDEX) or heading.lower()
            column = COLUMN_BY_NAME.get(name)
            if column is None:
                unknown.append(heading)
            elif name in index:
                errors.append(Problem(line, f"column {name} appears twice"))
            elif not column.read_only:
                index[name] = pos
        errors += [Problem(line, f"required column {name} ({chinese_heading(name)}) is missing")
                   for name in REQUIRED if name not in index]
        warnings = [Problem(line, f"unknown columns ignored: {', '.join(unknown)}", warning=True)] if unknown else []
        warnings += _nameless_parties(line, index)
        return (None if errors else cls(line, index)), errors + warnings


def _nameless_parties(line: int, index: dict[str, int]) -> list[Problem]:
    """A party's details without its code column (a Chinese register's 使用单位 is the owner's name
    alone) cannot name a party: those columns are left out, with a warning, and the row is read."""
    out: list[Problem] = []
    for role in PARTY_ROLES:
        if f"{role}_code" in index:
            continue
        dropped = [c.name for c in COLUMNS if c.group == role and c.name in index]
        for name in dropped:
            del index[name]
        if dropped:
            out.append(Problem(line, f"{', '.join(dropped)} ignored: without {role}_code "
                                     f"({chinese_heading(role + '_code')}) no party can be named", warning=True))
    return out


def is_blank(cells: Sequence[Cell]) -> bool:
    return all(cell_text(c) is None for c in cells)


def parse_row(header: Header, line: int, cells: Sequence[Cell], *, table: IntervalTable,
              today: date, rules: Rules | None = None) -> RegisterRow | Rejected:
    """One row on its own (the file-wide checks are ``read_rows``'s)."""
    values: dict[str, Any] = {}
    reasons: list[str] = []
    for name, pos in header.index.items():
        try:
            values[name] = parse_cell(COLUMN_BY_NAME[name], cells[pos] if pos < len(cells) else None)
        except CellError as exc:
            reasons.append(str(exc))
    parties, party_reasons = _parties(values)
    reasons += party_reasons
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        reasons.append("latitude and longitude go together: give both or neither")
    warnings: list[Problem] = []
    if isinstance(values.get("category"), Category):
        reasons += _schedule_checks(values, table, today, warnings, line, rules)
        if values.get("registration_code") is not None:
            conflict = category_conflict(values["registration_code"], values["category"], this_year=today.year)
            if conflict is not None:
                warnings.append(Problem(line, conflict, warning=True))
    if reasons:
        return Rejected(line, tuple(Problem(line, r) for r in reasons))
    return RegisterRow(line, _equipment(values), parties, tuple(warnings))


def _parties(values: Mapping[str, Any]) -> tuple[tuple[PartyRef, ...], list[str]]:
    refs: list[PartyRef] = []
    reasons: list[str] = []
    for role in PARTY_ROLES:
        given = {c.key: values[c.name] for c in COLUMNS if c.group == role and values.get(c.name) is not None}
        code = given.pop("code", None)
        if code is None:
            reasons += [f"{role}_{key} given without {role}_code" for key in given]
        else:
            refs.append(PartyRef(role, code, **given))
    return tuple(refs), reasons


def _keyed(names: list[str]) -> dict[str, str] | None:
    """The keys an interval is looked up by (type, gas), folded for matching; None if there are none."""
    return {_normal(k): k for k in names} or None


_EVENT_DATES = ("commissioned_on", "installed_on", "renovated_on", "major_repair_on", "manufactured_on", "stopped_on",
                "resumed_on",
                "relocated_on")


def _type_from_code(values: dict[str, Any], table: IntervalTable, today: date) -> None:
    """A row without a type takes it from its code's category code when that says what the unit
    is (4860 施工升降机: a construction hoist, inspected yearly under TSG Q7015-2016; 4150
    冶金桥式起重机: a bridge crane lifting molten metal), rated flags the row leaves empty too."""
    reading = read_code(values["registration_code"], this_year=today.year)
    category: Category = values["category"]
    if reading.variety is None or reading.category is not category:
        return
    said = table.variety(category, reading.variety)
    if not said:
        return
    values["type"] = said["type"]
    for key, value in said.items():
        column = COLUMN_BY_NAME.get(key)
        if key != "type" and column is not None and values.get(column.name) is None:
            values[column.name] = value


def _schedule_checks(values: dict[str, Any], table: IntervalTable, today: date, warnings: list[Problem],
                     line: int, rules: Rules | None = None) -> list[str]:
    """Checks against the rules; spells ``type`` as the table does (Tower → tower)."""
    category: Category = values["category"]
    reasons: list[str] = []
    if values.get("type") is None and values.get("registration_code") is not None:
        _type_from_code(values, table, today)
    types = _keyed(table.types(category))
    if types is not None and values.get("type") is not None:
        given = table.type_aliases(category).get(values["type"], values["type"])
        canonical = types.get(_normal(given))
        if canonical is None:  # a silent default interval would hide a typo
            warnings.append(Problem(line, f"type {_show(values['type'])} has no interval of its own for {category} "
                                    f"({', '.join(types.values())}): the default applies", warning=True))
        else:
            values["type"] = canonical
    gases = _keyed(table.keys_of(category, "gas"))
    if values.get("gas") is not None and gases is not None and values["gas"] not in gases:
        reasons.append(f"gas {_show(values['gas'])} is not one of {', '.join(gases.values())}")
    if values.get("scheme") is not None and category is not Category.ELEVATOR:
        reasons.append(f"scheme given, but only an elevator has an inspection scheme, not a {category}")
    own = values.get("scheme")
    scheme = rules.scheme_of(own, values.get("district_code")) if rules else Scheme(own or Scheme.TSG2023)
    rated = _group(values, "rated")
    try:
        statutory = {s.name for s in table.schedules(category, type_=values.get("type"), rated=rated)}
        overrides = {k: v for k, v in _group(values, "months").items() if k in statutory}
        names = [s.name for s in table.schedules(category, type_=values.get("type"), rated=rated,
                                                 overrides=overrides, scheme=scheme)]
    except DueError as exc:
        return [*reasons, str(exc)]
    exempt = table.exempt(category, values.get("type"), rated)
    for s in SCHEDULES:
        for column in (f"last_{s}", f"stated_next_{s}", f"{s}_months"):
            if values.get(column) is None or s in names:
                continue
            if exempt:
                reasons.append(f"{column} given, but the unit owes no periodic inspection ({exempt})")
            else:
                reasons.append(f"{column} given, but {category} has no {s} schedule (it has {', '.join(names)})")
        last = values.get(f"last_{s}")
        if last is not None and last > today:
            reasons.append(f"last_{s} {last.isoformat()} is in the future")
        stated = values.get(f"stated_next_{s}")
        if stated is not None and last is not None and stated <= end_of_month(last):
            reasons.append(f"stated_next_{s} {stated:%Y-%m} is not after last_{s} {last.isoformat()}")
    for column in _EVENT_DATES:
        if (on := values.get(column)) is not None and on > today:
            reasons.append(f"{column} {on.isoformat()} is in the future")
    stopped, resumed = values.get("stopped_on"), values.get("resumed_on")
    if stopped is not None and resumed is not None and resumed < stopped:
        reasons.append(f"resumed_on {resumed.isoformat()} is before stopped_on {stopped.isoformat()}")
    return reasons


def _group(values: Mapping[str, Any], group: Group) -> dict[str, Any]:
    """The group's non-empty values, by key."""
    return {c.key: values[c.name] for c in COLUMNS if c.group == group and values.get(c.name) is not None}


def _equipment(values: Mapping[str, Any]) -> Equipment:
    """The row as a record; the columns the file has are what it gives (``Equipment.given``)."""
    roles: dict[str, Any] = {str(role): values.get(f"{role}_code") for role in PARTY_ROLES}
    given = {str(role) for role in PARTY_ROLES if f"{role}_code" in values}
    for name in values:
        col = COLUMN_BY_NAME[name]
        if col.group == "equipment":
            given.add(col.key)
        elif col.group == "rated":
            given.add(f"rated.{col.key}")
        elif col.group == "months":
            given.add(f"interval_overrides.{col.key}")
    return Equipment(**_group(values, "equipment"), **roles, rated=_group(values, "rated"),
                     interval_overrides=_group(values, "months"), last_inspected=_group(values, "last"),
                     stated_next=_group(values, "stated"), given=frozenset(given))


# --- the whole file ----------------------------------------------------------------------------

@dataclass(slots=True)
class _FileChecks:
    """What one row cannot see: a registration code given twice, a party described two ways."""

    codes: dict[str, int] = field(default_factory=dict)  # registration code → first line
    rescue_codes: dict[str, int] = field(default_factory=dict)  # rescue code → first line
    # party code → its role and, per detail, the first value given and its line
    parties: dict[str, tuple[Role, int, dict[str, tuple[str, int]]]] = field(default_factory=dict)

    def code_seen(self, code: str, line: int) -> str | None:
        first = self.codes.setdefault(code, line)
        return None if first == line else f"registration_code {_show(code)} repeats line {first}"

    def rescue_code_seen(self, row: RegisterRow) -> list[str]:
        code = row.equipment.rescue_code
        if code is None:
            return []
        first = self.rescue_codes.setdefault(code, row.line)
        return [] if first == row.line else [f"rescue_code {_show(code)} is the unit's on line {first}"]

    def party_conflicts(self, row: RegisterRow) -> list[str]:
        reasons: list[str] = []
        for ref in row.parties:
            known = self.parties.get(ref.code)
            if known is None:
                continue
            role, line, details = known
            if role != ref.role:
                reasons.append(f"{ref.role}_code {_show(ref.code)} is the {role} on line {line}; "
                               "a party has one role")
                continue
            for key in ("name", "phone", "email", "webhook_url"):
                value, first = getattr(ref, key), details.get(key)
                if value is not None and first is not None and first[0] != value:
                    reasons.append(f"{ref.role}_{key} {_show(value)} differs from {_show(first[0])} "
                                   f"given for {ref.role}_code {_show(ref.code)} on line {first[1]}")
        return reasons

    def remember(self, row: RegisterRow) -> None:
        for ref in row.parties:
            details = self.parties.setdefault(ref.code, (ref.role, row.line, {}))[2]
            for key in ("name", "phone", "email", "webhook_url"):
                value = getattr(ref, key)
                if value is not None:
                    details.setdefault(key, (value, row.line))


def read_rows(source: Iterable[SourceRow | Problem], *, table: IntervalTable | None = None,
              today: date | None = None, rules: Rules | None = None,
              ) -> Generator[RegisterRow | Rejected | Problem, None, None]:
    """Good rows, rejected rows and file-level problems (errors and warnings), in file order.

    The first non-blank record is the header; without the required columns nothing is read."""
    table = table or (rules.table if rules else default_table())
    today = today or register_today()
    checks = _FileChecks()
    for entry in records(source, Header.parse):
        if isinstance(entry, Problem):
            yield entry
            continue
        header, item = entry
        if item.problem is not None:
            yield Rejected(item.line, (Problem(item.line, item.problem),))
            continue
        outcome = parse_row(header, item.line, item.cells, table=table, today=today, rules=rules)
        code = cell_text(_cell(item.cells, header.index["registration_code"]))
        repeat = checks.code_seen(code, item.line) if code else None
        if isinstance(outcome, Rejected):
            extra = (Problem(item.line, repeat),) if repeat else ()
            yield Rejected(outcome.line, outcome.problems + extra)
            continue
        reasons = ([repeat] if repeat else []) + checks.party_conflicts(outcome) + checks.rescue_code_seen(outcome)
        if reasons:
            yield Rejected(item.line, tuple(Problem(item.line, r) for r in reasons))
            continue
        checks.remember(outcome)
        yield from outcome.warnings
        yield outcome


_Head = TypeVar("_Head")


def records(source: Iterable[SourceRow | Problem],
            parse_header: Callable[[int, Sequence[Cell]], tuple[_Head | None, list[Problem]]],
            ) -> Generator[Problem | tuple[_Head, SourceRow], None, None]:
    """The file's problems, and each record after the header paired with the parsed header, in
    file order. Blank records are skipped; the first other one is the header, and a header that
    cannot be read or parsed ends the file with its problems; a file without any record (and no
    file problem) is one problem. The register's import and the inspection results share it."""
    header: _Head | None = None
    unreadable = False
    for item in source:
        if isinstance(item, Problem):
            unreadable = unreadable or item.line is None
            yield item
            continue
        if item.problem is None and is_blank(item.cells):
            continue
        if header is None:
            if item.problem is not None:
                yield Problem(item.line, f"header: {item.problem}")
                return
            header, problems = parse_header(item.line, item.cells)
            yield from problems
            if header is None:
                return
            continue
        yield header, item
    if header is None and not unreadable:
        yield Problem(None, "no header row: the file is empty")


def _cell(cells: Sequence[Cell], pos: int) -> Cell:
    return cells[pos] if pos < len(cells) else None


# --- export ------------------------------------------------------------------------------------

def row_cells(equipment: Equipment, parties: Iterable[PartyRef], read_only: Mapping[str, Cell]) -> list[Cell]:
    """The row of one piece of equipment, in ``COLUMNS`` order, typed (dates as dates)."""
    by_role = {ref.role: ref for ref in parties}
    out: list[Cell] = []
    for col in COLUMNS:
        value: Any
        if col.group == "equipment":
            value = getattr(equipment, col.key)
        elif col.group in PARTY_ROLES:
            ref = by_role.get(Role(col.group))
            value = getattr(ref, col.key) if ref is not None else None
        elif col.group == "rated":
            value = equipment.rated.get(col.key)
        elif col.group == "last":
            value = equipment.last_inspected.get(col.key)
        elif col.group == "stated":
            value = equipment.stated_next.get(col.key)
        elif col.group == "months":
            value = equipment.interval_overrides.get(col.key)
        else:
            value = read_only.get(col.key)
        if col.kind == "month" and isinstance(value, date):
            value = f"{value:%Y-%m}"
        elif col.kind == "contacts":
            value = "; ".join(f"{name} {phone}" for name, phone in value or ()) or None
        out.append(str(value) if isinstance(value, Category | Status | Scheme | Area | Place) else value)
    return out


def csv_text(cell: Cell) -> str:
    """A typed cell as the CSV export writes it, guarded against formula injection."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, date):
        return cell.isoformat()
    text = str(cell)
    return "'" + text if text.startswith(FORMULA_START) and isinstance(cell, str) else text


def columns_markdown() -> str:
    """The layout as a markdown table, for the docs."""
    lines = ["| column | required | meaning and format |", "|---|---|---|"]
    for col in COLUMNS:
        need = "yes" if col.required else ("export only" if col.read_only else "")
        lines.append(f"| `{col.name}` | {need} | {col.doc} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class ZhNames:
    """The Chinese names a zh-CN export writes for coded values: category (电梯), status (在用),
    area (城区), place (住宅) and type (塔式起重机, the first of the rules' ``aliases`` for it),
    each one the import reads back as the same value."""

    categories: Mapping[str, str]
    statuses: Mapping[str, str]
    types: Mapping[tuple[str, str], str]  # (category, type) → name
    others: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # column → value → name

    def row(self, cells: list[Cell]) -> list[Cell]:
        """An export row (``row_cells``) with its coded values in Chinese."""
        out = list(cells)
        category = cells[_AT["category"]]
        out[_AT["category"]] = self.categories.get(str(category), category)
        out[_AT["status"]] = self.statuses.get(str(cells[_AT["status"]]), cells[_AT["status"]])
        if cells[_AT["type"]] is not None:
            out[_AT["type"]] = self.types.get((str(category), str(cells[_AT["type"]])), cells[_AT["type"]])
        for column, names in self.others.items():
            if column in _AT and cells[_AT[column]] is not None:
                out[_AT[column]] = names.get(str(cells[_AT[column]]), cells[_AT[column]])
        return out


_AT = {c.name: i for i, c in enumerate(COLUMNS)}


def _first_names(names: Mapping[str, Any]) -> dict[str, str]:
    """value → its first Chinese name."""
    out: dict[str, str] = {}
    for name, value in names.items():
        out.setdefault(str(value), name)
    return out


def zh_names(table: IntervalTable) -> ZhNames:
    """The Chinese names of ``table``'s categories' types, with the register's category, status,
    area and place names."""
    types: dict[tuple[str, str], str] = {}
    for category in Category:
        for name, type_ in table.type_aliases(category).items():
            types.setdefault((str(category), type_), name)
    return ZhNames(_first_names(_CATEGORY_NAMES), _first_names(_STATUS_NAMES), types,
                   {"area": _first_names(_AREA_NAMES), "place": _first_names(_PLACE_NAMES)})
