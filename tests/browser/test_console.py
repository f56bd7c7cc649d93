"""The console in a real headless Chromium: an operator sees a simulated entrapment appear
on the live board within 2 seconds without a reload and walks it to closed; the agency and
bureau views show their data; the pages refuse the unauthenticated."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect

from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.today import register_today
from simulators.city import city_fleet
from tests.browser.conftest import ARTEFACTS, DEMO_PASSWORD, System

pytestmark = pytest.mark.integration


async def login(browser: Browser, system: System, username: str, *, timezone_id: str | None = None) -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN",
                                        timezone_id=timezone_id)
    page = await context.new_page()
    await page.goto(f"{system.base}/login")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    return page


async def registered_elevator(system: System) -> str:
    """A registered elevator the simulated city does not drive, so nothing else moves it."""
    simulated = [d.device_id for d in city_fleet(20, 2, seed=1)]
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT registration_code FROM equipment WHERE category = 'elevator' AND status = 'in_use'
               AND NOT registration_code = ANY(%s) ORDER BY registration_code LIMIT 1""", (simulated,))
        row = await cur.fetchone()
    assert row is not None
    return str(row[0])


async def trap_passengers(system: System, device: str) -> None:
    client = MqttClient(ConnectOptions(f"browser-test-{device}"))
    await client.connect(BrokerAddress.from_url(system.mqtt_url))
    payload = orjson.dumps({"ts": int(time.time() * 1000), "seq": 1, "code": 11, "floor": 7,
                            "detail": "passengers trapped"})
    await client.publish(f"se/elevator/{device}/event", payload)
    await client.disconnect()


async def test_an_entrapment_reaches_the_board_and_is_worked_to_closed(browser: Browser, system: System) -> None:
    page = await login(browser, system, "operator")
    await expect(page).to_have_url(f"{system.base}/board")
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    device = await registered_elevator(system)

    await trap_passengers(system, device)
    card = page.locator(f'[data-testid="entrapment-card"][data-device-id="{device}"]')
    await expect(card).to_be_visible(timeout=2_000)  # the bound: within 2 s, pushed live
    assert await page.evaluate("window.__sameDocument === true")
    await expect(card.get_by_test_id("trapped-for")).to_be_visible()
    await expect(card.get_by_test_id("arrival-countdown")).to_be_visible()
    await page.screenshot(path=str(ARTEFACTS / "board-entrapment.png"))

    for expected_state in ("acknowledged", "dispatched", "responded", "on_site", "released", "closed"):
        button = card.get_by_test_id("next-step")
        await expect(button).to_have_attribute("data-step", expected_state)
        if expected_state == "dispatched":  # prefilled from the device card
            await expect(card.get_by_test_id("dispatch-unit")).not_to_have_value("")
            await expect(card.get_by_test_id("dispatch-contact")).not_to_have_value("")
        if expected_state == "closed":  # closing asks for the record
            await card.get_by_test_id("close-persons").fill("1")
            await card.get_by_test_id("close-injuries").fill("0")
            await card.get_by_test_id("close-cause").select_option("door_system")
            await card.get_by_test_id("close-self-release").select_option("no")
            await card.get_by_test_id("close-callback").select_option("yes")
        await card.get_by_test_id("step-comment").fill(f"{expected_state} by the browser test")
        await button.click()
        if expected_state != "closed":
            await expect(card).to_have_attribute("data-state", expected_state)
        if expected_state == "dispatched":
            await expect(card.get_by_test_id("arrival-countdown")).to_have_attribute("data-deadline-kind", "arrival")
            await page.screenshot(path=str(ARTEFACTS / "board-dispatched.png"))
    await expect(card).to_have_count(0)  # closed: off the board, pushed live

    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT i.state, array_agg(s.step || ':' || s.actor ORDER BY s.id) FROM incidents i
               JOIN incident_steps s ON s.incident_id = i.id WHERE i.device_id = %s GROUP BY i.id""", (device,))
        state, steps = (await cur.fetchall())[0]
    assert state == "closed"
    assert steps == ["raised:system", "acknowledged:operator", "dispatched:operator", "responded:operator",
                     "on_site:operator", "released:operator", "closed:operator"]


async def test_the_agency_view(browser: Browser, system: System) -> None:
    page = await login(browser, system, "agency")
    await expect(page).to_have_url(f"{system.base}/agency")
    overdue = page.get_by_test_id("equipment-list").get_by_test_id("equipment-row")
    await expect(overdue.first).to_be_visible()
    await expect(page.get_by_test_id("notice-list")).to_be_visible()
    await page.screenshot(path=str(ARTEFACTS / "agency.png"), full_page=True)
    code = await overdue.first.get_attribute("data-code")
    assert code
    form = page.get_by_test_id("inspection-form")
    await form.get_by_test_id("inspection-code").fill(code)
    await form.get_by_test_id("inspection-date").fill(register_today().isoformat())
    await form.get_by_test_id("inspection-report").fill("XN-2026-0001")
    await form.locator("button[type=submit]").click()
    await expect(form.get_by_test_id("inspection-message")).not_to_have_text("")
    await expect(page.locator(f'[data-testid="equipment-list"] [data-code="{code}"]')).to_have_count(0)
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute("SELECT recorded_by, report_no FROM inspections WHERE registration_code = %s",
                                 (code,))
        assert await cur.fetchall() == [("agency", "XN-2026-0001")]


async def a_zone_on_another_day(span: timedelta = timedelta(minutes=3)) -> str:
    """A browser time zone whose date differs from the register's (Asia/Shanghai) now and for the
    next ``span`` (the test's run): Pago Pago (UTC-11) until 19:00 Beijing time, Kiritimati
    (UTC+14) from 18:00. Across Beijing's midnight no zone differs from it both before and after
    (and the register's today itself changes): within ``span`` of it, wait for it to pass."""
    beijing = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    midnight = datetime.combine(beijing.date() + timedelta(days=1), datetime.min.time(), beijing.tzinfo)
    if midnight - beijing < span:
        await asyncio.sleep((midnight - beijing).total_seconds() + 1)
    now = datetime.now(UTC)
    instants = (now, now + span)
    for name in ("Pacific/Pago_Pago", "Pacific/Kiritimati"):
        if all(t.astimezone(ZoneInfo("Asia/Shanghai")).date() != t.astimezone(ZoneInfo(name)).date()
               for t in instants):
            return name
    raise AssertionError(f"no zone on another day at {now}")


async def test_the_agency_desk_uses_the_registers_today_in_any_browser_zone(browser: Browser, system: System) -> None:
    """A desk PC whose clock shows another day than Beijing's: the inspection form still offers
    the register's today as its default and its limit, the day counts are the register's, and
    an inspection recorded with the default date is today's."""
    zone = await a_zone_on_another_day()
    page = await login(browser, system, "agency", timezone_id=zone)
    await expect(page).to_have_url(f"{system.base}/agency")
    assert await page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone") == zone
    today = register_today()
    form = page.get_by_test_id("inspection-form")
    date_input = form.get_by_test_id("inspection-date")
    await expect(date_input).to_have_value(today.isoformat())
    await expect(date_input).to_have_attribute("max", today.isoformat())
    assert await page.evaluate("() => import('/static/format.js').then((m) => m.timeZone())") == "Asia/Shanghai"

    overdue = page.get_by_test_id("equipment-list").get_by_test_id("equipment-row")
    await expect(overdue.first).to_be_visible()
    cells = overdue.first.locator("td")
    next_due = date.fromisoformat((await cells.nth(4).inner_text()).strip())
    count = re.search(r"\d+", await cells.nth(5).inner_text())
    assert count is not None and int(count.group()) == (today - next_due).days

    code = await overdue.first.get_attribute("data-code")
    assert code
    await form.get_by_test_id("inspection-code").fill(code)
    await form.get_by_test_id("inspection-report").fill("XN-2026-TZ01")
    await form.locator("button[type=submit]").click()
    await expect(form.get_by_test_id("inspection-message")).to_contain_text("已录入")
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute("SELECT inspected_on FROM inspections WHERE report_no = 'XN-2026-TZ01'")
        assert await cur.fetchall() == [(today,)]


async def test_the_bureau_view(browser: Browser, system: System) -> None:
    page = await login(browser, system, "bureau")
    await expect(page).to_have_url(f"{system.base}/bureau")
    await expect(page.get_by_test_id("city-rate")).to_contain_text("%")
    await expect(page.get_by_test_id("rate-district").locator("tbody tr")).to_have_count(7)
    await expect(page.get_by_test_id("rate-category").locator("tbody tr").first).to_be_visible()
    await expect(page.get_by_test_id("alarm-load")).to_be_visible()
    await expect(page.get_by_test_id("kpi-district")).to_be_visible()
    trend = page.get_by_test_id("rate-trend")
    await expect(trend).to_be_visible()
    await page.screenshot(path=str(ARTEFACTS / "bureau.png"), full_page=True)


async def test_pages_refuse_the_unauthenticated_and_the_wrong_role(browser: Browser, system: System) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    response = await page.goto(f"{system.base}/board")
    assert response is not None and response.status == 401
    agency = await login(browser, system, "agency")
    await expect(agency).to_have_url(f"{system.base}/agency")
    response = await agency.goto(f"{system.base}/bureau")
    assert response is not None and response.status == 403
