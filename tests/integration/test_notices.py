"""Inspection notices end to end: the register in a real PostgreSQL, the scan, and the outbox
delivering to a real HTTP receiver (aiohttp) and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import orjson
import psycopg
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from psycopg_pool import AsyncConnectionPool

from registry.due import Category, Result, Scheme
from registry.model import Equipment, Party, Role, Status
from registry.notices import NOTIFY_CHANNEL, Channel, Kind, notice_key, notice_slot, scan_notices
from registry.outbox import deliver_due, message_id, run_outbox, verify_signature
from registry.store import record_inspection, upsert_equipment, upsert_party
from semon.db.pool import open_pool
from semon.settings import Settings
from tests.flat_settings import flat_settings
from tests.integration.helpers import query, wait_for_count

pytestmark = pytest.mark.integration

# Elevators on the yearly scheme fall due at the end of the month, 12 months after their last inspection.
TODAY = date(2025, 7, 1)
DUE_JULY = date(2025, 7, 31)  # inspected July 2024: due notice since 30 June
DUE_JUNE = date(2025, 6, 30)  # inspected June 2024: overdue since 1 July
BOILER_EXTERNAL = date(2025, 7, 20)
SENDER = "Semon <notices@semon.test>"

WEBHOOK_KEYS_TODAY = {
    notice_key(Kind.DUE, "E-DUE", "periodic", DUE_JULY, "AG1", Channel.WEBHOOK),
    notice_key(Kind.DUE, "B-1", "external", BOILER_EXTERNAL, "AG1", Channel.WEBHOOK),
    notice_key(Kind.DUE, "E-NOCONTACT", "periodic", DUE_JULY, "AG1", Channel.WEBHOOK),
    notice_key(Kind.OVERDUE, "E-OVER", "periodic", DUE_JUNE, "AG1", Channel.WEBHOOK, week=1),
    notice_key(Kind.OVERDUE, "E-OVER", "periodic", DUE_JUNE, "BUR1", Channel.WEBHOOK, week=1),
}
EMAIL_KEYS_TODAY = {
    notice_key(Kind.DUE, "E-DUE", "periodic", DUE_JULY, "OWN1", Channel.EMAIL),
    notice_key(Kind.DUE, "B-1", "external", BOILER_EXTERNAL, "OWN1", Channel.EMAIL),
    notice_key(Kind.OVERDUE, "E-OVER", "periodic", DUE_JUNE, "BUR1", Channel.EMAIL, week=1),
}
KEYS_TODAY = WEBHOOK_KEYS_TODAY | EMAIL_KEYS_TODAY


# --- the receivers ---

@dataclass
class Received:
    path: str
    key: str
    timestamp: str
    signature: str
    body: bytes
    status: int


@dataclass
class Receiver:
    """A webhook endpoint that records every request; it can fail the first N, or all of them."""

    base: str = ""
    fail_first: int = 0
    always_fail: bool = False
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        failing = self.always_fail or self.fail_first > 0
        self.fail_first = max(0, self.fail_first - 1)
        status = 500 if failing else 200
        h = request.headers
        self.requests.append(Received(request.path, h.get("X-Semon-Notice-Key", ""), h.get("X-Semon-Timestamp", ""),
                                      h.get("X-Semon-Signature", ""), body, status))
        self.arrived.set()
        await asyncio.sleep(self.delay)
        return web.Response(status=status, text="receiver down" if failing else "ok")

    def accepted(self) -> Counter[str]:
        return Counter(r.key for r in self.requests if r.status == 200)


class Mailbox:
    """aiosmtpd handler: keeps every message (it runs in the controller's thread)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def by_key(self) -> Counter[str]:
        return Counter(str(m["X-Semon-Notice-Key"]) for m in self.messages)


@dataclass
class Smtp:
    port: int
    mailbox: Mailbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app, handler_cancellation=True)  # a sender gone: stop a delayed answer
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rec.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def smtp() -> AsyncIterator[Smtp]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)  # it blocks until the server answers
    yield Smtp(port, mailbox)
    await asyncio.to_thread(controller.stop)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with open_pool(database_url, max_size=4, name="test-notices") as p:
        yield p


async def _deliver(pool: AsyncConnectionPool, s: Settings, now: datetime) -> int:
    return await deliver_due(pool, s.notices, s.smtp, now)


def settings(smtp_port: int, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "metrics_port": 0, "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_starttls": False,
        "smtp_from": SENDER, "smtp_timeout_s": 5.0, "webhook_timeout_s": 5.0, "notice_batch_size": 4,
        "notice_retry_initial_s": 60.0, "notice_retry_max_s": 600.0,
        "webhook_allow_addresses": ["127.0.0.1"],  # the test receiver's; nothing else private
    }
    base.update(overrides)
    return flat_settings(**base)


# --- the register ---

def parties(receiver: Receiver) -> list[Party]:
    return [
        Party("OWN1", "城东物业有限公司", Role.OWNER, phone="0971-8100001", email="owner1@example.test"),
        Party("OWN2", "无联系方式的使用单位", Role.OWNER),  # reachable by neither channel
        Party("AG1", "青海省特种设备检验检测院", Role.AGENCY, webhook_url=f"{receiver.base}/agency",
              webhook_secret="agency-secret"),
        Party("BUR1", "西宁市市场监督管理局", Role.BUREAU, email="bureau@example.test",
              webhook_url=f"{receiver.base}/bureau", webhook_secret="bureau-secret"),
    ]


def elevator(code: str, last: date, *, owner: str = "OWN1", status: Status = Status.IN_USE) -> Equipment:
    return Equipment(code, Category.ELEVATOR, "630102", address=f"西宁市城东区八一路{len(code)}号", owner=owner,
                     agency="AG1", status=status, last_inspected={"periodic": last}, scheme=Scheme.YEARLY)


UNITS = [
    elevator("E-DUE", date(2024, 7, 10)),
    elevator("E-OVER", date(2024, 6, 10)),
    elevator("E-LATER", date(2024, 8, 10)),  # due 31 August: nothing yet
    elevator("E-STOP", date(2024, 6, 10), status=Status.STOPPED),  # overdue, but stopped
    elevator("E-SCRAP", date(2024, 7, 10), status=Status.SCRAPPED),
    elevator("E-NOCONTACT", date(2024, 7, 10), owner="OWN2"),
    # Three independent schedules; only the external inspection is due next month.
    Equipment("B-1", Category.BOILER, "630103", address="西宁市城中区南大街9号", owner="OWN1", agency="AG1",
              last_inspected={"external": date(2024, 7, 20), "internal": date(2024, 3, 1)}),
]


async def register(url: str, receiver: Receiver, units: list[Equipment] = UNITS) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for party in parties(receiver):
            await upsert_party(conn, party)
        for unit in units:
            await upsert_equipment(conn, unit)


async def scan(url: str, today: date) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await scan_notices(conn, today)


@dataclass(frozen=True)
class Row:
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None


async def rows(url: str) -> dict[str, Row]:
    found = await query(url, "SELECT key, state, attempts, last_error, next_attempt_at, delivered_at FROM notices")
    return {str(r[0]): Row(*r[1:]) for r in found}  # type: ignore[arg-type]


# --- the scan ---

async def test_scan_writes_one_notice_per_recipient_and_channel(
    database_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture,
) -> None:
    await register(database_url, receiver)
    with caplog.at_level(logging.WARNING, logger="registry.notices"):
        assert await scan(database_url, TODAY) == len(KEYS_TODAY)
    assert set(await rows(database_url)) == KEYS_TODAY
    # OWN2 has no address: reported, and its unit's agency is still told.
    assert any("OWN2" in r.getMessage() for r in caplog.records)

    # Nothing for the stopped or scrapped units, or for the one not due yet.
    codes = {r[0] for r in await query(database_url, "SELECT DISTINCT registration_code FROM notices")}
    assert codes == {"E-DUE", "E-OVER", "E-NOCONTACT", "B-1"}

    # Idempotent: a second scan (or one after a restart) writes nothing.
    assert await scan(database_url, TODAY) == 0
    assert await scan(database_url, TODAY + timedelta(days=3)) == 0
    assert len(await rows(database_url)) == len(KEYS_TODAY)

    key = notice_key(Kind.OVERDUE, "E-OVER", "periodic", DUE_JUNE, "BUR1", Channel.EMAIL, week=1)
    [(payload,)] = await query(database_url, "SELECT payload FROM notices WHERE key = %s", (key,))
    assert isinstance(payload, dict)
    assert payload["kind"] == "overdue" and payload["registration_code"] == "E-OVER"
    assert payload["category"] == "elevator" and payload["district_code"] == "630102"
    assert payload["address"].startswith("西宁市城东区") and payload["schedule"] == "periodic"
    assert payload["due_date"] == "2025-06-30" and payload["days_overdue"] == 1 and payload["week"] == 1
    assert payload["owner"]["name"] == "城东物业有限公司" and payload["agency"]["name"] == "青海省特种设备检验检测院"
    assert payload["recipient"] == {"code": "BUR1", "name": "西宁市市场监督管理局", "role": "bureau"}



async def test_the_scan_agrees_with_notice_slot_around_month_ends(database_url: str, receiver: Receiver) -> None:
    # Boilers (due on the day, not at month end) with external inspections due around a leap February.
    lasts = [date(2023, 2, 27), date(2023, 2, 28), date(2023, 3, 28), date(2023, 3, 29), date(2023, 3, 30),
             date(2023, 3, 31), date(2023, 4, 1)]
    units = [Equipment(f"B-{last}", Category.BOILER, "630104", agency="AG1",
                       last_inspected={"external": last, "internal": date(2023, 6, 1)})
             for last in lasts]
    units.append(Equipment("B-LEAP", Category.BOILER, "630104", agency="AG1", interval_overrides={"external": 48},
                           last_inspected={"external": date(2020, 2, 29), "internal": date(2023, 6, 1)}))
    await register(database_url, receiver, units)
    dues = {str(c): d for c, d in await query(
        database_url, "SELECT registration_code, next_due FROM equipment_schedules WHERE schedule = 'external'")}
    assert date(2024, 2, 29) in dues.values() and date(2024, 3, 31) in dues.values()

    expected: set[str] = set()
    for today in [date(2024, 2, 27), date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 7),
                  date(2024, 3, 8)]:
        before = len(expected)
        for code, due in dues.items():
            assert isinstance(due, date)
            slot = notice_slot(due, today)
            if slot is None:
                continue
            to = [("AG1", Channel.WEBHOOK)] if slot.kind is Kind.DUE else [
                ("AG1", Channel.WEBHOOK), ("BUR1", Channel.WEBHOOK), ("BUR1", Channel.EMAIL)]
            expected |= {notice_key(slot.kind, code, "external", due, r, c, slot.week) for r, c in to}
        assert await scan(database_url, today) == len(expected) - before, today
        assert set(await rows(database_url)) == expected, today

async def test_overdue_notices_repeat_weekly(database_url: str, receiver: Receiver) -> None:
    await register(database_url, receiver)
    assert await scan(database_url, TODAY) == len(KEYS_TODAY)
    assert await scan(database_url, DUE_JUNE + timedelta(days=7)) == 0  # still week 1
    assert await scan(database_url, DUE_JUNE + timedelta(days=8)) == 3  # week 2: agency webhook, bureau both
    week2 = {k for k in await rows(database_url) if ":w2:" in k}
    assert week2 == {notice_key(Kind.OVERDUE, "E-OVER", "periodic", DUE_JUNE, r, c, week=2)
                     for r, c in [("AG1", Channel.WEBHOOK), ("BUR1", Channel.WEBHOOK), ("BUR1", Channel.EMAIL)]}
    assert await scan(database_url, DUE_JUNE + timedelta(days=15)) == 3


async def test_a_passing_inspection_cancels_pending_notices(database_url: str, receiver: Receiver,
                                                            smtp: Smtp, pool: AsyncConnectionPool) -> None:
    await register(database_url, receiver)
    await scan(database_url, TODAY)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        state = await record_inspection(conn, "E-OVER", schedule="periodic", inspected_on=TODAY, result=Result.PASS,
                                        agency="AG1")
    assert state["next_due"] == date(2026, 7, 31)
    assert await scan(database_url, TODAY + timedelta(days=8)) == 0  # no week 2 for an inspected unit
    notices = await rows(database_url)
    cancelled = {k for k, r in notices.items() if r.state == "cancelled"}
    assert cancelled == {k for k in KEYS_TODAY if k.startswith("overdue:E-OVER:")}
    assert all(notices[k].last_error == "cancelled: due date now 2026-07-31" for k in cancelled)

    await _deliver(pool, settings(smtp.port), datetime.now(UTC))
    assert not [k for k in receiver.accepted() | smtp.mailbox.by_key() if "E-OVER" in k]


async def test_the_outbox_does_not_send_what_stopped_being_due_since_the_scan(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool,
) -> None:
    await register(database_url, receiver)
    await scan(database_url, TODAY)
    # No rescan in between: the worker checks each notice under its lock before sending.
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_equipment(conn, elevator("E-DUE", date(2024, 7, 10), status=Status.STOPPED))
        await record_inspection(conn, "B-1", schedule="external", inspected_on=TODAY, result=Result.CONDITIONAL)
    delivered = await _deliver(pool, settings(smtp.port), datetime.now(UTC))
    notices = await rows(database_url)
    for key, row in notices.items():
        if key.startswith(("due:E-DUE:", "due:B-1:")):
            assert row.state == "cancelled" and row.attempts == 0, key
        else:
            assert row.state == "delivered", key
    assert notices[f"due:E-DUE:periodic:{DUE_JULY}:AG1:webhook"].last_error == "cancelled: unit stopped"
    assert delivered == sum(r.state == "delivered" for r in notices.values()) == 4
    assert not [k for k in receiver.accepted() | smtp.mailbox.by_key() if "E-DUE" in k or "B-1" in k]


# --- delivery ---

async def test_each_notice_is_delivered_once_per_key_across_retries(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool,
) -> None:
    await register(database_url, receiver)
    await scan(database_url, TODAY)
    receiver.fail_first = 2
    s = settings(smtp.port)
    now = datetime.now(UTC)

    assert await deliver_due(pool, s.notices, s.smtp, now) == len(KEYS_TODAY) - 2
    retrying = {k: r for k, r in (await rows(database_url)).items() if r.state == "pending"}
    assert len(retrying) == 2
    for row in retrying.values():
        assert row.attempts == 1 and row.delivered_at is None
        assert row.last_error is not None and row.last_error.startswith("webhook answered 500")
        assert now + timedelta(seconds=30) <= row.next_attempt_at <= now + timedelta(seconds=60)

    assert await deliver_due(pool, s.notices, s.smtp, now) == 0  # not due again yet
    assert await deliver_due(pool, s.notices, s.smtp, now + timedelta(minutes=2)) == 2

    notices = await rows(database_url)
    assert all(r.state == "delivered" and r.delivered_at is not None for r in notices.values())
    assert {k for k, r in notices.items() if r.attempts == 2} == set(retrying)
    assert len(receiver.requests) == len(WEBHOOK_KEYS_TODAY) + 2
    assert receiver.accepted() == Counter(WEBHOOK_KEYS_TODAY)  # each accepted exactly once
    assert smtp.mailbox.by_key() == Counter(EMAIL_KEYS_TODAY)
    assert {m["Message-ID"] for m in smtp.mailbox.messages} == {message_id(k, SENDER) for k in EMAIL_KEYS_TODAY}

    # As if the worker had died after sending but before marking: the same notices go again,
    # under the same key and Message-ID, so the receivers can drop them.
    again = [notice_key(Kind.DUE, "E-DUE", "periodic", DUE_JULY, "AG1", Channel.WEBHOOK),
             notice_key(Kind.DUE, "E-DUE", "periodic", DUE_JULY, "OWN1", Channel.EMAIL)]
    await query(database_url, "UPDATE notices SET state = 'pending', delivered_at = NULL, next_attempt_at = now() "
                              "WHERE key = ANY(%s) RETURNING 1", (again,))
    assert await deliver_due(pool, s.notices, s.smtp, datetime.now(UTC)) == 2
    assert receiver.accepted()[again[0]] == 2 and set(receiver.accepted()) == WEBHOOK_KEYS_TODAY
    assert smtp.mailbox.by_key()[again[1]] == 2 and set(smtp.mailbox.by_key()) == EMAIL_KEYS_TODAY
    assert len({m["Message-ID"] for m in smtp.mailbox.messages}) == len(EMAIL_KEYS_TODAY)

    assert await scan(database_url, TODAY) == 0  # and a rescan adds nothing
    assert await scan(database_url, TODAY) == 0


async def test_a_crash_after_sending_sends_the_same_key_again(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool,
) -> None:
    await register(database_url, receiver)
    await scan(database_url, TODAY)
    s = settings(smtp.port, notice_batch_size=len(KEYS_TODAY))
    receiver.delay = 30.0  # the answer never comes before the "crash"
    worker = asyncio.create_task(deliver_due(pool, s.notices, s.smtp, datetime.now(UTC)))
    await asyncio.wait_for(receiver.arrived.wait(), 10)
    await asyncio.sleep(0.2)
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    seen_before = {r.key for r in receiver.requests}
    assert seen_before
    assert all(r.state == "pending" and r.attempts == 0 for r in (await rows(database_url)).values())

    receiver.delay = 0.0
    assert await deliver_due(pool, s.notices, s.smtp, datetime.now(UTC)) == len(KEYS_TODAY)
    seen = Counter(r.key for r in receiver.requests)
    assert {k for k, n in seen.items() if n == 2} == seen_before  # duplicates, all under their key
    assert set(seen) == WEBHOOK_KEYS_TODAY
    assert set(smtp.mailbox.by_key()) == EMAIL_KEYS_TODAY


async def test_two_workers_never_send_the_same_notice(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool,
) -> None:
    await register(database_url, receiver)
    await scan(database_url, TODAY)
    receiver.delay = 0.3  # long enough for the batches to overlap
    s = settings(smtp.port, notice_batch_size=2)
    now = datetime.now(UTC)
    first, second = await asyncio.gather(_deliver(pool, s, now), _deliver(pool, s, now))
    assert first > 0 and second > 0 and first + second == len(KEYS_TODAY)
    assert receiver.accepted() == Counter(WEBHOOK_KEYS_TODAY)
    assert len(receiver.requests) == len(WEBHOOK_KEYS_TODAY)
    assert smtp.mailbox.by_key() == Counter(EMAIL_KEYS_TODAY)


async def test_webhooks_are_signed_with_the_recipients_secret(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool,
) -> None:
    await register(database_url, receiver)
    await scan(database_url, TODAY)
    await _deliver(pool, settings(smtp.port), datetime.now(UTC))
    assert {r.path for r in receiver.requests} == {"/agency", "/bureau"}
    for r in receiver.requests:
        secret = "agency-secret" if r.path == "/agency" else "bureau-secret"
        assert verify_signature(secret, r.timestamp, r.body, r.signature, tolerance_s=300)
        assert not verify_signature("wrong-secret", r.timestamp, r.body, r.signature)
        assert not verify_signature(secret, r.timestamp, r.body.replace(b'"kind"', b'"kinD"'), r.signature)
        payload = orjson.loads(r.body)
        assert payload["key"] == r.key
        assert {"kind", "registration_code", "category", "address", "district_code", "schedule", "due_date",
                "days_overdue", "owner", "agency"} <= set(payload)


async def test_delivery_state_shows_retries_then_failure(
    database_url: str, receiver: Receiver, pool: AsyncConnectionPool,
) -> None:
    await register(database_url, receiver)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        # A webhook without a secret would go unsigned: it fails at once instead.
        await upsert_party(conn, Party("BUR1", "西宁市市场监督管理局", Role.BUREAU, email="bureau@example.test",
                                       webhook_url=f"{receiver.base}/bureau"))
    await scan(database_url, TODAY)
    receiver.always_fail = True
    s = settings(free_port(), notice_max_attempts=3)  # nobody listens for SMTP there
    now = datetime.now(UTC)
    unsigned = notice_key(Kind.OVERDUE, "E-OVER", "periodic", DUE_JUNE, "BUR1", Channel.WEBHOOK, week=1)

    assert await deliver_due(pool, s.notices, s.smtp, now) == 0
    notices = await rows(database_url)
    assert notices[unsigned].state == "failed" and notices[unsigned].attempts == 1
    assert notices[unsigned].last_error == "BUR1 has no webhook_secret"
    for key, row in notices.items():
        if key != unsigned:
            assert row.state == "pending" and row.attempts == 1 and row.next_attempt_at > now
            if key.endswith(":webhook"):  # the status only: never what the receiver said
                assert row.last_error == "webhook answered 500" and "receiver down" not in row.last_error
            else:
                assert row.last_error is not None and row.last_error.startswith("smtp: SMTPConnectError")

    for hours in (1, 2):
        assert await deliver_due(pool, s.notices, s.smtp, now + timedelta(hours=hours)) == 0
    notices = await rows(database_url)
    assert all(r.state == "failed" and r.delivered_at is None for r in notices.values())
    assert {r.attempts for k, r in notices.items() if k != unsigned} == {3}
    assert len(receiver.requests) == 3 * (len(WEBHOOK_KEYS_TODAY) - 1)
    assert await deliver_due(pool, s.notices, s.smtp, now + timedelta(days=30)) == 0  # failed stays failed
    assert len(receiver.requests) == 3 * (len(WEBHOOK_KEYS_TODAY) - 1)


async def test_the_worker_wakes_when_the_scan_writes_notices(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool,
) -> None:
    await register(database_url, receiver)
    s = settings(smtp.port, notice_idle_wait_s=120.0)
    worker = asyncio.create_task(run_outbox(pool, s.notices, s.smtp, s.backoff))
    try:
        # Once it listens, a NOTIFY reaches it whatever it is doing (notifications queue on its connection).
        listening = await wait_for_count(
            database_url, f"""SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                              AND query = 'LISTEN {NOTIFY_CHANNEL}'""", 1, timeout=30)
        assert listening == 1
        await scan(database_url, TODAY)
        # Far less than the idle wait: the scan's NOTIFY woke the worker.
        await wait_for_count(database_url, "SELECT count(*) FROM notices WHERE state = 'delivered'",
                             len(KEYS_TODAY), timeout=10)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert receiver.accepted() == Counter(WEBHOOK_KEYS_TODAY)
    assert smtp.mailbox.by_key() == Counter(EMAIL_KEYS_TODAY)
    assert all(r.state == "delivered" for r in (await rows(database_url)).values())


# --- where webhooks may go ---

async def _register_webhook(url: str, webhook_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await upsert_party(conn, Party("AG1", "青海省特种设备检验检测院", Role.AGENCY, webhook_url=webhook_url,
                                       webhook_secret="agency-secret"))


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/agency",  # loopback, not on the allow-list in this test
    "http://localhost:{port}/agency",  # a name that resolves to loopback
    "http://[::ffff:127.0.0.1]:{port}/agency",  # loopback inside IPv6
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "http://10.0.0.1:{port}/agency", "http://0.0.0.0:{port}/agency", "http://[::1]:{port}/agency",
    "ftp://127.0.0.1/agency",
])
async def test_webhooks_never_connect_to_private_addresses(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool, target: str,
) -> None:
    await register(database_url, receiver)
    port = receiver.base.rsplit(":", 1)[1]
    await _register_webhook(database_url, target.format(port=port))
    await scan(database_url, TODAY)
    await _deliver(pool, settings(smtp.port, webhook_allow_addresses=[]), datetime.now(UTC))
    assert not receiver.requests  # neither the agency's nor the bureau's (127.0.0.1 is not allowed here)
    agency = [r for k, r in (await rows(database_url)).items() if ":AG1:webhook" in k]
    assert agency and all(r.state == "failed" and r.attempts == 1 for r in agency)
    for r in agency:
        assert r.last_error is not None and ("refused" in r.last_error or "http(s)" in r.last_error), r.last_error
        assert port not in r.last_error


async def test_a_redirect_is_not_followed(
    database_url: str, receiver: Receiver, smtp: Smtp, pool: AsyncConnectionPool,
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    app = web.Application()
    app.router.add_post("/{tail:.*}", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await register(database_url, receiver)
        await _register_webhook(database_url, f"http://127.0.0.1:{runner.addresses[0][1]}/agency")
        await scan(database_url, TODAY)
        await _deliver(pool, settings(smtp.port), datetime.now(UTC))
    finally:
        await runner.cleanup()
    agency = [r for k, r in (await rows(database_url)).items() if ":AG1:webhook" in k]
    assert agency and all(r.state == "pending" and r.last_error == "webhook answered 302" for r in agency)
