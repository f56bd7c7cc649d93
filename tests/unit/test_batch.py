"""ingest.batch: decoded outcomes become rows, and what the batch learned per device."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import psycopg.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg_pool import PoolTimeout

from ingest.batch import (
    BOILER_COLUMNS,
    ELEVATOR_COLUMNS,
    EVENT_COLUMNS,
    Batch,
    DeviceTouch,
    LatestTelemetry,
)
from ingest.isolate import describe, isolate
from semon.db.errors import is_refusal, is_transient
from semon.dead_letters import COLUMNS as REJECTED_COLUMNS
from semon.dead_letters import message_key
from semon.protocol.decode import Rejection, RejectReason, decode
from tests.unit.frames import (
    BOILER_ID,
    ELEVATOR_ID,
    EXAMPLE_MS,
    EXAMPLE_UTC,
    LIMITS,
    NOW,
    boiler_frame,
    elevator_frame,
    event_frame,
    raw,
    topic,
)

RECEIVED = datetime(2025, 6, 1, 1, 59, 0, tzinfo=UTC)
KEEP = 1024


def add(batch: Batch, topic_name: str, payload: bytes, received_at: datetime = RECEIVED,
        keep_bytes: int = KEEP) -> None:
    batch.add(decode(topic_name, payload, NOW, LIMITS), topic_name, payload, received_at, keep_bytes)


def ms(seconds: float) -> int:
    return EXAMPLE_MS + round(seconds * 1000)


def at(seconds: float) -> datetime:
    return EXAMPLE_UTC + timedelta(seconds=seconds)


def test_elevator_row_follows_elevator_columns() -> None:
    batch = Batch()
    add(batch, topic("elevator", "telemetry"), raw(elevator_frame()))
    assert len(batch.elevator) == 1
    row = dict(zip(ELEVATOR_COLUMNS, batch.elevator[0], strict=True))
    assert row == {
        "time": EXAMPLE_UTC, "device_id": ELEVATOR_ID, "seq": 418203, "running": True,
        "direction": "up", "floor": 7, "door_locked": True, "door_zone": False, "passenger": True,
        "mode": "normal", "power": "main", "speed_mps": 1.75, "trip_count": 286514,
        "run_hours": 23817.5, "received_at": RECEIVED,
    }
    assert type(row["direction"]) is str  # plain values for the database, not enums
    assert (batch.boiler, batch.events, batch.rejected) == ([], [], [])
    assert batch.row_count == 1


def test_boiler_row_follows_boiler_columns() -> None:
    batch = Batch()
    add(batch, topic("boiler", "telemetry"), raw(boiler_frame()))
    row = dict(zip(BOILER_COLUMNS, batch.boiler[0], strict=True))
    assert row == {
        "time": EXAMPLE_UTC, "device_id": BOILER_ID, "seq": 90211, "burner_on": True, "flame": True,
        "pressure_mpa": 0.92, "water_level_mm": -12.5, "outlet_temp_c": 179.4, "return_temp_c": 62.0,
        "flue_temp_c": 168.3, "feedwater_flow_m3h": 3.8, "fuel_flow_m3h": 265.0, "received_at": RECEIVED,
    }
    assert batch.devices[BOILER_ID].kind == "boiler"
    assert batch.row_count == 1


def test_event_row_follows_event_columns() -> None:
    batch = Batch()
    add(batch, topic("elevator", "event"), raw(event_frame(11, floor=7, detail="trapped")))
    add(batch, topic("boiler", "event"), raw(event_frame(105, ts=ms(1), seq=5)))
    rows = [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in batch.events]
    assert rows == [
        {"time": EXAMPLE_UTC, "device_id": ELEVATOR_ID, "kind": "elevator", "seq": 418331, "code": 11,
         "floor": 7, "detail": "trapped", "received_at": RECEIVED},
        {"time": at(1), "device_id": BOILER_ID, "kind": "boiler", "seq": 5, "code": 105,
         "floor": None, "detail": None, "received_at": RECEIVED},
    ]
    touch = batch.devices[ELEVATOR_ID]
    assert (touch.event_at, touch.event_code, touch.telemetry, touch.online) == (EXAMPLE_UTC, 11, None, None)


def test_rejection_row_keeps_a_truncated_payload_and_its_full_size() -> None:
    batch = Batch()
    payload = b"not json at all " * 10
    add(batch, topic("elevator", "telemetry"), payload, keep_bytes=16)
    assert len(batch.rejected) == 1
    row = dict(zip(REJECTED_COLUMNS, batch.rejected[0], strict=True))
    assert row["received_at"] == RECEIVED
    assert row["topic"] == topic("elevator", "telemetry")
    assert (row["kind"], row["device_id"]) == ("elevator", ELEVATOR_ID)
    assert row["reason"] == "not_json"
    assert type(row["reason"]) is str
    assert row["detail"].startswith("not valid JSON")
    assert row["payload"] == b"not json at all "
    assert row["payload_size"] == 160
    assert batch.devices == {}  # a rejected message tells nothing about the device
    assert batch.row_count == 1


def test_rejection_row_truncates_topic_and_detail() -> None:
    batch = Batch()
    long_topic = "se/" + "x" * 300
    rejection = Rejection(RejectReason.BAD_TOPIC, "d" * 600)
    batch.add(rejection, long_topic, b"short", RECEIVED, KEEP)
    row = dict(zip(REJECTED_COLUMNS, batch.rejected[0], strict=True))
    assert row["topic"] == long_topic[:256]
    assert row["detail"] == "d" * 500
    assert (row["kind"], row["device_id"]) == (None, None)
    assert (row["payload"], row["payload_size"]) == (b"short", 5)


def test_rejection_with_keep_bytes_zero_stores_no_payload() -> None:
    batch = Batch()
    add(batch, topic("elevator", "status"), b"maybe", keep_bytes=0)
    row = dict(zip(REJECTED_COLUMNS, batch.rejected[0], strict=True))
    assert (row["reason"], row["payload"], row["payload_size"]) == ("bad_status", b"", 5)


def test_a_redelivered_rejection_has_the_same_key_and_any_other_message_another() -> None:
    first, again, other_payload, other_topic = Batch(), Batch(), Batch(), Batch()
    name = topic("elevator", "telemetry")
    add(first, name, b"{broken")
    add(again, name, b"{broken", received_at=RECEIVED + timedelta(minutes=5))
    add(other_payload, name, b"{broken!")
    add(other_topic, topic("boiler", "telemetry"), b"{broken")
    keys = [dict(zip(REJECTED_COLUMNS, b.rejected[0], strict=True))["message_key"]
            for b in (first, again, other_payload, other_topic)]
    assert keys[0] == keys[1] == message_key(name, b"{broken")
    assert len(keys[0]) == 32
    assert len(set(keys)) == 3


def test_the_key_covers_the_whole_payload_not_only_what_is_kept() -> None:
    name = topic("elevator", "telemetry")
    assert message_key(name, b"x" * 2000 + b"a") != message_key(name, b"x" * 2000 + b"b")
    assert message_key("se/a\ud800", b"") != message_key("se/a", b"")  # a topic any client may send


def test_rejection_row_texts_hold_no_nul_or_surrogate() -> None:
    batch = Batch()
    rejection = Rejection(RejectReason.BAD_TOPIC, "bad \x00 \udc80", kind="k\x00", device_id="d\ud800")
    batch.add(rejection, "se/\x00/\udc80/x/y", b"\x00", RECEIVED, KEEP)
    row = dict(zip(REJECTED_COLUMNS, batch.rejected[0], strict=True))
    assert (row["topic"], row["kind"], row["device_id"], row["detail"]) == (
        "se/\ufffd/\ufffd/x/y", "k\ufffd", "d\ufffd", "bad \ufffd \ufffd")
    assert row["payload"] == b"\x00"  # bytea holds any byte


def test_latest_telemetry_is_the_storable_document_when_the_decoder_sanitised_it() -> None:
    batch = Batch()
    payload = raw(elevator_frame(x_note="a\u0000b"))
    add(batch, topic("elevator", "telemetry"), payload)
    latest = batch.devices[ELEVATOR_ID].telemetry
    assert latest is not None
    assert b"\\u0000" in payload
    assert b"\\u0000" not in latest.document
    assert "a\ufffdb".encode() in latest.document
    clean = raw(elevator_frame())
    add(batch, topic("elevator", "telemetry"), clean.replace(b'"seq":418203', b'"seq":418204'))
    latest = batch.devices[ELEVATOR_ID].telemetry
    assert latest is not None
    assert latest.seq == 418204
    assert latest.document == clean.replace(b'"seq":418203', b'"seq":418204')  # as sent


def test_event_detail_with_nul_becomes_a_row_postgresql_holds() -> None:
    batch = Batch()
    add(batch, topic("elevator", "event"), raw(event_frame(90, detail="stuck\u0000")))
    row = dict(zip(EVENT_COLUMNS, batch.events[0], strict=True))
    assert (row["code"], row["detail"]) == (90, "stuck\ufffd")


def test_latest_telemetry_keeps_the_newest_ts_and_seq_out_of_order() -> None:
    batch = Batch()
    frames = [
        raw(elevator_frame(ts=ms(2), seq=12)),
        raw(elevator_frame(ts=ms(5), seq=15, floor=9)),  # newest
        raw(elevator_frame(ts=ms(1), seq=11)),  # late arrivals
        raw(elevator_frame(ts=ms(4), seq=14)),
    ]
    received = [RECEIVED + timedelta(seconds=i) for i in range(len(frames))]
    for payload, when in zip(frames, received, strict=True):
        add(batch, topic("elevator", "telemetry"), payload, when)
    assert [r[2] for r in batch.elevator] == [12, 15, 11, 14]  # every frame is a row, in arrival order
    touch = batch.devices[ELEVATOR_ID]
    assert touch.telemetry == LatestTelemetry(at(5), 15, frames[1])
    assert (touch.first_seen, touch.last_seen) == (received[0], received[-1])
    assert touch.kind == "elevator"


def test_latest_telemetry_with_equal_ts_takes_the_higher_seq() -> None:
    batch = Batch()
    second = raw(elevator_frame(ts=ms(3), seq=8))
    add(batch, topic("elevator", "telemetry"), second)
    add(batch, topic("elevator", "telemetry"), raw(elevator_frame(ts=ms(3), seq=7)))
    assert batch.devices[ELEVATOR_ID].telemetry == LatestTelemetry(at(3), 8, second)


def test_latest_telemetry_prefers_ts_over_seq_after_a_device_restart() -> None:
    batch = Batch()
    add(batch, topic("elevator", "telemetry"), raw(elevator_frame(ts=ms(1), seq=900)))
    restarted = raw(elevator_frame(ts=ms(2), seq=0))
    add(batch, topic("elevator", "telemetry"), restarted)
    assert batch.devices[ELEVATOR_ID].telemetry == LatestTelemetry(at(2), 0, restarted)


def test_latest_telemetry_compares_instants_across_offsets() -> None:
    batch = Batch()
    utc_newer = raw(elevator_frame(ts="2025-06-01T01:30:16Z", seq=2))
    add(batch, topic("elevator", "telemetry"), utc_newer)
    add(batch, topic("elevator", "telemetry"), raw(elevator_frame(ts="2025-06-01T09:30:15.5+08:00", seq=3)))
    latest = batch.devices[ELEVATOR_ID].telemetry
    assert latest is not None
    assert (latest.seq, latest.document) == (2, utc_newer)


def test_latest_event_is_the_newest_by_ts() -> None:
    batch = Batch()
    add(batch, topic("elevator", "event"), raw(event_frame(2, ts=ms(5), seq=5)))
    add(batch, topic("elevator", "event"), raw(event_frame(1, ts=ms(3), seq=3)))
    touch = batch.devices[ELEVATOR_ID]
    assert (touch.event_at, touch.event_code) == (at(5), 2)
    add(batch, topic("elevator", "event"), raw(event_frame(40, ts=ms(5), seq=6)))  # same ts: later wins
    assert (touch.event_at, touch.event_code) == (at(5), 40)


def test_status_sets_online_and_status_time() -> None:
    batch = Batch()
    add(batch, topic("elevator", "status"), b"offline")
    touch = batch.devices[ELEVATOR_ID]
    assert (touch.online, touch.status_at) == (False, RECEIVED)  # plain status: time of receipt
    add(batch, topic("elevator", "status"), raw({"state": "online", "ts": ms(0)}))
    assert (touch.online, touch.status_at) == (True, EXAMPLE_UTC)  # JSON status: its own ts
    assert batch.row_count == 0  # status is not a row of its own


def test_status_changes_lists_only_devices_with_status() -> None:
    batch = Batch()
    add(batch, topic("elevator", "telemetry"), raw(elevator_frame()))
    add(batch, topic("boiler", "status"), b"online")
    add(batch, topic("elevator", "event", "E2"), raw(event_frame(90)))
    add(batch, topic("elevator", "status", "E3"), b"offline")
    add(batch, topic("elevator", "status", "E4"), b"nonsense")  # rejected: no device touched
    assert set(batch.devices) == {ELEVATOR_ID, BOILER_ID, "E2", "E3"}
    changes = batch.status_changes()
    assert set(changes) == {BOILER_ID, "E3"}
    assert changes[BOILER_ID].online is True
    assert changes["E3"].online is False
    assert changes[BOILER_ID] is batch.devices[BOILER_ID]


def test_status_changes_is_empty_without_status() -> None:
    batch = Batch()
    add(batch, topic("elevator", "telemetry"), raw(elevator_frame()))
    assert batch.status_changes() == {}


# --- DeviceTouch.merge ---------------------------------------------------------------------------

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def t(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_merge_keeps_newest_telemetry_min_first_seen_and_max_last_seen() -> None:
    mine = DeviceTouch("elevator", t(10), t(20), telemetry=LatestTelemetry(t(15), 5, b"mine"))
    later = DeviceTouch("elevator", t(5), t(30), telemetry=LatestTelemetry(t(16), 1, b"later"))
    mine.merge(later)
    assert (mine.first_seen, mine.last_seen) == (t(5), t(30))
    assert mine.telemetry == LatestTelemetry(t(16), 1, b"later")


def test_merge_keeps_own_telemetry_when_the_later_batch_has_older_or_none() -> None:
    own = LatestTelemetry(t(15), 5, b"mine")
    mine = DeviceTouch("elevator", t(10), t(40), telemetry=own)
    mine.merge(DeviceTouch("elevator", t(20), t(30), telemetry=LatestTelemetry(t(14), 9, b"old")))
    assert mine.telemetry is own
    mine.merge(DeviceTouch("elevator", t(20), t(30), telemetry=LatestTelemetry(t(15), 4, b"lower seq")))
    assert mine.telemetry is own
    mine.merge(DeviceTouch("elevator", t(20), t(30)))
    assert mine.telemetry is own
    assert (mine.first_seen, mine.last_seen) == (t(10), t(40))


def test_merge_takes_telemetry_when_it_had_none() -> None:
    mine = DeviceTouch("elevator", t(0), t(0))
    theirs = LatestTelemetry(t(1), 0, b"x")
    mine.merge(DeviceTouch("elevator", t(1), t(1), telemetry=theirs))
    assert mine.telemetry is theirs


def test_merge_keeps_the_newest_event() -> None:
    mine = DeviceTouch("elevator", t(0), t(0), event_at=t(10), event_code=11)
    mine.merge(DeviceTouch("elevator", t(1), t(1), event_at=t(9), event_code=40))
    assert (mine.event_at, mine.event_code) == (t(10), 11)
    mine.merge(DeviceTouch("elevator", t(2), t(2)))
    assert (mine.event_at, mine.event_code) == (t(10), 11)
    mine.merge(DeviceTouch("elevator", t(3), t(3), event_at=t(10), event_code=90))
    assert (mine.event_at, mine.event_code) == (t(10), 90)
    mine.merge(DeviceTouch("elevator", t(4), t(4), event_at=t(12), event_code=40))
    assert (mine.event_at, mine.event_code) == (t(12), 40)


def test_merge_takes_the_later_batchs_status_and_keeps_own_when_it_has_none() -> None:
    mine = DeviceTouch("boiler", t(0), t(0), online=True, status_at=t(50))
    mine.merge(DeviceTouch("boiler", t(1), t(1)))
    assert (mine.online, mine.status_at) == (True, t(50))
    mine.merge(DeviceTouch("boiler", t(2), t(2), online=False, status_at=t(40)))
    assert (mine.online, mine.status_at) == (False, t(40))  # later batch wins, whatever its time


# --- isolating refused rows (ingest/isolate.py) -----------------------------------------------


class _Refused(psycopg.errors.CharacterNotInRepertoire):
    """What PostgreSQL answers for U+0000 in text: SQLSTATE 22021."""


class _Store:
    """A stand-in for one transaction per attempt: refuses any part holding a bad item."""

    def __init__(self, bad: set[int], error: BaseException | None = None) -> None:
        self.bad = bad
        self.error = error
        self.attempts = 0
        self.committed: list[int] = []

    async def attempt(self, part: Sequence[int]) -> int:
        self.attempts += 1
        if self.bad.intersection(part):
            raise self.error if self.error is not None else _Refused("invalid byte sequence")
        self.committed.extend(part)
        return len(part)


async def test_isolate_commits_a_clean_batch_in_one_attempt() -> None:
    store = _Store(set())
    results, refused = await isolate(list(range(5000)), store.attempt)
    assert (results, refused, store.attempts) == ([5000], [], 1)


async def test_isolate_finds_ten_refused_rows_among_5000_in_few_attempts() -> None:
    bad = {7, 500, 501, 1234, 2000, 2999, 3000, 4096, 4500, 4999}
    store = _Store(bad)
    results, refused = await isolate(list(range(5000)), store.attempt)
    assert sorted(i for i, _ in refused) == sorted(bad)
    assert all(isinstance(e, _Refused) for _, e in refused)
    assert sorted(store.committed) == [i for i in range(5000) if i not in bad]
    assert sum(results) == 4990
    assert store.committed == sorted(store.committed)  # in order
    assert store.attempts <= 1 + 2 * len(bad) * math.ceil(math.log2(5000))  # not 5,000


@pytest.mark.parametrize("error", [
    psycopg.errors.NotNullViolation("null"), psycopg.errors.CheckViolation("check"),
    psycopg.errors.NumericValueOutOfRange("range"), psycopg.errors.ProgramLimitExceeded("index row"),
    psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), OverflowError("int too big"),
])
async def test_refusals_are_isolated(error: BaseException) -> None:
    assert is_refusal(error)
    assert not is_transient(error)
    store = _Store({3}, error)
    _, refused = await isolate(list(range(8)), store.attempt)
    assert [i for i, _ in refused] == [3]


@pytest.mark.parametrize("error", [
    psycopg.OperationalError("server closed the connection unexpectedly"),
    psycopg.errors.AdminShutdown("terminating connection"), psycopg.errors.TooManyConnections("too many"),
    psycopg.errors.DeadlockDetected("deadlock"), psycopg.errors.LockNotAvailable("lock timeout"),
    psycopg.errors.UndefinedTable("no such table"), psycopg.InterfaceError("the connection is closed"),
    PoolTimeout("no connection in 5 s"),
])
async def test_transient_errors_are_raised_not_dead_lettered(error: BaseException) -> None:
    assert is_transient(error)
    assert not is_refusal(error)
    store = _Store({3}, error)
    with pytest.raises(type(error)):
        await isolate(list(range(8)), store.attempt)
    assert (store.attempts, store.committed) == (1, [])  # the caller waits and tries it all again


async def test_a_bug_is_not_taken_for_a_refusal() -> None:
    store = _Store({1}, TypeError("bug"))
    with pytest.raises(TypeError):
        await isolate([0, 1], store.attempt)


def test_describe_names_the_sqlstate() -> None:
    assert describe(psycopg.errors.CheckViolation("new row violates\n check")) == "23514: new row violates check"
    assert describe(ValueError("bad value")) == "ValueError: bad value"


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=0, max_value=300), data=st.data())
async def test_isolate_returns_exactly_the_refused_items(n: int, data: st.DataObject) -> None:
    bad = data.draw(st.sets(st.integers(min_value=0, max_value=max(n - 1, 0)), max_size=n))
    store = _Store(bad)
    results, refused = await isolate(list(range(n)), store.attempt)
    assert sorted(i for i, _ in refused) == sorted(bad)
    assert store.committed == [i for i in range(n) if i not in bad]
    assert sum(results) == n - len(bad)
    if bad:
        assert store.attempts <= 1 + 2 * len(bad) * max(1, math.ceil(math.log2(n)))
