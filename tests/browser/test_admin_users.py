"""The administrator's users page (/admin/users) in Chromium: add a user, who logs in; disable them
and their open console ends its session; add an agency user with its code and reset a password;
the administrator cannot disable themselves; every change is listed with who did it; no CSP
violation. Screenshots at 1366x768 and 1920x1080 in var/test-artifacts/ (docs/ holds copies)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser.conftest import ARTEFACTS, DEMO_PASSWORD, System

pytestmark = pytest.mark.integration

_RECORD = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""


async def _logged_in(browser: Browser, system: System, username: str, password: str = DEMO_PASSWORD, *,
                     width: int = 1366, height: int = 768) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    await context.add_init_script(_RECORD)
    await context.add_init_script('localStorage.setItem("semon.lang", "en");')
    page = await context.new_page()
    await page.goto(f"{system.base}/login")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page).not_to_have_url(f"{system.base}/login")
    return context, page


def _row(page: Page, username: str) -> Locator:
    return page.locator(f'[data-testid="user-row"][data-username="{username}"]')


async def _add(page: Page, username: str, role: str, password: str, *, display: str = "", agency: str = "") -> None:
    await page.get_by_test_id("new-username").fill(username)
    await page.get_by_test_id("new-display-name").fill(display)
    await page.get_by_test_id("new-role").select_option(role)
    if agency:
        await page.get_by_test_id("new-agency").fill(agency)
    await page.get_by_test_id("new-password").fill(password)
    await page.get_by_test_id("new-submit").click()
    await expect(_row(page, username)).to_be_visible()


async def test_add_a_user_who_logs_in_then_disable_them_and_their_session_ends(browser: Browser,
                                                                            system: System) -> None:
    admin_context, admin = await _logged_in(browser, system, "admin")
    await admin.get_by_test_id("nav-admin-users").click()
    await expect(admin).to_have_url(f"{system.base}/admin/users")
    await expect(_row(admin, "admin")).to_be_visible()
    # nobody disables themselves
    await expect(_row(admin, "admin").get_by_test_id("disable-user")).to_be_disabled()

    await _add(admin, "wang.wei", "operator", "wang-wei-pass-1", display="王伟")
    assert await _row(admin, "wang.wei").get_attribute("data-active") == "true"

    operator_context, operator = await _logged_in(browser, system, "wang.wei", "wang-wei-pass-1")
    await expect(operator).to_have_url(f"{system.base}/board")
    await expect(operator.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")

    await _row(admin, "wang.wei").get_by_test_id("disable-user").click()
    await expect(_row(admin, "wang.wei")).to_have_attribute("data-active", "false")
    await expect(admin.get_by_test_id("users-message")).to_contain_text("wang.wei disabled")
    # their open board learns that its session ended (the live socket's 4401) and goes to the login
    await expect(operator).to_have_url(f"{system.base}/login?next=%2Fboard", timeout=20_000)
    response = await operator.request.get(f"{system.base}/api/me")
    assert response.status == 401
    await operator_context.close()

    events = admin.get_by_test_id("user-event")
    await expect(events.first).to_have_attribute("data-action", "disabled")
    await expect(events.first).to_contain_text("admin")
    # its time as every other list shows one (format.js's shortDateTime: "12-01 04:39:43"), not the
    # browser's locale format ("2026/12/1 04:45:05")
    await expect(events.first.get_by_test_id("user-event-at")).to_have_text(re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d$"))
    await expect(admin.locator('[data-testid="user-event"][data-action="created"]').first).to_contain_text("wang.wei")
    assert await admin.evaluate("window.__violations") == []
    await admin_context.close()


async def test_an_agency_user_with_its_code_and_a_password_reset(browser: Browser, system: System) -> None:
    admin_context, admin = await _logged_in(browser, system, "admin")
    await admin.goto(f"{system.base}/admin/users")
    await expect(admin.get_by_test_id("new-agency")).to_be_hidden()  # only an agency user has one
    await admin.get_by_test_id("new-role").select_option("agency")
    await expect(admin.get_by_test_id("new-agency")).to_be_visible()
    await admin.get_by_test_id("new-role").select_option("operator")

    # an unknown agency code is refused with the server's reason, and nothing is added
    await admin.get_by_test_id("new-username").fill("li.na")
    await admin.get_by_test_id("new-role").select_option("agency")
    await admin.get_by_test_id("new-agency").fill("NOSUCH")
    await admin.get_by_test_id("new-password").fill("li-na-pass-1")
    await admin.get_by_test_id("new-submit").click()
    await expect(admin.get_by_test_id("users-message")).to_contain_text("not an inspection agency")
    await expect(_row(admin, "li.na")).to_have_count(0)
    await admin.get_by_test_id("new-agency").fill("XNTJS")
    await admin.get_by_test_id("new-submit").click()
    await expect(_row(admin, "li.na")).to_contain_text("XNTJS")

    row = _row(admin, "li.na")
    await row.get_by_test_id("reset-password").fill("li-na-pass-2")
    await row.get_by_test_id("reset-submit").click()
    await expect(admin.get_by_test_id("users-message")).to_contain_text("password of li.na reset")
    agency_context, agency = await _logged_in(browser, system, "li.na", "li-na-pass-2")
    await expect(agency).to_have_url(f"{system.base}/agency")
    await agency_context.close()
    reset_event = admin.locator('[data-testid="user-event"][data-action="password_reset"]').first
    await expect(reset_event).to_contain_text("li.na")

    for width, height in ((1366, 768), (1920, 1080)):
        await admin.set_viewport_size({"width": width, "height": height})
        await admin.reload()
        await expect(_row(admin, "li.na")).to_be_visible()
        await admin.screenshot(path=str(ARTEFACTS / f"console-users-{width}.png"))
    await admin_context.close()


async def test_only_the_admin_opens_the_page(browser: Browser, system: System) -> None:
    context, page = await _logged_in(browser, system, "operator")
    await expect(page.get_by_test_id("nav-admin-users")).to_have_count(0)
    response = await page.request.get(f"{system.base}/admin/users")
    assert response.status == 403
    await context.close()
