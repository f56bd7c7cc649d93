"""The city map's API on the application as ``semon alerts`` assembles it: ``GET /api/map`` gives
the open alarms and active incidents with the register's coordinates of their units (inside their
own district's shipped outline), an entrapment's device once, the count per district, and who may
read it; the outlines' file is served to everyone (the login page needs no map, but a file of
public boundaries needs no session)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.alarm_store import raise_alarm
from alerts.incident_store import open_incident
from alerts.model import Source
from assembly.parts import city_units
from console.web import STATIC_DIR
from registry.demo import seed_demo_register
from semon.alarm_types import AlarmType
from semon.district_outlines import OUTLINES_FILE, xining_outlines
from semon.districts import XINING
from semon.today import register_today
from simulators.city import city_fleet
from tests.integration.helpers import add_users, http_client, ingest_settings, login
from tests.integration.test_console_api import console_app

pytestmark = pytest.mark.integration

NODE = shutil.which("node")
UNREGISTERED = "31106301232020999999"


async def _seed(database_url: str) -> tuple[str, str]:
    """The register with the simulated city's three elevators; an entrapment with its incident
    on the first, a door fault on the second, an offline alarm on an unregistered device.
    Returns (trapped, faulty) device ids."""
    trapped, faulty, _ = city_fleet(3, 0)
    now = datetime.now(UTC)
    settings = ingest_settings()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=register_today(), total=60, given=city_units(3, 0))
        alarm = await raise_alarm(conn, device_id=trapped.device_id, kind="elevator", type=AlarmType.ENTRAPMENT,
                                  source=Source.TELEMETRY, raised_at=now - timedelta(seconds=40),
                                  district_code=trapped.district.code)
        assert alarm is not None
        await open_incident(conn, alarm, settings.incidents)
        await raise_alarm(conn, device_id=faulty.device_id, kind="elevator", type=AlarmType.DOOR_CLOSE_FAULT,
                          source=Source.CODE, raised_at=now - timedelta(seconds=20), district_code=faulty.district.code)
        await raise_alarm(conn, device_id=UNREGISTERED, kind="elevator", type=AlarmType.OFFLINE,
                          source=Source.CONNECTIVITY, raised_at=now - timedelta(seconds=10))
        await conn.commit()
    return trapped.device_id, faulty.device_id


async def test_the_map_places_alarms_and_incidents_in_their_districts(database_url: str) -> None:
    await add_users(database_url)
    trapped, faulty = await _seed(database_url)
    outlines = xining_outlines()
    fleet = {d.device_id: d for d in city_fleet(3, 0)}
    async with console_app(database_url) as root:
        async with http_client() as anonymous:
            assert (await anonymous.get(f"{root}/api/map")).status == 401
            resp = await anonymous.get(f"{root}/static/xining-districts.json")
            assert resp.status == 200 and resp.content_type == "application/geo+json"
            geo = await resp.json(content_type=None)
            assert sorted(f["properties"]["code"] for f in geo["features"]) == sorted(d.code for d in XINING)
        for user in ("op", "bureau", "admin"):
            async with http_client() as http:
                await login(http, f"{root}/api", user)
                resp = await http.get(f"{root}/api/map")
                assert resp.status == 200, (user, await resp.text())
                assert resp.headers["Cache-Control"] == "no-store"
                answer = await resp.json()
                page = await http.get(f"{root}/map")
                assert page.status == 200 and page.content_type == "text/html", user

        # The entrapment is one marker, its incident's; its alarm is not listed again.
        [incident] = answer["incidents"]
        assert incident["device_id"] == trapped and incident["state"] == "raised"
        assert {a["device_id"] for a in answer["alarms"]} == {faulty, UNREGISTERED}
        for marker in (incident, *(a for a in answer["alarms"] if a["device_id"] == faulty)):
            district = fleet[marker["device_id"]].district.code
            assert marker["district_code"] == district
            assert outlines[district].contains(marker["longitude"], marker["latitude"]), marker
        [offline] = [a for a in answer["alarms"] if a["device_id"] == UNREGISTERED]
        assert offline["latitude"] is None and offline["longitude"] is None and offline["district_code"] is None
        assert answer["unlocated"] == 1

        counts = {d["code"]: (d["incidents"], d["alarms"]) for d in answer["districts"]}
        assert list(counts)[:len(XINING)] == [d.code for d in XINING]
        assert counts[None] == (0, 1)
        expected: dict[str | None, list[int]] = {d.code: [0, 0] for d in XINING}
        expected[fleet[trapped].district.code][0] += 1
        expected[fleet[faulty].district.code][1] += 1
        assert all(counts[code] == tuple(n) for code, n in expected.items()), counts

        async with http_client() as http:
            await login(http, f"{root}/api", "xntjs")  # an agency: no map of the 96333 line
            assert (await http.get(f"{root}/api/map")).status == 403
            assert (await http.get(f"{root}/map")).status == 403
            document = await (await http.get(f"{root}/api/openapi.json")).json()
        assert set(document["paths"]["/api/map"]["get"]["x-roles"]) == {"operator", "bureau", "admin"}
        assert set(document["components"]["schemas"]["CityMap"]["required"]) == set(answer)


async def test_an_empty_city_has_zeros_everywhere(database_url: str) -> None:
    await add_users(database_url)
    async with console_app(database_url) as root, http_client() as http:
        await login(http, f"{root}/api", "op")
        answer = await (await http.get(f"{root}/api/map")).json()
    assert answer == {"alarms": [], "incidents": [], "unlocated": 0,
                      "districts": [{"code": d.code, "alarms": 0, "incidents": 0} for d in XINING]}


# The map's pure logic in node: the projection keeps the outlines in the frame, each incident is
# one marker (its alarm not again), the most urgent are drawn last, counts per district.
_MAP_LOGIC = r"""
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { bounds, contains, countsByDistrict, labelPoint, markers, pathOf, projection, unasked } from "./map-geo.js";

const geo = JSON.parse(readFileSync(process.argv[1], "utf8"));
const box = bounds(geo.features);
const project = projection(box, 1000, 760, 24);
for (const f of geo.features) {
  for (const ring of f.geometry.coordinates) for (const p of ring) {
    const [x, y] = project(p);
    assert.ok(x >= 23.9 && x <= 976.1 && y >= 23.9 && y <= 736.1, `${f.properties.code} ${x},${y}`);
  }
  assert.ok(contains(f.geometry, labelPoint(f)), f.properties.code);
  assert.ok(contains(f.geometry, f.properties.seat), f.properties.code);
  assert.match(pathOf(f.geometry, project), /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+Z$/);
}
const [w, s, e, n] = box;
const [x1, y1] = project([w, n]);
const [x2, y2] = project([e, s]);
assert.ok(x1 < x2 && y1 < y2);  // north is up, east is right
const core = bounds(geo.features, ["630102", "630103", "630104", "630105"]);
assert.ok(core[0] >= box[0] && core[2] <= box[2] && core[1] >= box[1] && core[3] <= box[3], `${core} in ${box}`);
assert.ok((core[2] - core[0]) * (core[3] - core[1]) < ((box[2] - box[0]) * (box[3] - box[1])) / 10);

const store = {
  incidents: new Map([[1, { id: 1, alarm_id: 10, device_id: "A", district_code: "630102", state: "raised" }]]),
  alarms: new Map([
    [10, { id: 10, device_id: "A", district_code: "630102", severity: "critical", type: "entrapment", state: "open" }],
    [11, { id: 11, device_id: "B", district_code: "630104", severity: "minor", type: "offline", state: "open" }],
    [12, { id: 12, device_id: "C", district_code: null, severity: "critical", type: "overspeed", state: "open" }],
  ]),
};
const located = new Map([["A", [36.6, 101.8]], ["B", null]]);
const list = markers(store, located);
assert.deepEqual(list.map((m) => [m.kind, m.id]), [["alarm", 11], ["alarm", 12], ["incident", 1]]);
assert.deepEqual(list.map((m) => m.at), [null, null, [36.6, 101.8]]);
assert.deepEqual(unasked(list, located), ["C"]);
const counts = countsByDistrict(list, ["630102", "630104"]);
assert.deepEqual(counts, { "630102": { incidents: 1, alarms: 0 }, "630104": { incidents: 0, alarms: 1 },
  null: { incidents: 0, alarms: 1 } });
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_map_logic_in_node() -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", _MAP_LOGIC, str(OUTLINES_FILE)], cwd=STATIC_DIR,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
