"""The city map in a real headless Chromium on a whole ``semon up``: the seven districts drawn
from the shipped outlines, an entrapment published over MQTT appears as a marker inside its
district without a reload and is counted there, a click opens its device card; the agency may
not open the map. Screenshots at 1366×768 and 1920×1080 (kept in ``var/test-artifacts/``; the
docs' copies, docs/console-map-*.png, are taken from them)."""

from __future__ import annotations

import time

import orjson
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect

from semon.district_outlines import xining_outlines
from semon.districts import XINING
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from simulators.city import city_fleet
from tests.browser.conftest import ARTEFACTS, DEMO_PASSWORD, System

pytestmark = pytest.mark.integration

# The map is drawn under the console's Content-Security-Policy (SVG built through the DOM, no
# style attributes): any violation is recorded and fails the test.
_RECORD_CSP_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));"""


async def login(browser: Browser, system: System, username: str, width: int = 1366, height: int = 768,
                locale: str = "zh-CN") -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    await context.add_init_script(_RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await page.goto(f"{system.base}/login")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    return page


async def placed_elevators(system: System, n: int) -> list[tuple[str, str, float, float]]:
    """Registered elevators in use that the simulated city does not drive, one per district
    as far as they go: (code, district, latitude, longitude)."""
    simulated = [d.device_id for d in city_fleet(20, 2, seed=1)]
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT DISTINCT ON (district_code) registration_code, district_code, latitude, longitude
               FROM equipment WHERE category = 'elevator' AND status = 'in_use' AND latitude IS NOT NULL
               AND NOT registration_code = ANY(%s) ORDER BY district_code, registration_code""", (simulated,))
        rows = [(str(c), str(d), float(lat), float(lon)) for c, d, lat, lon in await cur.fetchall()]
    assert len(rows) >= n
    spread = ("630102", "630121", "630104", "630106", "630105", "630103", "630123")  # city and counties alternating
    return sorted(rows, key=lambda r: spread.index(r[1]))[:n]


async def publish_event(system: System, device: str, code: int) -> None:
    client = MqttClient(ConnectOptions(f"map-test-{device}-{code}"))
    await client.connect(BrokerAddress.from_url(system.mqtt_url))
    payload = orjson.dumps({"ts": int(time.time() * 1000), "seq": code, "code": code, "floor": 7})
    await client.publish(f"se/elevator/{device}/event", payload)
    await client.disconnect()


async def test_the_map_shows_the_districts_and_a_live_incident(browser: Browser, system: System) -> None:
    page = await login(browser, system, "operator")
    await page.goto(f"{system.base}/map")
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
    districts = page.get_by_test_id("district")
    await expect(districts).to_have_count(len(XINING))
    assert sorted(await districts.evaluate_all("els => els.map(e => e.dataset.code)")) == sorted(d.code for d in XINING)
    await expect(page.get_by_test_id("district-label")).to_have_count(len(XINING))
    await expect(page.get_by_test_id("district-count")).to_have_count(len(XINING))
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    (trapped, district, latitude, longitude), *others = await placed_elevators(system, 5)
    assert xining_outlines()[district].contains(longitude, latitude)
    await publish_event(system, trapped, 11)  # 困人
    marker = page.locator(f'[data-testid="map-marker"][data-kind="incident"][data-device-id="{trapped}"]')
    await expect(marker).to_have_count(1, timeout=5_000)
    assert await page.evaluate("window.__sameDocument === true")
    row = page.locator(f'[data-testid="district-count"][data-code="{district}"]')
    await expect(row.get_by_test_id("count-incidents")).to_have_text("1")
    # The marker is drawn inside its district's outline on the screen.
    box = await marker.bounding_box()
    assert box is not None
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hit = await page.evaluate(
        "([x, y]) => document.elementsFromPoint(x, y).find(e => e.dataset?.testid === 'district')?.dataset.code",
        list(centre))
    assert hit == district
    # Its alarm is not a second marker.
    await expect(page.locator(f'[data-testid="map-marker"][data-device-id="{trapped}"]')).to_have_count(1)

    for code, other in zip((2, 3, 1, 2), others, strict=True):  # door faults, a safety circuit open: other alarms
        await publish_event(system, other[0], code)
    for other in others:
        alarm = page.locator(f'[data-testid="map-marker"][data-kind="alarm"][data-device-id="{other[0]}"]')
        await expect(alarm).to_have_count(1, timeout=5_000)

    await marker.click()
    panel = page.get_by_test_id("device-panel")
    await expect(panel).to_be_visible()
    await expect(panel).to_have_attribute("data-device-id", trapped)
    await expect(panel.locator("dl")).to_contain_text(trapped[:6])
    await page.keyboard.press("Escape")
    await page.screenshot(path=str(ARTEFACTS / "console-map-1366.png"))
    assert await page.evaluate("window.__violations") == []

    wall = await login(browser, system, "bureau", 1920, 1080)
    await wall.goto(f"{system.base}/map")
    await expect(wall.locator(f'[data-testid="map-marker"][data-device-id="{trapped}"]')).to_have_count(1)
    await wall.screenshot(path=str(ARTEFACTS / "console-map-1920.png"))
    await wall.get_by_test_id("map-view-core").click()
    await expect(wall.get_by_test_id("map-view-core")).to_have_class("current")
    await wall.screenshot(path=str(ARTEFACTS / "console-map-core-1920.png"))


async def test_the_map_in_english_and_refused_to_an_agency(browser: Browser, system: System) -> None:
    page = await login(browser, system, "operator", locale="en")
    await page.evaluate("localStorage.setItem('semon.lang', 'en')")
    await page.goto(f"{system.base}/map")
    await expect(page.locator('[data-testid="district-label"][data-code="630121"]')).to_have_text("Datong County")
    agency = await login(browser, system, "agency")
    await expect(agency.get_by_test_id("nav-agency")).to_be_visible()
    await expect(agency.get_by_test_id("nav-map")).to_have_count(0)  # no link to it
    response = await agency.goto(f"{system.base}/map")
    assert response is not None and response.status == 403
