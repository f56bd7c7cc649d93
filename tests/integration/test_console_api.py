"""The operator console on the API application: the pages and static files are served (and
guarded by role), the device card joins the register, the latest device state and the open
alarms, and the console's JavaScript parses and its pure logic behaves (with node, if present)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from alerts.api import alerts_part
from alerts.hub import LiveHub
from assembly.alerts_service import DEVICE_SOURCES, MAP_SOURCES
from assembly.parts import city_units
from console import console_part
from console.web import STATIC_DIR
from registry.api import registry_part
from registry.demo import seed_demo_register
from semon.db.pool import open_pool
from semon.today import Clock, register_today, utc_now
from simulators.city import city_fleet
from tests.integration.helpers import add_users, http_client, ingest_settings, login
from web.app import create_app, serve_app

pytestmark = pytest.mark.integration

NODE = shutil.which("node")
JS_TYPES = {"text/javascript", "application/javascript"}


@contextlib.asynccontextmanager
async def console_app(database_url: str, *, auth: bool = True, clock: Clock = utc_now,
                      **overrides: object) -> AsyncIterator[str]:
    """The application as ``semon alerts`` assembles it; yields its root URL."""
    settings = ingest_settings(api_port=0, **overrides)
    async with open_pool(database_url, min_size=1, max_size=4) as pool:
        parts = [alerts_part(pool, LiveHub(), settings.incidents), registry_part(pool, settings.registry),
                 console_part(pool, DEVICE_SOURCES, settings.registry, maps=MAP_SOURCES, clock=clock)]
        app = create_app(pool, settings.auth, parts, backoff=settings.backoff.backoff(), auth=auth)
        async with serve_app(app, "127.0.0.1", 0) as port:
            yield f"http://127.0.0.1:{port}"


async def test_pages_and_static_files(database_url: str) -> None:
    await add_users(database_url)
    async with console_app(database_url) as root, http_client() as anonymous:
        resp = await anonymous.get(f"{root}/", allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/login"
        resp = await anonymous.get(f"{root}/login")
        assert resp.status == 200 and resp.content_type == "text/html"
        shell = await resp.text()
        assert '<script type="module" src="/static/app.js">' in shell and 'data-testid="live-indicator"' in shell
        assert resp.headers["Cache-Control"] == "no-cache"
        assert (await anonymous.get(f"{root}/board")).status == 401  # the auth layer's login page

        for name in sorted(p.name for p in STATIC_DIR.iterdir()):
            resp = await anonymous.get(f"{root}/static/{name}")
            assert resp.status == 200, name
            expected = {".js": JS_TYPES, ".css": {"text/css"}, ".html": {"text/html"}}[Path(name).suffix]
            assert resp.content_type in expected, (name, resp.content_type)
        for sneaky in ("/static/../web.py", "/static/%2e%2e/web.py", "/static/nope.js"):
            assert (await anonymous.get(f"{root}{sneaky}")).status in (401, 403, 404), sneaky  # never the source

        # Each role gets its pages (the same shell) and not the others'.
        for user, allowed, refused in (("op", ["/board"], ["/agency", "/bureau"]),
                                       ("xntjs", ["/agency"], ["/board", "/bureau"]),
                                       ("bureau", ["/bureau", "/board"], ["/agency"]),
                                       ("admin", ["/board", "/agency", "/bureau"], [])):
            async with http_client() as http:
                await login(http, f"{root}/api", user)
                for page in allowed:
                    resp = await http.get(f"{root}{page}")
                    assert resp.status == 200 and await resp.text() == shell, (user, page)
                for page in refused:
                    assert (await http.get(f"{root}{page}")).status == 403, (user, page)


async def test_without_auth_every_page_is_open(database_url: str) -> None:
    """Development (``create_app(auth=False)``): no login page to go to, no /api/me (the console
    then runs without a session), and the device card needs none."""
    reporting, _, _ = await _seed(database_url)
    before = register_today()
    async with console_app(database_url, auth=False) as root, http_client() as http:
        resp = await http.get(f"{root}/", allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/board"
        for page in ("/login", "/board", "/agency", "/bureau"):
            assert (await http.get(f"{root}{page}")).status == 200, page
        assert (await http.get(f"{root}/api/me")).status == 404
        card = await (await http.get(f"{root}/api/devices/{reporting}")).json()
        assert card["registration_code"] == reporting
        document = await (await http.get(f"{root}/api/openapi.json")).json()
        assert "security" not in document["paths"]["/api/devices/{device_id}"]["get"]
        # The console still learns the register's calendar (it has no /api/me to carry it).
        calendar = await (await http.get(f"{root}/api/calendar")).json()
        assert calendar["timezone"] == "Asia/Shanghai"
        assert calendar["today"] in {before.isoformat(), register_today().isoformat()}


# 17:30 UTC on 31 March is 01:30 on 1 April in Beijing: the UTC date and the register's differ.
BEIJING_SMALL_HOURS = datetime(2026, 3, 31, 17, 30, tzinfo=UTC)


async def test_the_calendar_is_the_registers(database_url: str) -> None:
    """``GET /api/calendar`` gives the register's today (``Settings.today``, its zone), not the
    UTC date, to every role, and nothing to the anonymous; it is in the OpenAPI document."""
    await add_users(database_url)
    async with console_app(database_url, clock=lambda: BEIJING_SMALL_HOURS) as root:
        async with http_client() as anonymous:
            assert (await anonymous.get(f"{root}/api/calendar")).status == 401
        for user in ("op", "xntjs", "bureau", "admin"):
            async with http_client() as http:
                await login(http, f"{root}/api", user)
                resp = await http.get(f"{root}/api/calendar")
                assert resp.status == 200, user
                assert await resp.json() == {"today": "2026-04-01", "timezone": "Asia/Shanghai"}, user
                assert resp.headers["Cache-Control"] == "no-store"
        async with http_client() as http:
            document = await (await http.get(f"{root}/api/openapi.json")).json()
        operation = document["paths"]["/api/calendar"]["get"]
        assert set(operation["x-roles"]) == {"operator", "agency", "bureau", "admin"}
        assert document["components"]["schemas"]["Calendar"]["required"] == ["today", "timezone"]
    # Another zone, the same instant: that zone's date.
    async with console_app(database_url, clock=lambda: BEIJING_SMALL_HOURS, notice_timezone="UTC") as root, \
            http_client() as http:
        await login(http, f"{root}/api", "op")
        assert await (await http.get(f"{root}/api/calendar")).json() == {"today": "2026-03-31", "timezone": "UTC"}
    # The real clock: what RegistrySettings().today() says (either side of a midnight passing meanwhile).
    before = ingest_settings().registry.today()
    async with console_app(database_url) as root, http_client() as http:
        await login(http, f"{root}/api", "op")
        today = (await (await http.get(f"{root}/api/calendar")).json())["today"]
    assert today in {before.isoformat(), ingest_settings().registry.today().isoformat()}


def test_static_modules_import_only_what_exists() -> None:
    pattern = re.compile(r"""(?:from\s+|import\s*\(\s*)["']\./([\w.-]+)["']""")
    for path in STATIC_DIR.glob("*.js"):
        for target in pattern.findall(path.read_text(encoding="utf-8")):
            assert (STATIC_DIR / target).is_file(), f"{path.name} imports missing {target}"
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


async def _seed(database_url: str) -> tuple[str, str, str]:
    """A small register with the simulated city's elevators; one of them reporting with an open
    alarm; one unregistered device reporting. Returns (reporting, unregistered, silent) ids."""
    today = register_today()
    elevator = city_fleet(2, 0)[0]
    # A 20-digit 注册代码 with 湟源县's division code after its category code, not in the register:
    # those digits name the authority that registered it, not a district, so its card has none.
    unregistered = "31106301232020999999"
    now = datetime.now(UTC)
    telemetry = {"ts": now.isoformat(), "seq": 7, "running": False, "direction": "stop", "floor": 5,
                 "door_locked": True, "door_zone": False, "passenger": True, "mode": "normal", "power": "main",
                 "speed_mps": 0.0, "trip_count": 1200, "run_hours": 345.5}
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=today, total=100, given=city_units(2, 0))
        for device_id in (elevator.device_id, unregistered):
            await conn.execute(
                """INSERT INTO device_state (device_id, kind, first_seen, last_seen, last_telemetry_at, last_seq,
                                             telemetry, online, status_changed_at)
                   VALUES (%s, 'elevator', %s, %s, %s, 7, %s, true, %s)""",
                (device_id, now - timedelta(hours=1), now, now, orjson.dumps(telemetry).decode(), now))
        await conn.execute(
            """INSERT INTO alarms (device_id, kind, type, severity, source, raised_at, district_code)
               VALUES (%s, 'elevator', 'entrapment', 'critical', 'telemetry', %s, %s)""",
            (elevator.device_id, now - timedelta(seconds=30), elevator.district.code))
        cur = await conn.execute(
            "SELECT registration_code FROM equipment WHERE registration_code <> ALL(%s) ORDER BY 1 LIMIT 1",
            ([d.device_id for d in city_fleet(2, 0)],))
        row = await cur.fetchone()
        assert row is not None
        await conn.commit()
    return elevator.device_id, unregistered, str(row[0])


async def test_device_card(database_url: str) -> None:
    await add_users(database_url)
    reporting, unregistered, silent = await _seed(database_url)
    elevator = city_fleet(2, 0)[0]
    async with console_app(database_url) as root, http_client() as http:
        assert (await http.get(f"{root}/api/devices/{reporting}")).status == 401
        await login(http, f"{root}/api", "op")
        resp = await http.get(f"{root}/api/devices/{reporting}")
        assert resp.status == 200, await resp.text()
        card = await resp.json()
        assert card["registration_code"] == reporting and card["registered"] and card["reporting"]
        assert card["kind"] == "elevator" and card["category"] == "elevator"
        assert card["address"] == elevator.address and card["district"] == elevator.district.name
        assert card["district_code"] == elevator.district.code and card["use_registration_no"] is None
        assert card["maintenance_unit"]["name"].endswith("电梯维保有限公司")
        assert card["maintenance_unit"]["phone"].startswith("0971-")
        assert card["agency"]["code"] and card["owner"]["name"] and card["status"] in ("in_use", "stopped", "scrapped")
        assert card["next_due"] and card["last_inspected"] and card["schedules"][0]["schedule"] == "periodic"
        assert card["fit_for_use"] is True and card["online"] is True and card["last_seen"]
        assert card["telemetry"]["floor"] == 5 and card["telemetry"]["passenger"] is True
        assert [a["type"] for a in card["open_alarms"]] == ["entrapment"]

        other = await (await http.get(f"{root}/api/devices/{unregistered}")).json()
        assert not other["registered"] and other["reporting"]
        assert other["district_code"] is None and other["district"] is None
        assert other["maintenance_unit"] is None and other["open_alarms"] == []
        quiet = await (await http.get(f"{root}/api/devices/{silent}")).json()
        assert quiet["registered"] and not quiet["reporting"] and quiet["online"] is None

        for unknown in ("NOPE", "x" * 65):
            resp = await http.get(f"{root}/api/devices/{unknown}")
            assert resp.status == 404 and "error" in await resp.json()

        document = await (await http.get(f"{root}/api/openapi.json")).json()
        operation = document["paths"]["/api/devices/{device_id}"]["get"]
        assert set(operation["x-roles"]) == {"operator", "bureau", "admin"}
        assert set(document["components"]["schemas"]["DeviceCard"]["required"]) == set(card)

    async with console_app(database_url) as root, http_client() as http:
        await login(http, f"{root}/api", "xntjs")  # agencies see their register, not the device cards
        assert (await http.get(f"{root}/api/devices/{reporting}")).status == 403


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_javascript_parses() -> None:
    assert NODE is not None
    for path in sorted(STATIC_DIR.glob("*.js")):
        done = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, f"{path.name}: {done.stderr}"


# The board's pure logic, run in node: the live store, the incident's next step and deadlines.
_LOGIC = """
import assert from "node:assert/strict";
import { LiveStore, backoffMs } from "./live.js";
import { deadline, entrapments, nextStep, otherAlarms, trapped } from "./incident.js";
import { duration } from "./format.js";
import { t, setLang } from "./i18n.js";

const at = (s) => new Date(Date.UTC(2026, 0, 1, 8, 0, s)).toISOString();
const alarm = (id, type, severity, s, state = "open") => ({ id, type, severity, state, device_id: `d${id}`,
  raised_at: at(s), raised_seen_at: at(s), cleared_at: state === "open" ? null : at(s + 60) });
const incident = (id, alarm_id, state, updated, extra = {}) => ({ id, alarm_id, device_id: `d${alarm_id}`, state,
  active: !["closed", "false_alarm"].includes(state), raised_at: at(1), ack_deadline: at(121), arrival_deadline: null,
  ack_late: false, arrival_late: false, updated_at: at(updated), ...extra });

const store = new LiveStore();
let changes = 0;
store.onChange(() => changes++);
store.apply({ topic: "alarm", op: "raised", alarm: alarm(99, "offline", "warning", 0) });
store.applySnapshot({ alarms: [alarm(1, "entrapment", "critical", 0), alarm(2, "offline", "warning", 5),
  alarm(3, "overspeed", "major", 2)], incidents: [incident(10, 1, "raised", 1)] });
assert.deepEqual([...store.alarms.keys()].sort(), [1, 2, 3]);  // the snapshot replaces what was there
assert.deepEqual(otherAlarms(store).map((a) => a.id), [3, 2]);  // severity first
store.apply({ topic: "incident", op: "acknowledged", incident: incident(10, 1, "acknowledged", 9) });
store.apply({ topic: "incident", op: "raised", incident: incident(10, 1, "raised", 1) });  // stale: ignored
assert.equal(store.incidents.get(10).state, "acknowledged");
store.apply({ topic: "alarm", op: "raised", alarm: alarm(4, "entrapment", "critical", 3) });
assert.deepEqual(entrapments(store).map((e) => e.key), ["a4", "i10"]);  // unacknowledged first
store.apply({ topic: "alarm", op: "cleared", alarm: alarm(1, "entrapment", "critical", 0, "cleared") });
assert.ok(!store.alarms.has(1) && store.alarm(1).cleared_at);  // kept for its active incident
store.apply({ topic: "incident", op: "closed", incident: incident(10, 1, "closed", 20) });
assert.ok(!store.incidents.has(10) && store.alarm(1) === null);
assert.ok(changes >= 7);

assert.deepEqual(["raised", "acknowledged", "dispatched", "on_site", "released", "closed"].map(nextStep),
  ["acknowledged", "dispatched", "on_site", "released", "closed", null]);
const now = Date.parse(at(100));
assert.equal(trapped(null, alarm(5, "entrapment", "critical", 40), now).seconds, 60);
assert.deepEqual(deadline(incident(11, 5, "raised", 1), now), { kind: "ack", seconds: 21, late: false });
assert.equal(deadline(incident(11, 5, "raised", 1), Date.parse(at(130))).late, true);
const dispatched = incident(11, 5, "dispatched", 50, { arrival_deadline: at(90) });
assert.deepEqual(deadline(dispatched, now), { kind: "arrival", seconds: -10, late: true });
const arrived = incident(11, 5, "on_site", 60, { arrival_deadline: at(90), on_site_at: at(80) });
assert.equal(deadline(arrived, now).late, false);
assert.equal(duration(3725), "1:02:05");
for (let n = 0; n < 20; n++) assert.ok(backoffMs(n) <= 15000 && backoffMs(n) >= 250);
assert.equal(t("live"), "实时");
setLang("en");
assert.equal(t("live"), "live");
console.log("ok");
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_board_logic_in_node() -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", _LOGIC], cwd=STATIC_DIR, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# The login page's next= target: a path on this site, or nothing (an open redirect otherwise).
_NEXT = r"""
import assert from "node:assert/strict";
import { safeNext } from "./login.js";

const ORIGIN = "http://127.0.0.1:8080";
const next = (value) => safeNext("?next=" + encodeURIComponent(value), ORIGIN);
const raw = (query) => safeNext(query, ORIGIN);
for (const ok of ["/board", "/board?x=1#a", "/agency/", "/bureau/a%2Fb"]) assert.equal(next(ok), ok, ok);
assert.equal(next("/board/../agency"), "/agency");
for (const bad of ["//example.org", "/\t/example.org", "/\n/example.org", "/\\example.org", "\\\\example.org",
                   "/\\/example.org", "https://example.org/", "http://127.0.0.1:8081/board", "example.org",
                   "javascript:alert(1)", "/./\u0000/example.org", "/.//example.org", "/\u2028/example.org",
                   " /board", "/\u007f/x", "", "http:/example.org"]) {
  assert.equal(next(bad), null, JSON.stringify(bad));
}
assert.equal(raw("?next=/%09/example.org"), null);  // the reported one
assert.equal(raw("?next=%2F%2Fexample.org"), null);
assert.equal(raw("?next=/%5Cexample.org"), null);
assert.equal(raw("?other=/board"), null);
console.log("ok");
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_login_page_follows_next_only_to_this_site() -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", _NEXT], cwd=STATIC_DIR, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# Dates and times in the register's zone whatever the machine's (node runs in UTC here, as a
# desk PC might), and the register's today moving on at the register's midnight.
_CALENDAR = r"""
import assert from "node:assert/strict";
import { addDays, clock, dateTime, isoDay, setTimeZone, shortDateTime, timeZone } from "./format.js";
import { loadCalendar, registerToday } from "./api.js";

const at = "2026-03-31T17:30:00Z";  // 01:30 on 1 April in Beijing
assert.equal(setTimeZone("Nowhere/Atlantis"), false);
assert.equal(timeZone(), undefined);
assert.equal(setTimeZone("Asia/Shanghai"), true);
assert.equal(isoDay(Date.parse(at)), "2026-04-01");
assert.equal(shortDateTime(at), "04-01 01:30:00");
assert.equal(clock(at), "01:30:00");
assert.match(dateTime(at), /2026\D+0?4\D+0?1\D+01:30:00/);
setTimeZone("America/New_York");
assert.equal(isoDay(Date.parse(at)), "2026-03-31");
assert.equal(shortDateTime(at), "03-31 13:30:00");
assert.equal(addDays("2026-12-31", 1), "2027-01-01");
assert.equal(addDays("2028-02-28", 1), "2028-02-29");
assert.equal(addDays("2026-03-01", -1), "2026-02-28");
assert.equal(addDays("2026-01-30", 60), "2026-03-31");

let serverNow = Date.parse("2026-03-31T15:59:00Z");  // 23:59 in Beijing
Date.now = () => serverNow;
globalThis.fetch = async () => new Response(JSON.stringify({ today: "2026-03-31", timezone: "Asia/Shanghai" }),
  { headers: { "Content-Type": "application/json" } });
await loadCalendar();
assert.equal(timeZone(), "Asia/Shanghai");
assert.equal(registerToday(), "2026-03-31");
serverNow += 2 * 60000;  // 00:01 in Beijing, still 31 March in UTC
assert.equal(registerToday(), "2026-04-01");
serverNow += 86400000;
assert.equal(registerToday(), "2026-04-02");
console.log("ok");
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_dates_and_times_are_the_registers_in_node() -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", _CALENDAR], cwd=STATIC_DIR, capture_output=True,
                          text=True, timeout=30, check=False, env={"PATH": os.environ["PATH"], "TZ": "UTC"})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
