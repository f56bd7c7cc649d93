"""The bureau's page and its monthly 96333 report in Chromium, on a whole ``semon up``: a month
of incidents written into the database (October 2026, one at 00:30 Beijing on the 1st, which is
still September in UTC), the report downloaded as XLSX from the page and read with openpyxl, the
printable page (and its A4 PDF), the drill-down from a district to its overdue units and their
device cards, the expired-inspection split by reason, the wall layout at 1920×1080 without
scrolling, and no clipped table cell at 1280×800 in English or Chinese. Screenshots go to
``var/test-artifacts/`` (the ones in docs/ are copied from there)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import psycopg
import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, Page, expect
from psycopg import sql

from alerts.alarm_store import raise_alarm
from alerts.incident_store import open_incident
from alerts.model import Source
from semon.alarm_types import AlarmType
from simulators.city import city_fleet
from tests.browser.conftest import ARTEFACTS, DEMO_PASSWORD, System
from tests.flat_settings import flat_settings

pytestmark = pytest.mark.integration

MONTH = "2026-10"
T1 = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)  # 2026-10-01 00:30 Beijing
T2 = datetime(2026, 10, 6, 22, 10, tzinfo=UTC)  # 10-07 06:10 Beijing
T3 = datetime(2026, 10, 15, 4, 0, tzinfo=UTC)  # 12:00 Beijing
T4 = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)  # 2026-11-01 00:30 Beijing: November's
MIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Month:
    """What was written: the devices of the incidents and the expired ones, by reason."""

    devices: list[str]
    lifts: int  # elevators in use in the register
    expired: dict[str, str]  # reason → device


async def _incident(conn: psycopg.AsyncConnection[Any], device: str, district: str, raised: datetime,
                    columns: dict[str, Any]) -> None:
    alarm = await raise_alarm(conn, device_id=device, kind="elevator", type=AlarmType.ENTRAPMENT,
                              source=Source.TELEMETRY, raised_at=raised, details={}, district_code=district)
    assert alarm is not None
    incident = (await open_incident(conn, alarm, flat_settings().incidents)).incident
    for column, value in {"raised_at": raised, **columns}.items():
        await conn.execute(sql.SQL("UPDATE incidents SET {} = %s WHERE id = %s").format(sql.Identifier(column)),
                           (value, incident.id))
    # A finished month: its alarms are no longer open (the board's live load stays the city's).
    await conn.execute("UPDATE alarms SET state = 'cleared', cleared_at = %s WHERE id = %s",
                       (raised + 60 * MIN, alarm.id))


@pytest.fixture(scope="module")
async def month(system: System) -> AsyncIterator[Month]:
    simulated = [d.device_id for d in city_fleet(20, 2, seed=1)]
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT e.registration_code, e.district_code, m.name
               FROM equipment e JOIN parties m ON m.id = e.maintenance_id
               WHERE e.category = 'elevator' AND e.status = 'in_use' AND e.fit_for_use AND e.owner_id IS NOT NULL
               AND NOT e.registration_code = ANY(%s) ORDER BY e.registration_code LIMIT 6""", (simulated,))
        found = [(str(c), str(d), str(m)) for c, d, m in await cur.fetchall()]
        units = [(c, d) for c, d, _ in found]
        unit_of = {c: m for c, _, m in found}
        assert len(units) == 6
        (a, da), (b, db), (c, dc) = units[:3]
        # 1: a call, tier 1, responded in time, on site 20 min after dispatch, 2 released, 门系统
        await _incident(conn, a, da, T1, {
            "state": "closed", "source": "phone", "acknowledged_at": T1 + MIN, "dispatched_at": T1 + 2 * MIN,
            "tier": 1, "maintenance_unit": unit_of[a], "responded_at": T1 + 3 * MIN, "on_site_at": T1 + 22 * MIN,
            "released_at": T1 + 30 * MIN, "closed_at": T1 + 40 * MIN, "persons_released": 2, "injuries": 0,
            "cause_class": "door_system", "self_release": False, "place": "residential"})
        # 2: from the device, escalated to tier 2, its response late, on site after 35 min, 1 released and hurt
        await _incident(conn, b, db, T2, {
            "state": "closed", "acknowledged_at": T2 + MIN / 2, "dispatched_at": T2 + MIN, "tier": 2,
            "maintenance_unit": unit_of[b], "responded_at": T2 + 9 * MIN, "response_late": True,
            "on_site_at": T2 + 36 * MIN, "released_at": T2 + 40 * MIN, "closed_at": T2 + 50 * MIN,
            "persons_released": 1, "injuries": 1, "cause_class": "external", "self_release": False,
            "place": "hospital"})
        # 3: a call that was a false alarm
        await _incident(conn, c, dc, T3, {"state": "false_alarm", "source": "phone"})
        await _incident(conn, a, da, T4, {"state": "closed"})  # November's in Beijing
        # Three running with an expired inspection, one for each reason.
        expired: dict[str, str] = {}
        for reason, (code, district) in zip(("stopped", "unfit", "overdue"), units[3:], strict=True):
            change = {"stopped": "status = 'stopped'", "unfit": "fit_for_use = false",
                      "overdue": "next_due = DATE '2026-01-31'"}[reason]
            await conn.execute(sql.SQL("UPDATE equipment SET {} WHERE registration_code = %s").format(
                sql.SQL(change)), (code,))
            alarm = await raise_alarm(conn, device_id=code, kind="elevator", type=AlarmType.INSPECTION_EXPIRED_RUNNING,
                                      source=Source.TELEMETRY, raised_at=datetime.now(UTC),
                                      details={"trip_count": 7, "reasons": [reason]}, district_code=district)
            assert alarm is not None
            expired[reason] = code
        cur = await conn.execute("SELECT count(*) FROM equipment WHERE category = 'elevator' AND status = 'in_use'")
        row = await cur.fetchone()
        assert row is not None
        await conn.commit()
    yield Month([a, b, c], int(row[0]), expired)


async def open_bureau(browser: Browser, system: System, *, width: int, height: int, lang: str = "zh-CN",
                      query: str = f"?month={MONTH}") -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale=lang,
                                        accept_downloads=True)
    await context.add_init_script(f"localStorage.setItem('semon.lang', '{lang}')")
    await context.add_init_script(CSP_RECORD)
    page = await context.new_page()
    await page.goto(f"{system.base}/login")
    await page.get_by_test_id("login-username").fill("bureau")
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page).to_have_url(f"{system.base}/bureau")
    await page.goto(f"{system.base}/bureau{query}")
    await expect(page.get_by_test_id("city-rate")).to_contain_text("%")
    await expect(page.get_by_test_id("count-entrapments")).to_be_visible()
    table = "rate-district" if "wall=1" in query else "rate-agency"  # the wall keeps the districts only
    await expect(page.get_by_test_id(table).locator("tbody tr").first).to_be_visible()
    return page


# Every page here runs under the console's Content-Security-Policy: a violation is recorded.
CSP_RECORD = """window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));"""

CLIPPED = """() => {
  const clipped = [];
  for (const cell of document.querySelectorAll('main table th, main table td')) {
    if (cell.offsetParent === null) continue;
    if (cell.scrollWidth > cell.clientWidth + 1) {
      clipped.push(cell.closest('table').dataset.testid + ': ' + cell.textContent);
    }
  }
  const root = document.documentElement;
  return { clipped, overflowX: root.scrollWidth - window.innerWidth,
           overflowY: root.scrollHeight - window.innerHeight };
}"""


async def test_the_month_on_the_page_and_in_the_downloaded_workbook(browser: Browser, system: System,
                                                                    month: Month) -> None:
    page = await open_bureau(browser, system, width=1366, height=768, lang="en")
    # October: incidents 1, 2 and the false alarm 3 (4 is November's in Beijing); entrapments 1 and 2.
    await expect(page.get_by_test_id("count-entrapments")).to_contain_text("2")
    await expect(page.get_by_test_id("period-label")).to_have_text("2026-10-01 – 2026-10-31")
    # Arrival: 1 on site 20 min after dispatch, 2 after 35 min: 1 of 2 = 50 %.
    await expect(page.get_by_test_id("count-arrival")).to_contain_text("50.00%")
    await expect(page.get_by_test_id("count-calls")).to_contain_text("2")
    await expect(page.get_by_test_id("count-released")).to_contain_text("3")
    async with page.expect_download() as info:
        await page.get_by_test_id("report-xlsx").click()
    download = await info.value
    assert download.suggested_filename == "96333-report-2026-10-01-2026-10-31.xlsx"  # the last day inclusive
    path = await download.path()
    book = load_workbook(BytesIO(path.read_bytes()))
    assert book.sheetnames == ["report", "top ten"]
    assert book["report"]["A2"].value == "Period: 2026-10-01 to 2026-10-31"  # as the page says it
    figures = {r[0]: r[1] for r in book["report"].iter_rows(values_only=True) if r and r[0]}
    assert figures["incidents"] == 3 and figures["false alarms"] == 1 and figures["entrapments"] == 2
    assert figures["calls"] == 2  # 1 and the false alarm 3
    assert figures["persons released"] == 3 and figures["injuries"] == 1  # 2 + 1; 0 + 1
    assert figures["dispatched"] == 2
    assert figures["30-minute arrival rate"] == 50.0  # 1 in 20 min, 2 in 35: 1 of 2
    assert figures["response rate"] == 50.0  # 1 in time, 2 late: 1 of 2
    assert figures["elevators in use"] == month.lifts
    assert figures["entrapments per lift"] == round(2 / month.lifts, 6)  # 困人率
    rows = list(book["report"].iter_rows(values_only=True))
    named = {r[0]: r[1] for r in rows if r and r[0]}
    assert [named[k] for k in ("1 maintenance unit", "2 second-tier station", "3 fire brigade 119",
                               "not dispatched")] == [1, 1, 0, 0]
    assert named["door system"] == 1 and named["external / power cut"] == 1 and named["not recorded"] == 0
    assert named["residential"] == 1 and named["hospital"] == 1 and named["unknown"] == 0
    slots = {r[0]: r[1] for r in rows if r and isinstance(r[0], str) and r[0][:2].isdigit() and "–" in r[0]}
    assert slots["00:00–02:00"] == 1 and slots["06:00–08:00"] == 1 and sum(slots.values()) == 2
    top = [r for r in book["top ten"].iter_rows(values_only=True) if r and isinstance(r[0], int)]
    assert sum(r[2] for r in top) == 4  # two entrapments, each counted for its unit and its owner
    await page.screenshot(path=str(ARTEFACTS / "console-bureau-1366.png"))


async def test_the_printable_report(browser: Browser, system: System, month: Month) -> None:
    page = await open_bureau(browser, system, width=1366, height=768)
    await page.get_by_test_id("report-link").click()
    await expect(page).to_have_url(f"{system.base}/bureau/report?month={MONTH}")
    report = page.get_by_test_id("report")
    await expect(report.get_by_test_id("report-period")).to_contain_text("2026-10-01")
    await expect(report.get_by_test_id("report-period")).to_contain_text("2026-10-31")
    figures = report.get_by_test_id("report-figures")
    await expect(figures.locator("tr", has_text="困人事件")).to_contain_text("2")
    await expect(report.get_by_test_id("report-slots").locator("tbody tr")).to_have_count(12)
    await expect(report.get_by_test_id("report-top-units").locator("tbody tr").first).to_be_visible()
    await page.screenshot(path=str(ARTEFACTS / "console-report-1366.png"), full_page=True)
    await page.emulate_media(media="print")
    await expect(page.locator("header.top")).to_be_hidden()
    await expect(page.get_by_test_id("report-print")).to_be_hidden()
    await expect(report).to_be_visible()
    assert await page.evaluate("window.__violations") == []
    pdf = await page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    await page.emulate_media(media="screen")
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await page.screenshot(path=str(ARTEFACTS / "console-report-1920.png"), full_page=True)


async def test_drill_down_from_a_district_and_an_agency_to_overdue_units(browser: Browser, system: System,
                                                                         month: Month) -> None:
    page = await open_bureau(browser, system, width=1366, height=768)
    rows = page.get_by_test_id("rate-district").locator("tbody tr.pick")
    await expect(rows.first).to_be_visible()
    overdue = int(await rows.first.locator("td").nth(2).inner_text())
    district = await rows.first.get_attribute("data-key")
    await rows.first.click()
    table = page.get_by_test_id("drill-table")
    await expect(table.get_by_test_id("drill-row")).to_have_count(min(overdue, 500))
    await expect(page.get_by_test_id("drill-title")).to_contain_text(f"{min(overdue, 500)}")
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT registration_code FROM equipment WHERE status = 'in_use' AND district_code = %s
               AND next_due < (now() AT TIME ZONE 'Asia/Shanghai')::date""", (district,))
        expected = {str(r[0]) for r in await cur.fetchall()}
    shown = set(await table.get_by_test_id("drill-row").evaluate_all("rows => rows.map(r => r.dataset.code)"))
    assert shown <= expected and len(shown) == min(len(expected), 500)
    first = table.get_by_test_id("drill-row").first
    code = await first.get_attribute("data-code")
    await first.get_by_test_id("drill-card").click()
    panel = page.get_by_test_id("device-panel")
    await expect(panel).to_be_visible()
    await expect(panel).to_contain_text(str(code))
    await page.keyboard.press("Escape")
    # The rate by agency, with the agencies' names; a row drills down too.
    agency = page.get_by_test_id("rate-agency").locator("tbody tr.pick").first
    await agency.click()
    await expect(page.get_by_test_id("drill-title")).to_contain_text(await agency.locator("td").first.inner_text())


async def test_expired_running_split_by_reason(browser: Browser, system: System, month: Month) -> None:
    page = await open_bureau(browser, system, width=1366, height=768, lang="en")
    section = page.get_by_test_id("expired-running")
    for reason, device in month.expired.items():
        row = section.locator(f"tr[data-device-id='{device}']")
        await expect(row).to_have_attribute("data-reason", reason)
        await expect(row.locator("td").nth(4)).not_to_be_empty()  # its owner, from the register's card
    for reason in ("stopped", "unfit", "overdue"):
        tile = page.get_by_test_id(f"expired-{reason}")
        count = int(await tile.locator("strong").inner_text())
        assert count >= 1
        await tile.click()
        await expect(page.get_by_test_id(f"expired-{reason}")).to_have_class(re.compile(r"\bpicked\b"))
        await expect(section.locator(f"tr[data-testid='expired-row']:not([data-reason='{reason}'])")).to_have_count(0)
        await expect(section.get_by_test_id("expired-row")).to_have_count(count)
    await page.get_by_test_id("expired-stopped").click()
    await expect(section.get_by_test_id("expired-row").first).to_contain_text("stopped yet running")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_no_clipped_column_at_1280(browser: Browser, system: System, month: Month, lang: str) -> None:
    page = await open_bureau(browser, system, width=1280, height=800, lang=lang)
    await expect(page.get_by_test_id("kpi-district").locator("table")).to_be_visible()
    await expect(page.get_by_test_id("expired-row").first).to_be_visible()
    await page.get_by_test_id("rate-district").locator("tbody tr.pick").first.click()
    await expect(page.get_by_test_id("drill-row").first).to_be_visible()
    await expect(page.locator("main table").first).to_be_visible()
    assert await page.locator("main table").count() >= 7  # load, KPIs ×2, rates ×3, drill, expired
    found = await page.evaluate(CLIPPED)
    assert found["clipped"] == [] and found["overflowX"] <= 0, found
    await page.goto(f"{system.base}/bureau/report?month={MONTH}")
    await expect(page.get_by_test_id("report-figures")).to_be_visible()
    found = await page.evaluate(CLIPPED)
    assert found["clipped"] == [] and found["overflowX"] <= 0, found
    if lang == "en":
        await page.goto(f"{system.base}/bureau?month={MONTH}")
        await expect(page.get_by_test_id("count-entrapments")).to_be_visible()
        await page.screenshot(path=str(ARTEFACTS / "console-bureau-1280-en.png"), full_page=True)


async def test_the_period_picker_and_the_wall(browser: Browser, system: System, month: Month) -> None:
    page = await open_bureau(browser, system, width=1920, height=1080)
    # A range of days: October 1st alone holds incident 1 only.
    await page.get_by_test_id("period-kind").select_option("range")
    await page.get_by_test_id("period-since").fill("2026-10-01")
    await page.get_by_test_id("period-last").fill("2026-10-01")
    await page.get_by_test_id("period-apply").click()
    await expect(page.get_by_test_id("period-label")).to_have_text("2026-10-01 – 2026-10-01")
    await expect(page.get_by_test_id("count-entrapments").locator("strong")).to_have_text("1")
    assert "since=2026-10-01&last=2026-10-01" in page.url
    # October is past, and the register kept no snapshot of its days: said so, not an empty frame.
    await expect(page.get_by_test_id("trend-empty")).to_have_text("本期无数据")
    await expect(page.get_by_test_id("rate-trend")).to_be_hidden()
    await page.get_by_test_id("period-kind").select_option("month")
    await page.get_by_test_id("period-month").fill(MONTH)
    await page.get_by_test_id("period-apply").click()
    await expect(page.get_by_test_id("count-entrapments").locator("strong")).to_have_text("2")
    await page.screenshot(path=str(ARTEFACTS / "console-bureau-1920.png"))
    # The wall: the same period, big numbers, nothing to scroll.
    await page.get_by_test_id("wall-toggle").click()
    await expect(page).to_have_url(f"{system.base}/bureau?month={MONTH}&wall=1")
    await expect(page.get_by_test_id("count-entrapments").locator("strong")).to_have_text("2")
    await expect(page.get_by_test_id("city-rate")).to_contain_text("%")
    await expect(page.get_by_test_id("load-total")).to_be_visible()
    size = await page.get_by_test_id("count-entrapments").locator("strong").evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)")
    assert size >= 48
    found = await page.evaluate(CLIPPED)
    assert found["overflowX"] <= 0 and found["overflowY"] <= 0, found
    assert await page.evaluate("window.__violations") == []


# Every section of the wall shows all of its content: nothing scrolled away or cut at the
# section's edge (each section's content fits its cell), every row of the KPI and rate tables
# inside its section, every tile's number whole.
WALL_HIDDEN = """() => {
  const hidden = [];
  const inside = (el, box) => { const r = el.getBoundingClientRect();
    return r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.left >= box.left - 1 && r.right <= box.right + 1; };
  const sections = [...document.querySelectorAll('main > section')].filter((s) => s.offsetParent !== null);
  for (const section of sections) {
    const name = section.className;
    if (section.scrollHeight > section.clientHeight + 1) {
      hidden.push(`${name}: ${section.scrollHeight} > ${section.clientHeight}`);
    }
    if (section.scrollWidth > section.clientWidth + 1) hidden.push(`${name}: wide ${section.scrollWidth}`);
    const box = section.getBoundingClientRect();
    for (const el of section.querySelectorAll('tr, .tile, img, p, h2')) {
      if (el.offsetParent === null) continue;
      if (!inside(el, box)) hidden.push(`${name}: ${el.tagName} ${el.textContent.slice(0, 30)}`);
    }
    for (const n of section.querySelectorAll('.tile strong')) { // each number whole inside its tile
      if (!inside(n, n.closest('.tile').getBoundingClientRect())) hidden.push(`${name}: number ${n.textContent}`);
    }
  }
  return { hidden, sections: sections.map((s) => s.className),
           kpiRows: document.querySelectorAll('[data-testid="kpi-district"] tbody tr').length,
           rateRows: document.querySelectorAll('[data-testid="rate-district"] tbody tr').length };
}"""


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_the_wall_shows_every_section_whole_at_1920(browser: Browser, system: System, month: Month,
                                                          lang: str) -> None:
    for query, shot in ((f"?month={MONTH}&wall=1", "console-bureau-wall-1920"), ("?wall=1", None)):
        page = await open_bureau(browser, system, width=1920, height=1080, lang=lang, query=query)
        await expect(page.get_by_test_id("load-total")).to_be_visible()
        await expect(page.get_by_test_id("rate-district").locator("tbody tr").first).to_be_visible()
        trend = '[data-testid="rate-trend"]:visible, [data-testid="trend-empty"]:visible'
        await expect(page.locator(trend)).to_have_count(1)
        await expect(page.get_by_test_id("kpi-district").locator("table, p")).to_be_visible()
        await expect(page.get_by_test_id("expired-row").first).to_be_visible()
        await page.wait_for_load_state("networkidle")
        found = await page.evaluate(WALL_HIDDEN)
        # the six sections of the bureau (no other list in a cell of its own), each whole
        assert found["sections"] == ["b-counts", "b-load", "b-kpis", "b-rate", "b-trend", "b-expired"], found
        assert found["hidden"] == [] and found["rateRows"] >= 7, (query, found)
        rows = await page.evaluate("async (q) => (await (await fetch('/api/kpis/rescue?by=district&' + q)).json())"
                                   ".rows.length", "since=2026-09-30T16%3A00%3A00Z&until=2026-10-31T16%3A00%3A00Z")
        if query.startswith("?month"):
            assert found["kpiRows"] == rows
        if shot is not None:
            suffix = "" if lang == "zh-CN" else "-en"
            await page.screenshot(path=str(ARTEFACTS / f"{shot}{suffix}.png"))
        assert await page.evaluate("window.__violations") == []
        await page.context.close()


async def test_refused_periods_are_said_never_rolled_over(browser: Browser, system: System, month: Month) -> None:
    page = await open_bureau(browser, system, width=1366, height=768, lang="en")
    # The picker: a reversed range is refused, the period shown stays October.
    await page.get_by_test_id("period-kind").select_option("range")
    await page.get_by_test_id("period-since").fill("2026-12-05")
    await page.get_by_test_id("period-last").fill("2026-11-01")
    await page.get_by_test_id("period-apply").click()
    await expect(page.get_by_test_id("period-error")).to_contain_text("the first day is after the last")
    await expect(page.get_by_test_id("period-label")).to_have_text("2026-10-01 – 2026-10-31")
    assert page.url.endswith(f"?month={MONTH}")
    await page.get_by_test_id("period-last").fill("2026-12-06")
    await page.get_by_test_id("period-apply").click()
    await expect(page.get_by_test_id("period-error")).to_be_hidden()
    await expect(page.get_by_test_id("period-label")).to_have_text("2026-12-05 – 2026-12-06")
    # The address: each refused with its reason, the page still drawn (the current month), no rollover.
    for query, why in (("?month=abc", "a month is YYYY-MM"), ("?month=9999-12", "1900–2999"),
                       ("?month=0001-01", "1900–2999"), ("?since=2026-11-05&last=2026-11-01", "after the last"),
                       ("?since=2026-11-01&last=2026-11-31", "no such day")):
        await page.goto(f"{system.base}/bureau{query}")
        await expect(page.get_by_test_id("period-error")).to_contain_text(why)
        await expect(page.get_by_test_id("count-entrapments")).to_be_visible()
        label = await page.get_by_test_id("period-label").text_content()
        assert label is not None and label != "2026-11-01 – 2026-12-01", (query, label)  # 11-31 not read as 12-01
        await page.goto(f"{system.base}/bureau/report{query}")
        await expect(page.get_by_test_id("period-error")).to_contain_text(why)
        await expect(page.get_by_test_id("report")).to_have_count(0)
    await page.goto(f"{system.base}/bureau?month=2025-01")
    await expect(page.get_by_test_id("trend-empty")).to_have_text("no data for this period")
    assert await page.evaluate("window.__violations") == []
    await page.context.close()
