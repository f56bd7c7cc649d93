"""The live stream across processes: alarm and incident changes travel through PostgreSQL
LISTEN/NOTIFY, so the rules engine, the deadline watch and the API may each run in a process of
their own and every console still sees every change.

A change is announced with ``pg_notify`` in the very transaction that makes it: PostgreSQL
delivers it at commit, and only if the transaction commits. A payload is limited to 8000 bytes;
a change that would not fit is sent as a reference (its topic, op and row id) and the listener
reads the row. Each notification names the process that sent it (``ORIGIN``): that process has
already published the change to its own hub, so its own listener skips it.

An operator's close travels the same way on a channel of its own, to the rules engine, which
must forget the alarm it closed.

The API's listener holds a dedicated connection. When it has to reconnect, notifications sent
meanwhile are gone: it cuts every live subscriber off (as an overflow does), and the consoles
reconnect and reload the current state from a snapshot taken after the listener is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.alarm_queries import closed_by_operators_since, get_alarm
from alerts.hub import LiveHub
from alerts.incident_store import get_incident
from alerts.incidents import incident_change
from alerts.model import Alarm
from semon.backoff import Backoff
from semon.periodic import keep_connected, until_done

log = logging.getLogger(__name__)

LIVE_CHANNEL = "semon_live"
CLOSE_CHANNEL = "semon_operator_close"
# PostgreSQL refuses payloads of 8000 bytes or more; leave room for the envelope.
MAX_PAYLOAD_BYTES = 7900
# A close is read again after a lost listening connection if made this long before the listener
# was last in place: the two processes' clocks and the commit's delay.
CATCH_UP_MARGIN_S = 60.0
# This process, as named in the notifications it sends.
ORIGIN = uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Reference:
    """A change too big for a payload: the listener reads the row. ``step`` is the incident
    step's id, if the change carried one."""

    topic: str  # alarm | incident
    op: str
    id: int
    step: int | None = None


def encode_change(change: dict[str, Any], origin: str = ORIGIN) -> str:
    """The payload for ``change`` (a hub message): the change itself, or its reference when the
    whole would reach ``MAX_PAYLOAD_BYTES``. Raises ValueError for a change with neither an
    ``alarm`` nor an ``incident`` (nothing to refer to)."""
    whole = orjson.dumps({"origin": origin, "change": change})
    if len(whole) < MAX_PAYLOAD_BYTES:
        return whole.decode()
    topic = str(change.get("topic"))
    row = change.get(topic)
    if topic not in ("alarm", "incident") or not isinstance(row, dict) or not isinstance(row.get("id"), int):
        raise ValueError(f"a live change of topic {topic!r} too big to send and with no row to refer to")
    step = change.get("step")
    step_id = step.get("id") if isinstance(step, dict) and isinstance(step.get("id"), int) else None
    ref = {"topic": topic, "op": str(change.get("op")), "id": row["id"], "step": step_id}
    return orjson.dumps({"origin": origin, "ref": ref}).decode()


def _document(payload: str, key: str, kind: type, refused: str) -> dict[str, Any]:
    """A notification's JSON object, which must hold ``key`` of type ``kind``. Raises
    ValueError (``refused``) for anything else."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get(key), kind):
        raise ValueError(refused)
    return document


def decode_change(payload: str) -> tuple[str, dict[str, Any] | Reference]:
    """``(origin, change or reference)`` from a payload of ``encode_change``. Raises ValueError
    for anything else."""
    document = _document(payload, "origin", str, "not a live change")
    origin: str = document["origin"]
    change = document.get("change")
    if isinstance(change, dict):
        return origin, change
    ref = document.get("ref")
    if isinstance(ref, dict) and ref.get("topic") in ("alarm", "incident") and isinstance(ref.get("id"), int):
        step = ref.get("step")
        return origin, Reference(ref["topic"], str(ref.get("op")), ref["id"], step if isinstance(step, int) else None)
    raise ValueError("not a live change")


async def notify_changes(conn: AsyncConnection, changes: Iterable[dict[str, Any]]) -> None:
    """Announce ``changes`` (hub messages) in ``conn``'s current transaction: delivered to the
    listeners at its commit, and never if it rolls back."""
    for change in changes:
        await conn.execute("SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, encode_change(change)))


async def notify_operator_close(conn: AsyncConnection, alarm: Alarm) -> None:
    """Tell the rules engine, at commit, that an operator's close cleared ``alarm``."""
    payload = orjson.dumps({"origin": ORIGIN, "alarm_id": alarm.id}).decode()
    await conn.execute("SELECT pg_notify(%s, %s)", (CLOSE_CHANNEL, payload))


async def resolve(conn: AsyncConnection, ref: Reference) -> dict[str, Any] | None:
    """The hub message a reference stands for, read now (None if the row is gone)."""
    if ref.topic == "alarm":
        alarm = await get_alarm(conn, ref.id)
        return None if alarm is None else {"topic": "alarm", "op": ref.op, "alarm": alarm.as_json()}
    found = await get_incident(conn, ref.id)
    if found is None:
        return None
    incident, steps = found
    step = next((s for s in steps if s.id == ref.step), None) if ref.step is not None else None
    return incident_change(ref.op, incident, step)


async def _conninfo(pool: AsyncConnectionPool) -> str:
    info = pool.conninfo
    if isinstance(info, str):
        return info
    got = info()
    return got if isinstance(got, str) else await got


async def _listen(pool: AsyncConnectionPool, channel: str, on_payload: Callable[[str], Awaitable[None]],
                  on_listening: Callable[[bool], None], backoff: Backoff) -> None:
    """LISTEN on ``channel`` on a dedicated connection (to the pool's database, outside the
    pool) until cancelled, made again when lost through the one reconnect loop
    (``semon.periodic.keep_connected``, with ``backoff``). ``on_listening(again)`` runs each
    time the LISTEN is in place (``again``: after a reconnect). ``on_payload`` errors are
    logged; none ends the loop."""
    again = False

    async def connection(working: Callable[[], None]) -> None:
        nonlocal again
        try:
            async with await psycopg.AsyncConnection.connect(
                    await _conninfo(pool), autocommit=True, application_name=f"{pool.name}-listen",
                    keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3) as conn:
                await conn.execute(f"LISTEN {channel}")
                on_listening(again)
                working()
                async for notice in conn.notifies():
                    try:
                        await on_payload(notice.payload)
                    except (ValueError, psycopg.Error) as exc:
                        log.error("%s: notification not delivered (%s: %s): %.200s", channel, type(exc).__name__,
                                  exc, notice.payload)
        finally:
            again = True

    await keep_connected(f"{channel}: listening connection", connection, log=log, backoff=backoff)


class LiveListener:
    """Feeds a hub from the other processes' changes; ``listening`` is set while it listens."""

    def __init__(self, pool: AsyncConnectionPool, hub: LiveHub, backoff: Backoff) -> None:
        self.pool = pool
        self.hub = hub
        self.backoff = backoff
        self.listening = asyncio.Event()
        self.received = 0
        self.resyncs = 0

    async def run(self) -> None:
        try:
            await _listen(self.pool, LIVE_CHANNEL, self._deliver, self._listening, self.backoff)
        finally:
            self.listening.clear()

    def _listening(self, again: bool) -> None:
        self.listening.set()
        if again:  # what was sent while away is lost: the consoles reload
            self.resyncs += 1
            cut = self.hub.resync()
            log.warning("live stream: listening again; %d subscribers cut off to reload", cut)

    async def _deliver(self, payload: str) -> None:
        origin, change = decode_change(payload)
        if origin == ORIGIN:
            return  # published here already, right after the commit
        self.received += 1
        if isinstance(change, Reference):
            async with self.pool.connection() as conn:
                resolved = await resolve(conn, change)
            if resolved is None:
                log.warning("live stream: %s %d of a notification is gone", change.topic, change.id)
                return
            change = resolved
        self.hub.publish(change)


async def listen_operator_closes(pool: AsyncConnectionPool, on_close: Callable[[Alarm], None],
                                 backoff: Backoff, listening: asyncio.Event | None = None) -> None:
    """Runs until cancelled: ``on_close`` hears of each alarm an operator's close cleared in
    another process; ``listening`` is set once the LISTEN is in place. After the listening
    connection was lost, the closes made since it was last put in place (less a margin for the
    clocks of the two processes) are read from the database and delivered too: a close missed
    would leave the engine holding an alarm the operator ended, and a new call for help on that
    device unheard. ``on_close`` must take a close twice without harm."""
    since = time.time()
    catch_up = asyncio.Event()

    async def deliver(payload: str) -> None:
        document = _document(payload, "alarm_id", int, "not an operator's close")
        if document.get("origin") == ORIGIN:
            return  # this process told its engine directly
        async with pool.connection() as conn:
            alarm = await get_alarm(conn, document["alarm_id"])
        if alarm is not None:
            on_close(alarm)

    def on_listening(again: bool) -> None:
        if listening is not None:
            listening.set()
        if again:
            catch_up.set()

    async def catch_up_loop() -> None:
        # Woken by each reconnect, not periodic: each catch-up is retried until read, with the
        # one policy (``semon.periodic.until_done``).
        nonlocal since
        while True:
            await catch_up.wait()
            catch_up.clear()
            from_ = since - CATCH_UP_MARGIN_S
            since = time.time()

            async def read(from_: float = from_) -> list[Alarm]:
                async with pool.connection() as conn:
                    return await closed_by_operators_since(conn, datetime.fromtimestamp(from_, UTC))

            alarms = await until_done(f"{CLOSE_CHANNEL}: reading the closes made while not listening", read,
                                      log=log, backoff=Backoff(backoff.initial, backoff.maximum))
            for alarm in alarms:
                on_close(alarm)
            log.info("%s: listening again; %d closes since %s taken", CLOSE_CHANNEL, len(alarms),
                     datetime.fromtimestamp(from_, UTC).isoformat(timespec="seconds"))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(catch_up_loop(), name="operator-closes-catch-up")
        tg.create_task(_listen(pool, CLOSE_CHANNEL, deliver, on_listening, backoff), name="operator-closes")
