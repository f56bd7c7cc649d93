"""The console under its Content-Security-Policy in a real Chromium: every page works with no
violation reported (the 401 and 403 pages too), and the login page's next= never leaves the site."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import DEMO_PASSWORD, System

pytestmark = pytest.mark.integration

_RECORD = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""


async def _login(browser: Browser, system: System, username: str, query: str = "") -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await context.add_init_script(_RECORD)
    page = await context.new_page()
    await page.goto(f"{system.base}/login{query}")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    return page


async def test_every_page_works_under_the_csp(browser: Browser, system: System) -> None:
    for username, path, ready in (("operator", "/board", "live-indicator"), ("agency", "/agency", "notice-list"),
                                  ("bureau", "/bureau", "rate-trend")):
        page = await _login(browser, system, username)
        await expect(page).to_have_url(f"{system.base}{path}")
        await expect(page.get_by_test_id(ready)).to_be_visible()
        if username == "operator":
            await expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-live", "true")
        if username == "bureau":  # the bars are sized by style: allowed as CSSOM, not as an attribute
            await expect(page.locator(".fill").first).to_be_attached()
            width = await page.locator(".fill").first.evaluate("(el) => el.style.width")
            assert width.endswith("%"), width
        response = await page.request.get(f"{system.base}{path}")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert await page.evaluate("window.__violations") == [], username
        await page.context.close()


async def test_next_never_leaves_the_site(browser: Browser, system: System) -> None:
    for hostile in ("/%09/example.org", "//example.org", "/%5Cexample.org", "https://example.org/"):
        page = await _login(browser, system, "operator", f"?next={hostile}")
        await expect(page).to_have_url(f"{system.base}/board")
        assert urlsplit(page.url).netloc == urlsplit(system.base).netloc
        await page.context.close()
    page = await _login(browser, system, "operator", "?next=/board%3Fx%3D1")
    await expect(page).to_have_url(f"{system.base}/board?x=1")
    await page.context.close()


async def test_the_401_and_403_pages_keep_their_own_policy(browser: Browser, system: System) -> None:
    """Their style block is allowed by its hash: no violation, and the page is styled (the
    block applied: the body's width is limited), for a stranger (401) and a role refused (403)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await context.add_init_script(_RECORD)
    page = await context.new_page()
    for path in ("/boiler", "/board", "/admin/users"):
        response = await page.goto(f"{system.base}{path}")
        assert response is not None and response.status == 401, path
        await expect(page.get_by_role("link", name="登录")).to_be_visible()
        assert await page.evaluate("getComputedStyle(document.body).maxWidth") != "none", path
        assert await page.evaluate("window.__violations") == [], path
    await context.close()
    page = await _login(browser, system, "agency")
    await expect(page).to_have_url(f"{system.base}/agency")
    for path in ("/boiler", "/admin/users"):
        response = await page.goto(f"{system.base}{path}")
        assert response is not None and response.status == 403, path
        assert await page.evaluate("getComputedStyle(document.body).maxWidth") != "none", path
        assert await page.evaluate("window.__violations") == [], path
    await page.context.close()
