"""The live stream across processes, on a real PostgreSQL: a change committed in another process
reaches this one's hub, a rolled-back one never; a change too big for a payload arrives read
from its row; after the listening connection is lost the consoles are cut off to reload; an
operator's close reaches the rules engine's listener."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.alarm_store import raise_alarm
from alerts.hub import LiveHub
from alerts.incident_store import apply_step, open_incident
from alerts.incidents import Step, StepRequest
from alerts.live_notify import (
    CLOSE_CHANNEL,
    LIVE_CHANNEL,
    LiveListener,
    encode_change,
    listen_operator_closes,
    notify_operator_close,
)
from alerts.model import Alarm, Source
from semon.alarm_types import AlarmType
from semon.backoff import Backoff
from semon.db.pool import open_pool
from tests.integration.helpers import ingest_settings

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def listening(database_url: str) -> AsyncIterator[tuple[AsyncConnectionPool, LiveHub, LiveListener]]:
    async with open_pool(database_url, name="live-test") as pool:
        hub = LiveHub(100)
        listener = LiveListener(pool, hub, Backoff(0.05, 0.2))
        task = asyncio.create_task(listener.run())
        try:
            await asyncio.wait_for(listener.listening.wait(), 10)
            yield pool, hub, listener
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _send(pool: AsyncConnectionPool, payload: str, *, commit: bool = True, channel: str = LIVE_CHANNEL) -> None:
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
        if commit:
            await conn.commit()
        else:
            await conn.rollback()


async def test_committed_changes_of_other_processes_reach_the_hub_and_nothing_else(database_url: str) -> None:
    async with listening(database_url) as (pool, hub, _listener):
        sub = hub.subscribe()
        mine = {"topic": "alarm", "op": "raised", "alarm": {"id": 1}}
        await _send(pool, encode_change(mine))  # this process's own: published here already
        await _send(pool, encode_change({"topic": "alarm", "op": "raised", "alarm": {"id": 2}}, "elsewhere"),
                    commit=False)
        await _send(pool, "not json")  # logged, skipped
        theirs = {"topic": "incident", "op": "ack", "incident": {"id": 3}}
        await _send(pool, encode_change(theirs, "elsewhere"))
        assert await asyncio.wait_for(sub.queue.get(), 10) == theirs
        await asyncio.sleep(0.3)
        assert sub.queue.empty()


async def test_a_change_too_big_for_a_payload_is_read_from_its_row(database_url: str) -> None:
    async with listening(database_url) as (pool, hub, _listener):
        sub = hub.subscribe()
        async with pool.connection() as conn:
            alarm = await raise_alarm(conn, device_id="E-BIG", kind="elevator", type=AlarmType.ENTRAPMENT,
                                      source=Source.CODE, raised_at=datetime.now(UTC), details={"note": "x" * 9000})
            assert alarm is not None
        change: dict[str, Any] = {"topic": "alarm", "op": "raised", "alarm": alarm.as_json()}
        payload = encode_change(change, "elsewhere")
        assert len(payload) < 1000
        await _send(pool, payload)
        got = await asyncio.wait_for(sub.queue.get(), 10)
        assert got["alarm"]["id"] == alarm.id and got["alarm"]["details"]["note"] == "x" * 9000
        assert got == {**change, "alarm": {**change["alarm"], "raised_seen_at": got["alarm"]["raised_seen_at"]}}


async def test_a_lost_listening_connection_cuts_the_consoles_off_to_reload(database_url: str) -> None:
    async with listening(database_url) as (pool, hub, listener):
        sub = hub.subscribe()
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'live-test-listen'")
        deadline = asyncio.get_running_loop().time() + 15
        while not sub.overflowed.is_set():
            assert asyncio.get_running_loop().time() < deadline, "the subscriber was not cut off"
            await asyncio.sleep(0.05)
        assert listener.resyncs == 1 and listener.listening.is_set()
        after = hub.subscribe()  # a console reconnecting gets what follows
        change = {"topic": "alarm", "op": "cleared", "alarm": {"id": 9}}
        await _send(pool, encode_change(change, "elsewhere"))
        assert await asyncio.wait_for(after.queue.get(), 10) == change


async def test_an_operators_close_reaches_the_engines_listener(database_url: str) -> None:
    async with open_pool(database_url, name="close-test") as pool:
        async with pool.connection() as conn:
            alarm = await raise_alarm(conn, device_id="E-CLOSE", kind="elevator", type=AlarmType.ENTRAPMENT,
                                      source=Source.CODE, raised_at=datetime.now(UTC))
            assert alarm is not None
        heard: asyncio.Queue[Alarm] = asyncio.Queue()
        ready = asyncio.Event()
        task = asyncio.create_task(listen_operator_closes(pool, heard.put_nowait, Backoff(0.05, 0.2), ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            await _send(pool, f'{{"origin": "elsewhere", "alarm_id": {alarm.id}}}', channel=CLOSE_CHANNEL)
            got = await asyncio.wait_for(heard.get(), 10)
            assert (got.id, got.device_id, got.type) == (alarm.id, "E-CLOSE", AlarmType.ENTRAPMENT)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_closes_made_while_the_engines_listener_was_away_are_read_when_it_is_back(database_url: str) -> None:
    """A close whose notification was lost with the listening connection still reaches the
    engine: read from the database once it listens again."""
    async with open_pool(database_url, name="catch-up-test") as pool:
        heard: asyncio.Queue[Alarm] = asyncio.Queue()
        ready = asyncio.Event()
        task = asyncio.create_task(listen_operator_closes(pool, heard.put_nowait, Backoff(0.5, 0.5), ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            async with pool.connection() as conn:
                alarm = await raise_alarm(conn, device_id="E-AWAY", kind="elevator", type=AlarmType.ENTRAPMENT,
                                          source=Source.CODE, raised_at=datetime.now(UTC))
                assert alarm is not None
                incident = (await open_incident(conn, alarm, ingest_settings().incidents)).incident
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name = 'catch-up-test-listen'")
            ready.clear()
            async with pool.connection() as conn:  # closed while nobody listens: its notification is lost
                outcome = await apply_step(conn, incident.id, StepRequest(Step.FALSE_ALARM, "operator", "test"),
                                           now=datetime.now(UTC), settings=ingest_settings().incidents)
                assert outcome.cleared_alarm is not None
                await notify_operator_close(conn, outcome.cleared_alarm)
            got = await asyncio.wait_for(heard.get(), 15)
            assert (got.id, got.device_id, got.state) == (alarm.id, "E-AWAY", "cleared")
            assert ready.is_set()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
