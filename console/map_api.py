"""The city map's data: the open alarms and active incidents with where their units stand, and
their count per district, in one answer (``GET /api/map``); and the districts' outlines the map
is drawn from (``GET /static/xining-districts.json``, the kernel's shipped file,
``semon.district_outlines``), so the console needs no tile server.

The console owns none of those tables: the alarms and incidents are read through the alerts'
functions and the units' coordinates through the register's, which the composition root hands
over (``MapSources``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from semon.district_outlines import OUTLINES_FILE
from semon.districts import XINING

DB_TIMEOUT_S = 5.0  # then 503 (psycopg's PoolTimeout, translated by the shell's error middleware)
OUTLINES_PATH = "/static/xining-districts.json"
_ALARM_FIELDS = ("id", "device_id", "type", "severity", "district_code", "raised_at")
_INCIDENT_FIELDS = ("id", "device_id", "alarm_id", "state", "district_code", "raised_at")


class _AsJson(Protocol):
    def as_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class MapSources:
    """The owners' read functions the map is made of: ``open_alarms(conn)`` every open alarm
    (``alerts.alarm_store.open_alarms``), ``active_incidents(conn)`` every incident not closed
    nor a false alarm, ``locations(conn, registration_codes)`` the registered units' ``(latitude,
    longitude)`` by code (``registry.store.locations_of``)."""

    open_alarms: Callable[[AsyncConnection[Any]], Awaitable[Sequence[_AsJson]]]
    active_incidents: Callable[[AsyncConnection[Any]], Awaitable[Sequence[_AsJson]]]
    locations: Callable[[AsyncConnection[Any], Sequence[str]], Awaitable[dict[str, tuple[float, float]]]]


def map_answer(alarms: Sequence[dict[str, Any]], incidents: Sequence[dict[str, Any]],
               locations: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """``GET /api/map``'s answer from the open alarms' and active incidents' JSON and the units'
    locations; an alarm an active incident stands for (an entrapment's) is left out, so a device
    is not marked twice: ``{"alarms": [{id, device_id, type, severity, district_code, raised_at, latitude,
    longitude}], "incidents": [{id, device_id, alarm_id, state, district_code, raised_at,
    latitude, longitude}], "districts": [{code, alarms, incidents}], "unlocated": n}``.
    Latitude and longitude are WGS84 degrees, null for a unit the register does not place;
    ``districts`` counts by the alarm's or incident's own district (every district of the city,
    in its order, zeros included; one outside them under code null, when there is one);
    ``unlocated`` is how many markers have no coordinates."""

    def marker(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
        lat, lon = locations.get(item["device_id"], (None, None))
        return {f: item.get(f) for f in fields} | {"latitude": lat, "longitude": lon}

    incident_markers = [marker(i, _INCIDENT_FIELDS) for i in incidents]
    covered = {i["alarm_id"] for i in incidents if i.get("alarm_id") is not None}
    alarm_markers = [marker(a, _ALARM_FIELDS) for a in alarms if a["id"] not in covered]
    codes: list[str | None] = [d.code for d in XINING]
    counts: dict[str | None, dict[str, int]] = {c: {"alarms": 0, "incidents": 0} for c in codes}
    for key, items in (("alarms", alarm_markers), ("incidents", incident_markers)):
        for item in items:
            code = item["district_code"] if item["district_code"] in counts else None
            counts.setdefault(code, {"alarms": 0, "incidents": 0})[key] += 1
    return {
        "alarms": alarm_markers,
        "incidents": incident_markers,
        "districts": [{"code": code} | n for code, n in counts.items()],
        "unlocated": sum(1 for m in (*alarm_markers, *incident_markers) if m["latitude"] is None),
    }


@dataclass(frozen=True, slots=True)
class MapContext:
    pool: AsyncConnectionPool
    sources: MapSources


MAP = web.AppKey("console_map", MapContext)


async def _get_map(request: web.Request) -> web.Response:
    ctx = request.app[MAP]
    async with ctx.pool.connection(timeout=DB_TIMEOUT_S) as conn:
        alarms = [a.as_json() for a in await ctx.sources.open_alarms(conn)]
        incidents = [i.as_json() for i in await ctx.sources.active_incidents(conn)]
        devices = sorted({m["device_id"] for m in (*alarms, *incidents)})
        locations = await ctx.sources.locations(conn, devices)
    body = map_answer(alarms, incidents, locations)
    return web.Response(body=orjson.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})


async def _get_outlines(request: web.Request) -> web.StreamResponse:
    del request
    return web.FileResponse(OUTLINES_FILE, headers={"Content-Type": "application/geo+json"})


def add_map_routes(app: web.Application, pool: AsyncConnectionPool, sources: MapSources) -> None:
    """Register ``/api/map`` and the outlines' file; before the console's ``/static/`` (the
    more specific path is matched first either way)."""
    app[MAP] = MapContext(pool, sources)
    app.router.add_get("/api/map", _get_map)
    app.router.add_get(OUTLINES_PATH, _get_outlines)
