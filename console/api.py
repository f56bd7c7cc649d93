"""The device card: what an operator needs on one screen about one device, from the register
(where it is, who maintains and inspects it, its inspections), the ingester's latest state (online,
last seen, latest telemetry) and the open alarms. A device known to either side has a card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from aiohttp import web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.api import CONTEXT, OPENAPI_JSON, ApiError
from alerts.model import ALARM_COLUMNS, alarm_from_row, district_of
from alerts.openapi import secure_paths
from console.openapi import calendar_path, calendar_schema, device_card_schema, device_paths
from registry.api import DISTRICT_NAMES
from semon.settings import RegistrySettings
from semon.today import Clock, utc_now

MAX_DEVICE_ID = 64  # the register's limit for a registration code
DB_TIMEOUT_S = 5.0  # then 503 (psycopg's PoolTimeout, translated by the API's error middleware)


@dataclass(frozen=True, slots=True)
class DeviceContext:
    pool: AsyncConnectionPool
    clock: Clock = utc_now  # the instant "today" is taken at; tests pass a fixed one


DEVICES = web.AppKey("console_devices", DeviceContext)

_REGISTER_SQL = """
SELECT e.category, e.type, e.address, e.district_code, e.status, e.next_due, e.fit_for_use, e.commissioned_on,
       o.code, o.name, m.code, m.name, m.phone, m.contact, a.code, a.name
FROM equipment e LEFT JOIN parties o ON o.id = e.owner_id
     LEFT JOIN parties m ON m.id = e.maintenance_id LEFT JOIN parties a ON a.id = e.agency_id
WHERE e.registration_code = %s"""
_SCHEDULES_SQL = """SELECT schedule, interval_months, last_inspected, next_due FROM equipment_schedules
                    WHERE registration_code = %s ORDER BY schedule"""
_LAST_INSPECTION_SQL = """SELECT schedule, inspected_on, result, report_no FROM inspections
                          WHERE registration_code = %s ORDER BY inspected_on DESC, id DESC LIMIT 1"""
_STATE_SQL = """SELECT kind, online, last_seen, last_telemetry_at, telemetry, last_event_at, last_event_code,
                       status_changed_at FROM device_state WHERE device_id = %s"""
_ALARMS_SQL = f"SELECT {ALARM_COLUMNS} FROM alarms WHERE device_id = %s AND state = 'open' ORDER BY raised_at DESC"


def _party(code: str | None, name: str | None, **extra: Any) -> dict[str, Any] | None:
    return {"code": code, "name": name, **extra} if code else None


def _register_part(row: tuple[Any, ...] | None, schedules: list[dict[str, Any]],
                   last: tuple[Any, ...] | None, today: date) -> dict[str, Any]:
    if row is None:
        return {"registered": False, "category": None, "type": None, "address": None, "status": None,
                "next_due": None, "overdue": False, "fit_for_use": None, "commissioned_on": None, "owner": None,
                "maintenance_unit": None, "agency": None, "last_inspection": None, "schedules": []}
    (category, type_, address, district, status, next_due, fit, commissioned, owner_code, owner, maint_code, maint,
     maint_phone, maint_contact, agency_code, agency) = row
    return {
        "registered": True, "category": category, "type": type_, "address": address, "district_code": district,
        "status": status, "next_due": next_due, "fit_for_use": fit, "commissioned_on": commissioned,
        "overdue": status == "in_use" and next_due is not None and next_due < today,
        "owner": _party(owner_code, owner),
        "maintenance_unit": _party(maint_code, maint, phone=maint_phone, contact=maint_contact),
        "agency": _party(agency_code, agency),
        "last_inspection": None if last is None else dict(zip(("schedule", "inspected_on", "result", "report_no"),
                                                              last, strict=True)),
        "schedules": schedules,
    }


def _state_part(row: tuple[Any, ...] | None) -> dict[str, Any]:
    names = ("kind", "online", "last_seen", "last_telemetry_at", "telemetry", "last_event_at", "last_event_code",
             "status_changed_at")
    if row is None:
        return {name: None for name in names} | {"reporting": False}
    return dict(zip(names, row, strict=True)) | {"reporting": True}


async def device_card(conn: AsyncConnection, device_id: str, today: date) -> dict[str, Any] | None:
    """The card, or None when neither the register nor the ingester knows the device."""
    cur = await conn.execute(_REGISTER_SQL, (device_id,))
    registered = await cur.fetchone()
    schedules: list[dict[str, Any]] = []
    last = None
    if registered is not None:
        cur = await conn.execute(_SCHEDULES_SQL, (device_id,))
        schedules = [{"schedule": s, "interval_months": m, "last_inspected": li, "next_due": nd}
                     for s, m, li, nd in await cur.fetchall()]
        cur = await conn.execute(_LAST_INSPECTION_SQL, (device_id,))
        last = await cur.fetchone()
    cur = await conn.execute(_STATE_SQL, (device_id,))
    state = await cur.fetchone()
    if registered is None and state is None:
        return None
    cur = await conn.execute(_ALARMS_SQL, (device_id,))
    alarms = [alarm_from_row(r).as_json() for r in await cur.fetchall()]
    card: dict[str, Any] = {"device_id": device_id, "registration_code": device_id,
                            "district_code": district_of(device_id)}
    card |= _register_part(registered, schedules, last, today)
    card |= _state_part(state)
    if card["kind"] is None and card["category"] in ("elevator", "boiler"):
        card["kind"] = card["category"]
    card["district"] = DISTRICT_NAMES.get(card["district_code"] or "")
    # Imported registers carry last dates without inspection records: the schedules are the truth.
    dates = [s["last_inspected"] for s in schedules if s["last_inspected"] is not None]
    card["last_inspected"] = max(dates) if dates else None
    card["open_alarms"] = alarms
    return card


async def _get_device(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    if not device_id or len(device_id) > MAX_DEVICE_ID:
        raise ApiError(404, f"device {device_id[:MAX_DEVICE_ID]} not found")
    async with request.app[DEVICES].pool.connection(timeout=DB_TIMEOUT_S) as conn:
        today = request.app[CONTEXT].settings.registry.today(request.app[DEVICES].clock)
        card = await device_card(conn, device_id, today)
    if card is None:
        raise ApiError(404, f"device {device_id} is neither registered nor reporting")
    return web.Response(body=orjson.dumps(card), content_type="application/json")


def calendar(settings: RegistrySettings, clock: Clock = utc_now) -> dict[str, str]:
    """The register's calendar as the console needs it: ``{"today": "YYYY-MM-DD", "timezone":
    IANA name}``. ``today`` is ``settings.today(clock)``, the one "today" of the register, so the
    console's defaults, date limits and day counts agree with the server's checks whatever zone
    the browser is in."""
    return {"today": settings.today(clock).isoformat(), "timezone": settings.timezone}


async def _get_calendar(request: web.Request) -> web.Response:
    body = calendar(request.app[CONTEXT].settings.registry, request.app[DEVICES].clock)
    return web.Response(body=orjson.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def add_device_routes(app: web.Application, pool: AsyncConnectionPool, *, clock: Clock = utc_now) -> None:
    """Register ``/api/devices/{device_id}`` and ``/api/calendar`` and describe them in the OpenAPI
    document. ``clock`` gives the instant the register's "today" is taken at."""
    app[DEVICES] = DeviceContext(pool, clock)
    app.router.add_get("/api/devices/{device_id}", _get_device)
    app.router.add_get("/api/calendar", _get_calendar)
    document = orjson.loads(app[OPENAPI_JSON])
    paths = device_paths() | calendar_path()
    # As the register does: with auth on, each operation says how it is secured and for whom.
    document["paths"].update(secure_paths(paths) if "securitySchemes" in document["components"] else paths)
    document["components"]["schemas"].update({"DeviceCard": device_card_schema(),
                                             "Calendar": calendar_schema()})
    app[OPENAPI_JSON] = orjson.dumps(document)

