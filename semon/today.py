"""What day it is for the register: the local date in the register's time zone.

Every "today" of the register (due and overdue, standing, the inspection rate and its
snapshots, notices, the checks on inspection dates, the demo seed) is this one date. The
machine's clock is UTC; the register's calendar is the city's (``SEMON_NOTICE_TIMEZONE``,
Asia/Shanghai by default): between 00:00 and 08:00 Beijing time the two dates differ.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"

# A clock gives the current instant as an aware datetime; tests pass a fixed one.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ValueError naming it when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from exc


def register_today(tz: str | tzinfo = DEFAULT_ZONE, *, clock: Clock = utc_now) -> date:
    """The register's local date at the clock's instant.

    ``tz``: an IANA name or a tzinfo. ``clock`` must give an aware datetime (ValueError if not):
    a naive one would silently be the machine's local time again."""
    now = clock()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the clock must give an aware datetime")
    return now.astimezone(zone(tz) if isinstance(tz, str) else tz).date()
