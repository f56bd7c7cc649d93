"""The 96333 desk in a real headless Chromium: a phone call found by its rescue code and worked
from 新建接警 to closed with its record; an unregistered lift whose maintenance unit does not
respond, so the rescue moves to the second tier by itself and the operator calls 119; Enter in
the comment box adds the comment and never takes a step, and a false alarm needs no confirm()
dialog; the shift view with today's incidents, the history and the handover. Screenshots of the
card and the shift view go to var/test-artifacts/ (docs/ holds copies)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from alerts.alarm_store import raise_alarm
from alerts.model import Source as AlarmSource
from bench.up_process import semon_up_process
from semon.alarm_types import AlarmType
from semon.stack import free_port
from simulators.city import city_fleet
from tests.browser.conftest import ARTEFACTS, DEMO_PASSWORD, System

pytestmark = pytest.mark.integration

RESPONSE_DEADLINE_S = 8  # short, so a unit that does not confirm is escalated during the test
STEP_TIMEOUT_MS = 5_000
SIZES = ((1366, 768), (1920, 1080))


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    """This module's own ``semon up``: the response limit is seconds, not minutes."""
    port = free_port()
    settings = {"SEMON_API_PORT": str(port), "SEMON_METRICS_PORT": "0", "SEMON_CITY_ELEVATORS": "20",
                "SEMON_CITY_BOILERS": "2", "SEMON_CITY_FAULT_INTERVAL_S": "0", "SEMON_REGISTRY_DEMO_UNITS": "2000",
                "SEMON_AUTH_DEMO_PASSWORD": DEMO_PASSWORD, "SEMON_LOG_LEVEL": "WARNING",
                "SEMON_INCIDENT_RESPONSE_DEADLINE_S": str(RESPONSE_DEADLINE_S)}
    async with semon_up_process(settings, prefix="semon-desk-") as state:
        yield System(f"http://127.0.0.1:{port}", state["mqtt_url"], state["database_url"])


async def operator_page(browser: Browser, system: System, path: str = "/board",
                        viewport: tuple[int, int] = (1366, 768)) -> Page:
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{system.base}/login?next={path}")
    await page.get_by_test_id("login-username").fill("operator")
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page).to_have_url(f"{system.base}{path}")
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
    return page


async def lift_with_rescue_code(system: System) -> tuple[str, str]:
    """A registered elevator the simulated city does not drive, with its rescue code."""
    simulated = [d.device_id for d in city_fleet(20, 2, seed=1)]
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT registration_code, rescue_code FROM equipment WHERE category = 'elevator'
               AND status = 'in_use' AND rescue_code IS NOT NULL AND NOT registration_code = ANY(%s)
               ORDER BY registration_code LIMIT 1""", (simulated,))
        row = await cur.fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


async def incident_row(system: System, device: str) -> dict[str, object]:
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT id, state, source, caller, caller_phone, tier, persons_released, injuries, cause_class,
                      self_release, callback_confirmed, responded_at IS NOT NULL AS responded
               FROM incidents WHERE device_id = %s ORDER BY id DESC LIMIT 1""", (device,))
        assert cur.description is not None
        names = [c.name for c in cur.description]
        row = await cur.fetchone()
    assert row is not None, f"no incident for {device}"
    return dict(zip(names, row, strict=True))


async def steps_of(system: System, incident_id: object) -> list[tuple[str, str, dict[str, object]]]:
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute("SELECT step, actor, details FROM incident_steps WHERE incident_id = %s ORDER BY id",
                                 (incident_id,))
        return [(str(s), str(a), dict(d or {})) for s, a, d in await cur.fetchall()]


async def take(card: Locator, step: str) -> None:
    button = card.get_by_test_id("next-step")
    await expect(button).to_have_attribute("data-step", step)
    await button.click()
    await expect(card).to_have_attribute("data-state", step, timeout=STEP_TIMEOUT_MS)


async def open_call(page: Page, *, search: str | None = None, code: str | None = None,
                    unregistered: tuple[str, str, str] | None = None, caller: str = "", phone: str = "",
                    note: str = "") -> None:
    """新建接警: find the lift by `search` and pick `code`, or type in an unregistered one
    (device id, maintenance unit, contact); then the caller and open the incident."""
    await page.get_by_test_id("new-call").click()
    panel = page.get_by_test_id("intake-panel")
    await expect(panel).to_be_visible()
    if unregistered is None:
        assert search is not None and code is not None
        await panel.get_by_test_id("intake-search").fill(search)
        await panel.locator(f'[data-testid="intake-result"][data-code="{code}"]').click()
        await expect(panel.get_by_test_id("intake-selected")).to_have_attribute("data-code", code)
    else:
        await panel.get_by_test_id("intake-unregistered").check()
        await panel.get_by_test_id("intake-device").fill(unregistered[0])
        await panel.get_by_test_id("intake-unit").fill(unregistered[1])
        await panel.get_by_test_id("intake-contact").fill(unregistered[2])
    await panel.get_by_test_id("intake-caller").fill(caller)
    await panel.get_by_test_id("intake-phone").fill(phone)
    await panel.get_by_test_id("intake-note").fill(note)
    await panel.get_by_test_id("intake-open").click()
    await expect(panel).to_be_hidden()


async def shoot(page: Page, name: str, locator: Locator | None = None) -> None:
    """docs/console-<name>-<width>.png at each size; the page (or the locator scrolled into view)."""
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        if locator is None:
            await page.evaluate("window.scrollTo(0, 0)")
        else:
            await locator.scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTEFACTS / f"console-{name}-{width}.png"))


async def test_a_phone_call_from_search_to_close_with_its_record(browser: Browser, system: System) -> None:
    device, rescue_code = await lift_with_rescue_code(system)
    page = await operator_page(browser, system)
    await open_call(page, search=rescue_code, code=device, caller="王女士", phone="13900001111",
                    note="3号楼电梯停在两层之间，里面两个人")
    card = page.locator(f'[data-testid="entrapment-card"][data-device-id="{device}"]')
    await expect(card).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await expect(card).to_have_attribute("data-source", "phone")
    await expect(card).to_have_attribute("data-state", "acknowledged")  # the operator took the call
    await expect(card.get_by_test_id("caller")).to_contain_text("13900001111")
    await expect(card.get_by_test_id("device-link")).to_contain_text(rescue_code)
    await expect(card.get_by_test_id("incident-tier")).to_have_attribute("data-tier", "1")
    await expect(card.get_by_test_id("unregistered")).to_be_hidden()

    # The dispatch is prefilled from the device card; its contacts are offered.
    await expect(card.get_by_test_id("dispatch-unit")).not_to_have_value("")
    await expect(card.get_by_test_id("dispatch-contact")).not_to_have_value("")
    await expect(card.get_by_test_id("contact-option").first).to_be_visible()
    await take(card, "dispatched")
    await expect(card.get_by_test_id("response-countdown")).to_have_attribute("data-done", "false")
    await expect(card.get_by_test_id("arrival-countdown")).to_have_attribute("data-deadline-kind", "arrival")
    await take(card, "responded")
    await expect(card.get_by_test_id("response-countdown")).to_have_attribute("data-done", "true")
    await card.get_by_test_id("step-comment").fill("维保人员已出发，预计 15 分钟到达")
    await card.get_by_test_id("add-comment").click()
    await expect(card.locator('[data-testid="timeline-comment"]', has_text="预计 15 分钟到达")).to_be_visible()
    # The call's note is the first entry's comment.
    await expect(card.locator('[data-testid="timeline-comment"]', has_text="里面两个人")).to_be_visible()
    await shoot(page, "incident", card)
    await page.set_viewport_size({"width": 1366, "height": 768})
    await take(card, "on_site")
    await take(card, "released")

    # Closing asks for the record: without it nothing is sent.
    await card.get_by_test_id("next-step").click()
    await expect(card.get_by_test_id("step-error")).not_to_have_text("")
    await expect(card).to_have_attribute("data-state", "released")
    await card.get_by_test_id("close-persons").fill("2")
    await card.get_by_test_id("close-injuries").fill("0")
    await card.get_by_test_id("close-cause").select_option("external")
    await card.get_by_test_id("close-self-release").select_option("no")
    await card.get_by_test_id("close-callback").select_option("yes")
    # The timeline shows every step so far with who took it.
    timeline = card.get_by_test_id("timeline")
    for step in ("acknowledged", "dispatched", "responded", "on_site", "released"):
        entry = timeline.locator(f'[data-testid="timeline-entry"][data-step="{step}"]')
        await expect(entry).to_have_attribute("data-actor", "operator")
    await card.get_by_test_id("next-step").click()
    await expect(card).to_have_count(0, timeout=STEP_TIMEOUT_MS)  # closed: off the board

    record = await incident_row(system, device)
    assert record["state"] == "closed" and record["source"] == "phone"
    assert (record["caller"], record["caller_phone"]) == ("王女士", "13900001111")
    assert (record["persons_released"], record["injuries"], record["cause_class"]) == (2, 0, "external")
    assert (record["self_release"], record["callback_confirmed"], record["responded"]) == (False, True, True)
    steps = [(s, a) for s, a, _ in await steps_of(system, record["id"]) if s != "comment"]
    assert [s for s, _ in steps][-6:] == ["acknowledged", "dispatched", "responded", "on_site", "released", "closed"]
    assert all(a == "operator" for s, a in steps if s != "raised")

    # The shift view: today's incident is over, its record opens with the timeline; the history
    # finds it by source and cause; the handover summary loads.
    await page.goto(f"{system.base}/board/shift")
    row = page.locator(f'[data-testid="shift-over"] [data-incident-id="{record["id"]}"]')
    await expect(row).to_be_visible()
    await row.click()
    panel = page.get_by_test_id("incident-record")
    await expect(panel).to_have_attribute("data-incident-id", str(record["id"]))
    await expect(panel.get_by_test_id("record-persons")).to_have_text("2")
    await expect(panel.get_by_test_id("record-callback")).to_have_text("是")
    await expect(panel.locator('[data-testid="timeline-entry"][data-step="closed"]')).to_have_attribute(
        "data-actor", "operator")
    await page.locator(".panel-close").click()
    filters = page.get_by_test_id("history-filters")
    await filters.get_by_test_id("filter-source").select_option("phone")
    await filters.get_by_test_id("filter-cause_class").select_option("external")
    await filters.get_by_test_id("history-search").click()
    history = page.get_by_test_id("history-table")
    await expect(history.locator(f'[data-incident-id="{record["id"]}"]')).to_be_visible()
    await expect(history.get_by_test_id("shift-row")).to_have_count(1)
    await filters.get_by_test_id("filter-cause_class").select_option("door_system")
    await filters.get_by_test_id("history-search").click()
    await expect(history.locator(f'[data-incident-id="{record["id"]}"]')).to_have_count(0)
    await expect(page.get_by_test_id("handover-closed").locator(f'[data-incident-id="{record["id"]}"]')).to_be_visible()


async def test_no_response_moves_the_rescue_to_tier_2_and_the_operator_calls_119(browser: Browser,
                                                                                  system: System) -> None:
    device = "XN-UNREG-0001"
    page = await operator_page(browser, system)
    await open_call(page, unregistered=(device, "西宁安达电梯维保有限公司", "李师傅 13800002222"),
                    caller="保安", phone="0971-6000000", note="地下车库电梯，未登记")
    card = page.locator(f'[data-testid="entrapment-card"][data-device-id="{device}"]')
    await expect(card).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await expect(card.get_by_test_id("unregistered")).to_be_visible()
    # The maintenance unit given at the call is prefilled; the operator may change it.
    await expect(card.get_by_test_id("dispatch-unit")).to_have_value("西宁安达电梯维保有限公司")
    await card.get_by_test_id("dispatch-contact").fill("李师傅 13800002222")
    await take(card, "dispatched")
    await card.get_by_test_id("no-answer").click()
    await expect(card.locator('[data-testid="timeline-entry"][data-step="no_answer"]')).to_have_count(1)

    # Nobody confirms: the response limit passes and the second tier takes over by itself.
    tier = card.get_by_test_id("incident-tier")
    await expect(tier).to_have_attribute("data-tier", "2", timeout=(RESPONSE_DEADLINE_S + 15) * 1000)
    escalated = card.locator('[data-testid="timeline-entry"][data-step="escalated"]')
    await expect(escalated).to_have_attribute("data-actor", "system")
    await expect(card.get_by_test_id("escalation-note")).to_be_visible()
    await expect(card.get_by_test_id("start-tier-2")).to_be_hidden()

    # The operator calls 119 by hand.
    await card.get_by_test_id("call-119").click()
    await expect(card.get_by_test_id("dispatch-box")).to_have_attribute("data-tier", "3")
    await card.get_by_test_id("dispatch-submit").click()  # left empty: the server sends the fire brigade
    await expect(tier).to_have_attribute("data-tier", "3", timeout=STEP_TIMEOUT_MS)
    await expect(card.get_by_test_id("maintenance")).to_contain_text("119")
    await expect(card.get_by_test_id("call-119")).to_be_hidden()

    record = await incident_row(system, device)
    assert record["tier"] == 3 and record["source"] == "phone"
    steps = await steps_of(system, record["id"])
    kinds = [(s, a) for s, a, _ in steps]
    assert ("escalated", "system") in kinds and ("no_answer", "operator") in kinds
    escalation = next(d for s, _, d in steps if s == "escalated")
    assert (escalation.get("from_tier"), escalation.get("to_tier"), escalation.get("reason")) == (1, 2, "no_response")
    assert [d.get("tier") for s, _, d in steps if s == "dispatched"][-1] == 3


async def test_enter_in_the_comment_box_adds_the_comment_and_never_takes_a_step(browser: Browser,
                                                                                system: System) -> None:
    device = "XN-UNREG-0002"
    page = await operator_page(browser, system)
    await open_call(page, unregistered=(device, "", ""), caller="住户", phone="13700003333")
    card = page.locator(f'[data-testid="entrapment-card"][data-device-id="{device}"]')
    await expect(card).to_have_attribute("data-state", "acknowledged", timeout=STEP_TIMEOUT_MS)
    # Once with the dispatch fields empty, once filled in (a dispatch would then be accepted).
    for unit, contact, text in (("", "", "来电人情绪稳定"), ("西宁安达电梯", "李师傅 13800002222", "正在联系维保单位")):
        await card.get_by_test_id("dispatch-unit").fill(unit)
        await card.get_by_test_id("dispatch-contact").fill(contact)
        box = card.get_by_test_id("step-comment")
        await box.fill(text)
        await box.press("Enter")
        await expect(card.locator('[data-testid="timeline-comment"]', has_text=text)).to_be_visible()
        await expect(box).to_have_value("")
        await asyncio.sleep(1)  # a step, had one been sent, would have come back by now
        await expect(card).to_have_attribute("data-state", "acknowledged")
    record = await incident_row(system, device)
    assert record["state"] == "acknowledged"
    steps = await steps_of(system, record["id"])
    assert [s for s, _, _ in steps] == ["raised", "acknowledged", "comment", "comment"]
    await page.screenshot(path=str(ARTEFACTS / "desk-enter.png"))

    # The shift view lists it as open, and the handover hands it over.
    await page.goto(f"{system.base}/board/shift")
    await expect(page.get_by_test_id("shift-open").locator(f'[data-incident-id="{record["id"]}"]')).to_be_visible()
    await expect(page.get_by_test_id("handover-open").locator(f'[data-incident-id="{record["id"]}"]')).to_be_visible()
    await shoot(page, "shift")

    # A false alarm takes a second click on the armed button, no confirm() dialog (Playwright
    # dismisses dialogs: a confirm() would have answered "no" and nothing would be sent).
    await page.goto(f"{system.base}/board")
    card = page.locator(f'[data-testid="entrapment-card"][data-device-id="{device}"]')
    await card.get_by_test_id("false-alarm").click()
    await asyncio.sleep(1)
    await expect(card).to_have_attribute("data-state", "acknowledged")
    await card.get_by_test_id("false-alarm").click()
    await expect(card).to_have_count(0, timeout=STEP_TIMEOUT_MS)
    assert (await incident_row(system, device))["state"] == "false_alarm"


# Defects an operator meets: each checked as the operator meets it.

LONG_DEVICE = "U" + "7" * 63  # the longest device id the protocol allows
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


async def api_post(page: Page, path: str, body: dict[str, object]) -> object:
    """POST as the page's logged-in operator (the console's own api.js: its session and CSRF token)."""
    return await page.evaluate("async ([path, body]) => (await import('/static/api.js')).post(path, body)",
                               [path, body])


async def test_a_reload_shows_no_dispatch_fields_and_long_text_wraps(browser: Browser, system: System) -> None:
    """After a reload a dispatched incident offers no dispatch (a click would re-dispatch); a
    2,000-character comment of one word, a 100-character caller and a 64-character device id wrap
    in the card and in the shift view instead of making the page scroll sideways at 1366."""
    page = await operator_page(browser, system)
    opened = await api_post(page, "/api/incidents", {"device_id": LONG_DEVICE, "caller": "名" * 100,
                                                     "caller_phone": "１３７０００００４４４"})
    assert isinstance(opened, dict)
    incident_id = opened["id"]
    await api_post(page, f"/api/incidents/{incident_id}/comments", {"comment": "W" * 2000})
    card = page.locator(f'[data-testid="entrapment-card"][data-device-id="{LONG_DEVICE}"]')
    await expect(card).to_have_attribute("data-state", "acknowledged", timeout=STEP_TIMEOUT_MS)
    await expect(card.get_by_test_id("dispatch-box")).to_be_visible()  # the dispatch is its next step
    await api_post(page, f"/api/incidents/{incident_id}/steps", {"step": "dispatched", "expected_state": "acknowledged",
                                                                 "maintenance_unit": "临时维保", "contact": "139"})
    await page.reload()
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
    await expect(card).to_have_attribute("data-state", "dispatched", timeout=STEP_TIMEOUT_MS)
    await expect(card.get_by_test_id("dispatch-box")).to_be_hidden()
    await expect(card.get_by_test_id("dispatch-submit")).to_be_hidden()
    await expect(card.get_by_test_id("dispatch-cancel")).to_be_hidden()
    await card.get_by_test_id("redispatch").click()  # only asked for
    await expect(card.get_by_test_id("dispatch-submit")).to_be_visible()
    await card.get_by_test_id("dispatch-cancel").click()
    await expect(card.get_by_test_id("dispatch-box")).to_be_hidden()

    await expect(card.locator('[data-testid="timeline-comment"]', has_text="WWWW")).to_be_visible()
    assert await page.evaluate(OVERFLOW_JS) <= 0
    width = await card.evaluate("(el) => el.getBoundingClientRect().width")
    assert width < 1366, width
    await page.goto(f"{system.base}/board/shift")
    await expect(page.get_by_test_id("shift-open").locator(f'[data-incident-id="{incident_id}"]')).to_be_visible()
    assert await page.evaluate(OVERFLOW_JS) <= 0
    # The phone typed full-width was stored as digits: the history finds it either way.
    filters = page.get_by_test_id("history-filters")
    await filters.get_by_test_id("filter-q").fill("１３７００００")
    await filters.get_by_test_id("history-search").click()
    await expect(page.get_by_test_id("history-table").locator(f'[data-incident-id="{incident_id}"]')).to_be_visible()
    # A reversed date range is not searched silently: the page says so.
    await filters.get_by_test_id("filter-from").fill("2026-01-10")
    await filters.get_by_test_id("filter-to").fill("2026-01-01")
    await filters.get_by_test_id("history-search").click()
    await expect(page.get_by_test_id("history-count")).to_have_class(re.compile(r"\berror\b"))
    await page.context.close()


async def test_the_english_board_fits_1366_without_a_clipped_cell(browser: Browser, system: System) -> None:
    """The 96333 line's faults in English at 1366×768: the time and the handling columns are in
    view, no cell's text is cut, the page does not scroll sideways (shelved rows included)."""
    types = (AlarmType.UNINTENDED_CAR_MOVEMENT, AlarmType.PREVENT_RESTART_FAULT, AlarmType.STOPPED_OUTSIDE_DOOR_ZONE,
             AlarmType.DOOR_CLOSE_FAULT, AlarmType.MOTOR_RUNTIME_LIMITER)
    async with await psycopg.AsyncConnection.connect(system.database_url, autocommit=True) as conn:
        for n, kind in enumerate(types):
            await raise_alarm(conn, device_id=f"31106301022015{n:06d}X", kind="elevator", type=kind,
                              source=AlarmSource.CODE, raised_at=datetime.now(UTC), details={}, district_code="630102")
    page = await operator_page(browser, system)
    await page.evaluate("localStorage.setItem('semon.lang', 'en')")
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    rows = page.get_by_test_id("alarm-list").get_by_test_id("alarm-row")
    await expect(rows).to_have_count(len(types), timeout=STEP_TIMEOUT_MS)
    await rows.first.get_by_test_id("alarm-acknowledge").click()
    await rows.last.get_by_test_id("alarm-shelve").click()
    await page.get_by_test_id("shelve-reason").fill("technician on the way")
    await page.get_by_test_id("shelve-confirm").click()
    await expect(page.get_by_test_id("shelved-row")).to_have_count(1)
    clipped = await page.evaluate("""() => {
      const view = document.documentElement.clientWidth;
      const cells = document.querySelectorAll('.alarm-table th, .alarm-table td, .alarm-table button');
      return [...cells].filter((el) => el.scrollWidth > el.clientWidth + 1
        || el.getBoundingClientRect().right > view + 0.5).map((el) => el.textContent.slice(0, 40));
    }""")
    assert clipped == []
    assert await page.evaluate(OVERFLOW_JS) <= 0
    await page.screenshot(path=str(ARTEFACTS / "desk-board-en-1366.png"))
    await page.context.close()
