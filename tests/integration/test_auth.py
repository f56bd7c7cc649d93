"""Users, sessions, CSRF and the role policy, against the real application (alerts and register
routes, plus stand-ins for the console's pages and device card) on a real PostgreSQL: every route refuses an
anonymous caller, and each role gets exactly what the policy table says."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from alerts.alarm_store import raise_alarm
from alerts.api import alerts_part
from alerts.hub import LiveHub
from alerts.incident_store import open_incident
from alerts.incidents import Incident
from alerts.model import Source
from console.web import ACCESS as CONSOLE_ACCESS
from registry.api import registry_part
from registry.demo import seed_demo_register
from registry.notices import scan_notices
from semon.alarm_types import AlarmType
from semon.db.pool import open_pool
from semon.settings import Settings
from semon.today import register_today
from tests.flat_settings import flat_settings
from tests.integration.helpers import PASSWORD, TEST_USERS, add_users, http_client, login, query
from web.app import Part, create_app, serve_app
from web.auth import SESSION_ENDED_CLOSE
from web.passwords import verify_password
from web.users import Role

pytestmark = pytest.mark.integration

CSRF = "X-CSRF-Token"
OTHER_AGENCY = ("qhtjy", Role.AGENCY, "QHTJY")
PAGES = ("/board", "/agency", "/bureau")


@dataclass
class Console:
    url: str
    api: str
    app: web.Application
    pool: AsyncConnectionPool
    hub: LiveHub
    settings: Settings
    stack: contextlib.AsyncExitStack

    async def client(self, username: str | None = None) -> aiohttp.ClientSession:
        """A browser: anonymous, or logged in as ``username`` (with its CSRF token in its headers)."""
        http = await self.stack.enter_async_context(http_client(self.url))
        if username is not None:
            await login(http, self.api, username)
        return http

    async def incident(self) -> Incident:
        async with self.pool.connection() as conn, conn.transaction():
            alarm = await raise_alarm(conn, device_id="31106301022015000001", kind="elevator",
                                      type=AlarmType.ENTRAPMENT, source=Source.TELEMETRY,
                                      raised_at=datetime.now(UTC), details={})
            assert alarm is not None
            return (await open_incident(conn, alarm, self.settings.incidents)).incident


async def _page(request: web.Request) -> web.Response:
    return web.Response(text=f"page {request.path}", content_type="text/html")


async def _device(request: web.Request) -> web.Response:
    return web.json_response({"device_id": request.match_info["device_id"]})


@contextlib.asynccontextmanager
async def console(database_url: str, **overrides: Any) -> AsyncIterator[Console]:
    """The application as ``semon up`` serves it, with the console's pages stood in for."""
    settings = flat_settings(**overrides)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=register_today(), total=600)
        await scan_notices(conn, register_today())
        await conn.commit()
    await add_users(database_url, (*TEST_USERS, OTHER_AGENCY))
    hub = LiveHub(settings.api.live_queue_size)
    async with open_pool(database_url, max_size=4, name="test-auth") as pool, contextlib.AsyncExitStack() as stack:
        def stand_ins(app: web.Application) -> None:
            for path in ("/", "/login", "/static/app.js", *PAGES):
                app.router.add_get(path, _page)
            app.router.add_get("/api/devices/{device_id}", _device)

        parts = [alerts_part(pool, hub, settings.incidents), registry_part(pool, settings.registry),
                 Part("console", stand_ins, CONSOLE_ACCESS)]
        app = create_app(pool, settings.auth, parts, backoff=settings.backoff.backoff())
        port = await stack.enter_async_context(serve_app(app, "127.0.0.1", 0))
        url = f"http://127.0.0.1:{port}"
        yield Console(url, f"{url}/api", app, pool, hub, settings, stack)


def client_from(base_url: str, address: str) -> aiohttp.ClientSession:
    """A browser on another machine: its connections come from ``address`` (any 127.x.y.z is ours)."""
    return aiohttp.ClientSession(base_url=base_url, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def status_of(http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, path, **kwargs) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def unit_of(database_url: str, agency: str) -> str:
    rows = await query(database_url, """SELECT e.registration_code FROM equipment e JOIN parties a ON a.id = e.agency_id
                                        WHERE a.code = %s AND e.category = 'elevator' AND e.status = 'in_use'
                                        ORDER BY 1 LIMIT 1""", (agency,))
    return str(rows[0][0])


def _sample(canonical: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", canonical)


# No session


async def test_every_route_needs_a_session_but_the_public_ones(database_url: str) -> None:
    async with console(database_url) as c:
        http = await c.client()
        public = {"/healthz", "/api/openapi.json", "/api/login", "/", "/login", "/static/app.js"}
        routes = {(r.method, _sample(r.resource.canonical)) for r in c.app.router.routes()
                  if r.resource is not None and r.method != "HEAD"}
        assert len(routes) > 25
        for method, path in sorted(routes):
            status, body = await status_of(http, method, path, json={})
            if path in public:
                assert status not in (401, 403), (method, path, status)
            elif path in PAGES:
                assert status == 401 and "/login?next=" + path in body, (path, body)
                assert "请先登录" in body and "Login required" in body
            else:
                assert (status, body) == (401, {"error": "login required"}), (method, path)
        # Unknown places too, and a cookie that is not a session.
        assert (await status_of(http, "GET", "/api/nothing-here"))[0] == 401
        async with http.get("/api/me", headers={"Cookie": "semon_session=forged"}) as resp:
            assert resp.status == 401 and "WWW-Authenticate" in resp.headers
        async with http.get("/board") as resp:
            assert resp.content_type == "text/html" and resp.charset == "utf-8"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect("/api/live")
        assert refused.value.status == 401


# Logging in and out


async def test_login_sets_a_strict_http_only_cookie_and_returns_the_user(database_url: str) -> None:
    async with console(database_url) as c:
        http = await c.client()
        for body in ({"username": "op", "password": "wrong password"}, {"username": "nobody", "password": PASSWORD}):
            assert await status_of(http, "POST", "/api/login", json=body) == (
                401, {"error": "wrong username or password"})
        async with http.post("/api/login", data=f'{{"username": "op", "password": "{PASSWORD}"}}',
                             headers={"Content-Type": "text/plain"}) as resp:
            assert resp.status == 415  # a cross-site form cannot send JSON
        assert (await status_of(http, "POST", "/api/login", json={"username": "op"}))[0] == 400

        async with http.post("/api/login", json={"username": " OP ", "password": PASSWORD}) as resp:
            assert resp.status == 200
            got = await resp.json()
            cookie = resp.headers["Set-Cookie"]
        assert got["user"] == {"username": "op", "role": "operator", "agency": None, "display_name": ""}
        assert len(got["csrf_token"]) >= 32
        assert cookie.startswith("semon_session=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Path=/" in cookie and "Secure" not in cookie
        assert await status_of(http, "GET", "/api/me") == (200, got)
        # Only a hash of the token is stored.
        token = cookie.split(";")[0].removeprefix("semon_session=")
        stored = await query(database_url, "SELECT encode(token_hash, 'hex') FROM sessions")
        assert len(stored) == 1 and token not in str(stored[0][0])

        agency = await c.client("xntjs")
        assert (await status_of(agency, "GET", "/api/me"))[1]["user"]["agency"] == "XNTJS"

    async with console(database_url, auth_cookie_secure=True) as c:
        http = await c.client()
        async with http.post("/api/login", json={"username": "op", "password": PASSWORD}) as resp:
            assert "Secure" in resp.headers["Set-Cookie"]


async def test_repeated_failures_slow_that_username_from_that_address_only(database_url: str) -> None:
    async with console(database_url, auth_login_max_failures=3, auth_login_base_delay_s=60) as c:
        http = await c.client()
        for _ in range(3):
            assert (await status_of(http, "POST", "/api/login", json={"username": "op", "password": "guess"}))[0] == 401
        async with http.post("/api/login", json={"username": "op", "password": PASSWORD}) as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0  # the next waits, right or wrong
        await login(http, c.api, "bureau")  # others are not held up
        # The owner, from another address, logs in at once.
        elsewhere = await c.stack.enter_async_context(client_from(c.url, "127.0.0.2"))
        await login(elsewhere, c.api, "op")


async def test_logout_ends_the_session(database_url: str) -> None:
    async with console(database_url) as c:
        http = await c.client("op")
        cookie = next(m for m in http.cookie_jar if m.key == "semon_session").value
        async with http.post("/api/logout", headers={CSRF: ""}) as resp:
            assert resp.status == 403  # logging out is a change too
        async with http.post("/api/logout") as resp:
            assert resp.status == 204 and 'semon_session=""' in resp.headers["Set-Cookie"]
        assert (await status_of(http, "GET", "/api/me"))[0] == 401
        # The old token is dead on the server, not just forgotten by this browser.
        other = await c.client()
        async with other.get("/api/me", headers={"Cookie": f"semon_session={cookie}"}) as resp:
            assert resp.status == 401
        assert await query(database_url, "SELECT count(*) FROM sessions") == [(0,)]


async def test_sessions_expire_slide_and_end_with_a_disabled_user(database_url: str) -> None:
    async with console(database_url) as c:
        http = await c.client("op")
        await query_exec(database_url, "UPDATE sessions SET expires_at = now() + interval '1 minute'")
        assert (await status_of(http, "GET", "/api/alarms"))[0] == 200
        assert await seconds_left(database_url) > 11 * 3600  # slid to the idle time again
        # But never past the maximum age after login.
        await query_exec(database_url, "UPDATE sessions SET created_at = now() - interval '7 days' + interval '1 hour'")
        assert (await status_of(http, "GET", "/api/alarms"))[0] == 200
        assert await seconds_left(database_url) < 3600

        await query_exec(database_url, "UPDATE sessions SET expires_at = now() - interval '1 second'")
        assert await status_of(http, "GET", "/api/alarms") == (401, {"error": "login required"})

        bureau = await c.client("bureau")
        await query_exec(database_url, "UPDATE users SET active = false WHERE username = 'bureau'")
        assert (await status_of(bureau, "GET", "/api/alarms"))[0] == 401
        assert (await status_of(bureau, "POST", "/api/login", json={"username": "bureau", "password": PASSWORD}))[0] \
            == 401


async def seconds_left(url: str) -> float:
    ((left,),) = await query(url, "SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions")
    assert isinstance(left, float)
    return left


async def query_exec(url: str, sql: str) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute(sql)
        await conn.commit()


async def test_changes_need_the_sessions_csrf_token(database_url: str) -> None:
    async with console(database_url) as c:
        incident = await c.incident()
        op, admin = await c.client("op"), await c.client("admin")
        code = await unit_of(database_url, "XNTJS")
        agency = await c.client("xntjs")
        refused = (403, {"error": "CSRF token missing or wrong"})
        for http, path, body in [
            (op, f"/api/incidents/{incident.id}/steps", {"step": "acknowledged"}),
            (op, f"/api/incidents/{incident.id}/comments", {"comment": "hello"}),
            (admin, "/api/users", {"username": "u1", "password": "long enough", "role": "bureau"}),
            (agency, f"/api/registry/equipment/{code}/inspections", {"inspected_on": str(register_today()),
                                                                     "result": "pass"}),
        ]:
            token = http.headers.pop(CSRF)
            assert await status_of(http, "POST", path, json=body) == refused, path
            altered = ("y" if token[0] == "x" else "x") + token[1:]  # certainly not the token
            assert await status_of(http, "POST", path, json=body, headers={CSRF: altered}) == refused
            other = (await status_of(op, "GET", "/api/me"))[1]["csrf_token"]
            if http is not op:  # another session's token is wrong too
                assert await status_of(http, "POST", path, json=body, headers={CSRF: other}) == refused
            http.headers[CSRF] = token
        assert (await status_of(op, "GET", f"/api/incidents/{incident.id}"))[1]["state"] == "raised"


# The roles


async def test_an_operator_works_incidents_as_itself(database_url: str) -> None:
    async with console(database_url) as c:
        incident = await c.incident()
        op = await c.client("op")
        for path in ("/api/alarms", "/api/incidents", f"/api/incidents/{incident.id}", "/api/kpis/rescue",
                     "/api/registry/rate", "/board"):
            assert (await status_of(op, "GET", path))[0] == 200, path
        listed = (await status_of(op, "GET", "/api/registry/equipment?limit=1000"))[1]["equipment"]
        assert len({u["agency"]["code"] for u in listed if u["agency"]}) > 1  # the whole register, unfiltered
        code = listed[0]["registration_code"]
        assert (await status_of(op, "GET", f"/api/registry/equipment/{code}"))[0] == 200

        status, body = await status_of(op, "POST", f"/api/incidents/{incident.id}/steps",
                                       json={"step": "acknowledged", "actor": "the-chief"})
        assert status == 200 and body["steps"][-1]["actor"] == "op"  # the session's user, not the claim
        status, body = await status_of(op, "POST", f"/api/incidents/{incident.id}/comments",
                                       json={"comment": "on the phone with the caller"})
        assert status == 201 and body["actor"] == "op"
        history = await query(database_url, "SELECT actor FROM incident_steps ORDER BY id")
        assert [a for (a,) in history] == ["system", "op", "op"]

        for method, path in [("GET", "/api/registry/notices"), ("GET", "/api/users"),
                             ("POST", "/api/users"), ("POST", f"/api/registry/equipment/{code}/inspections")]:
            assert await status_of(op, method, path, json={}) == (403, {"error": "forbidden for role operator"})
        for page in ("/agency", "/bureau"):
            status, body = await status_of(op, "GET", page)
            assert status == 403 and "无权访问" in body and "Forbidden" in body and "operator" in body

        async with op.ws_connect("/api/live") as ws:
            snapshot = await ws.receive_json(timeout=10)
            assert snapshot["topic"] == "snapshot" and [i["id"] for i in snapshot["incidents"]] == [incident.id]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # a page of another site
            await op.ws_connect("/api/live", origin="http://evil.example")
        assert refused.value.status == 403


async def test_an_agency_sees_and_inspects_only_its_own_equipment(database_url: str) -> None:
    async with console(database_url) as c:
        incident = await c.incident()
        agency = await c.client("xntjs")
        forbidden = (403, {"error": "forbidden for role agency"})
        for path in ("/api/alarms", "/api/alarms/1", "/api/incidents", f"/api/incidents/{incident.id}",
                     "/api/kpis/rescue", "/api/devices/31106301022015000001", "/api/users"):
            assert await status_of(agency, "GET", path) == forbidden, path
        for path in (f"/api/incidents/{incident.id}/steps", f"/api/incidents/{incident.id}/comments", "/api/users"):
            assert await status_of(agency, "POST", path, json={"step": "acknowledged", "comment": "x"}) == forbidden
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await agency.ws_connect("/api/live")
        assert refused.value.status == 403
        for page, status in (("/agency", 200), ("/board", 403), ("/bureau", 403)):
            assert (await status_of(agency, "GET", page))[0] == status, page
        assert (await status_of(agency, "GET", "/api/registry/rate?by=agency"))[0] == 200

        units = (await status_of(agency, "GET", "/api/registry/equipment?limit=1000"))[1]["equipment"]
        total = await query(database_url, """SELECT count(*) FROM equipment e JOIN parties a ON a.id = e.agency_id
                                              WHERE a.code = 'XNTJS'""")
        assert units and {u["agency"]["code"] for u in units} == {"XNTJS"} and len(units) == total[0][0]
        assert (await status_of(agency, "GET", "/api/registry/equipment?agency=XNTJS"))[0] == 200
        assert (await status_of(agency, "GET", "/api/registry/equipment?agency=QHTJY"))[0] == 403

        own, theirs = await unit_of(database_url, "XNTJS"), await unit_of(database_url, "QHTJY")
        assert (await status_of(agency, "GET", f"/api/registry/equipment/{own}"))[0] == 200
        # Another agency's unit answers exactly as a unit that does not exist: no telling which codes exist.
        missing = "31106301022099999999"
        assert await status_of(agency, "GET", f"/api/registry/equipment/{theirs}") == (
            404, {"error": f"equipment {theirs} is not in the register"})
        assert await status_of(agency, "GET", f"/api/registry/equipment/{missing}") == (
            404, {"error": f"equipment {missing} is not in the register"})
        inspection = {"inspected_on": str(register_today()), "result": "pass", "report_no": "XN-1", "actor": "someone"}
        for code in (theirs, missing):
            assert await status_of(agency, "POST", f"/api/registry/equipment/{code}/inspections",
                                   json=inspection) == (404, {"error": f"equipment {code} is not in the register"})
        assert (await status_of(agency, "POST", f"/api/registry/equipment/{own}/inspections",
                                json={**inspection, "agency": "QHTJY"}))[0] == 403
        assert await query(database_url, "SELECT count(*) FROM inspections WHERE recorded_by IS NOT NULL") == [(0,)]
        status, _ = await status_of(agency, "POST", f"/api/registry/equipment/{own}/inspections", json=inspection)
        assert status == 201
        detail = (await status_of(agency, "GET", f"/api/registry/equipment/{own}"))[1]
        assert (detail["inspections"][0]["recorded_by"], detail["inspections"][0]["agency"]) == ("xntjs", "XNTJS")

        # Notices: those sent to it, or about its equipment; the bureau sees them all.
        mine = (await status_of(agency, "GET", "/api/registry/notices?limit=1000"))[1]["notices"]
        every = (await status_of(await c.client("bureau"), "GET", "/api/registry/notices?limit=1000"))[1]["notices"]
        own_units = {code for (code,) in await query(
            database_url, "SELECT e.registration_code FROM equipment e JOIN parties a ON a.id = e.agency_id "
                          "WHERE a.code = 'XNTJS'")}
        expected = {n["id"] for n in every if n["recipient"] == "XNTJS" or n["registration_code"] in own_units}
        assert mine and {n["id"] for n in mine} == expected and len(every) > len(mine)
        # How a delivery to someone else fared is not the agency's to read.
        await query_exec(database_url, "UPDATE notices SET last_error = 'webhook answered 500'")
        mine = (await status_of(agency, "GET", "/api/registry/notices?limit=1000"))[1]["notices"]
        assert {n["last_error"] for n in mine if n["recipient"] == "XNTJS"} == {"webhook answered 500"}
        assert {n["last_error"] for n in mine if n["recipient"] != "XNTJS"} == {None}
        assert any(n["recipient"] != "XNTJS" for n in mine)
        other = await c.client("qhtjy")
        assert not {n["id"] for n in (await status_of(other, "GET", "/api/registry/notices?limit=1000"))[1]["notices"]
                    } & expected


async def test_the_bureau_reads_everything_and_changes_nothing(database_url: str) -> None:
    async with console(database_url) as c:
        incident = await c.incident()
        bureau = await c.client("bureau")
        code = await unit_of(database_url, "QHTJY")
        for path in ("/api/alarms", "/api/incidents", f"/api/incidents/{incident.id}", "/api/kpis/rescue",
                     "/api/registry/equipment", f"/api/registry/equipment/{code}", "/api/registry/rate",
                     "/api/registry/rate/trend", "/api/registry/rate/trend.svg", "/api/registry/notices",
                     "/board", "/bureau", "/api/me"):
            assert (await status_of(bureau, "GET", path))[0] == 200, path
        assert (await status_of(bureau, "GET", "/api/devices/31106301022015000001"))[0] == 200
        async with bureau.ws_connect("/api/live") as ws:
            assert (await ws.receive_json(timeout=10))["topic"] == "snapshot"
        forbidden = (403, {"error": "forbidden for role bureau"})
        for path, body in [(f"/api/incidents/{incident.id}/steps", {"step": "acknowledged"}),
                           (f"/api/incidents/{incident.id}/comments", {"comment": "x"}),
                           (f"/api/registry/equipment/{code}/inspections", {"inspected_on": str(register_today()),
                                                                             "result": "pass"}),
                           ("/api/users", {"username": "x", "password": "long enough", "role": "admin"})]:
            assert await status_of(bureau, "POST", path, json=body) == forbidden, path
        assert await status_of(bureau, "GET", "/api/users") == forbidden
        assert (await status_of(bureau, "GET", "/agency"))[0] == 403
        async with bureau.post("/api/logout") as resp:
            assert resp.status == 204


async def test_the_administrator_manages_users_and_may_do_everything(database_url: str) -> None:
    async with console(database_url) as c:
        incident = await c.incident()
        admin = await c.client("admin")
        new = {"username": "Zhang.Wei", "password": "a long password", "role": "agency", "agency": "QHGLJ",
               "display_name": "张伟"}
        status, body = await status_of(admin, "POST", "/api/users", json=new)
        assert status == 201
        assert body["user"] | {"id": 0, "created_at": ""} == {
            "id": 0, "username": "zhang.wei", "role": "agency", "agency": "QHGLJ", "display_name": "张伟",
            "active": True, "created_at": ""}
        assert (await status_of(admin, "POST", "/api/users", json=new))[0] == 409
        for bad in ({**new, "username": "a1", "agency": None}, {**new, "username": "a2", "agency": "NOPE"},
                    {**new, "username": "a3", "password": "short"}, {**new, "username": "a 4"},
                    {**new, "username": "a5", "role": "bureau"}, {**new, "username": "a6", "role": "root"}):
            status, body = await status_of(admin, "POST", "/api/users", json=bad)
            assert status == 400 and body["error"], bad
        users = (await status_of(admin, "GET", "/api/users"))[1]["users"]
        assert [u["username"] for u in users] == ["admin", "bureau", "op", "qhtjy", "xntjs", "zhang.wei"]
        assert "password_hash" not in users[0]

        zhang = await c.client()
        await login(zhang, c.api, "zhang.wei", "a long password")
        assert (await status_of(zhang, "GET", "/api/me"))[1]["user"]["display_name"] == "张伟"
        for name in ("op", "xntjs", "bureau"):
            http = await c.client(name)
            assert (await status_of(http, "GET", "/api/users"))[0] == 403
            assert (await status_of(http, "POST", "/api/users", json=new))[0] == 403

        for path in ("/api/alarms", "/api/registry/notices", "/board", "/agency", "/bureau"):
            assert (await status_of(admin, "GET", path))[0] == 200, path
        status, body = await status_of(admin, "POST", f"/api/incidents/{incident.id}/steps",
                                       json={"step": "acknowledged"})
        assert status == 200 and body["steps"][-1]["actor"] == "admin"


async def test_the_openapi_document_says_how_each_operation_is_secured(database_url: str) -> None:
    async with console(database_url) as c:
        doc = (await status_of(await c.client(), "GET", "/api/openapi.json"))[1]
        assert set(doc["components"]["securitySchemes"]) == {"session", "csrf"}
        assert doc["security"] == [{"session": []}]
        paths = doc["paths"]
        assert paths["/api/login"]["post"]["security"] == []
        assert paths["/healthz"]["get"]["security"] == []
        steps = paths["/api/incidents/{id}/steps"]["post"]
        assert steps["security"] == [{"session": [], "csrf": []}] and steps["x-roles"] == ["operator", "admin"]
        assert paths["/api/registry/equipment/{code}/inspections"]["post"]["x-roles"] == ["agency", "admin"]
        assert paths["/api/alarms"]["get"]["x-roles"] == ["operator", "bureau", "admin"]
        assert paths["/api/users"]["get"]["x-roles"] == ["admin"]
        assert paths["/api/me"]["get"]["x-roles"] == ["operator", "agency", "bureau", "admin"]
        assert {"401", "403"} <= set(paths["/api/registry/notices"]["get"]["responses"])
        assert "actor" not in doc["components"]["schemas"]["StepBody"].get("required", [])


# Hardening: a login flood, rehashing, the live socket's end, the Origin, the headers


async def test_a_login_flood_from_one_address_does_not_keep_the_owner_out(database_url: str) -> None:
    async with console(database_url) as c:
        flood = await c.client()

        async def guess(i: int) -> int:
            async with flood.post("/api/login", json={"username": "op", "password": f"guess-{i}"}) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(guess(i) for i in range(200)))
        assert set(statuses) <= {401, 429} and statuses.count(401) >= 1, sorted(set(statuses))
        # Meanwhile and after: the real operator, from another address, logs in at once.
        owner = await c.stack.enter_async_context(client_from(c.url, "127.0.0.3"))
        await login(owner, c.api, "op")


async def test_a_flood_under_way_does_not_delay_the_owner_into_an_error(database_url: str) -> None:
    async with console(database_url) as c:
        flood = await c.client()

        async def guess(i: int) -> int:
            async with flood.post("/api/login", json={"username": "op", "password": f"guess-{i}"}) as resp:
                await resp.read()
                return resp.status

        guesses = [asyncio.create_task(guess(i)) for i in range(200)]
        owner = await c.stack.enter_async_context(client_from(c.url, "127.0.0.4"))
        await login(owner, c.api, "op")  # while the 200 are still arriving
        assert set(await asyncio.gather(*guesses)) <= {401, 429}


async def test_an_old_scrypt_hash_logs_in_and_is_rehashed_to_argon2id(database_url: str) -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    old = f"scrypt${2**14}$8$1${b64(salt)}${b64(digest)}"
    async with console(database_url) as c:
        await query_exec(database_url, f"UPDATE users SET password_hash = '{old}' WHERE username = 'bureau'")
        await login(await c.client(), c.api, "bureau")
        ((stored,),) = await query(database_url, "SELECT password_hash FROM users WHERE username = 'bureau'")
        assert str(stored).startswith("$argon2id$") and verify_password(PASSWORD, str(stored))
        await login(await c.client(), c.api, "bureau")  # and the new hash works


async def _live(http: aiohttp.ClientSession, origin: str | None = None) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect("/api/live", origin=origin)
    first = await ws.receive_json(timeout=10)
    assert first["topic"] == "snapshot"
    return ws


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the server closes the socket; its close code."""
    async with asyncio.timeout(15):
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return ws.close_code


async def test_the_live_socket_ends_with_its_session(database_url: str) -> None:
    async with console(database_url, auth_live_check_s=0.2) as c:
        # A logout ends the session's sockets at once, and only those.
        op = await c.client("op")
        other = await c.client("op")
        ws, kept = await _live(op), await _live(other)
        async with op.post("/api/logout") as resp:
            assert resp.status == 204
        assert await _closed_with(ws) == SESSION_ENDED_CLOSE
        c.hub.publish({"topic": "alarm", "op": "raised", "alarm": {"id": 1}})
        assert (await kept.receive_json(timeout=10))["alarm"] == {"id": 1}  # the other session streams on

        # Disabling the user ends its sockets, whoever disables it (here: SQL, as the CLI does).
        bureau = await c.client("bureau")
        ws = await _live(bureau)
        await query_exec(database_url, "UPDATE users SET active = false WHERE username = 'bureau'")
        assert await _closed_with(ws) == SESSION_ENDED_CLOSE
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await bureau.ws_connect("/api/live")
        assert refused.value.status == 401
        await kept.close()

    async with console(database_url, auth_live_check_s=0.2) as c:
        # An expired session too.
        op = await c.client("op")
        ws = await _live(op)
        await query_exec(database_url, "UPDATE sessions SET expires_at = now() - interval '1 second'")
        assert await _closed_with(ws) == SESSION_ENDED_CLOSE


async def test_the_live_socket_needs_our_scheme_host_and_port_as_origin(database_url: str) -> None:
    async with console(database_url) as c:
        op = await c.client("op")
        port = int(c.url.rsplit(":", 1)[1])
        ws = await _live(op, origin=c.url)  # the console's own page
        await ws.close()
        for foreign in (f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}", "http://127.0.0.1",
                        f"http://evil.example:{port}", "null", "127.0.0.1", f"http://localhost:{port}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await op.ws_connect("/api/live", origin=foreign)
            assert refused.value.status == 403, foreign


async def test_every_answer_carries_the_security_headers(database_url: str) -> None:
    async with console(database_url) as c:
        anonymous, op = await c.client(), await c.client("op")
        for http, path in ((anonymous, "/login"), (anonymous, "/api/alarms"), (anonymous, "/board"),
                           (op, "/api/alarms"), (op, "/api/nothing-here"), (anonymous, "/healthz"),
                           (anonymous, "/api/openapi.json")):
            async with http.get(path) as resp:
                csp = resp.headers.get("Content-Security-Policy", "")
                assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, path
                assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
                assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
                assert resp.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", path
