"""What every HTTP route takes: text PostgreSQL can hold, dates and times as ISO text only."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from web.inputs import IsoDate, IsoTime, text_refusal


class _Q(BaseModel):
    day: IsoDate | None = None
    at: IsoTime | None = None


@given(st.text())
def test_text_is_refused_exactly_when_it_holds_nul_or_a_lone_surrogate(text: str) -> None:
    bad = "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert (text_refusal(text) is not None) == bad
    if not bad:
        text.encode("utf-8")  # what PostgreSQL gets


@pytest.mark.parametrize("text", ["\u00c9\u0000n.", "\u0000", "a\ud800", "\udfff"])
def test_the_reported_inputs(text: str) -> None:
    assert text_refusal(text) is not None


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_every_iso_date_in_range_is_taken(day: date) -> None:
    assert _Q.model_validate({"day": day.isoformat()}).day == day


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=12).filter(lambda t: len(t) != 10)))
def test_numbers_and_other_text_are_not_dates(value: object) -> None:
    with pytest.raises(ValidationError):
        _Q.model_validate({"day": value})


@pytest.mark.parametrize("value", ["0", 0, "1e9", "2026-1-1", "20260101", "0001-01-01", "3000-01-01", "2026-02-30"])
def test_not_dates(value: object) -> None:
    with pytest.raises(ValidationError):
        _Q.model_validate({"day": value})


def test_times_need_iso_text_with_an_offset() -> None:
    at = _Q.model_validate({"at": "2026-01-01T08:00:00+08:00"}).at
    assert at == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert _Q.model_validate({"at": "2026-01-01T08:00:00 08:00"}).at == at  # '+' read as a space
    assert _Q.model_validate({"at": "2026-01-01T00:00:00.123456Z"}).at == datetime(2026, 1, 1, 0, 0, 0, 123456, UTC)
    for value in ("0", 0, 1751328000, "2026-01-01", "2026-01-01T08:00:00", "0001-01-01T00:00:00Z", "soon"):
        with pytest.raises(ValidationError):
            _Q.model_validate({"at": value})
