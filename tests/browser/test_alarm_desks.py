"""The alarm desks in a real headless Chromium on a whole ``semon up`` (issue 15): the board
carries the 96333 line only (entrapments and the elevator faults, an entrapment's device once),
the boiler desk and the IoT view carry theirs, the register's alarms go to the bureau; an
operator shelves a fault (it leaves the list, shows under 'shelved', comes back on unshelve);
the sound preference outlives a reload and a language switch; a background tab gets a desktop
notification. Screenshots at 1366x768 and 1920x1080 in var/test-artifacts/ (docs/ holds copies)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import psycopg
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from alerts.live_notify import LIVE_CHANNEL, encode_change
from alerts.model import ALARM_COLUMNS, alarm_from_row
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from simulators.city import city_fleet
from tests.browser.conftest import ARTEFACTS, DEMO_PASSWORD, System
from tests.browser.test_security import _RECORD

pytestmark = pytest.mark.integration

SIZES = ((1366, 768), (1920, 1080))


@dataclass(frozen=True, slots=True)
class City:
    """What the module's alarms are on: registered units the simulated city does not drive."""

    trapped: str  # an entrapment, and a stop outside the door zone on the same car
    endangering: str  # 轿厢意外移动 (critical, sounds)
    door: str  # a door-close fault: the one shelved
    offline: str  # gone offline: the IoT view's
    boiler: str  # over-pressure: the boiler desk's
    expired: str  # running with an expired inspection: the bureau's


async def units(system: System, category: str, n: int) -> list[str]:
    simulated = [d.device_id for d in city_fleet(20, 2, seed=1)]
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT registration_code FROM equipment WHERE category = %s AND status = 'in_use'
               AND NOT registration_code = ANY(%s) ORDER BY registration_code LIMIT %s""", (category, simulated, n))
        found = [str(r[0]) for r in await cur.fetchall()]
    assert len(found) == n
    return found


async def publish(system: System, messages: list[tuple[str, bytes, bool]]) -> None:
    client = MqttClient(ConnectOptions(f"desk-test-{time.monotonic_ns()}"))
    await client.connect(BrokerAddress.from_url(system.mqtt_url))
    for topic, payload, retain in messages:
        await client.publish(topic, payload, retain=retain)
    await client.disconnect()


_seq = iter(range(1, 1_000_000))


def event(code: int) -> bytes:
    return orjson.dumps({"ts": int(time.time() * 1000), "seq": next(_seq), "code": code, "floor": 5})


async def announce(conn: psycopg.AsyncConnection, op: str, row: tuple[object, ...] | None) -> None:
    """Commit, and tell the consoles as another process of semon would (alerts.live_notify)."""
    assert row is not None
    change = {"topic": "alarm", "op": op, "alarm": alarm_from_row(row).as_json()}
    await conn.execute("SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, encode_change(change, origin="desk-test")))
    await conn.commit()


async def expired_running_alarm(system: System, device: str) -> None:
    """The register's alarm, as the rules engine raises it when a unit runs past its due date
    (written here, as waiting for the demo register's due dates would take minutes), announced
    on the live channel as the engine's process would."""
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            f"""INSERT INTO alarms (device_id, kind, type, severity, source, raised_at, district_code)
               SELECT %s, 'elevator', 'inspection_expired_running', 'major', 'telemetry', now(), district_code
               FROM equipment WHERE registration_code = %s
               RETURNING {ALARM_COLUMNS}""", (device, device))
        await announce(conn, "raised", await cur.fetchone())


@pytest.fixture(scope="module")
async def city(system: System) -> AsyncIterator[City]:
    trapped, endangering, door, offline, expired = await units(system, "elevator", 5)
    (boiler,) = await units(system, "boiler", 1)
    await publish(system, [
        (f"se/elevator/{trapped}/event", event(11), False),  # trapped (the provincial platform's code)
        (f"se/elevator/{trapped}/event", event(4), False),  # 非平层停梯 on the same car
        (f"se/elevator/{endangering}/event", event(5), False),  # 轿厢意外移动
        (f"se/elevator/{door}/event", event(2), False),  # door close fault
        (f"se/elevator/{offline}/status", b"offline", True),
        (f"se/boiler/{boiler}/event", event(103), False),  # over-pressure
    ])
    await expired_running_alarm(system, expired)
    yield City(trapped, endangering, door, offline, boiler, expired)


async def login(browser: Browser, system: System, username: str, *, width: int = 1366, height: int = 768,
                locale: str = "zh-CN") -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    await context.add_init_script(_RECORD)  # the pages must work under the Content-Security-Policy
    page = await context.new_page()
    await page.goto(f"{system.base}/login")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
    return page


async def shoot(page: Page, view: str) -> None:
    """docs/console-{view}-{width}.png at each of the docs' sizes, from the page's top left."""
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(ARTEFACTS / f"console-{view}-{width}.png"), animations="disabled")


def row(page: Page, device: str, testid: str = "alarm-row") -> Locator:
    return page.locator(f'[data-testid="{testid}"]:has(code:text-is("{device}"))')


async def test_the_board_carries_the_96333_line_only(browser: Browser, system: System, city: City) -> None:
    page = await login(browser, system, "operator")
    await expect(page).to_have_url(f"{system.base}/board")
    card = page.locator(f'[data-testid="entrapment-card"][data-device-id="{city.trapped}"]')
    await expect(card).to_be_visible(timeout=10_000)
    endangering = page.locator(f'[data-testid="alarm-row"][data-type="unintended_car_movement"]'
                               f':has(code:text-is("{city.endangering}"))')
    await expect(endangering).to_be_visible(timeout=10_000)
    await expect(endangering).to_have_class(re.compile(r"\bendangers\b.*\bcalling\b"))  # highlighted, sounding
    await expect(row(page, city.door)).to_be_visible()
    # The trapped car's other fault is on its card, not a second entry in the list.
    await expect(card.get_by_test_id("co-alarms").locator('[data-type="stopped_outside_door_zone"]')).to_be_visible()
    await expect(row(page, city.trapped)).to_have_count(0)
    await expect(page.locator('[data-testid="entrapment-card"]', has_text=city.trapped)).to_have_count(1)
    # Neither the boiler's, the connectivity's nor the register's alarms are on the board.
    desk = page.get_by_test_id("alarm-desk")
    for device in (city.boiler, city.offline, city.expired):
        await expect(desk.locator(f'code:text-is("{device}")')).to_have_count(0)
    types = await page.locator('[data-testid="alarm-row"]').evaluate_all("rows => rows.map(r => r.dataset.desk)")
    assert set(types) == {"96333"}, types
    # The centre's own terms.
    await expect(endangering).to_contain_text("轿厢意外移动")
    await expect(card.get_by_test_id("co-alarms")).to_contain_text("非平层停梯")
    await page.context.close()


async def test_the_boiler_desk_and_the_iot_view_carry_theirs(browser: Browser, system: System, city: City) -> None:
    page = await login(browser, system, "operator")
    await page.goto(f"{system.base}/boiler")
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
    await expect(row(page, city.boiler)).to_be_visible(timeout=10_000)
    await expect(row(page, city.boiler)).to_have_attribute("data-type", "over_pressure")
    for device in (city.trapped, city.door, city.offline, city.expired):
        await expect(row(page, device)).to_have_count(0)

    await page.goto(f"{system.base}/iot")
    await expect(row(page, city.offline)).to_be_visible(timeout=10_000)
    await expect(row(page, city.offline)).to_have_attribute("data-type", "offline")
    for device in (city.boiler, city.door, city.trapped):
        await expect(row(page, device)).to_have_count(0)
    types = await page.locator('[data-testid="alarm-row"]').evaluate_all("rows => rows.map(r => r.dataset.type)")
    assert set(types) <= {"offline", "silent"}, types
    # The IoT view's filter: the text narrows the list to the one device.
    await page.get_by_test_id("desk-filter-text").fill(city.offline[-8:])
    await expect(page.locator('[data-testid="alarm-row"]')).to_have_count(1)

    # The bureau may open both, and sees the register's alarm once, in its expired split with its reason.
    bureau = await login(browser, system, "bureau")
    await expect(bureau).to_have_url(f"{system.base}/bureau")
    listed = bureau.locator(f'[data-testid="expired-row"][data-device-id="{city.expired}"]')
    await expect(listed).to_be_visible(timeout=10_000)
    await expect(bureau.locator(f'[data-device-id="{city.expired}"]')).to_have_count(1)
    await bureau.goto(f"{system.base}/boiler")
    await expect(row(bureau, city.boiler)).to_be_visible(timeout=10_000)
    await expect(row(bureau, city.boiler).get_by_test_id("alarm-shelve")).to_have_count(0)  # looks, never handles
    assert await page.evaluate("window.__violations") == []
    assert await bureau.evaluate("window.__violations") == []
    await page.context.close()
    await bureau.context.close()


async def test_an_operator_shelves_a_fault_and_unshelves_it(browser: Browser, system: System, city: City) -> None:
    page = await login(browser, system, "operator")
    other = await login(browser, system, "operator")  # a second console sees it too
    fault = row(page, city.door)
    await expect(fault).to_be_visible(timeout=10_000)

    await fault.get_by_test_id("alarm-acknowledge").click()
    await expect(fault).to_have_attribute("data-acknowledged", "true")
    await expect(row(other, city.door)).to_have_attribute("data-acknowledged", "true")

    await fault.get_by_test_id("alarm-shelve").click()
    form = page.get_by_test_id("shelve-form")
    await expect(form).to_be_visible()
    await form.get_by_test_id("shelve-confirm").click()  # no reason: refused in the page
    await expect(form.get_by_test_id("shelve-error")).not_to_be_empty()
    await form.get_by_test_id("shelve-minutes").select_option("30")
    await form.get_by_test_id("shelve-reason").fill("维保单位已到场处理门机")
    await form.get_by_test_id("shelve-reason").press("Enter")  # Enter never shelves
    await expect(form).to_be_visible()
    await expect(fault).to_be_visible()
    await form.get_by_test_id("shelve-confirm").click()
    await expect(form).to_be_hidden()
    await expect(fault).to_have_count(0)
    shelved = row(page, city.door, "shelved-row")
    await expect(shelved).to_be_visible()
    await expect(shelved).to_contain_text("维保单位已到场处理门机")
    await expect(row(other, city.door)).to_have_count(0)  # pushed live to the other console
    await expect(row(other, city.door, "shelved-row")).to_be_visible()
    await shoot(page, "board")

    await shelved.get_by_test_id("alarm-unshelve").click()
    await expect(row(page, city.door)).to_be_visible()
    await expect(row(page, city.door, "shelved-row")).to_have_count(0)
    await expect(row(other, city.door)).to_be_visible()
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT acknowledged_by, shelved_by, shelved_reason, shelved_until <= now() FROM alarms
               WHERE device_id = %s AND type = 'door_close_fault' AND state = 'open'""", (city.door,))
        assert await cur.fetchone() == ("operator", "operator", "维保单位已到场处理门机", True)

    # A shelving runs out by itself: shelved for a minute, it is back when the minute is over.
    await row(page, city.door).get_by_test_id("alarm-shelve").click()
    await page.get_by_test_id("shelve-minutes").select_option("15")
    await page.get_by_test_id("shelve-reason").fill("short")
    await page.get_by_test_id("shelve-confirm").click()
    await expect(row(page, city.door, "shelved-row")).to_be_visible()
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            f"""UPDATE alarms SET shelved_until = now() + interval '2 seconds' WHERE device_id = %s
               AND type = 'door_close_fault' AND state = 'open' RETURNING {ALARM_COLUMNS}""", (city.door,))
        await announce(conn, "shelved", await cur.fetchone())
    await expect(row(page, city.door)).to_be_visible(timeout=10_000)
    await expect(row(page, city.door, "shelved-row")).to_have_count(0)
    await page.context.close()
    await other.context.close()


async def test_the_sound_preference_outlives_a_reload_and_a_language_switch(browser: Browser, system: System,
                                                                            city: City) -> None:
    del city
    page = await login(browser, system, "operator")
    sound = page.get_by_test_id("enable-sound")
    await expect(sound).to_have_attribute("data-sound", "off")
    await sound.click()
    await expect(sound).to_have_attribute("data-sound", "on")
    assert await page.evaluate("localStorage.getItem('semon.sound')") == "on"

    for switch in (page.reload, page.locator("#lang").click):
        await switch()
        await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
        # On at once where the browser allows it; otherwise the notice asks for a click, and any
        # click on the page re-arms it.
        state = await sound.get_attribute("data-sound")
        assert state in ("on", "blocked"), state
        if state == "blocked":
            await expect(sound).to_be_visible()
            await page.locator("h2:visible").first.click()
        await expect(sound).to_have_attribute("data-sound", "on")
    await expect(page.locator("html")).to_have_attribute("lang", "en")

    # Turned off, it says so (muted) and stays off over a reload and any click on the page.
    await sound.click()
    await expect(sound).to_have_attribute("data-sound", "muted")
    await page.reload()
    await expect(page.get_by_test_id("enable-sound")).to_have_attribute("data-sound", "muted")
    await page.locator("h2:visible").first.click()
    await expect(page.get_by_test_id("enable-sound")).to_have_attribute("data-sound", "muted")
    await page.context.close()


async def test_a_background_tab_notifies_a_new_critical_fault(browser: Browser, system: System, city: City) -> None:
    del city
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    await context.grant_permissions(["notifications"], origin=system.base)
    # The tab is made to look hidden, and notifications are recorded instead of shown.
    await context.add_init_script("""
        window.__hidden = false; window.__notes = [];
        Object.defineProperty(document, "hidden", { get: () => window.__hidden });
        window.Notification = class { static permission = "granted";
          static requestPermission() { return Promise.resolve("granted"); }
          constructor(title, options) { window.__notes.push({ title, ...options }); } };
    """)
    page = await context.new_page()
    await page.goto(f"{system.base}/login")
    await page.get_by_test_id("login-username").fill("operator")
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
    await expect(page.locator('[data-testid="alarm-row"]').first).to_be_visible(timeout=10_000)
    assert await page.evaluate("window.__notes.length") == 0  # what the snapshot shows is not new

    (device,) = (await units(system, "elevator", 6))[5:]
    await page.evaluate("window.__hidden = true")
    await publish(system, [(f"se/elevator/{device}/event", event(5), False),  # 轿厢意外移动: critical
                           (f"se/elevator/{device}/event", event(2), False)])  # a door fault: no notification
    await expect(row(page, device).first).to_be_visible(timeout=10_000)
    notes = await page.evaluate("window.__notes")
    assert [n["body"].split(" · ")[0] for n in notes] == [device], notes
    assert "轿厢意外移动" in notes[0]["title"]
    await context.close()


async def test_screenshots_of_the_boiler_desk_and_the_iot_view(browser: Browser, system: System, city: City) -> None:
    page = await login(browser, system, "operator")
    for view, device in (("boiler", city.boiler), ("iot", city.offline)):
        await page.goto(f"{system.base}/{view}")
        await expect(row(page, device)).to_be_visible(timeout=10_000)
        await shoot(page, view)
    await page.screenshot(path=str(ARTEFACTS / "iot.png"), full_page=True)
    assert await page.evaluate("window.__violations") == []
    await page.context.close()
