"""Equipment codes: what a registration code says, and the demo register's codes. Pure.

A unit of the register is keyed by its registration code, which is also the device's MQTT id.
Three kinds reach the register:

- the 设备代码 of TSG 08-2017 (特种设备使用管理规则), 附件A 特种设备代码编号方法: the equipment's
  lifelong code, 18 characters: 设备类别/品种代码 (4) + 制造单位代号 (5: the licensing
  authority's region, 2 digits, and the licence's unit sequence number, 3) + 制造年份 (4) +
  制造顺序号 (5, a letter in place of the leading digits past 99999). When the registration
  authority assigns the code itself (equipment without one from its manufacturer), it is 19
  characters: the authority's administrative division code (6 digits, GB/T 2260) stands in for
  the 制造单位代号.
- the older 注册代码 given at registration before it: 20 digits, 设备类别代码 (4) + the
  registering authority's administrative division code (6) + the registration year (4) + a
  serial (6; in some provinces the registration month and a 4-digit serial).
- anything else: a device's own id (a test rig's, an integrator's), accepted as it is.

Neither code holds the district a unit stands in: a 注册代码 or a 19-character 设备代码 names
the authority that registered it (a city bureau registers for all its districts), an
18-character one the manufacturer. The district comes from the register
(``equipment.district_code``) and nowhere else.

The category codes are those of the 特种设备目录 (国家质检总局 2014年第114号公告): 种类 (1000),
类别 (1100) and 品种 (1110) codes, 4 digits or capital letters (23T0, 4A00, 6D10).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from registry.due import Category
from semon.equipment_codes import BOILER_MANUFACTURERS, ELEVATOR_MANUFACTURERS, OTHER_MANUFACTURERS, device_code
from semon.today import register_today

EARLIEST_YEAR = 1950  # plausibility: no unit in a register was made or registered before it


class CodeKind(StrEnum):
    DEVICE_CODE = "device_code"  # 设备代码 (TSG 08-2017), 18 or 19 characters
    REGISTRATION_CODE = "registration_code"  # 注册代码, the older 20 digits
    OTHER = "other"  # another id: a device's own, accepted as it is


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One line of the 特种设备目录 (2014): its code, its name, and the register's category."""

    code: str
    name: str
    category: Category


_LINES: tuple[tuple[Category, tuple[tuple[str, str], ...]], ...] = (
    (Category.BOILER, (
        ("1000", "锅炉"), ("1100", "承压蒸汽锅炉"), ("1200", "承压热水锅炉"), ("1300", "有机热载体锅炉"),
        ("1310", "有机热载体气相炉"), ("1320", "有机热载体液相炉"))),
    (Category.PRESSURE_VESSEL, (
        ("2000", "压力容器"), ("2100", "固定式压力容器"), ("2110", "超高压容器"), ("2130", "第三类压力容器"),
        ("2150", "第二类压力容器"), ("2170", "第一类压力容器"), ("2200", "移动式压力容器"), ("2210", "铁路罐车"),
        ("2220", "汽车罐车"), ("2230", "长管拖车"), ("2240", "罐式集装箱"), ("2250", "管束式集装箱"),
        ("2400", "氧舱"), ("2410", "医用氧舱"), ("2420", "高气压舱"))),
    (Category.GAS_CYLINDER, (("2300", "气瓶"), ("2310", "无缝气瓶"), ("2320", "焊接气瓶"), ("23T0", "特种气瓶"))),
    (Category.ELEVATOR, (
        ("3000", "电梯"), ("3100", "曳引与强制驱动电梯"), ("3110", "曳引驱动乘客电梯"), ("3120", "曳引驱动载货电梯"),
        ("3130", "强制驱动载货电梯"), ("3200", "液压驱动电梯"), ("3210", "液压乘客电梯"), ("3220", "液压载货电梯"),
        ("3300", "自动扶梯与自动人行道"), ("3310", "自动扶梯"), ("3320", "自动人行道"), ("3400", "其他类型电梯"),
        ("3410", "防爆电梯"), ("3420", "消防员电梯"), ("3430", "杂物电梯"))),
    (Category.CRANE, (
        ("4000", "起重机械"), ("4100", "桥式起重机"), ("4110", "通用桥式起重机"), ("4130", "防爆桥式起重机"),
        ("4140", "绝缘桥式起重机"), ("4150", "冶金桥式起重机"), ("4170", "电动单梁起重机"),
        ("4190", "电动葫芦桥式起重机"), ("4200", "门式起重机"), ("4210", "通用门式起重机"),
        ("4220", "防爆门式起重机"), ("4230", "轨道式集装箱门式起重机"), ("4240", "轮胎式集装箱门式起重机"),
        ("4250", "岸边集装箱起重机"), ("4260", "造船门式起重机"), ("4270", "电动葫芦门式起重机"), ("4280", "装卸桥"),
        ("4290", "架桥机"), ("4300", "塔式起重机"), ("4310", "普通塔式起重机"), ("4320", "电站塔式起重机"),
        ("4400", "流动式起重机"), ("4410", "轮胎起重机"), ("4420", "履带起重机"), ("4440", "集装箱正面吊运起重机"),
        ("4450", "铁路起重机"), ("4700", "门座式起重机"), ("4710", "门座起重机"), ("4760", "固定式起重机"),
        ("4800", "升降机"), ("4860", "施工升降机"), ("4870", "简易升降机"), ("4900", "缆索式起重机"),
        ("4A00", "桅杆式起重机"), ("4D00", "机械式停车设备"))),
    (Category.IN_PLANT_VEHICLE, (
        ("5000", "场(厂)内专用机动车辆"), ("5100", "机动工业车辆"), ("5110", "叉车"),
        ("5200", "非公路用旅游观光车辆"))),
    (Category.LARGE_AMUSEMENT_RIDE, (
        ("6000", "大型游乐设施"), ("6100", "观览车类"), ("6200", "滑行车类"), ("6300", "架空游览车类"),
        ("6400", "陀螺类"), ("6500", "飞行塔类"), ("6600", "转马类"), ("6700", "自控飞机类"), ("6800", "赛车类"),
        ("6900", "小火车类"), ("6A00", "碰碰车类"), ("6B00", "滑道类"), ("6D00", "水上游乐设施"),
        ("6D10", "峡谷漂流系列"), ("6D20", "水滑梯系列"), ("6D40", "碰碰船系列"), ("6E00", "无动力游乐设施"),
        ("6E10", "蹦极系列"), ("6E40", "滑索系列"), ("6E50", "空中飞人系列"), ("6E60", "系留式观光气球系列"))),
    (Category.PRESSURE_PIPING, (
        ("8000", "压力管道"), ("8100", "长输管道"), ("8110", "输油管道"), ("8120", "输气管道"), ("8200", "公用管道"),
        ("8210", "燃气管道"), ("8220", "热力管道"), ("8300", "工业管道"), ("8310", "工艺管道"), ("8320", "动力管道"),
        ("8330", "制冷管道"))),
    (Category.PASSENGER_ROPEWAY, (
        ("9000", "客运索道"), ("9100", "客运架空索道"), ("9110", "往复式客运架空索道"),
        ("9120", "循环式客运架空索道"), ("9200", "客运缆车"), ("9210", "往复式客运缆车"), ("9220", "循环式客运缆车"),
        ("9300", "客运拖牵索道"), ("9310", "低位客运拖牵索道"), ("9320", "高位客运拖牵索道"))),
)

CATALOG: Mapping[str, CatalogEntry] = MappingProxyType(
    {code: CatalogEntry(code, name, category) for category, lines in _LINES for code, name in lines})
"""The 特种设备目录 (国家质检总局 2014年第114号公告) by code, with the register category of each:
a 氧舱 (2400) is a pressure vessel of the register, a 气瓶 (2300) a gas cylinder."""

# The shapes, by length ([0-9], not \d: that would take any script's digits).
_DEVICE_18 = re.compile(r"(?P<variety>[0-9A-Z]{4})(?P<issuer>[0-9]{5})(?P<year>[0-9]{4})(?P<serial>[0-9A-Z]{5})")
_DEVICE_19 = re.compile(r"(?P<variety>[0-9A-Z]{4})(?P<issuer>[1-9][0-9]{5})(?P<year>[0-9]{4})(?P<serial>[0-9A-Z]{5})")
_REGISTRATION_20 = re.compile(r"(?P<variety>[0-9A-Z]{4})(?P<issuer>[1-9][0-9]{5})(?P<year>[0-9]{4})"
                              r"(?P<serial>[0-9]{6})")
_SHAPES: Mapping[int, tuple[CodeKind, re.Pattern[str], str]] = {
    18: (CodeKind.DEVICE_CODE, _DEVICE_18, "4 category characters, a 5-digit 制造单位代号, a 4-digit year and a "
         "5-character 制造顺序号"),
    19: (CodeKind.DEVICE_CODE, _DEVICE_19, "4 category characters, the registration authority's 6-digit division "
         "code, a 4-digit year and a 5-character 制造顺序号"),
    20: (CodeKind.REGISTRATION_CODE, _REGISTRATION_20, "4 category characters and 16 digits: the registering "
         "authority's division code, the year and a serial"),
}


@dataclass(frozen=True, slots=True)
class CodeReading:
    """What a registration code says. For a 设备代码 or a 注册代码: ``variety`` its 4-character
    category code (特种设备目录 2014), ``year`` the year of manufacture (设备代码) or of
    registration (注册代码), ``issuer`` the 制造单位代号 (18-character 设备代码) or the division
    code of the authority that registered it (19-character 设备代码, 注册代码: never the district
    the unit stands in), ``serial`` the rest. For another id all are None, and ``doubts`` says
    why a code of a standard length (18, 19, 20) was not read as one."""

    code: str
    kind: CodeKind
    variety: str | None = None
    year: int | None = None
    issuer: str | None = None
    serial: str | None = None
    doubts: tuple[str, ...] = ()

    @property
    def entry(self) -> CatalogEntry | None:
        """The catalog's line of ``variety``; None for another id."""
        return CATALOG.get(self.variety) if self.variety is not None else None

    @property
    def category(self) -> Category | None:
        """The register category the code's category code belongs to; None for another id."""
        entry = self.entry
        return entry.category if entry is not None else None


def read_code(code: str, *, this_year: int | None = None) -> CodeReading:
    """Classify ``code`` (TSG 08-2017 附件A; the older 注册代码) and read its parts.

    A code is read as a 设备代码 (18 or 19 characters) or a 注册代码 (20) only when it has the
    shape (``_SHAPES``), its first four characters are a code of the 特种设备目录 (2014)
    (``CATALOG``), and its year lies from ``EARLIEST_YEAR`` to ``this_year`` (default: the
    register's today, ``semon.today.register_today``). Otherwise it is ``CodeKind.OTHER``, with
    the reasons in ``doubts`` when its length is a standard one. Never raises on any text."""
    shape = _SHAPES.get(len(code))
    if shape is None:
        return CodeReading(code, CodeKind.OTHER)
    kind, pattern, layout = shape
    match = pattern.fullmatch(code)
    if match is None:
        return CodeReading(code, CodeKind.OTHER, doubts=(f"{len(code)} characters, but not {layout}",))
    latest = this_year if this_year is not None else register_today().year
    doubts: list[str] = []
    variety, year = match["variety"], int(match["year"])
    if variety not in CATALOG:
        doubts.append(f"category code {variety} is not in the 特种设备目录 (2014)")
    if not EARLIEST_YEAR <= year <= latest:
        doubts.append(f"year {year} is not from {EARLIEST_YEAR} to {latest}")
    if doubts:
        return CodeReading(code, CodeKind.OTHER, doubts=tuple(doubts))
    return CodeReading(code, kind, variety, year, match["issuer"], match["serial"])


def category_conflict(code: str, category: Category, *, this_year: int | None = None) -> str | None:
    """Why ``code`` and ``category`` disagree, or None: a 设备代码 or 注册代码 whose category code
    belongs to another register category than ``category`` (e.g. 3110, an elevator's, on a
    boiler's row). Another id never conflicts."""
    reading = read_code(code, this_year=this_year)
    entry = reading.entry
    if entry is None or entry.category is category:
        return None
    name = "设备代码" if reading.kind is CodeKind.DEVICE_CODE else "注册代码"
    return (f"registration_code {code} reads as a {name} of category code {entry.code} ({entry.name}: "
            f"{entry.category}), but the row's category is {category}: check the code and the category")


# --- codes for a generated register ------------------------------------------------------------

_MANUFACTURERS: Mapping[Category, tuple[str, ...]] = {Category.ELEVATOR: ELEVATOR_MANUFACTURERS,
                                                      Category.BOILER: BOILER_MANUFACTURERS}


class CodeMaker:
    """18-character 设备代码 (``semon.equipment_codes.device_code``) for a generated register:
    unique, and the same for the same sequence of calls (the demo's draws, by its seed). The
    制造单位代号 rotates through a small list per category (elevator and boiler makers, then
    the others'); the 制造顺序号 counts per category code, maker and year. ``taken``: codes
    already in use (the simulated city's), never given out again."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = frozenset(taken)
        self._made: dict[Category, int] = {}
        self._serials: dict[tuple[str, str, int], int] = {}

    def __call__(self, category: Category, variety: str, year: int) -> str:
        """The next code of a ``category`` unit of catalog code ``variety`` made in ``year``;
        ValueError when ``variety`` is not a code of ``category`` in ``CATALOG``, or when one
        maker's serials of a year run out (``semon.equipment_codes.MAX_SERIAL``)."""
        entry = CATALOG.get(variety)
        if entry is None or entry.category is not category:
            raise ValueError(f"{variety!r} is not a category code of {category} in the 特种设备目录 (2014)")
        makers = _MANUFACTURERS.get(category, OTHER_MANUFACTURERS)
        made = self._made.get(category, 0)
        self._made[category] = made + 1
        maker = makers[made % len(makers)]
        key = (variety, maker, year)
        while True:
            serial = self._serials.get(key, 0) + 1
            self._serials[key] = serial
            code = device_code(variety, maker, year, serial)
            if code not in self._taken:
                return code
