"""Inspection notices: which are due on a given day, and the daily scan that writes them.

Owners must apply for an inspection a month before the due date, so the owner and the agency
get a *due* notice from then until the due date. From the day after it, the agency and the
bureau get an *overdue* notice, again every week while the unit stays overdue. An elevator's
self-test (自行检测, TSG T7008-2023: the owner has it done, usually by its maintenance unit or an
agency) is the owner's business, not the inspection agency's: its due notice goes to the owner
and the maintenance unit (维保单位), its overdue notice to the owner and the bureau. Stopped,
scrapped and exempt units get none, and pending notices are cancelled once the schedule moves on.

Every notice has an idempotency key naming what it is about (unit, schedule, due date, overdue
week, recipient, channel): the scan may run any number of times, or be repeated after a
restart, and the unique key keeps one row per notice. The outbox (``registry.outbox``) delivers
the rows; the key travels with them, so receivers can drop a repeat too.

The scan reads only what changed. Each schedule remembers the last notice slot it was given
(kind, week, due date) and the day its owed slot changes next; each unit what its notices depend
on (in use and not exempt, owner, maintenance unit, agency); each party its role and channels.
A scan reads the schedules whose notice window opened, whose day came, whose due date moved, or
whose unit changed; the parties newly reachable get the slots their units hold. A scan missed
for days catches up with today's slots, and the unique key, not the memory, decides what exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import NoReturn

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from registry.due import DESIGN_LIFE, SELF_TEST, add_months, notice_day
from registry.model import Role
from semon.periodic import every
from semon.settings import BackoffSettings, NoticeSettings, RegistrySettings
from semon.today import Clock, utc_now

log = logging.getLogger(__name__)

# The scan tells a listening outbox worker that there is new work (delivered on commit).
NOTIFY_CHANNEL = "semon_notices"
# One scan at a time (pg_advisory_xact_lock): two would only wait on each other's rows.
_SCAN_LOCK = 0x5E_30_5C


class Kind(StrEnum):
    DUE = "due"
    OVERDUE = "overdue"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How notices go out, as the composition root knows it (``NoticeSettings.delivery``, the
    SMTP host), so that a notice list can say why a notice waits."""

    on: bool = False  # SEMON_NOTICE_DELIVERY: the outbox worker runs
    smtp_host: str = ""  # SEMON_SMTP_HOST; empty: none configured


# Why a pending notice waits: its key (the register's messages) and the English text.
WAITING: dict[str, str] = {
    "notice.no_webhook": "no webhook for this party: it will not be delivered",
    "notice.no_email": "no e-mail address for this party: it will not be delivered",
    "notice.delivery_off": "delivery off: SEMON_NOTICE_DELIVERY is not set, notices wait as pending",
    "notice.no_smtp": "delivery off for e-mail: no SMTP host configured (SEMON_SMTP_HOST)",
}


def waiting_reason(delivery: Delivery, *, state: str, channel: str, email: str | None,
                   webhook_url: str | None) -> str | None:
    """The key of why a notice in ``state`` waits (``WAITING``), or None when it does not wait
    for a reason of ours (delivered, failed with its own error, or on its way). The party's
    current channels come first: a party whose webhook or e-mail was removed after the notice
    was written can never get it."""
    if state != "pending":
        return None
    if channel == Channel.WEBHOOK and not webhook_url:
        return "notice.no_webhook"
    if channel == Channel.EMAIL and not email:
        return "notice.no_email"
    if not delivery.on:
        return "notice.delivery_off"
    if channel == Channel.EMAIL and not delivery.smtp_host:
        return "notice.no_smtp"
    return None


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


def recipients(schedule: str, kind: Kind) -> tuple[Role, ...]:
    """Who gets a notice of ``kind`` about ``schedule``: a self-test's due notice the owner and
    its maintenance unit, its overdue notice the owner and the bureau (TSG T7008-2023: the owner
    has the self-test done); any other schedule's due notice the owner and the agency, its
    overdue notice the agency and the bureau. ``_RECIPIENTS`` picks the same parties in SQL."""
    if schedule == SELF_TEST:
        return (Role.OWNER, Role.MAINTENANCE) if kind is Kind.DUE else (Role.OWNER, Role.BUREAU)
    return (Role.OWNER, Role.AGENCY) if kind is Kind.DUE else (Role.AGENCY, Role.BUREAU)


def next_change(due: date, today: date, *, months_before: int = 1, repeat_days: int = 7) -> date:
    """The first day after ``today`` on which ``notice_slot`` of ``due`` differs from today's:
    the day its due notice starts, the day after the due date (overdue, week 1), or the first day
    of the next overdue week. The due day itself, which owes nothing, is no change after a due
    notice. The scan keeps it per schedule (``_SCAN`` computes the same in SQL) and reads the
    schedule again on that day."""
    if due < today:
        week = ((today - due).days - 1) // repeat_days + 1
        return due + timedelta(days=repeat_days * week + 1)
    if notice_day(due, months_before) <= today:
        return due + timedelta(days=1)  # the due day itself owes nothing new: straight to overdue
    return notice_day(due, months_before)


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
    """The idempotency key; ``_SLOT_KEY`` and ``_INSERT`` build the same string in SQL (integration
    tests hold them together)."""
    parts = [str(kind), code, schedule, due.isoformat()]
    if kind is Kind.OVERDUE:
        parts.append(f"w{week}")
    return ":".join([*parts, recipient_code, str(channel)])


# A notice is still worth sending while its unit is in use and not exempt, and its schedule still
# falls due on the notice's date: an inspection recorded moves next_due on, and a stopped unit
# needs none. Over ``notices n`` left-joined to ``equipment e`` and ``equipment_schedules s``.
STILL_DUE_SQL = "(e.status = 'in_use' AND NOT e.exempt AND s.next_due = n.due_date)"
STALE_REASON_SQL = """CASE
     WHEN e.status IS DISTINCT FROM 'in_use' THEN 'cancelled: unit ' || coalesce(e.status, 'removed')
     WHEN e.exempt THEN 'cancelled: unit exempt'
     WHEN s.schedule IS NULL THEN 'cancelled: schedule removed'
     ELSE 'cancelled: due date now ' || coalesce(to_char(s.next_due, 'YYYY-MM-DD'), 'none') END"""

# What a unit's notices depend on: counted (in use and not exempt), owner, maintenance unit,
# agency. Written exactly as in the partial index equipment_notice_changed (migration 0008), so
# that the planner reads the changed units from it.
_BASIS = ("ARRAY[(e.status = 'in_use' AND NOT e.exempt)::integer::bigint, "
          "e.owner_id, e.maintenance_id, e.agency_id]")
_CHANGED_UNIT = f"e.notice_basis IS NOT NULL AND e.notice_basis IS DISTINCT FROM {_BASIS}"
# A party's role and the channels it can be reached on, as kept in parties.notice_reach.
_REACH = ("p.role || ':' || concat_ws(',', CASE WHEN p.webhook_url IS NOT NULL THEN 'webhook' END, "
          "CASE WHEN p.email IS NOT NULL THEN 'email' END)")

# Who gets a slot: ``recipients()`` in SQL, over a row ``k`` with kind, schedule and the unit's
# parties; one row per party (a party in two roles gets one notice).
_RECIPIENTS = f"""
    SELECT k.owner_id WHERE k.kind = 'due' OR k.schedule = '{SELF_TEST}'
    UNION SELECT k.agency_id WHERE k.schedule <> '{SELF_TEST}'
    UNION SELECT k.maintenance_id WHERE k.schedule = '{SELF_TEST}' AND k.kind = 'due'
    UNION SELECT b.id FROM bureaus b WHERE k.kind = 'overdue'"""

# What a notice says about its unit and schedule (the payload less its key and recipient), built
# once per slot given: over a row ``k`` (code, category, type, address, district_code, schedule,
# due_date, kind, week, days_overdue) and its unit's parties ``o`` (owner), ``m`` (maintenance
# unit), ``a`` (agency), left-joined.
_ABOUT = f"""jsonb_build_object(
        'kind', k.kind, 'as_of', %(today)s::date,
        'registration_code', k.code, 'category', k.category, 'type', k.type,
        'address', k.address, 'district_code', k.district_code,
        'schedule', k.schedule, 'self_test', k.schedule = '{SELF_TEST}',
        'inspection', CASE WHEN k.schedule = '{SELF_TEST}' THEN '自行检测'
                           WHEN k.schedule = '{DESIGN_LIFE}' THEN '设计使用年限届满' ELSE '定期检验' END,
        'due_date', k.due_date, 'days_overdue', k.days_overdue, 'week', k.week,
        'owner', jsonb_build_object('code', o.code, 'name', o.name, 'contact', o.contact, 'phone', o.phone),
        'maintenance', CASE WHEN m.id IS NOT NULL THEN
            jsonb_build_object('code', m.code, 'name', m.name, 'contact', m.contact, 'phone', m.phone) END,
        'agency', jsonb_build_object('code', a.code, 'name', a.name, 'phone', a.phone))"""
_PARTIES_OF_K = """LEFT JOIN parties o ON o.id = k.owner_id LEFT JOIN parties m ON m.id = k.maintenance_id
    LEFT JOIN parties a ON a.id = k.agency_id"""

# The key of a slot, less its recipient and channel (``notice_key``): concat_ws skips NULLs, so
# the week part ('w' || NULL) drops out of due keys.
_SLOT_KEY = "concat_ws(':', k.kind, k.code, k.schedule, to_char(k.due_date, 'YYYY-MM-DD'), 'w' || k.week)"

# From ``targets`` (a row of ``_ABOUT``'s with ``about``, ``slot_key`` and ``party_id``): one
# notice per channel the party can be reached on, under its key; ON CONFLICT leaves a notice
# that exists alone, however it got there.
_INSERT = """
addressed AS (
    SELECT t.code, t.kind, t.schedule, t.due_date, t.about, p.id AS recipient_id, ch.channel,
           t.slot_key || ':' || p.code || ':' || ch.channel AS key,
           jsonb_build_object('code', p.code, 'name', p.name, 'role', p.role) AS recipient
    FROM targets t
    JOIN parties p ON p.id = t.party_id
    CROSS JOIN LATERAL (VALUES ('webhook', p.webhook_url IS NOT NULL), ('email', p.email IS NOT NULL))
        AS ch (channel, reachable)
    WHERE ch.reachable
),
inserted AS (
    INSERT INTO notices (key, kind, registration_code, schedule, due_date, recipient_id, channel, payload)
    SELECT n.key, n.kind, n.code, n.schedule, n.due_date, n.recipient_id, n.channel,
           n.about || jsonb_build_object('key', n.key, 'recipient', n.recipient)
    FROM addressed n
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
),
unreachable AS (
    SELECT p.code, count(*) AS owed
    FROM targets t JOIN parties p ON p.id = t.party_id
    WHERE p.webhook_url IS NULL AND p.email IS NULL
    GROUP BY p.code
)"""

_COUNTS = """
       (SELECT count(*) FROM inserted),
       (SELECT coalesce(sum(owed), 0) FROM unreachable),
       (SELECT coalesce(array_agg(code ORDER BY code), '{}')
        FROM (SELECT code FROM unreachable ORDER BY code LIMIT 20) AS c)"""

# The day's scan, one statement.
#  - ``keys``: the schedules to read today, each kind through an index of its own (migration
#    0008): never settled and inside the notice window (until); the day their slot changes has
#    come (notice_next); their due date moved since they were settled; their unit changed.
#  - ``picked``: each with its unit and the slot owed today, as notice_slot() (kind, week; NULL:
#    none). A slot that differs from the one remembered (or any slot of a unit that changed: it
#    may have new parties) is given: one notice per recipient and channel.
#  - ``stale``: a schedule whose unit no longer counts, or whose due date is not the remembered
#    one, has its pending notices that are no longer due cancelled.
#  - ``settled``: the memory to write: the slot given and the day it changes next (next_change());
#    the due day itself keeps the due slot; outside the window nothing (the window reads it
#    again); a unit that does not count settles on its due date with no slot (a change of the
#    unit reads it again). Written only where the due date is still the one read (a concurrent
#    inspection wins, and the next scan reads the schedule as moved).
# The statistics cannot tell how few schedules change on a day (a settled schedule leaves the
# window's index, which estimates from next_due alone do not see), so every read keyed by them is
# written as a lookup: LATERAL … OFFSET 0 through a primary key, and row ids (ctid) for the writes.
_SCAN = f"""
WITH bureaus AS MATERIALIZED (SELECT id FROM parties WHERE role = 'bureau'),
keys AS MATERIALIZED (
    SELECT DISTINCT ON (s.registration_code, s.schedule) s.*
    FROM (
        SELECT ctid AS tid, * FROM equipment_schedules WHERE notice_due IS NULL AND next_due <= %(until)s
        UNION ALL
        SELECT ctid AS tid, * FROM equipment_schedules WHERE notice_next <= %(today)s
        UNION ALL
        SELECT ctid AS tid, * FROM equipment_schedules
        WHERE notice_due IS NOT NULL AND notice_due IS DISTINCT FROM next_due
        UNION ALL
        SELECT s.* FROM equipment e CROSS JOIN LATERAL (
            SELECT ctid AS tid, * FROM equipment_schedules s WHERE s.registration_code = e.registration_code OFFSET 0
        ) AS s
        WHERE {_CHANGED_UNIT}
    ) AS s
    ORDER BY s.registration_code, s.schedule
),
picked AS MATERIALIZED (
    SELECT s.tid, s.registration_code AS code, s.schedule, s.next_due, s.next_due AS due_date,
           s.notice_due, s.notice_kind, s.notice_week, s.notice_next,
           u.tid AS unit_tid, u.category, u.type, u.address, u.district_code, u.owner_id, u.maintenance_id,
           u.agency_id, u.status, u.exempt, u.counted, u.basis, u.notice_basis, u.unit_changed,
           o.kind, o.week, greatest(%(today)s - s.next_due, 0) AS days_overdue
    FROM keys s
    CROSS JOIN LATERAL (
        SELECT e.ctid AS tid, e.category, e.type, e.address, e.district_code, e.owner_id, e.maintenance_id,
               e.agency_id, e.status, e.exempt, e.status = 'in_use' AND NOT e.exempt AS counted,
               {_BASIS} AS basis, e.notice_basis, {_CHANGED_UNIT} AS unit_changed
        FROM equipment e WHERE e.registration_code = s.registration_code OFFSET 0
    ) AS u
    CROSS JOIN LATERAL (SELECT
        CASE WHEN NOT u.counted THEN NULL
             WHEN s.next_due < %(today)s THEN 'overdue'
             WHEN s.next_due > %(today)s AND s.next_due <= %(until)s THEN 'due' END AS kind,
        CASE WHEN u.counted AND s.next_due < %(today)s
             THEN (%(today)s - s.next_due - 1) / %(repeat)s + 1 END AS week) AS o
),
settled AS MATERIALIZED (
    SELECT m.* FROM (
        SELECT k.tid, k.next_due,
            CASE WHEN NOT k.counted OR k.next_due <= %(until)s THEN k.next_due END AS notice_due,
            CASE WHEN k.kind IS NOT NULL THEN k.kind WHEN k.counted AND k.next_due = %(today)s
                 AND k.next_due = k.notice_due THEN k.notice_kind END AS notice_kind,
            CASE WHEN k.kind IS NOT NULL THEN k.week WHEN k.counted AND k.next_due = %(today)s
                 AND k.next_due = k.notice_due THEN k.notice_week END AS notice_week,
            CASE WHEN NOT k.counted OR k.next_due IS NULL OR k.next_due > %(until)s THEN NULL
                 WHEN k.kind = 'due' THEN k.next_due + 1
                 WHEN k.kind = 'overdue' THEN k.next_due + %(repeat)s * k.week + 1
                 ELSE %(today)s::date + 1 END AS notice_next,  -- the due day itself: overdue tomorrow
            k.notice_due AS was_due, k.notice_kind AS was_kind, k.notice_week AS was_week, k.notice_next AS was_next
        FROM picked k
    ) AS m
    WHERE (m.notice_due, m.notice_kind, m.notice_week, m.notice_next)
          IS DISTINCT FROM (m.was_due, m.was_kind, m.was_week, m.was_next)
),
remembered AS (
    UPDATE equipment_schedules s
    SET notice_due = m.notice_due, notice_kind = m.notice_kind, notice_week = m.notice_week,
        notice_next = m.notice_next
    FROM settled m
    WHERE s.ctid = ANY(ARRAY(SELECT tid FROM settled)) AND s.ctid = m.tid
      AND s.next_due IS NOT DISTINCT FROM m.next_due
),
based AS (
    UPDATE equipment e SET notice_basis = u.basis
    FROM (SELECT DISTINCT unit_tid, basis FROM picked WHERE notice_basis IS DISTINCT FROM basis) AS u
    WHERE e.ctid = ANY(ARRAY(SELECT unit_tid FROM picked WHERE notice_basis IS DISTINCT FROM basis))
      AND e.ctid = u.unit_tid
),
stale AS MATERIALIZED (
    SELECT n.id, {STALE_REASON_SQL} AS reason
    FROM picked k
    CROSS JOIN LATERAL (SELECT k.status, k.exempt) AS e (status, exempt)
    CROSS JOIN LATERAL (SELECT k.schedule, k.next_due) AS s (schedule, next_due)
    CROSS JOIN LATERAL (  -- through notices_by_equipment
        SELECT * FROM notices n WHERE n.registration_code = k.code OFFSET 0) AS n
    WHERE (NOT k.counted OR k.notice_due IS DISTINCT FROM k.next_due)
      AND n.schedule = k.schedule AND n.state = 'pending' AND {STILL_DUE_SQL} IS NOT TRUE
),
cancelled AS (
    UPDATE notices SET state = 'cancelled', last_error = stale.reason
    FROM stale
    WHERE notices.id = ANY(ARRAY(  -- a worker sending one right now re-checks it under its own lock
              SELECT id FROM notices WHERE id = ANY(ARRAY(SELECT id FROM stale)) AND state = 'pending'
              FOR UPDATE SKIP LOCKED))
      AND notices.id = stale.id
    RETURNING 1
),
given AS MATERIALIZED (
    SELECT k.*, {_ABOUT} AS about, {_SLOT_KEY} AS slot_key
    FROM picked k {_PARTIES_OF_K}
    WHERE k.kind IS NOT NULL
      AND (k.unit_changed OR (k.kind, k.week, k.next_due) IS DISTINCT FROM (k.notice_kind, k.notice_week, k.notice_due))
),
targets AS MATERIALIZED (
    SELECT k.*, r.party_id
    FROM given k CROSS JOIN LATERAL ({_RECIPIENTS}) AS r (party_id)
    WHERE r.party_id IS NOT NULL
),
{_INSERT}
SELECT {_COUNTS},
       (SELECT count(*) FROM cancelled),
       (SELECT count(*) FROM picked)
"""

# Parties newly reachable (a webhook or an e-mail address added since the last scan), or now a
# bureau, or a bureau new since it, are given the slots the schedules hold and keep past today
# (those whose slot changes today, ``_SCAN`` gives to every recipient), where they are a
# recipient. A new party of another role needs nothing: a unit handed to it has changed, and
# ``_SCAN`` reads it. Run before ``_SCAN``; then every party's reach is kept (``_KEEP_REACH``).
_CHANGED_PARTIES = f"""
SELECT coalesce(array_agg(p.id), '{{}}') FROM parties p
WHERE (p.webhook_url IS NOT NULL OR p.email IS NOT NULL)
  AND (p.notice_reach IS DISTINCT FROM {_REACH} AND (p.notice_reach IS NOT NULL OR p.role = 'bureau'))
"""
_REGIVE = f"""
WITH bureaus AS MATERIALIZED (SELECT id FROM parties WHERE role = 'bureau'),
held AS MATERIALIZED (
    SELECT s.registration_code AS code, s.schedule, s.next_due AS due_date, s.notice_kind AS kind,
           s.notice_week AS week, greatest(%(today)s - s.next_due, 0) AS days_overdue,
           e.category, e.type, e.address, e.district_code, e.owner_id, e.maintenance_id, e.agency_id
    FROM equipment_schedules s JOIN equipment e USING (registration_code)
    WHERE s.notice_next > %(today)s AND s.notice_kind IS NOT NULL AND s.notice_due = s.next_due
      AND e.status = 'in_use' AND NOT e.exempt
),
targets AS MATERIALIZED (
    SELECT k.*, {_ABOUT} AS about, {_SLOT_KEY} AS slot_key, r.party_id
    FROM held k {_PARTIES_OF_K}
    CROSS JOIN LATERAL ({_RECIPIENTS}) AS r (party_id)
    WHERE r.party_id = ANY(%(parties)s)
),
{_INSERT}
SELECT {_COUNTS}
"""
_KEEP_REACH = f"UPDATE parties p SET notice_reach = {_REACH} WHERE p.notice_reach IS DISTINCT FROM {_REACH}"


async def scan_notices(conn: AsyncConnection, today: date, *, months_before: int = 1, repeat_days: int = 7) -> int:
    """Write the notices owed on ``today`` that do not exist yet, cancel pending ones no longer
    due, and return how many were written. Recipients with neither a webhook nor an e-mail
    address are logged: they get nothing. One transaction; the outbox is told on commit."""
    params = {"today": today, "until": due_window_end(today, months_before), "repeat": repeat_days}
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCAN_LOCK,))
        # Index lookups over the day's few changes: compiling them (JIT, triggered by the estimates
        # of a register of a million units) costs more than it saves.
        await conn.execute("SET LOCAL jit = off")
        created = 0
        cur = await conn.execute(_CHANGED_PARTIES)
        changed = await cur.fetchone()
        if changed and changed[0]:
            cur = await conn.execute(_REGIVE, {**params, "parties": list(changed[0])})
            regiven = await cur.fetchone()
            assert regiven is not None
            created += int(regiven[0])
        cur = await conn.execute(_SCAN, params)
        row = await cur.fetchone()
        assert row is not None
        created += int(row[0])
        unreachable, parties, cancelled, read = int(row[1]), list(row[2]), int(row[3]), int(row[4])
        await conn.execute(_KEEP_REACH)
        if created:
            await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(created)))
    if unreachable:
        log.warning("notices: %d owed to parties with neither webhook nor e-mail, not sent (parties %s)",
                    unreachable, ", ".join(parties))
    log.info("notices for %s: %d new, %d cancelled (%d schedules read)", today, created, cancelled, read)
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
