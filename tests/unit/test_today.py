"""The register's "today": the local date in the register's zone, from an injectable clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from registry.due import default_table
from registry.io_rows import RegisterRow, Rejected, SourceRow, read_rows
from semon.settings import RegistrySettings
from semon.today import register_today


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("instant", "expected"), [
    ("2026-11-29T15:59:59+00:00", date(2026, 11, 29)),  # 23:59:59 in Beijing
    ("2026-11-29T16:00:00+00:00", date(2026, 11, 30)),  # midnight in Beijing, still the 29th in UTC
    ("2026-11-29T17:30:00+00:00", date(2026, 11, 30)),  # 01:30 in Beijing
    ("2026-11-29T23:59:59+00:00", date(2026, 11, 30)),  # 07:59:59 in Beijing
    ("2026-11-30T00:00:00+00:00", date(2026, 11, 30)),  # 08:00 in Beijing: both calendars agree
    ("2026-12-31T16:30:00+00:00", date(2027, 1, 1)),  # the new year arrives in Beijing first
    ("2026-11-30T01:30:00+08:00", date(2026, 11, 30)),  # the clock's own offset does not matter
])
def test_today_is_the_date_in_beijing(instant: str, expected: date) -> None:
    assert register_today(clock=lambda: at(instant)) == expected
    assert RegistrySettings().today(lambda: at(instant)) == expected


def test_the_zone_is_the_setting() -> None:
    instant = at("2026-11-29T17:30:00+00:00")
    assert RegistrySettings(timezone="UTC").today(lambda: instant) == date(2026, 11, 29)
    assert RegistrySettings(timezone="America/New_York").today(lambda: instant) == date(2026, 11, 29)


def test_an_unknown_zone_is_refused_when_the_settings_are_read() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Asia/Beijing'"):
        RegistrySettings(timezone="Asia/Beijing")


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        register_today(clock=lambda: datetime(2026, 11, 29, 17, 30))


instants = st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@given(instants)
def test_beijing_is_utc_plus_eight_at_every_instant(instant: datetime) -> None:
    # China has kept UTC+8 without summer time since 1991.
    assert register_today(clock=lambda: instant) == (instant + timedelta(hours=8)).date()


@given(instants, st.sampled_from(["Asia/Shanghai", "UTC", "Europe/London", "America/Los_Angeles", "Pacific/Kiritimati",
                                  "Pacific/Pago_Pago", "Asia/Kathmandu"]),
       st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_any_zone_and_any_clock_offset(instant: datetime, name: str, minutes: int) -> None:
    shown = instant.astimezone(timezone(timedelta(minutes=minutes)))  # the same instant, another offset
    day = register_today(name, clock=lambda: shown)
    assert day == instant.astimezone(ZoneInfo(name)).date()
    assert abs((day - instant.date()).days) <= 1


def test_an_import_at_0130_beijing_takes_an_inspection_dated_that_day() -> None:
    """The fault: at 01:30 Beijing (17:30 UTC the day before) today's inspection was 'in the future'."""
    today = register_today(clock=lambda: at("2026-11-29T17:30:00+00:00"))
    header = ["registration_code", "category", "district_code", "last_periodic"]
    source = [SourceRow(1, header), SourceRow(2, ["E1", "elevator", "630102", "2026-11-30"]),
              SourceRow(3, ["E2", "elevator", "630102", "2026-12-01"])]
    first, second = read_rows(source, table=default_table(), today=today)
    assert isinstance(first, RegisterRow)
    assert first.equipment.last_inspected == {"periodic": date(2026, 11, 30)}
    assert isinstance(second, Rejected)
    assert [p.reason for p in second.problems] == ["last_periodic 2026-12-01 is in the future"]
