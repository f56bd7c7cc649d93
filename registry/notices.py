"""Inspection notices: which are due on a given day, and the daily scan that writes them.

Owners must apply for an inspection a month before the due date, so the owner and the agency
get a *due* notice from then until the due date. From the day after it, the agency and the
bureau get an *overdue* notice, again every week while the unit stays overdue. Stopped and
scrapped units get none, and pending notices are cancelled once the schedule moves on.

Every notice has an idempotency key naming what it is about (unit, schedule, due date, overdue
week, recipient, channel): the scan may run any number of times, or be repeated after a
restart, and the unique key keeps one row per notice. The outbox (``registry.outbox``) delivers
the rows; the key travels with them, so receivers can drop a repeat too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import NoReturn

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from registry.due import add_months, notice_day
from semon.periodic import every
from semon.settings import BackoffSettings, NoticeSettings, RegistrySettings
from semon.today import Clock, utc_now

log = logging.getLogger(__name__)

# The scan tells a listening outbox worker that there is new work (delivered on commit).
NOTIFY_CHANNEL = "semon_notices"


class Kind(StrEnum):
    DUE = "due"
    OVERDUE = "overdue"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Slot:
    """The notice a schedule is owed on one day."""

    kind: Kind
    days_overdue: int  # 0 for a due notice
    week: int | None = None  # overdue notices: 1 from the day after the due date, 2 a week later…


def notice_slot(due: date, today: date, *, months_before: int = 1, repeat_days: int = 7) -> Slot | None:
    """The notice owed today for a schedule due on ``due``, or None (too early, or the due day itself)."""
    if due < today:
        days = (today - due).days
        return Slot(Kind.OVERDUE, days, (days - 1) // repeat_days + 1)
    if today < due and notice_day(due, months_before) <= today:
        return Slot(Kind.DUE, 0)
    return None


def due_window_end(today: date, months_before: int = 1) -> date:
    """The latest due date whose due notice has started by ``today``.

    ``notice_day`` never decreases as the due date grows, so the dates with a notice started are
    exactly those up to this one, and the scan can select them with a plain, indexable range.
    It is not simply ``today + months``: month ends clamp (31 March − 1 month = 29 February),
    so on 29 February notices for 29, 30 and 31 March have all started.
    """
    end = add_months(today, months_before)
    while notice_day(end + timedelta(days=1), months_before) <= today:
        end += timedelta(days=1)
    return end


def notice_key(kind: Kind, code: str, schedule: str, due: date, recipient_code: str, channel: Channel,
               week: int | None = None) -> str:
    """The idempotency key; ``_SCAN`` builds the same string in SQL (integration tests hold them together)."""
    parts = [str(kind), code, schedule, due.isoformat()]
    if kind is Kind.OVERDUE:
        parts.append(f"w{week}")
    return ":".join([*parts, recipient_code, str(channel)])


# A notice is still worth sending while its unit is in use and its schedule still falls due on
# the notice's date: an inspection recorded moves next_due on, and a stopped unit needs none.
# Over ``notices n`` left-joined to ``equipment e`` and ``equipment_schedules s``.
STILL_DUE_SQL = "(e.status = 'in_use' AND s.next_due = n.due_date)"
STALE_REASON_SQL = """CASE
     WHEN e.status IS DISTINCT FROM 'in_use' THEN 'cancelled: unit ' || coalesce(e.status, 'removed')
     ELSE 'cancelled: due date now ' || coalesce(to_char(s.next_due, 'YYYY-MM-DD'), 'none') END"""

# One set-based statement for both kinds. Which notice a schedule is owed mirrors notice_slot():
# due in (today, window end] → 'due' to owner and agency; due before today → 'overdue' in week n
# to agency and every bureau; one row per channel the recipient can be reached on. concat_ws
# skips NULLs, so the week part ('w' || NULL) drops out of due keys.
_SCAN = """
WITH bureaus AS MATERIALIZED (SELECT id FROM parties WHERE role = 'bureau'),
units AS (
    SELECT e.registration_code AS code, e.category, e.type, e.address, e.district_code, e.owner_id, e.agency_id,
           s.schedule, s.next_due AS due_date,
           CASE WHEN s.next_due < %(today)s THEN 'overdue' ELSE 'due' END AS kind,
           greatest(%(today)s - s.next_due, 0) AS days_overdue
    FROM equipment e
    JOIN equipment_schedules s USING (registration_code)
    WHERE e.status = 'in_use' AND e.next_due <= %(until)s   -- e.next_due is the earliest of its schedules
      AND s.next_due <= %(until)s AND s.next_due <> %(today)s
),
targets AS MATERIALIZED (
    SELECT u.*, CASE WHEN u.kind = 'overdue' THEN (u.days_overdue - 1) / %(repeat)s + 1 END AS week, r.party_id
    FROM units u
    CROSS JOIN LATERAL (
        SELECT u.owner_id WHERE u.kind = 'due'
        UNION SELECT u.agency_id
        UNION SELECT b.id FROM bureaus b WHERE u.kind = 'overdue'
    ) AS r (party_id)
    WHERE r.party_id IS NOT NULL
),
addressed AS (
    SELECT t.*, p.id AS recipient_id, p.code AS recipient_code, p.name AS recipient_name, p.role AS recipient_role,
           ch.channel,
           concat_ws(':', t.kind, t.code, t.schedule, to_char(t.due_date, 'YYYY-MM-DD'), 'w' || t.week,
                     p.code, ch.channel) AS key
    FROM targets t
    JOIN parties p ON p.id = t.party_id
    CROSS JOIN LATERAL (VALUES ('webhook', p.webhook_url IS NOT NULL), ('email', p.email IS NOT NULL))
        AS ch (channel, reachable)
    WHERE ch.reachable
),
inserted AS (
    INSERT INTO notices (key, kind, registration_code, schedule, due_date, recipient_id, channel, payload)
    SELECT n.key, n.kind, n.code, n.schedule, n.due_date, n.recipient_id, n.channel,
           jsonb_build_object(
               'key', n.key, 'kind', n.kind, 'as_of', %(today)s::date,
               'registration_code', n.code, 'category', n.category, 'type', n.type,
               'address', n.address, 'district_code', n.district_code,
               'schedule', n.schedule, 'due_date', n.due_date, 'days_overdue', n.days_overdue, 'week', n.week,
               'owner', jsonb_build_object('code', o.code, 'name', o.name, 'contact', o.contact, 'phone', o.phone),
               'agency', jsonb_build_object('code', a.code, 'name', a.name, 'phone', a.phone),
               'recipient', jsonb_build_object('code', n.recipient_code, 'name', n.recipient_name,
                                               'role', n.recipient_role))
    FROM addressed n
    LEFT JOIN parties o ON o.id = n.owner_id
    LEFT JOIN parties a ON a.id = n.agency_id
    -- Most keys exist already on a rescan: skip them before building payloads (the bulk of the
    -- work); ON CONFLICT still settles a race with a concurrent scan.
    WHERE NOT EXISTS (SELECT FROM notices x WHERE x.key = n.key)
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
),
unreachable AS (
    SELECT p.code, count(*) AS owed
    FROM targets t JOIN parties p ON p.id = t.party_id
    WHERE p.webhook_url IS NULL AND p.email IS NULL
    GROUP BY p.code
)
SELECT (SELECT count(*) FROM inserted),
       (SELECT coalesce(sum(owed), 0) FROM unreachable),
       (SELECT coalesce(array_agg(code ORDER BY code), '{}')
        FROM (SELECT code FROM unreachable ORDER BY code LIMIT 20) AS c)
"""

_CANCEL = f"""
UPDATE notices SET state = 'cancelled', last_error = stale.reason
FROM (
    SELECT n.id, {STALE_REASON_SQL} AS reason
    FROM notices n
    LEFT JOIN equipment e ON e.registration_code = n.registration_code
    LEFT JOIN equipment_schedules s ON s.registration_code = n.registration_code AND s.schedule = n.schedule
    WHERE n.state = 'pending' AND {STILL_DUE_SQL} IS NOT TRUE
    FOR UPDATE OF n SKIP LOCKED  -- a worker sending one right now re-checks it under its own lock
) AS stale
WHERE notices.id = stale.id
"""


async def scan_notices(conn: AsyncConnection, today: date, *, months_before: int = 1, repeat_days: int = 7) -> int:
    """Write the notices owed on ``today`` that do not exist yet, cancel pending ones no longer
    due, and return how many were written. Recipients with neither a webhook nor an e-mail
    address are logged: they get nothing."""
    async with conn.transaction():
        cur = await conn.execute(_SCAN, {"today": today, "until": due_window_end(today, months_before),
                                         "repeat": repeat_days})
        row = await cur.fetchone()
        assert row is not None
        created, unreachable, parties = int(row[0]), int(row[1]), list(row[2])
        cur = await conn.execute(_CANCEL)
        cancelled = cur.rowcount
        if created:
            await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(created)))
    if unreachable:
        log.warning("notices: %d owed to parties with neither webhook nor e-mail, not sent (parties %s)",
                    unreachable, ", ".join(parties))
    log.info("notices for %s: %d new, %d cancelled", today, created, cancelled)
    return created


async def run_scans(pool: AsyncConnectionPool, settings: NoticeSettings, registry: RegistrySettings,
                    backoff: BackoffSettings, *, clock: Clock = utc_now) -> NoReturn:
    """Scan now, then every ``settings.scan_interval_s``; runs until cancelled. The scan is
    idempotent, so a short interval only makes new work appear sooner after a restart. ``today``
    is the register's (``registry.today(clock)``)."""
    async def scan() -> None:
        async with pool.connection() as conn:
            await scan_notices(conn, registry.today(clock), months_before=settings.months_before,
                               repeat_days=settings.overdue_repeat_days)

    await every("notice scan", settings.scan_interval_s, scan, log=log, backoff=backoff.backoff())
