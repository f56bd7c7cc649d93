"""The notice scan against a real PostgreSQL: self-tests (自行检测) told to the owner and its
maintenance unit, the scan's memory (it reads only what changed), and a random history of
inspections, stops, hand-overs, parties made reachable, removed schedules and skipped days,
after each scan of which the notices are exactly those a scan reading everything would have
written, and no pending notice is stale."""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from registry.due import SELF_TEST, Category, Result, Scheme
from registry.model import Equipment, Party, Role, Status
from registry.notices import Channel, Kind, next_change, notice_key, notice_slot, recipients, scan_notices
from registry.store import record_inspection, upsert_equipment, upsert_party
from tests.integration.helpers import query

pytestmark = pytest.mark.integration

TODAY = date(2025, 7, 1)

PARTIES = [
    Party("OWN1", "城东物业有限公司", Role.OWNER, phone="0971-8100001", email="owner1@example.test"),
    Party("MNT1", "西宁通达电梯维保有限公司", Role.MAINTENANCE, phone="0971-6100000", email="wb1@example.test"),
    Party("AG1", "青海省特种设备检验检测院", Role.AGENCY, email="ag1@example.test"),
    Party("BUR1", "西宁市市场监督管理局", Role.BUREAU, email="bureau@example.test"),
]


async def add_self_test(conn: psycopg.AsyncConnection[Any], code: str, due: date | None, *,
                        last: date | None = None) -> None:
    """A self-test schedule, built by hand (12 months), and the unit's earliest due date with it."""
    await conn.execute(
        """INSERT INTO equipment_schedules (registration_code, schedule, interval_months, last_inspected, next_due)
           VALUES (%s, %s, 12, %s, %s)
           ON CONFLICT (registration_code, schedule) DO UPDATE SET last_inspected = excluded.last_inspected,
             next_due = excluded.next_due""", (code, SELF_TEST, last, due))
    await conn.execute("""UPDATE equipment e SET next_due = (SELECT min(next_due) FROM equipment_schedules s
                                                            WHERE s.registration_code = e.registration_code)
                          WHERE registration_code = %s""", (code,))


def lift(code: str, last_periodic: date, **kw: Any) -> Equipment:
    """An elevator of OWN1, maintained by MNT1, inspected by AG1, unless ``kw`` says otherwise."""
    fields: dict[str, Any] = {"address": "西宁市城东区八一路1号", "owner": "OWN1", "maintenance": "MNT1",
                              "agency": "AG1", **kw}
    # The yearly scheme: its self-test rows are the ones these tests build by hand.
    return Equipment(code, Category.ELEVATOR, "630102", last_inspected={"periodic": last_periodic},
                     scheme=Scheme.YEARLY, **fields)


async def scan(url: str, day: date) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await scan_notices(conn, day)


async def keys(url: str) -> set[str]:
    return {str(k) for (k,) in await query(url, "SELECT key FROM notices")}


async def test_a_self_test_is_told_to_the_owner_and_its_maintenance_unit_then_the_bureau(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for party in PARTIES:
            await upsert_party(conn, party)
        # Periodic inspections far off (due March 2026); the self-tests in or past their window.
        for code in ("E-ST", "E-ST-OVER"):
            await upsert_equipment(conn, lift(code, date(2025, 3, 10)))
        await add_self_test(conn, "E-ST", date(2025, 7, 20))
        await add_self_test(conn, "E-ST-OVER", date(2025, 6, 30))
        # Both schedules of one lift in their window: each goes to its own recipients.
        await upsert_equipment(conn, lift("E-BOTH", date(2024, 7, 10)))  # periodic due 31 July
        await add_self_test(conn, "E-BOTH", date(2025, 7, 15))
        await conn.commit()

    assert await scan(database_url, TODAY) == 8
    e = Channel.EMAIL
    assert await keys(database_url) == {
        notice_key(Kind.DUE, "E-ST", SELF_TEST, date(2025, 7, 20), "OWN1", e),
        notice_key(Kind.DUE, "E-ST", SELF_TEST, date(2025, 7, 20), "MNT1", e),
        notice_key(Kind.OVERDUE, "E-ST-OVER", SELF_TEST, date(2025, 6, 30), "OWN1", e, week=1),
        notice_key(Kind.OVERDUE, "E-ST-OVER", SELF_TEST, date(2025, 6, 30), "BUR1", e, week=1),
        notice_key(Kind.DUE, "E-BOTH", SELF_TEST, date(2025, 7, 15), "OWN1", e),
        notice_key(Kind.DUE, "E-BOTH", SELF_TEST, date(2025, 7, 15), "MNT1", e),
        notice_key(Kind.DUE, "E-BOTH", "periodic", date(2025, 7, 31), "OWN1", e),
        notice_key(Kind.DUE, "E-BOTH", "periodic", date(2025, 7, 31), "AG1", e),
    }
    payloads = {str(k): p for k, p in await query(database_url, "SELECT key, payload FROM notices")}
    self_test = payloads[notice_key(Kind.DUE, "E-ST", SELF_TEST, date(2025, 7, 20), "MNT1", e)]
    assert isinstance(self_test, dict)
    assert self_test["schedule"] == SELF_TEST and self_test["self_test"] is True
    assert self_test["inspection"] == "自行检测"
    assert self_test["maintenance"] == {"code": "MNT1", "name": "西宁通达电梯维保有限公司", "contact": None,
                                        "phone": "0971-6100000"}
    assert self_test["recipient"] == {"code": "MNT1", "name": "西宁通达电梯维保有限公司", "role": "maintenance"}
    periodic = payloads[notice_key(Kind.DUE, "E-BOTH", "periodic", date(2025, 7, 31), "AG1", e)]
    assert isinstance(periodic, dict)
    assert periodic["self_test"] is False and periodic["inspection"] == "定期检验"
    assert periodic["recipient"]["role"] == "agency"

    # The self-test done (by the maintenance unit): its pending notices are cancelled; the other
    # lift's self-test goes overdue and tells the owner and the bureau, never the agency.
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        state = await record_inspection(conn, "E-ST", schedule=SELF_TEST, inspected_on=TODAY, result=Result.PASS)
        await conn.commit()
    assert state["next_due"] == date(2026, 3, 31)  # the periodic inspection is the earliest again
    assert await scan(database_url, date(2025, 7, 16)) == 2 + 2  # E-BOTH's self-test overdue; E-ST-OVER week 3
    cancelled = {str(k): str(r) for k, r in await query(
        database_url, "SELECT key, last_error FROM notices WHERE state = 'cancelled'")}
    assert set(cancelled) == {k for k in payloads if k.startswith("due:E-ST:")}
    # The yearly scheme owes no self-test: once the unit is computed again, the row has no due date.
    assert set(cancelled.values()) == {"cancelled: due date now none"}
    new = await keys(database_url) - set(payloads)
    assert new == {
        notice_key(Kind.OVERDUE, "E-BOTH", SELF_TEST, date(2025, 7, 15), "OWN1", e, week=1),
        notice_key(Kind.OVERDUE, "E-BOTH", SELF_TEST, date(2025, 7, 15), "BUR1", e, week=1),
        notice_key(Kind.OVERDUE, "E-ST-OVER", SELF_TEST, date(2025, 6, 30), "OWN1", e, week=3),
        notice_key(Kind.OVERDUE, "E-ST-OVER", SELF_TEST, date(2025, 6, 30), "BUR1", e, week=3),
    }
    assert not [k for k in await keys(database_url) if SELF_TEST in k and ":AG1:" in k]


async def test_the_scan_reads_only_what_changed(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for party in PARTIES:
            await upsert_party(conn, party)
        await upsert_equipment(conn, lift("E-DUE", date(2024, 7, 10)))  # due 31 July
        await upsert_equipment(conn, lift("E-OVER", date(2024, 6, 10)))  # due 30 June: overdue
        await upsert_equipment(conn, lift("E-LATER", date(2024, 9, 10)))  # due 30 September
        await conn.commit()

    def read() -> int:
        [count] = [int(m.group(1)) for r in caplog.records if (m := re.search(r"\((\d+) schedules read\)",
                                                                              r.getMessage()))]
        caplog.clear()
        return count

    with caplog.at_level(logging.INFO, logger="registry.notices"):
        assert await scan(database_url, TODAY) == 2 + 2
        assert read() == 2
        memory = {str(c): rest for c, *rest in await query(
            database_url, """SELECT registration_code, notice_due, notice_kind, notice_week, notice_next
                             FROM equipment_schedules WHERE schedule = 'periodic' ORDER BY 1""")}
        assert memory == {"E-DUE": [date(2025, 7, 31), "due", None, date(2025, 8, 1)],
                          "E-OVER": [date(2025, 6, 30), "overdue", 1, date(2025, 7, 8)],
                          "E-LATER": [None, None, None, None]}
        for day in (TODAY, TODAY, date(2025, 7, 7)):  # nothing changes until the 8th
            assert await scan(database_url, day) == 0
            assert read() == 0
        assert await scan(database_url, date(2025, 7, 8)) == 2  # E-OVER, week 2
        assert read() == 1
        async with await psycopg.AsyncConnection.connect(database_url) as conn:  # handed to another agency
            await upsert_party(conn, Party("AG2", "西宁市特种设备检验所", Role.AGENCY, email="ag2@example.test"))
            await upsert_equipment(conn, lift("E-DUE", date(2024, 7, 10), agency="AG2"))
            await conn.commit()
        assert await scan(database_url, date(2025, 7, 8)) == 1  # AG2 is told of E-DUE's due slot at once
        assert read() == 1
        assert notice_key(Kind.DUE, "E-DUE", "periodic", date(2025, 7, 31), "AG2", Channel.EMAIL) in await keys(
            database_url)
        # A scan missed for weeks catches up with the slot of its day.
        assert await scan(database_url, date(2025, 8, 29)) == 2 + 2  # E-OVER week 9, E-DUE week 5
        assert read() == 2
        assert notice_key(Kind.OVERDUE, "E-OVER", "periodic", date(2025, 6, 30), "BUR1", Channel.EMAIL,
                          week=9) in await keys(database_url)


async def test_a_removed_schedule_has_its_pending_notices_cancelled(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for party in PARTIES:
            await upsert_party(conn, party)
        for code in ("E-1", "E-2", "E-3"):
            await upsert_equipment(conn, lift(code, date(2025, 3, 10)))
            await add_self_test(conn, code, date(2025, 7, 20))
        await conn.commit()
    assert await scan(database_url, TODAY) == 3 * 2

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("DELETE FROM equipment_schedules WHERE registration_code = 'E-1' AND schedule = %s",
                           (SELF_TEST,))
        # Deleted and inserted again in one transaction: the schedule is still there.
        await conn.execute("DELETE FROM equipment_schedules WHERE registration_code = 'E-2' AND schedule = %s",
                           (SELF_TEST,))
        await add_self_test(conn, "E-2", date(2025, 7, 20))
        await conn.execute("DELETE FROM equipment WHERE registration_code = 'E-3'")  # its notices go with it
        await conn.commit()
    states = {(str(c), str(s), e) for c, s, e in await query(
        database_url, "SELECT registration_code, state, last_error FROM notices")}
    assert states == {("E-1", "cancelled", "cancelled: schedule removed"), ("E-2", "pending", None)}
    assert await scan(database_url, TODAY) == 0  # E-2's are there already


async def test_a_party_newly_reachable_or_a_new_bureau_gets_the_slots_held(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for party in PARTIES:
            await upsert_party(conn, party)
        await upsert_party(conn, Party("OWN2", "无联系方式的使用单位", Role.OWNER))
        await upsert_equipment(conn, lift("E-DUE", date(2024, 7, 10), owner="OWN2"))
        await upsert_equipment(conn, lift("E-OVER", date(2024, 6, 10)))
        await conn.commit()
    assert await scan(database_url, TODAY) == 1 + 2  # OWN2 gets nothing: it cannot be reached
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_party(conn, Party("OWN2", "无联系方式的使用单位", Role.OWNER, email="own2@example.test"))
        await upsert_party(conn, Party("BUR2", "青海省市场监督管理局", Role.BUREAU, email="bureau2@example.test"))
        await conn.commit()
    assert await scan(database_url, date(2025, 7, 2)) == 2
    assert await keys(database_url) >= {
        notice_key(Kind.DUE, "E-DUE", "periodic", date(2025, 7, 31), "OWN2", Channel.EMAIL),
        notice_key(Kind.OVERDUE, "E-OVER", "periodic", date(2025, 6, 30), "BUR2", Channel.EMAIL, week=1)}
    assert await scan(database_url, date(2025, 7, 2)) == 0


# --- a random history, held against a scan that reads everything ---

@dataclass(frozen=True)
class Unit:
    code: str
    status: str
    exempt: bool
    parties: dict[Role, int | None]


async def owed_now(conn: psycopg.AsyncConnection[Any], day: date) -> tuple[set[str], list[tuple[Any, ...]]]:
    """The keys a scan reading every schedule would write on ``day`` (the rule of the scan before it
    remembered anything, with the self-test's recipients), and every pending notice with what
    decides whether it is still due."""
    cur = await conn.execute("SELECT id, code, role, email IS NOT NULL, webhook_url IS NOT NULL FROM parties")
    parties = {int(i): (str(c), str(r), bool(m), bool(w)) for i, c, r, m, w in await cur.fetchall()}
    bureaus = [i for i, (_, role, _, _) in parties.items() if role == "bureau"]
    cur = await conn.execute(
        """SELECT s.registration_code, s.schedule, s.next_due, e.status = 'in_use' AND NOT e.exempt,
                  e.owner_id, e.maintenance_id, e.agency_id
           FROM equipment_schedules s JOIN equipment e USING (registration_code)""")
    owed: set[str] = set()
    for code, schedule, due, counted, owner, maintenance, agency in await cur.fetchall():
        slot = notice_slot(due, day) if counted and due is not None else None
        if slot is None:
            continue
        ids = {Role.OWNER: owner, Role.MAINTENANCE: maintenance, Role.AGENCY: agency}
        to = {i for role in recipients(schedule, slot.kind) for i in ([*bureaus] if role is Role.BUREAU
                                                                       else [ids[role]]) if i is not None}
        for i in to:
            party, _, email, webhook = parties[i]
            for channel, reachable in ((Channel.EMAIL, email), (Channel.WEBHOOK, webhook)):
                if reachable:
                    owed.add(notice_key(slot.kind, code, schedule, due, party, channel, slot.week))
    cur = await conn.execute(
        """SELECT n.key, n.due_date, e.status = 'in_use' AND NOT e.exempt, s.next_due
           FROM notices n JOIN equipment e USING (registration_code)
           LEFT JOIN equipment_schedules s ON s.registration_code = n.registration_code AND s.schedule = n.schedule
           WHERE n.state = 'pending'""")
    return owed, list(await cur.fetchall())


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_after_every_scan_the_notices_are_those_of_a_scan_reading_everything(database_url: str,
                                                                                   seed: int) -> None:
    rng = random.Random(seed)
    day = date(2025, 6, 1)
    codes = [f"E-{n}" for n in range(14)] + [f"B-{n}" for n in range(3)]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for party in [*PARTIES, Party("OWN2", "二号使用单位", Role.OWNER),
                      Party("AG2", "西宁市特种设备检验所", Role.AGENCY, webhook_url="https://ag2.example.test/n",
                            webhook_secret="s"),
                      Party("MNT2", "青海三菱", Role.MAINTENANCE)]:
            await upsert_party(conn, party)
        for code in codes:
            last = day - timedelta(days=rng.randint(300, 420))
            if code.startswith("E"):
                await upsert_equipment(conn, lift(code, last, owner=rng.choice(("OWN1", "OWN2")),
                                                  maintenance=rng.choice(("MNT1", "MNT2", None))))
                if rng.random() < 0.6:
                    await add_self_test(conn, code, day + timedelta(days=rng.randint(-40, 60)))
            else:
                await upsert_equipment(conn, Equipment(
                    code, Category.BOILER, "630103", owner="OWN1", agency=rng.choice(("AG1", "AG2")),
                    last_inspected={"external": last, "internal": last - timedelta(days=rng.randint(0, 400))}))
        ever: set[str] = set()
        actions = ["scan"] * 6 + ["inspect", "fail", "stop", "resume", "exempt", "hand_over", "reach", "bureau",
                                  "remove", "move", "scan_same_day"]
        for step in range(45):
            action = rng.choice(actions)
            code = rng.choice(codes)
            if action in ("scan", "scan_same_day"):
                day += timedelta(days=0 if action == "scan_same_day" else rng.choice((1, 1, 2, 3, 6, 9, 20)))
                await scan_notices(conn, day)
                owed, pending = await owed_now(conn, day)
                ever |= owed
                assert await keys(database_url) == ever, (seed, step, day)
                stale = [k for k, due, counted, next_due in pending if not (counted and next_due == due)]
                assert not stale, (seed, step, day)
                for sched_code, due, kind, nxt in await (await conn.execute(
                        """SELECT registration_code, notice_due, notice_kind, notice_next FROM equipment_schedules
                           WHERE notice_kind IS NOT NULL AND notice_due = next_due""")).fetchall():
                    assert nxt == next_change(due, day) or (day == due and nxt == day + timedelta(days=1)), (
                        sched_code, due, kind, nxt, day)
                continue
            cur = await conn.execute("SELECT schedule FROM equipment_schedules WHERE registration_code = %s AND owed",
                                     (code,))
            schedules = [str(s) for (s,) in await cur.fetchall()]
            match action:
                case "inspect" | "fail" if schedules:
                    await record_inspection(conn, code, schedule=rng.choice(schedules), inspected_on=day,
                                            result=Result.FAIL if action == "fail" else Result.PASS)
                case "stop":
                    await conn.execute("UPDATE equipment SET status = %s WHERE registration_code = %s",
                                       (rng.choice((str(Status.STOPPED), str(Status.SCRAPPED))), code))
                case "resume":
                    await conn.execute("UPDATE equipment SET status = 'in_use' WHERE registration_code = %s", (code,))
                case "exempt":
                    await conn.execute("UPDATE equipment SET exempt = NOT exempt WHERE registration_code = %s",
                                       (code,))
                case "hand_over":
                    column = rng.choice(("owner_id", "agency_id", "maintenance_id"))
                    codes_of = {"owner_id": ("OWN1", "OWN2"), "agency_id": ("AG1", "AG2"),
                                "maintenance_id": ("MNT1", "MNT2")}[column]
                    await conn.execute(f"UPDATE equipment SET {column} = (SELECT id FROM parties WHERE code = %s) "
                                       "WHERE registration_code = %s", (rng.choice(codes_of), code))
                case "reach":
                    await conn.execute("""UPDATE parties SET email = CASE WHEN email IS NULL
                                            THEN lower(code) || '@example.test' END WHERE code = %s""",
                                       (rng.choice(("OWN2", "MNT2", "AG1", "AG2")),))
                case "bureau":
                    await upsert_party(conn, Party(f"BUR{step}", "又一市场监管局", Role.BUREAU,
                                                   email=f"bur{step}@example.test"))
                case "remove" if SELF_TEST in schedules:
                    await conn.execute("DELETE FROM equipment_schedules WHERE registration_code = %s AND schedule = %s",
                                       (code, SELF_TEST))
                case "remove" if code.startswith("E"):
                    await add_self_test(conn, code, day + timedelta(days=rng.randint(-10, 40)))
                case "move" if schedules:
                    await conn.execute(
                        "UPDATE equipment_schedules SET next_due = %s WHERE registration_code = %s AND schedule = %s",
                        (day + timedelta(days=rng.randint(-30, 45)), code, rng.choice(schedules)))
        assert ever  # the history gave notices at all
