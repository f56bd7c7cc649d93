"""The alerts HTTP API and live stream (aiohttp): alarms, rescue incidents and their steps, the
rescue KPIs, the health check, and ``/api/live``, a WebSocket that sends a snapshot and then
every change from the hub.

Errors are JSON ``{"error": "..."}``, answered by the shell (``web.app``): ``ApiError``, the
incidents' own errors (``ERRORS``) and psycopg's, translated at the boundary (503 when the
database is away). Changes are published only after their transaction has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from aiohttp import WSCloseCode, web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.alarm_queries import AlarmFilter, get_alarm, list_alarms
from alerts.alarm_store import (
    AlarmHandlingError,
    acknowledge_alarm,
    open_alarms,
    shelve_alarm,
    unshelve_alarm,
)
from alerts.api_models import (
    ANSWERS,
    REQUESTS,
    AlarmActBody,
    AlarmQuery,
    CommentBody,
    HandoverQuery,
    IncidentQuery,
    KpiQuery,
    PhoneReportBody,
    ShelveBody,
    StepBody,
)
from alerts.desks import table_json
from alerts.hub import LiveHub, Subscription
from alerts.incident_store import (
    IncidentFilter,
    PhoneReport,
    RegisterLookup,
    StepOutcome,
    add_comment,
    apply_step,
    get_incident,
    handover,
    incident_page,
    list_incidents,
    open_phone_incident,
)
from alerts.incidents import (
    CAUSE_LABELS,
    Incident,
    IncidentNotFound,
    IncidentOpen,
    IncidentStep,
    ReportRefused,
    Step,
    StepNotAllowed,
    StepRequest,
    StepRequestError,
    incident_change,
)
from alerts.kpis import rescue_kpis
from alerts.live_notify import notify_changes, notify_operator_close
from alerts.messages import MESSAGES
from alerts.model import Alarm
from alerts.openapi import alerts_paths
from alerts.report_api import ReportSources, add_report_routes
from semon.settings import IncidentSettings
from web.app import Part, actor_of
from web.auth import LIVE_SOCKETS, live_socket_session
from web.http import ApiError
from web.http import json_response as _json
from web.http import read_body as _body
from web.http import read_query as _query
from web.policy import BUREAU, OPERATOR, POST, READ, Rule, public, rule

log = logging.getLogger(__name__)

# The close code a console too slow for the live stream gets (4000-4999: for applications).
SLOW_CONSUMER_CLOSE = 4008
SLOW_CONSUMER_REASON = b"too slow; reconnect to resync"
_MAX_ID = 2**63 - 1  # bigserial

@dataclass(frozen=True, slots=True)
class ApiContext:
    """Everything the handlers share; one per application, under ``CONTEXT``."""

    pool: AsyncConnectionPool
    hub: LiveHub
    incidents: IncidentSettings  # the deadlines an operator's step sets
    register: RegisterLookup | None  # the register's entry of a unit (a phone-reported incident copies it)
    on_alarm_cleared: Callable[[Alarm], None] | None
    db_timeout_s: float  # how long a request waits for a connection before answering 503
    heartbeat_s: float
    close_timeout_s: float
    sockets: set[web.WebSocketResponse] = field(default_factory=set)  # closed on shutdown


CONTEXT = web.AppKey("alerts_api", ApiContext)
# The alerts' own errors, answered by the shell's error middleware with these statuses.
ERRORS: dict[type[Exception], int] = {IncidentNotFound: 404, StepRequestError: 400, StepNotAllowed: 409,
                                      IncidentOpen: 409, ReportRefused: 400}
# (AlarmHandlingError carries its own status: translated to ApiError in the handlers.)


# Who may use the alerts' routes: the emergency centre works incidents; the bureau watches.
ACCESS: tuple[Rule, ...] = (
    public(READ, "/healthz"),
    rule(READ, "/api/alarms/**", OPERATOR, BUREAU),
    rule(POST, "/api/alarms/{id}/acknowledge", OPERATOR),
    rule(POST, "/api/alarms/{id}/shelve", OPERATOR),
    rule(POST, "/api/alarms/{id}/unshelve", OPERATOR),
    rule(READ, "/api/incidents/**", OPERATOR, BUREAU),
    rule(POST, "/api/incidents", OPERATOR),
    rule(POST, "/api/incidents/{id}/steps", OPERATOR),
    rule(POST, "/api/incidents/{id}/comments", OPERATOR),
    rule(READ, "/api/kpis/**", OPERATOR, BUREAU),
    rule(READ, "/api/reports/**", OPERATOR, BUREAU),
    rule(READ, "/api/live", OPERATOR, BUREAU),
)
JSON_PATHS = ("/healthz",)


def alerts_part(pool: AsyncConnectionPool, hub: LiveHub, incidents: IncidentSettings, *,
                register: RegisterLookup | None = None,
                on_alarm_cleared: Callable[[Alarm], None] | None = None,
                db_timeout_s: float = 5.0, heartbeat_s: float = 25.0, close_timeout_s: float = 5.0,
                report: ReportSources | None = None) -> Part:
    """The alerts' routes for the shell (``web.app.create_app``). The pool is opened and closed by
    the caller. ``incidents``: the incidents' section (the deadlines a step sets). ``register``:
    the register's entry of a unit (``alerts.incident_store.RegisterLookup``), copied into a
    phone-reported incident; without it every phone-reported unit counts as unregistered.
    ``on_alarm_cleared`` hears of every alarm an operator's close or false alarm cleared (the
    rules engine must forget it). The deadline watch (``alerts.deadlines.run_deadlines``) runs
    beside the application, not inside. ``report``: the register's lifts and zone for the monthly
    report (``alerts.report_api``; without it, no lifts in the Asia/Shanghai zone)."""
    context = ApiContext(pool, hub, incidents, register, on_alarm_cleared, db_timeout_s, heartbeat_s,
                         close_timeout_s)

    def add_routes(app: web.Application) -> None:
        app[CONTEXT] = context
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/api/alarms", _list_alarms)
        app.router.add_get("/api/alarms/types", _alarm_types)
        app.router.add_get(r"/api/alarms/{id:\d+}", _get_alarm)
        app.router.add_post(r"/api/alarms/{id:\d+}/acknowledge", _acknowledge_alarm)
        app.router.add_post(r"/api/alarms/{id:\d+}/shelve", _shelve_alarm)
        app.router.add_post(r"/api/alarms/{id:\d+}/unshelve", _unshelve_alarm)
        app.router.add_get("/api/incidents", _list_incidents)
        app.router.add_post("/api/incidents", _post_incident)
        app.router.add_get("/api/incidents/causes", _causes)
        app.router.add_get("/api/incidents/handover", _handover)
        app.router.add_get(r"/api/incidents/{id:\d+}", _get_incident)
        app.router.add_post(r"/api/incidents/{id:\d+}/steps", _post_step)
        app.router.add_post(r"/api/incidents/{id:\d+}/comments", _post_comment)
        app.router.add_get("/api/kpis/rescue", _rescue_kpis)
        add_report_routes(app, pool, report or ReportSources())
        app.router.add_get("/api/live", _live)
        app.on_shutdown.append(_close_live_sockets)

    return Part("alerts", add_routes, ACCESS, JSON_PATHS, paths=alerts_paths(), requests=REQUESTS, answers=ANSWERS,
                errors=ERRORS, messages=MESSAGES)


# Plumbing


def _path_id(request: web.Request, what: str) -> int:
    value = int(request.match_info["id"])
    if not 0 < value <= _MAX_ID:
        key = {"alarm": "alerts.alarm_not_found", "incident": "alerts.incident_not_found"}[what]
        raise ApiError(404, f"{what} {value} not found", key=key, params={"id": value})
    return value


def _ctx(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def _connection(ctx: ApiContext) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
    """A pooled connection; its block commits on success and rolls back on error."""
    return ctx.pool.connection(timeout=ctx.db_timeout_s)


def _detail(incident: Incident, steps: list[IncidentStep]) -> dict[str, Any]:
    return {**incident.as_json(), "steps": [s.as_json() for s in steps]}


def _outcome_changes(outcome: StepOutcome) -> list[dict[str, Any]]:
    """The live-stream messages for what a step did."""
    changes = [incident_change(str(outcome.step.step), outcome.incident, outcome.step)]
    if outcome.cleared_alarm is not None:
        changes.append({"topic": "alarm", "op": "cleared", "alarm": outcome.cleared_alarm.as_json()})
    return changes


async def _notify_outcome(conn: AsyncConnection, outcome: StepOutcome) -> None:
    """In the step's transaction: the other processes' live streams, and a rules engine in
    another process, hear of it at commit (``alerts.live_notify``)."""
    await notify_changes(conn, _outcome_changes(outcome))
    if outcome.cleared_alarm is not None:
        await notify_operator_close(conn, outcome.cleared_alarm)


def _publish_outcome(ctx: ApiContext, outcome: StepOutcome) -> None:
    """After the commit: the consoles, then the rules engine, learn what the step did."""
    for change in _outcome_changes(outcome):
        ctx.hub.publish(change)
    alarm = outcome.cleared_alarm
    if alarm is None:
        return
    if ctx.on_alarm_cleared is not None:
        try:
            ctx.on_alarm_cleared(alarm)
        except Exception:  # the step is committed; the operator's answer must not fail on a listener
            log.exception("on_alarm_cleared failed for alarm %d", alarm.id)


# Handlers


async def _healthz(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    try:
        async with _connection(ctx) as conn:
            await conn.execute("SELECT 1")
        database = True
    except psycopg.Error as exc:
        log.warning("healthz: database unavailable: %s", exc)
        database = False
    return _json({"ok": database, "database": database, "live_subscribers": ctx.hub.subscribers},
                 200 if database else 503)


async def _list_alarms(request: web.Request) -> web.Response:
    q = _query(request, AlarmQuery)
    filters = AlarmFilter(state=q.state, type=q.type, severity=q.severity, kind=q.kind, device_id=q.device_id,
                          district=q.district, since=q.since, until=q.until, limit=q.limit, desk=q.desk,
                          acknowledged=q.acknowledged, shelved=q.shelved, text=q.q)
    async with _connection(_ctx(request)) as conn:
        alarms = await list_alarms(conn, filters)
    return _json({"alarms": [a.as_json() for a in alarms]})


async def _get_alarm(request: web.Request) -> web.Response:
    alarm_id = _path_id(request, "alarm")
    async with _connection(_ctx(request)) as conn:
        alarm = await get_alarm(conn, alarm_id)
    if alarm is None:
        raise ApiError(404, f"alarm {alarm_id} not found", key="alerts.alarm_not_found", params={"id": alarm_id})
    return _json(alarm.as_json())


async def _alarm_types(request: web.Request) -> web.Response:
    del request
    return _json({"types": table_json()})


AlarmAct = Callable[[AsyncConnection, int, str, datetime], Awaitable[tuple[Alarm, bool]]]


async def _handle_alarm(request: web.Request, op: str, body_actor: str | None, act: AlarmAct) -> web.Response:
    """One operator's handling of an alarm, in one transaction: the change announced to the
    other processes at commit, then published here; nothing is announced when nothing changed
    (acknowledged twice, unshelved when not shelved)."""
    ctx = _ctx(request)
    alarm_id = _path_id(request, "alarm")
    actor = actor_of(request, body_actor)
    try:
        async with _connection(ctx) as conn, conn.transaction():
            alarm, changed = await act(conn, alarm_id, actor, datetime.now(UTC))
            change = {"topic": "alarm", "op": op, "alarm": alarm.as_json()}
            if changed:
                await notify_changes(conn, [change])
    except AlarmHandlingError as exc:
        raise ApiError(exc.status, str(exc), key=exc.key, params=exc.params) from None
    if changed:
        ctx.hub.publish(change)
    return _json(change["alarm"])


async def _acknowledge_alarm(request: web.Request) -> web.Response:
    body = await _body(request, AlarmActBody)

    async def act(conn: AsyncConnection, alarm_id: int, actor: str, now: datetime) -> tuple[Alarm, bool]:
        return await acknowledge_alarm(conn, alarm_id, actor=actor, now=now)

    return await _handle_alarm(request, "acknowledged", body.actor, act)


async def _shelve_alarm(request: web.Request) -> web.Response:
    body = await _body(request, ShelveBody)

    async def act(conn: AsyncConnection, alarm_id: int, actor: str, now: datetime) -> tuple[Alarm, bool]:
        alarm = await shelve_alarm(conn, alarm_id, actor=actor, minutes=body.minutes, reason=body.reason, now=now)
        return alarm, True

    return await _handle_alarm(request, "shelved", body.actor, act)


async def _unshelve_alarm(request: web.Request) -> web.Response:
    body = await _body(request, AlarmActBody)

    async def act(conn: AsyncConnection, alarm_id: int, actor: str, now: datetime) -> tuple[Alarm, bool]:
        del actor
        return await unshelve_alarm(conn, alarm_id, now=now)

    return await _handle_alarm(request, "unshelved", body.actor, act)


async def _list_incidents(request: web.Request) -> web.Response:
    q = _query(request, IncidentQuery)
    filters = IncidentFilter(state=q.state, active=q.active, district=q.district,
                             maintenance_unit=q.maintenance_unit, source=q.source, cause_class=q.cause_class, q=q.q,
                             since=q.since, until=q.until, limit=q.limit, offset=q.offset)
    async with _connection(_ctx(request)) as conn:
        incidents, total = await incident_page(conn, filters)
    return _json({"incidents": [i.as_json() for i in incidents], "total": total, "limit": q.limit,
                  "offset": q.offset})


async def _post_incident(request: web.Request) -> web.Response:
    """A phone-reported incident (新建接警); 201 with the incident and its steps, 409 when the
    unit has an open incident already (its id in the message)."""
    ctx = _ctx(request)
    body = await _body(request, PhoneReportBody)
    report = PhoneReport(body.device_id, actor_of(request, body.actor), body.caller, body.caller_phone, body.comment,
                         body.maintenance_unit, body.contact, body.address)
    async with _connection(ctx) as conn, conn.transaction():
        incident = await open_phone_incident(conn, report, now=datetime.now(UTC), settings=ctx.incidents,
                                             register=ctx.register)
        found = await get_incident(conn, incident.id)
        assert found is not None  # it was just inserted in this transaction
        change = incident_change(str(Step.RAISED), found[0], found[1][0])
        await notify_changes(conn, [change])
    ctx.hub.publish(change)
    return _json(_detail(*found), 201)


async def _causes(request: web.Request) -> web.Response:
    return _json({"causes": [{"cause_class": str(c), "zh": zh, "en": en} for c, (zh, en) in CAUSE_LABELS.items()]})


async def _handover(request: web.Request) -> web.Response:
    q = _query(request, HandoverQuery)
    since, until = q.window(datetime.now(UTC))
    if since >= until:
        raise ApiError(400, "since must be before until", key="alerts.since_until")
    async with _connection(_ctx(request)) as conn:
        summary = await handover(conn, since, until)
    return _json(summary.as_json())


async def _get_incident(request: web.Request) -> web.Response:
    incident_id = _path_id(request, "incident")
    async with _connection(_ctx(request)) as conn:
        found = await get_incident(conn, incident_id)
    if found is None:
        raise IncidentNotFound(incident_id)
    return _json(_detail(*found))


async def _post_step(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    incident_id = _path_id(request, "incident")
    body = await _body(request, StepBody)
    actor = actor_of(request, body.actor)
    async with _connection(ctx) as conn, conn.transaction():
        step_request = StepRequest(Step(body.step), actor, body.comment, body.maintenance_unit, body.contact,
                                   body.cause, body.tier, body.persons_released, body.injuries, body.cause_class,
                                   body.self_release, body.callback_confirmed, body.expected_state)
        outcome = await apply_step(conn, incident_id, step_request, now=datetime.now(UTC), settings=ctx.incidents)
        found = await get_incident(conn, incident_id)
        await _notify_outcome(conn, outcome)
    assert found is not None  # it was just updated in this transaction
    _publish_outcome(ctx, outcome)
    return _json(_detail(*found))


async def _post_comment(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    incident_id = _path_id(request, "incident")
    body = await _body(request, CommentBody)
    async with _connection(ctx) as conn, conn.transaction():
        outcome = await add_comment(conn, incident_id, actor_of(request, body.actor), body.comment,
                                    now=datetime.now(UTC))
        await _notify_outcome(conn, outcome)
    _publish_outcome(ctx, outcome)
    return _json(outcome.step.as_json(), 201)


async def _rescue_kpis(request: web.Request) -> web.Response:
    q = _query(request, KpiQuery)
    since, until = q.window(datetime.now(UTC))
    if since >= until:
        raise ApiError(400, "since must be before until", key="alerts.since_until")
    async with _connection(_ctx(request)) as conn:
        rows = await rescue_kpis(conn, q.by, since, until)
    return _json({"by": str(q.by), "since": since.isoformat(), "until": until.isoformat(),
                  "rows": [r.as_json() for r in rows]})


# The live stream


async def _live(request: web.Request) -> web.WebSocketResponse:
    ctx = _ctx(request)
    ws = web.WebSocketResponse(heartbeat=ctx.heartbeat_s, timeout=ctx.close_timeout_s)
    await ws.prepare(request)
    # Subscribe before reading the snapshot, so no change can fall between the two; a change
    # may repeat what the snapshot shows, and clients apply changes as upserts.
    sub = ctx.hub.subscribe()
    ctx.sockets.add(ws)
    # The socket ends with its session (logout, a disabled user, expiry): see web.auth.LiveSockets.
    session = live_socket_session(request)
    live_sockets = request.app.get(LIVE_SOCKETS)
    if session is not None and live_sockets is not None:
        live_sockets.add(session, ws)
    tasks: list[asyncio.Task[Any]] = []
    try:
        snapshot = await _snapshot(ctx)
        if snapshot is None:
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"database unavailable; reconnect later")
            return ws
        await ws.send_str(snapshot)
        forward = asyncio.create_task(_forward(ws, sub), name="live-forward")
        receive = asyncio.create_task(_receive(ws), name="live-receive")
        overflow = asyncio.create_task(sub.overflowed.wait(), name="live-overflow")
        tasks = [forward, receive, overflow]
        # The forwarder may be stuck in a send to a client that does not read; the overflow
        # watch is separate so the cut-off happens anyway.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if overflow in done:
            sub.close()
            forward.cancel()  # aiohttp's frame writes are atomic under cancellation
            await _close_slow(ws, request, ctx.close_timeout_s)
    except ConnectionResetError:
        log.debug("live client went away")
    finally:
        sub.close()
        ctx.sockets.discard(ws)
        if session is not None and live_sockets is not None:
            live_sockets.discard(session, ws)
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(result, ConnectionResetError):
                log.error("live stream task failed: %r", result)
        if not ws.closed:
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                async with asyncio.timeout(ctx.close_timeout_s):
                    await ws.close()
    return ws


async def _snapshot(ctx: ApiContext) -> str | None:
    try:
        async with _connection(ctx) as conn:
            alarms = await open_alarms(conn)
            incidents = await list_incidents(conn, IncidentFilter(active=True, limit=None))
    except psycopg.Error as exc:
        log.warning("live snapshot failed: %s", exc)
        return None
    return orjson.dumps({"topic": "snapshot", "alarms": [a.as_json() for a in alarms],
                         "incidents": [i.as_json() for i in incidents]}).decode()


async def _forward(ws: web.WebSocketResponse, sub: Subscription) -> None:
    """Hub → socket, in order, until the subscription overflows."""
    while True:
        change = await sub.queue.get()
        if sub.overflowed.is_set():
            return  # the handler closes the socket; what is queued is stale for this client now
        await ws.send_str(orjson.dumps(change).decode())


async def _receive(ws: web.WebSocketResponse) -> None:
    """Read what the client sends (nothing is expected) so pongs and the close handshake are
    processed; returns when the client goes."""
    async for msg in ws:
        log.debug("live client sent %s (ignored)", msg.type)


async def _close_slow(ws: web.WebSocketResponse, request: web.Request, timeout_s: float) -> None:
    log.warning("live client %s too slow: closing with %d", request.remote, SLOW_CONSUMER_CLOSE)
    try:
        async with asyncio.timeout(timeout_s):
            await ws.close(code=SLOW_CONSUMER_CLOSE, message=SLOW_CONSUMER_REASON)
    except TimeoutError:
        # It does not read at all, so even the close frame cannot get through: drop it.
        if request.transport is not None:
            request.transport.abort()


async def _close_live_sockets(app: web.Application) -> None:
    """On shutdown: live sockets would otherwise hold the server open until its timeout."""
    ctx = app[CONTEXT]

    async def close(ws: web.WebSocketResponse) -> None:
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            async with asyncio.timeout(ctx.close_timeout_s):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    await asyncio.gather(*(close(ws) for ws in list(ctx.sockets)))

