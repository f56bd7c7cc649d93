"""Which inspection notices fall on which day, their keys, signatures and e-mails (pure parts).
Stopped and scrapped units are left out by the scan's SQL: see tests/integration/test_notices.py."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.due import SELF_TEST, end_of_month
from registry.model import Role
from registry.notices import (
    Channel,
    Kind,
    Slot,
    due_window_end,
    next_change,
    notice_key,
    notice_slot,
    recipients,
)
from registry.outbox import (
    SIGNATURE_TOLERANCE_S,
    Claimed,
    email_message,
    message_id,
    sign,
    verify_signature,
)
from semon.backoff import retry_delay


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1)]


def test_due_notice_from_one_month_before_until_the_day_before() -> None:
    due = date(2025, 7, 15)
    assert notice_slot(due, date(2025, 6, 14)) is None
    assert notice_slot(due, date(2025, 6, 15)) == Slot(Kind.DUE, 0)
    assert notice_slot(due, date(2025, 7, 14)) == Slot(Kind.DUE, 0)
    assert notice_slot(due, due) is None  # the due day itself: neither early nor late


def test_overdue_from_the_day_after_and_then_weekly() -> None:
    due = date(2025, 6, 30)
    assert notice_slot(due, date(2025, 7, 1)) == Slot(Kind.OVERDUE, 1, 1)
    assert notice_slot(due, date(2025, 7, 7)) == Slot(Kind.OVERDUE, 7, 1)
    assert notice_slot(due, date(2025, 7, 8)) == Slot(Kind.OVERDUE, 8, 2)
    assert notice_slot(due, date(2025, 7, 15)) == Slot(Kind.OVERDUE, 15, 3)
    weeks = [s.week for d in days(date(2025, 7, 1), date(2025, 9, 30)) if (s := notice_slot(due, d))]
    # A new week (so a new key, so a new notice) exactly every 7 days, for as long as it is overdue.
    starts = [n for n, (a, b) in enumerate(zip([0, *weeks], weeks, strict=False)) if a != b]
    assert starts == list(range(0, len(weeks), 7))
    assert weeks[-1] == 14


def test_the_repeat_interval_is_configurable() -> None:
    due = date(2025, 6, 30)
    assert notice_slot(due, date(2025, 7, 3), repeat_days=2) == Slot(Kind.OVERDUE, 3, 2)
    assert notice_slot(due, date(2025, 7, 14), months_before=2, repeat_days=14) == Slot(Kind.OVERDUE, 14, 1)
    assert notice_slot(date(2025, 9, 30), date(2025, 7, 31), months_before=2) == Slot(Kind.DUE, 0)
    assert notice_slot(date(2025, 9, 30), date(2025, 7, 31), months_before=0) is None


@pytest.mark.parametrize(("due", "first_day"), [
    (date(2024, 3, 31), date(2024, 2, 29)),  # month end into a leap February
    (date(2025, 3, 31), date(2025, 2, 28)),
    (date(2024, 3, 29), date(2024, 2, 29)),
    (date(2024, 2, 29), date(2024, 1, 29)),  # a leap-day due date
    (date(2025, 1, 31), date(2024, 12, 31)),  # across the year
    (date(2025, 4, 30), date(2025, 3, 30)),
])
def test_month_end_and_leap_day_due_dates(due: date, first_day: date) -> None:
    assert notice_slot(due, first_day - timedelta(1)) is None
    assert notice_slot(due, first_day) == Slot(Kind.DUE, 0)


def test_leap_day_due_date_goes_overdue_on_the_first_of_march() -> None:
    assert notice_slot(date(2024, 2, 29), date(2024, 2, 29)) is None
    assert notice_slot(date(2024, 2, 29), date(2024, 3, 1)) == Slot(Kind.OVERDUE, 1, 1)
    assert notice_slot(date(2024, 2, 29), date(2024, 3, 7)) == Slot(Kind.OVERDUE, 7, 1)
    assert notice_slot(date(2024, 2, 29), date(2024, 3, 8)) == Slot(Kind.OVERDUE, 8, 2)


def test_elevators_due_at_month_end_all_get_their_notice() -> None:
    for month in range(1, 13):
        due = end_of_month(date(2024, month, 1))
        started = [d for d in days(due - timedelta(40), due) if notice_slot(due, d) is not None]
        assert started, due
        assert started[-1] == due - timedelta(1)


@pytest.mark.parametrize("months_before", [1, 2, 3])
def test_the_scan_window_holds_exactly_the_due_dates_with_a_notice_started(months_before: int) -> None:
    # The scan selects due dates in (today, due_window_end(today)]; it must agree with notice_slot.
    for today in days(date(2023, 12, 1), date(2025, 3, 31)):
        end = due_window_end(today, months_before)
        for due in days(today + timedelta(1), end + timedelta(5)):
            expected = notice_slot(due, today, months_before=months_before) == Slot(Kind.DUE, 0)
            assert (due <= end) == expected, (today, due, end)


def test_on_the_leap_day_the_window_reaches_the_end_of_march() -> None:
    assert due_window_end(date(2024, 2, 29)) == date(2024, 3, 31)
    assert due_window_end(date(2024, 2, 28)) == date(2024, 3, 28)
    assert due_window_end(date(2025, 2, 28)) == date(2025, 3, 31)
    assert due_window_end(date(2025, 1, 31)) == date(2025, 2, 28)


def _slot_of(due: date, day: date, months_before: int, repeat_days: int) -> tuple[Kind, int | None] | None:
    slot = notice_slot(due, day, months_before=months_before, repeat_days=repeat_days)
    return None if slot is None else (slot.kind, slot.week)


@given(due=st.dates(date(2023, 1, 1), date(2026, 12, 31)), offset=st.integers(-120, 120),
       months_before=st.integers(1, 3), repeat_days=st.integers(1, 14))
def test_next_change_is_the_first_day_the_owed_slot_differs(due: date, offset: int, months_before: int,
                                                            repeat_days: int) -> None:
    """The scan reads a schedule again on next_change(): the slot owed stays the same until then
    (but for the due day itself, which owes nothing new after the due notice), and differs on it."""
    today = due + timedelta(days=offset)
    change = next_change(due, today, months_before=months_before, repeat_days=repeat_days)
    assert change > today
    now = _slot_of(due, today, months_before, repeat_days)
    for day in days(today + timedelta(1), change - timedelta(1)):
        assert _slot_of(due, day, months_before, repeat_days) in (now, None) and (
            _slot_of(due, day, months_before, repeat_days) == now or day == due), (today, day, change)
    assert _slot_of(due, change, months_before, repeat_days) not in (now, None)


def test_next_change_by_hand() -> None:
    due = date(2025, 7, 31)
    assert next_change(due, date(2025, 6, 1)) == date(2025, 6, 30)  # the due notice starts
    assert next_change(due, date(2025, 6, 30)) == date(2025, 8, 1)  # due → overdue, over the due day
    assert next_change(due, due) == date(2025, 8, 1)
    assert next_change(due, date(2025, 8, 1)) == date(2025, 8, 8)  # week 1 → week 2
    assert next_change(due, date(2025, 8, 7)) == date(2025, 8, 8)
    assert next_change(due, date(2025, 8, 8)) == date(2025, 8, 15)
    assert next_change(due, date(2025, 8, 8), repeat_days=3) == date(2025, 8, 10)


def test_a_self_test_is_the_owners_business_and_an_inspection_the_agencys() -> None:
    assert recipients(SELF_TEST, Kind.DUE) == (Role.OWNER, Role.MAINTENANCE)
    assert recipients(SELF_TEST, Kind.OVERDUE) == (Role.OWNER, Role.BUREAU)
    for schedule in ("periodic", "external", "internal", "hydrostatic"):
        assert recipients(schedule, Kind.DUE) == (Role.OWNER, Role.AGENCY)
        assert recipients(schedule, Kind.OVERDUE) == (Role.AGENCY, Role.BUREAU)


def test_keys_name_the_notice_so_a_rescan_adds_nothing() -> None:
    due = date(2025, 7, 31)
    assert (notice_key(Kind.DUE, "E1", "periodic", due, "AG1", Channel.WEBHOOK)
            == "due:E1:periodic:2025-07-31:AG1:webhook")
    assert (notice_key(Kind.OVERDUE, "E1", "periodic", due, "BUR", Channel.EMAIL, week=3)
            == "overdue:E1:periodic:2025-07-31:w3:BUR:email")
    # The due notice has no week: it is one notice for the whole month before.
    assert notice_key(Kind.DUE, "E1", "periodic", due, "AG1", Channel.EMAIL, week=2).count(":") == 5


def test_signature_verifies_with_the_secret_only() -> None:
    body = b'{"kind":"due"}'
    signature = sign("s3cret", "1751328000", body)
    now = 1751328000.0
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature("s3cret", "1751328000", body, signature, now=now)
    assert not verify_signature("wrong", "1751328000", body, signature, now=now)
    assert not verify_signature("s3cret", "1751328001", body, signature, now=now)  # the timestamp is signed
    assert not verify_signature("s3cret", "1751328000", body + b" ", signature, now=now)


def test_signatures_expire_after_300_seconds_by_default() -> None:
    body = b"{}"
    signature = sign("k", "1000", body)
    assert SIGNATURE_TOLERANCE_S == 300
    assert verify_signature("k", "1000", body, signature, now=1200)
    assert verify_signature("k", "1000", body, signature, now=1300) and verify_signature("k", "1000", body, signature,
                                                                                        now=700)
    assert not verify_signature("k", "1000", body, signature, now=1301)  # a replay, five minutes on
    assert not verify_signature("k", "1000", body, signature, now=699)  # from the future
    assert not verify_signature("k", "1000", body, signature)  # the real clock: 1970 is long gone
    assert verify_signature("k", "1000", body, signature, tolerance_s=600, now=1400)
    assert not verify_signature("k", "1000", body, signature, tolerance_s=0, now=1000)


def test_signature_tolerance_rejects_old_and_malformed_timestamps() -> None:
    body = b"{}"
    signature = sign("k", "1000", body)
    assert verify_signature("k", "1000", body, signature, tolerance_s=300, now=1200)
    assert not verify_signature("k", "1000", body, signature, tolerance_s=300, now=1400)
    for odd in ("soon", " 1000", "+1000", "1_000", "-1000", "1000.0", "", "١٠٠٠", "9" * 13):
        assert not verify_signature("k", odd, body, sign("k", odd, body), tolerance_s=300, now=1000), odd
    assert not verify_signature("k", "1000", body, "sha256=\u00e9", now=1000)  # not ASCII: False, not an error


def test_retry_delays_double_with_jitter_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", random.Random(7).uniform)  # repeatable, and no global seed left behind
    for attempts, ceiling in [(1, 60), (2, 120), (3, 240), (9, 3600), (50, 3600)]:
        delays = [retry_delay(attempts, 60, 3600) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # spread: retries do not stampede


def claimed(kind: str, **payload: Any) -> Claimed:
    overdue = kind == "overdue"
    base: dict[str, Any] = {
        "key": f"{kind}:E1:periodic:2025-06-30:OWN1:email", "kind": kind, "registration_code": "31106301022019000123",
        "category": "elevator", "address": "西宁市城东区八一路1号", "district_code": "630102", "schedule": "periodic",
        "due_date": "2025-06-30", "days_overdue": 8 if overdue else 0, "week": 2 if overdue else None,
        "owner": {"code": "OWN1", "name": "城东物业", "phone": "0971-1234567"},
        "agency": {"code": "AG1", "name": "青海特检院"},
    }
    base.update(payload)
    return Claimed(1, str(base["key"]), kind, "email", base, 0, "OWN1", "owner@example.test", None, None)


@pytest.mark.parametrize(("kind", "zh", "en"), [
    ("due", "【定期检验到期提醒】", "Periodic inspection due 2025-06-30"),
    ("overdue", "【定期检验超期通知】", "Periodic inspection overdue by 8 days"),
])
def test_email_is_bilingual_and_carries_the_facts(kind: str, zh: str, en: str) -> None:
    notice = claimed(kind)
    msg = email_message(notice, "Semon <notices@semon.example>", datetime(2025, 7, 8, tzinfo=UTC))
    parsed = message_from_bytes(bytes(msg), policy=policy.default)
    subject = str(parsed["Subject"])
    assert subject.startswith(zh) and en in subject and "31106301022019000123" in subject
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    for fact in ("西宁市城东区八一路1号", "630102", "电梯", "定期检验", "2025-06-30", "城东物业 (0971-1234567)",
                 "青海特检院", notice.key):
        assert fact in text
    assert parsed["X-Semon-Notice-Key"] == notice.key
    assert parsed["To"] == "owner@example.test"


@pytest.mark.parametrize(("kind", "zh", "en", "duty"), [
    ("due", "【自行检测到期提醒】", "Self-test due 2025-06-30", "维保单位或检验检测机构"),
    ("overdue", "【自行检测超期通知】", "Self-test overdue by 8 days", "立即安排自行检测"),
])
def test_a_self_test_email_says_it_is_a_self_test_and_names_the_maintenance_unit(
        kind: str, zh: str, en: str, duty: str) -> None:
    notice = claimed(kind, schedule=SELF_TEST, self_test=True, inspection="自行检测",
                     maintenance={"code": "MNT1", "name": "西宁通达电梯维保有限公司", "phone": "0971-6100000"})
    parsed = message_from_bytes(bytes(email_message(notice, "notices@semon.example", datetime(2025, 7, 8, tzinfo=UTC))),
                                policy=policy.default)
    assert str(parsed["Subject"]).startswith(zh) and en in str(parsed["Subject"])
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "自行检测 self_test" in text and duty in text
    assert "维保单位 Maintenance: 西宁通达电梯维保有限公司 (0971-6100000)" in text
    assert "定期检验" not in text  # not a periodic inspection's notice
    # A periodic inspection's e-mail has no maintenance line when the payload names none.
    plain = message_from_bytes(bytes(email_message(claimed(kind), "n@semon.example", datetime(2025, 7, 8, tzinfo=UTC))),
                               policy=policy.default).get_body(("plain",))
    assert plain is not None and "维保单位" not in plain.get_content()


def test_message_id_is_fixed_by_the_key() -> None:
    a = message_id("due:E1:periodic:2025-07-31:OWN1:email", "Semon <notices@semon.example>")
    assert a == message_id("due:E1:periodic:2025-07-31:OWN1:email", "notices@semon.example")
    assert a != message_id("due:E2:periodic:2025-07-31:OWN1:email", "notices@semon.example")
    assert a.startswith("<notice.") and a.endswith("@semon.example>")
    assert ":" not in a  # the key's colons are not valid in a msg-id
