"""Writing a 设备代码, the equipment's lifelong code of TSG 08-2017 (特种设备使用管理规则), 附件A
特种设备代码编号方法: 18 characters, with no spaces,

    设备类别/品种代码 (4) + 制造单位代号 (5) + 制造年份 (4) + 制造顺序号 (5)

- 设备类别/品种代码: the code of the equipment's 品种 (or 类别) in the 特种设备目录 (国家质检总局
  2014年第114号公告), e.g. 3110 a traction-driven passenger elevator, 2150 a class II vessel;
- 制造单位代号: the licensing authority's region (2 digits; 10 for the national authority)
  and the unit's sequence number in its manufacturing licence (3 digits);
- 制造年份: the year of manufacture;
- 制造顺序号: the manufacturer's own sequence number; past 99999 a letter takes the place of
  the leading digits.

It holds no district: where a unit stands is the register's to say. Used by the demo register
(``registry.demo``, through ``registry.codes``) and the simulated city (``simulators.city``);
reading a code is the register's (``registry.codes.read_code``).
"""

from __future__ import annotations

import re

# 制造单位代号 the generated registers and the simulated city draw from: plausible in form (a
# licensing region, then a licence sequence number), not the codes of real manufacturers.
ELEVATOR_MANUFACTURERS: tuple[str, ...] = ("10036", "10112", "10247", "10389", "32051", "33018", "44027", "31064")
BOILER_MANUFACTURERS: tuple[str, ...] = ("10153", "10298", "32117", "37042", "63003")
OTHER_MANUFACTURERS: tuple[str, ...] = ("10071", "10185", "10326", "32094", "37066", "41023", "61015", "63011")

MAX_SERIAL = 359_999  # Z9999: 99999 in digits, then a letter (A = 10) for the ten-thousands

_VARIETY = re.compile(r"[0-9A-Z]{4}")
_MANUFACTURER = re.compile(r"[0-9]{5}")


def serial_text(serial: int) -> str:
    """The 制造顺序号 as 5 characters: 1 → ``00001``; past 99999 the ten-thousands become a
    letter (100000 → ``A0000``, 359999 → ``Z9999``). ValueError outside 0..``MAX_SERIAL``."""
    if not 0 <= serial <= MAX_SERIAL:
        raise ValueError(f"制造顺序号 {serial} is outside 0..{MAX_SERIAL}")
    if serial <= 99_999:
        return f"{serial:05d}"
    lead, rest = divmod(serial, 10_000)
    return f"{chr(ord('A') + lead - 10)}{rest:04d}"


def device_code(variety: str, manufacturer: str, year: int, serial: int) -> str:
    """The 18-character 设备代码 of TSG 08-2017 附件A from its parts: ``variety`` the 4-character
    category/品种 code (digits and capital letters, e.g. ``3110``, ``23T0``), ``manufacturer`` the
    5-digit 制造单位代号, ``year`` the year of manufacture (1000–9999), ``serial`` the 制造顺序号
    (``serial_text``). ValueError naming the part that does not fit."""
    if not _VARIETY.fullmatch(variety):
        raise ValueError(f"设备类别代码 {variety!r} is not 4 digits or capital letters")
    if not _MANUFACTURER.fullmatch(manufacturer):
        raise ValueError(f"制造单位代号 {manufacturer!r} is not 5 digits")
    if not 1000 <= year <= 9999:
        raise ValueError(f"制造年份 {year} is not a 4-digit year")
    return f"{variety}{manufacturer}{year}{serial_text(serial)}"
