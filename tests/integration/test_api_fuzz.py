"""Schemathesis against the whole API as ``semon up`` serves it (alerts, register, console), from
its own ``/api/openapi.json``, logged in as the administrator (who may call every operation):
no answer is a server error, and every answer's status and body are as the document says.
Generated input, positive and negative, a bounded number of examples per operation; logout is
left out (it would end the session the run uses). Beside it, deterministic checks of what
schemathesis found: hostile text on every route, ISO dates only, references that resolve; and a
real answer of every documented operation validated against its response model (the models the
document's schemas come from), so the document cannot describe what the API does not send."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from alerts.alarm_store import raise_alarm
from alerts.api import alerts_part
from alerts.api_models import ANSWERS as ALERTS_ANSWERS
from alerts.hub import LiveHub
from alerts.incident_store import open_incident
from alerts.model import Source
from assembly.alerts_service import DEVICE_SOURCES, MAP_SOURCES
from console import console_part
from console.api_models import ANSWERS as CONSOLE_ANSWERS
from registry.api import registry_part
from registry.api_models import ANSWERS as REGISTRY_ANSWERS
from registry.demo import seed_demo_register
from registry.notices import scan_notices
from registry.rate import snapshot_rates
from semon.alarm_types import AlarmType
from semon.db.pool import open_pool
from semon.today import register_today
from tests.integration.helpers import PASSWORD, add_users, http_client, ingest_settings, login
from web.app import create_app, serve_app
from web.auth import CSRF_HEADER
from web.models import SHELL_ANSWERS

pytestmark = pytest.mark.integration

EXAMPLES_PER_MODE = 40  # per operation and generation mode: under a minute for the whole API
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
LEFT_OUT = {("POST", "/api/logout"), ("GET", "/api/live")}  # the session's end; a WebSocket


@contextlib.asynccontextmanager
async def whole_api(database_url: str) -> AsyncIterator[str]:
    settings = ingest_settings(api_port=0)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=register_today(), total=200)
        await scan_notices(conn, register_today())
        await snapshot_rates(conn, register_today())
        # A registered elevator's alarm, filed under its district as the rules engine files it.
        cur = await conn.execute("SELECT registration_code, district_code FROM equipment WHERE category = 'elevator' "
                                 "ORDER BY registration_code LIMIT 1")
        elevator = await cur.fetchone()
        assert elevator is not None
        alarm = await raise_alarm(conn, device_id=elevator[0], kind="elevator", type=AlarmType.ENTRAPMENT,
                                  source=Source.TELEMETRY, raised_at=datetime.now(UTC), details={"floor": 3},
                                  district_code=elevator[1])
        assert alarm is not None
        await open_incident(conn, alarm, settings.incidents)
        # And a fault on it, which an operator may acknowledge and shelve.
        await raise_alarm(conn, device_id=elevator[0], kind="elevator", type=AlarmType.DOOR_CLOSE_FAULT,
                          source=Source.CODE, raised_at=datetime.now(UTC), district_code=elevator[1])
        await conn.commit()
    await add_users(database_url)
    async with open_pool(database_url, min_size=1, max_size=4) as pool:
        parts = [alerts_part(pool, LiveHub(), settings.incidents), registry_part(pool, settings.registry),
                 console_part(pool, DEVICE_SOURCES, settings.registry, maps=MAP_SOURCES)]
        app = create_app(pool, settings.auth, parts, backoff=settings.backoff.backoff())
        async with serve_app(app, "127.0.0.1", 0) as port:
            yield f"http://127.0.0.1:{port}"


def _fuzz(root: str) -> list[str]:
    """Run every operation's examples (in a thread: schemathesis calls are blocking); the failures."""
    http = requests.Session()
    answer = http.post(f"{root}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    headers = {CSRF_HEADER: answer.json()["csrf_token"]}
    cookies = {"semon_session": http.cookies["semon_session"]}
    document = http.get(f"{root}/api/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"an operation the document does not describe well: {result.err()}")
            continue
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue
        operations += 1
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))

        @settings(max_examples=2 * EXAMPLES_PER_MODE, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call(base_url=root, headers=headers, cookies=cookies, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # one operation's failure is reported with the others', not alone
            failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: "
                            + re.sub(r"\s+", " ", str(exc))[:1500])
    # Still logged in at the end: nothing the run sent ended the session.
    assert http.get(f"{root}/api/me", timeout=30).status_code == 200
    assert operations >= 15, operations
    return failures


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(database_url: str) -> None:
    async with whole_api(database_url) as root:
        failures = await asyncio.to_thread(_fuzz, root)
    assert not failures, "\n\n".join(failures)


# Text PostgreSQL cannot hold, in every text parameter and body field of every operation.
NUL = ("\u00c9\u0000n.", "\u0000")  # in a URL and in a body
SURROGATE = "a\ud800b"  # in a JSON body only (a URL's bytes cannot carry one)


def _sample(schema: dict[str, Any]) -> Any:
    """A plain valid-looking value for a parameter that is not the one under test."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "boolean":
        return "true"
    return "x"


def _hostile_requests(document: dict[str, Any]) -> list[tuple[str, str, dict[str, str], Any, str]]:
    """(method, path, query, body, what) for every text parameter and body field, each hostile value."""
    found = []
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) in LEFT_OUT:
                continue
            params = operation.get("parameters", [])
            path_values = {p["name"]: str(_sample(p["schema"])) for p in params if p["in"] == "path"}
            targets: list[tuple[str, str]] = [(p["in"], p["name"]) for p in params
                                              if p["schema"].get("type", "string") == "string"
                                              and "enum" not in p["schema"] and p["in"] in ("query", "path")]
            body_schema = (operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                           .get("schema", {}))
            if "$ref" in body_schema:
                body_schema = schemas[body_schema["$ref"].rsplit("/", 1)[1]]
            targets += [("body", name) for name in body_schema.get("properties", {})]
            for where, name in targets:
                for value in (*NUL, SURROGATE) if where == "body" else NUL:
                    values = dict(path_values)
                    query: dict[str, str] = {}
                    body: Any = None
                    if where == "path":
                        values[name] = value
                    elif where == "query":
                        query[name] = value
                    else:
                        body = {name: value}
                    concrete = path
                    for key, item in values.items():
                        concrete = concrete.replace("{" + key + "}", quote(item, safe=""))
                    found.append((method.upper(), concrete, query, body, f"{method.upper()} {path} {where} {name}"))
    return found


def _send_hostile(root: str) -> tuple[int, list[str]]:
    http = requests.Session()
    answer = http.post(f"{root}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    http.headers[CSRF_HEADER] = answer.json()["csrf_token"]
    document = http.get(f"{root}/api/openapi.json", timeout=30).json()
    wrong = []
    cases = _hostile_requests(document)
    for method, path, query, body, what in cases:
        # Sent as the UTF-8 (surrogatepass) a hostile client sends, JSON escapes and all.
        data = None if body is None else orjson_bytes(body)
        response = http.request(method, f"{root}{path}", params=query, data=data, timeout=30,
                                headers={"Content-Type": "application/json"} if data is not None else None)
        expected = "U+0000" if "\u0000" in str(body or query or path) or "%00" in path else ""
        if response.status_code != 400 or expected not in response.text:
            wrong.append(f"{what}: {response.status_code} {response.text[:200]}")
    # Whatever type the body says it is: the handlers parse JSON regardless.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = http.post(f"{root}/api/login", data=b'{"username": "op\\u0000", "password": "x"}',
                             headers={"Content-Type": content_type}, timeout=30)
        if response.status_code not in (400, 415) or (response.status_code == 400 and "U+0000" not in response.text):
            wrong.append(f"login as {content_type!r}: {response.status_code} {response.text[:200]}")
        response = http.post(f"{root}/api/incidents/1/comments", data=b'{"comment": "\\u0000"}',
                             headers={"Content-Type": content_type}, timeout=30)
        if response.status_code != 400 or "U+0000" not in response.text:
            wrong.append(f"comment as {content_type!r}: {response.status_code} {response.text[:200]}")
    return len(cases), wrong


def orjson_bytes(body: dict[str, Any]) -> bytes:
    """JSON with every non-ASCII character escaped, lone surrogates included (orjson refuses those)."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


async def test_text_postgresql_refuses_is_a_400_on_every_route(database_url: str) -> None:
    async with whole_api(database_url) as root:
        sent, wrong = await asyncio.to_thread(_send_hostile, root)
    assert sent > 50 and not wrong, "\n".join(wrong)


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(({v} if k == "$ref" else _refs(v)) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


async def test_every_reference_in_the_document_resolves(database_url: str) -> None:
    async with whole_api(database_url) as root, aiohttp.ClientSession() as http, \
            http.get(f"{root}/api/openapi.json") as resp:
        document = await resp.json()
    refs = _refs(document)
    assert {"#/components/schemas/Category", "#/components/schemas/Result"} <= refs  # the two that were broken
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert isinstance(_resolve(document, ref), dict), ref
    assert "$defs" not in str(document)


async def test_dates_and_times_are_iso_text_never_numbers(database_url: str) -> None:
    async with whole_api(database_url) as root, http_client(root) as http:
        await login(http, f"{root}/api", "admin")
        for path in ("/api/registry/rate?date=0", "/api/registry/rate?date=20260101", "/api/registry/rate?date=1e9",
                     "/api/registry/rate?date=2026-1-1", "/api/registry/rate?date=0001-01-01",
                     "/api/registry/equipment?due_before=0", "/api/alarms?since=0", "/api/alarms?until=1700000000",
                     "/api/incidents?since=2026-01-01", "/api/kpis/rescue?until=0001-01-01T00:00:00Z"):
            async with http.get(path) as resp:
                body = await resp.json()
                assert resp.status == 400 and ("date is YYYY-MM-DD" in body["error"] or "ISO 8601" in body["error"]
                                               or "year" in body["error"]), (path, body)
        async with http.get("/api/registry/rate?date=2026-01-01") as resp:
            assert resp.status == 200 and (await resp.json())["date"] == "2026-01-01"
        async with http.get("/api/alarms?since=2026-01-01T00:00:00%2B08:00") as resp:
            assert resp.status == 200
        code = (await (await http.get("/api/registry/equipment?limit=1")).json())["equipment"][0]["registration_code"]
        for inspected_on in (0, 1751328000, "0", "2026-1-1"):
            async with http.post(f"/api/registry/equipment/{code}/inspections",
                                 json={"inspected_on": inspected_on, "result": "pass", "agency": None}) as resp:
                assert resp.status == 400, (inspected_on, await resp.text())


# Every response model by the name its schema has in the document.
ANSWER_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (*SHELL_ANSWERS, *ALERTS_ANSWERS, *REGISTRY_ANSWERS, *CONSOLE_ANSWERS)}


async def test_every_period_parameter_at_the_ends_of_its_years(database_url: str) -> None:
    """One rule for every period and date parameter: years 1900-2999, else a 400 that says so; at
    the very ends (the first day of 1900, the last of 2999, a month whose next month is in 3000)
    the date arithmetic of months, windows and trends does not overflow into a 500."""
    inside = ("/api/reports/monthly?month=1900-01", "/api/reports/monthly?month=2999-12",
              "/api/reports/monthly?month=2999-12&format=xlsx",
              "/api/reports/monthly?since=1900-01-01&until=2999-12-31",
              "/api/registry/rate/trend?since=1900-01-01&until=1900-01-02",
              "/api/registry/rate/trend?since=2999-12-30&until=2999-12-31",
              "/api/registry/rate/trend.svg?since=2999-12-30&until=2999-12-31", "/api/registry/rate?date=2999-12-31",
              "/api/registry/rate?date=1900-01-01", "/api/registry/equipment?due_before=1900-01-01",
              "/api/kpis/rescue?until=1900-01-01T00:00:00%2B14:00",
              "/api/incidents?since=1900-01-01T00:00:00Z&until=2999-12-31T23:59:59Z",
              "/api/incidents/handover?until=1900-01-01T00:00:00Z",
              "/api/alarms?since=1900-01-01T00:00:00Z&until=2999-12-31T00:00:00Z")
    outside = ("/api/reports/monthly?month=9999-12", "/api/reports/monthly?month=9999-12&format=xlsx",
               "/api/reports/monthly?month=0001-01", "/api/reports/monthly?month=3000-01",
               "/api/reports/monthly?month=1899-12", "/api/reports/monthly?since=0001-01-01&until=2026-01-01",
               "/api/reports/monthly?since=2026-01-01&until=9999-12-31",
               "/api/registry/rate/trend?since=2026-01-01&until=9999-12-31",
               "/api/registry/rate?date=9999-12-31", "/api/kpis/rescue?until=9999-12-31T23:59:59Z",
               "/api/kpis/rescue?since=0001-01-01T00:00:00Z", "/api/incidents?until=9999-12-31T00:00:00Z",
               "/api/incidents/handover?until=0001-01-01T00:00:00Z",
               "/api/incidents/handover?since=9999-12-31T00:00:00Z")
    async with whole_api(database_url) as root, http_client(root) as http:
        await login(http, f"{root}/api", "admin")
        for path in inside:
            async with http.get(path) as resp:
                assert resp.status == 200, (path, resp.status)
        # a window from the last year's end to now is empty: refused as such, not overflowed
        for path in ("/api/kpis/rescue?since=2999-12-31T23:59:59-12:00",
                     "/api/incidents/handover?since=2999-12-31T23:00:00Z"):
            async with http.get(path) as resp:
                assert resp.status == 400 and "before until" in (await resp.json())["error"], path
        for path in outside:
            async with http.get(path) as resp:
                body = await resp.json()
                assert resp.status == 400 and "1900 and 2999" in body["error"], (path, body)


def _answer_model(document: dict[str, Any], method: str, path: str, status: int) -> type[BaseModel] | None:
    """The response model the document names for this answer; None for one without a JSON body."""
    response = document["paths"][path][method.lower()]["responses"][str(status)]
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" not in schema:
        return None
    return ANSWER_MODELS[schema["$ref"].removeprefix("#/components/schemas/")]


async def test_every_documented_answer_is_its_response_model(database_url: str) -> None:
    """A real answer of every documented operation (and some errors) is exactly its model:
    strict types, no field missing, none extra. An operation added to the document without an
    answer checked here fails the test."""
    checked: set[tuple[str, str]] = set()
    async with whole_api(database_url) as root, http_client(root) as http:
        document = await (await http.get("/api/openapi.json")).json()

        async def check(method: str, path: str, url: str, status: int, body: Any = None) -> Any:
            async with http.request(method, url, json=body) as resp:
                raw = await resp.read()
                assert resp.status == status, (method, url, resp.status, raw[:300])
            model = _answer_model(document, method, path, status)
            if model is not None:
                model.model_validate_json(raw, strict=True)
            elif path != "/api/openapi.json":
                assert resp.content_type != "application/json", (method, path)
            checked.add((method, path))
            return json.loads(raw) if resp.content_type == "application/json" else raw

        await check("POST", "/api/login", "/api/login", 200, {"username": "admin", "password": PASSWORD})
        await check("POST", "/api/login", "/api/login", 401, {"username": "admin", "password": "wrong" * 3})
        await login(http, f"{root}/api", "admin")
        await check("GET", "/api/openapi.json", "/api/openapi.json", 200)
        await check("GET", "/api/me", "/api/me", 200)
        await check("GET", "/api/users", "/api/users", 200)
        await check("POST", "/api/users", "/api/users", 201,
                    {"username": "checker", "password": PASSWORD, "role": "bureau", "display_name": "Checker"})
        await check("POST", "/api/users", "/api/users", 409, {"username": "checker", "password": PASSWORD,
                                                              "role": "bureau"})
        await check("POST", "/api/users/{username}/password", "/api/users/checker/password", 204,
                    {"password": PASSWORD + "x"})
        await check("POST", "/api/users/{username}/password", "/api/users/nobody/password", 404,
                    {"password": PASSWORD})
        await check("POST", "/api/users/{username}/active", "/api/users/checker/active", 200, {"active": False})
        await check("POST", "/api/users/{username}/active", "/api/users/admin/active", 400, {"active": False})
        events = await check("GET", "/api/users/events", "/api/users/events", 200)
        assert [e["action"] for e in events["events"]][:3] == ["disabled", "password_reset", "created"], events
        await check("GET", "/healthz", "/healthz", 200)

        alarms = await check("GET", "/api/alarms", "/api/alarms", 200)
        alarm = alarms["alarms"][0]
        await check("GET", "/api/alarms/{id}", f"/api/alarms/{alarm['id']}", 200)
        await check("GET", "/api/alarms/{id}", "/api/alarms/999999", 404)
        await check("GET", "/api/alarms/types", "/api/alarms/types", 200)
        fault = next(a for a in alarms["alarms"] if a["type"] == "door_close_fault")
        entrapment = next(a for a in alarms["alarms"] if a["type"] == "entrapment")
        await check("POST", "/api/alarms/{id}/acknowledge", f"/api/alarms/{fault['id']}/acknowledge", 200, {})
        await check("POST", "/api/alarms/{id}/shelve", f"/api/alarms/{fault['id']}/shelve", 200,
                    {"minutes": 30, "reason": "门机更换"})
        await check("POST", "/api/alarms/{id}/shelve", f"/api/alarms/{entrapment['id']}/shelve", 400,
                    {"minutes": 30, "reason": "busy"})
        await check("POST", "/api/alarms/{id}/unshelve", f"/api/alarms/{fault['id']}/unshelve", 200, {})
        incident = (await check("GET", "/api/incidents", "/api/incidents", 200))["incidents"][0]
        async with http.ws_connect("/api/live") as ws:
            await check("POST", "/api/incidents/{id}/steps", f"/api/incidents/{incident['id']}/steps", 200,
                        {"step": "acknowledged", "comment": "on it"})
            await check("POST", "/api/incidents/{id}/steps", f"/api/incidents/{incident['id']}/steps", 409,
                        {"step": "acknowledged"})
            await check("POST", "/api/incidents/{id}/comments", f"/api/incidents/{incident['id']}/comments", 201,
                        {"comment": "the car is between floors 3 and 4"})
            snapshot = await ws.receive_str(timeout=10)
            ANSWER_MODELS["LiveSnapshot"].model_validate_json(snapshot, strict=True)
            for _ in range(2):  # the step's change, the comment's
                ANSWER_MODELS["LiveChange"].model_validate_json(await ws.receive_str(timeout=10), strict=True)
        checked.add(("GET", "/api/live"))
        detail = await check("GET", "/api/incidents/{id}", f"/api/incidents/{incident['id']}", 200)
        assert [s["step"] for s in detail["steps"]][-2:] == ["acknowledged", "comment"]
        report = await check("GET", "/api/kpis/rescue", "/api/kpis/rescue", 200)
        assert report["rows"]
        month = await check("GET", "/api/reports/monthly", f"/api/reports/monthly?month={register_today():%Y-%m}", 200)
        assert month["entrapments"] >= 1

        units = (await check("GET", "/api/registry/equipment", "/api/registry/equipment?limit=1000", 200))["equipment"]
        unit = next(u for u in units if u["owner"] and u["maintenance_unit"] and u["agency"])
        code = unit["registration_code"]
        recorded = await check("POST", "/api/registry/equipment/{code}/inspections",
                               f"/api/registry/equipment/{code}/inspections", 201,
                               {"inspected_on": register_today().isoformat(), "result": "pass", "report_no": "R-1"})
        unit_detail = await check("GET", "/api/registry/equipment/{code}", f"/api/registry/equipment/{code}", 200)
        assert unit_detail["schedules"] and unit_detail["inspections"]
        await check("GET", "/api/registry/equipment/{code}", "/api/registry/equipment/NOPE", 404)
        rates = await check("GET", "/api/registry/rate", "/api/registry/rate", 200)
        assert {r["dimension"] for r in rates["rates"]} == {"city", "category", "district", "agency"}
        trend = await check("GET", "/api/registry/rate/trend", "/api/registry/rate/trend", 200)
        assert trend["series"]
        await check("GET", "/api/registry/rate/trend.svg", "/api/registry/rate/trend.svg", 200)
        notices = await check("GET", "/api/registry/notices", "/api/registry/notices", 200)
        assert notices["notices"]
        # The 96333 desk's call: the unit found in the register, an incident opened on it, a second refused.
        found = await check("GET", "/api/registry/search", f"/api/registry/search?q={code}", 200)
        assert [u["registration_code"] for u in found["units"]][:1] == [code]
        opened = await check("POST", "/api/incidents", "/api/incidents", 201, {"device_id": code, "caller": "住户"})
        assert opened["source"] == "phone" and opened["steps"]
        await check("POST", "/api/incidents", "/api/incidents", 409, {"device_id": code})
        causes = await check("GET", "/api/incidents/causes", "/api/incidents/causes", 200)
        assert len(causes["causes"]) == 5
        handover = await check("GET", "/api/incidents/handover", "/api/incidents/handover", 200)
        assert opened["id"] in [i["id"] for i in handover["open"]]
        # The agency's desk: export, conclusions, the agency, a report's file, a file of results.
        export = await check("GET", "/api/registry/export", "/api/registry/export?format=csv&category=elevator", 200)
        assert export.startswith(b"\xef\xbb\xbfregistration_code,")
        await check("GET", "/api/registry/conclusions", "/api/registry/conclusions", 200)
        await check("GET", "/api/registry/agencies/{code}", f"/api/registry/agencies/{unit['agency']['code']}", 200)
        report_url = f"/api/registry/inspections/{recorded['inspection_id']}/report"
        async with http.post(f"{report_url}?filename=r.pdf", data=b"%PDF-1.4 report",
                             headers={"Content-Type": "application/pdf"}) as resp:
            ANSWER_MODELS["StoredReport"].model_validate_json(await resp.read(), strict=True)
            assert resp.status == 201
        checked.add(("POST", "/api/registry/inspections/{id}/report"))
        assert await check("GET", "/api/registry/inspections/{id}/report", report_url, 200) == b"%PDF-1.4 report"
        results = f"设备代码,检验日期,检验结论\n{code},{register_today().isoformat()},合格\n".encode("gbk")
        async with http.post("/api/registry/inspections/import?format=csv", data=results,
                             headers={"Content-Type": "text/csv"}) as resp:
            raw = await resp.read()
            ANSWER_MODELS["ResultsImport"].model_validate_json(raw, strict=True)
            # The same unit, schedule, day and kind as the inspection recorded above: a correction.
            assert resp.status == 200 and (json.loads(raw)["stored"], json.loads(raw)["replaced"]) == (0, 1), raw
        checked.add(("POST", "/api/registry/inspections/import"))

        card = await check("GET", "/api/devices/{device_id}", f"/api/devices/{code}", 200)
        assert card["registered"] and card["last_inspection"] is not None
        card = await check("GET", "/api/devices/{device_id}", f"/api/devices/{alarm['device_id']}", 200)
        assert card["open_alarms"]
        await check("GET", "/api/devices/{device_id}", "/api/devices/NOPE", 404)
        await check("GET", "/api/calendar", "/api/calendar", 200)
        city_map = await check("GET", "/api/map", "/api/map", 200)
        assert city_map["alarms"] or city_map["incidents"]
        await check("POST", "/api/logout", "/api/logout", 204)
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert documented == checked, documented ^ checked
