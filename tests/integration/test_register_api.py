"""The register on the HTTP API: lists and filters, one unit, recording an inspection, the
rate and its trend (JSON and SVG), notices, errors, and the OpenAPI document; as the
administrator (the agencies' scoping is in test_auth.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import psycopg
import pytest

from alerts.api import alerts_part
from alerts.hub import LiveHub
from assembly.parts import city_units
from registry.api import registry_part
from registry.demo import seed_demo_register
from registry.rate import snapshot_rates
from semon.db.pool import open_pool
from semon.today import register_today
from tests.integration.helpers import add_users, http_client, ingest_settings, login
from web.app import create_app, serve_app

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def api(database_url: str) -> AsyncIterator[str]:
    settings = ingest_settings(api_port=0)
    async with open_pool(database_url, min_size=1, max_size=4) as pool:
        app = create_app(pool, settings.auth, [alerts_part(pool, LiveHub(), settings.incidents),
                                               registry_part(pool, settings.registry)],
                         backoff=settings.backoff.backoff())
        async with serve_app(app, "127.0.0.1", 0) as port:
            yield f"http://127.0.0.1:{port}/api"


async def test_register_api(database_url: str) -> None:
    today = register_today()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=today, total=2_000, given=city_units(20, 0))
        for back in (2, 1, 0):
            await snapshot_rates(conn, today - timedelta(days=back))
        await conn.commit()
    await add_users(database_url)
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "admin")
        overdue = await (await http.get(f"{base}/registry/equipment?overdue=true&category=elevator")).json()
        assert overdue["equipment"] and all(e["overdue"] and e["category"] == "elevator"
                                            for e in overdue["equipment"])
        unit = overdue["equipment"][0]
        code = unit["registration_code"]
        detail = await (await http.get(f"{base}/registry/equipment/{code}")).json()
        assert detail["schedules"][0]["schedule"] == "periodic" and detail["agency"]["code"]
        resp = await http.post(f"{base}/registry/equipment/{code}/inspections",
                               json={"inspected_on": str(today), "result": "pass", "report_no": "R-2026-1",
                                     "agency": detail["agency"]["code"]})
        assert resp.status == 201, await resp.text()
        after = await (await http.get(f"{base}/registry/equipment/{code}")).json()
        assert not after["overdue"] and after["next_due"] > str(today)
        assert after["inspections"][0]["recorded_by"] == "admin"  # the session's user

        rate = await (await http.get(f"{base}/registry/rate?by=district")).json()
        assert rate["target"] == 96.0 and len(rate["rates"]) == 7 and rate["rates"][0]["name"]
        trend = await (await http.get(f"{base}/registry/rate/trend?by=district&days=7")).json()
        assert len(trend["series"]) == 7 and all(len(v) == 3 for v in trend["series"].values())
        svg = await http.get(f"{base}/registry/rate/trend.svg")
        assert svg.content_type == "image/svg+xml" and "<polyline" in await svg.text()
        notices = await (await http.get(f"{base}/registry/notices")).json()
        assert notices == {"notices": [], "total": 0, "limit": 100, "offset": 0}

        for url, body, status in [
            (f"{base}/registry/equipment/NOPE/inspections", {"inspected_on": str(today), "result": "pass",
                                                             "actor": "x"}, 404),
            (f"{base}/registry/equipment/{code}/inspections", {"inspected_on": "2026-02-30", "result": "pass",
                                                               "actor": "x"}, 400),
            (f"{base}/registry/equipment/{code}/inspections", {"inspected_on": str(today), "result": "meh",
                                                               "actor": "x"}, 400),
            (f"{base}/registry/equipment/{code}/inspections", {"inspected_on": str(today + timedelta(days=3)),
                                                               "result": "pass", "actor": "x"}, 400),
        ]:
            resp = await http.post(url, json=body)
            assert resp.status == status, (body, await resp.text())
            assert "error" in await resp.json()
        assert (await http.get(f"{base}/registry/equipment/NOPE")).status == 404
        assert (await http.get(f"{base}/registry/equipment?limit=0")).status == 400
        document = await (await http.get(f"{base}/openapi.json")).json()
        assert {"/api/registry/equipment", "/api/registry/rate/trend.svg"} <= set(document["paths"])
