"""The device card: what an operator needs on one screen about one device, from the register
(where it is, who maintains and inspects it, its inspections), the ingester's latest state (online,
last seen, latest telemetry) and the open alarms. A device known to either side has a card.

The console owns none of those tables: each part is read through its owner's function, which
the composition root hands over (``DeviceSources``), so the console imports no other package."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import orjson
from aiohttp import web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from semon.districts import XINING
from semon.settings import RegistrySettings
from semon.today import Clock, utc_now
from web.http import ApiError

MAX_DEVICE_ID = 64  # the register's limit for a registration code
DB_TIMEOUT_S = 5.0  # then 503 (psycopg's PoolTimeout, translated by the shell's error middleware)
DISTRICT_NAMES = {d.code: d.name for d in XINING}


class _AsJson(Protocol):
    def as_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class DeviceSources:
    """The owners' read functions the card is made of, each ``(conn, device_id)``:
    ``register`` gives the unit's register entry or None (``registry.store.unit_entry``),
    ``state`` the ingester's latest state or None (``ingest.state.device_state_of``),
    ``open_alarms`` its open alarms, newest first (``alerts.alarm_store.open_alarms_of``)."""

    register: Callable[[AsyncConnection[Any], str], Awaitable[dict[str, Any] | None]]
    state: Callable[[AsyncConnection[Any], str], Awaitable[dict[str, Any] | None]]
    open_alarms: Callable[[AsyncConnection[Any], str], Awaitable[Sequence[_AsJson]]]


@dataclass(frozen=True, slots=True)
class DeviceContext:
    pool: AsyncConnectionPool
    sources: DeviceSources
    registry: RegistrySettings  # the register's calendar: its "today"
    clock: Clock = utc_now  # the instant "today" is taken at; tests pass a fixed one


DEVICES = web.AppKey("console_devices", DeviceContext)

_STATE_NAMES = ("kind", "online", "last_seen", "last_telemetry_at", "telemetry", "last_event_at", "last_event_code",
                "status_changed_at")


def _register_part(entry: dict[str, Any] | None, today: date) -> dict[str, Any]:
    if entry is None:
        return {"registered": False, "category": None, "type": None, "address": None, "district_code": None,
                "use_registration_no": None, "status": None, "next_due": None, "overdue": False,
                "rescue_code": None, "area": None, "place": None, "latitude": None, "longitude": None,
                "fit_for_use": None, "commissioned_on": None, "owner": None, "maintenance_unit": None, "agency": None,
                "last_inspection": None, "schedules": []}
    next_due = entry["next_due"]
    return {**entry, "registered": True,
            "overdue": entry["status"] == "in_use" and next_due is not None and next_due < today}


def _state_part(state: dict[str, Any] | None) -> dict[str, Any]:
    if state is None:
        return {name: None for name in _STATE_NAMES} | {"reporting": False}
    return {name: state[name] for name in _STATE_NAMES} | {"reporting": True}


async def device_card(conn: AsyncConnection, sources: DeviceSources, device_id: str,
                      today: date) -> dict[str, Any] | None:
    """The card, or None when neither the register nor the ingester knows the device. Its
    district is the register's (None for an unregistered device): a registration code names
    no district (``registry.codes``)."""
    registered = await sources.register(conn, device_id)
    state = await sources.state(conn, device_id)
    if registered is None and state is None:
        return None
    alarms = [a.as_json() for a in await sources.open_alarms(conn, device_id)]
    card: dict[str, Any] = {"device_id": device_id, "registration_code": device_id}
    card |= _register_part(registered, today)
    card |= _state_part(state)
    if card["kind"] is None and card["category"] in ("elevator", "boiler"):
        card["kind"] = card["category"]
    card["district"] = DISTRICT_NAMES.get(card["district_code"] or "")
    # Imported registers carry last dates without inspection records: the schedules are the truth.
    dates = [s["last_inspected"] for s in card["schedules"] if s["last_inspected"] is not None]
    card["last_inspected"] = max(dates) if dates else None
    card["open_alarms"] = alarms
    return card


async def _get_device(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    if not device_id or len(device_id) > MAX_DEVICE_ID:
        raise ApiError(404, f"device {device_id[:MAX_DEVICE_ID]} not found")
    devices = request.app[DEVICES]
    async with devices.pool.connection(timeout=DB_TIMEOUT_S) as conn:
        card = await device_card(conn, devices.sources, device_id, devices.registry.today(devices.clock))
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
    devices = request.app[DEVICES]
    body = calendar(devices.registry, devices.clock)
    return web.Response(body=orjson.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def add_device_routes(app: web.Application, pool: AsyncConnectionPool, sources: DeviceSources,
                      registry: RegistrySettings, *, clock: Clock = utc_now) -> None:
    """Register ``/api/devices/{device_id}`` and ``/api/calendar``. ``registry``: the register's
    section (its time zone); ``clock`` gives the instant the register's "today" is taken at."""
    app[DEVICES] = DeviceContext(pool, sources, registry, clock)
    app.router.add_get("/api/devices/{device_id}", _get_device)
    app.router.add_get("/api/calendar", _get_calendar)

