"""The agency's desk in Chromium on a whole ``semon up``: the heading names the agency; the list
filtered, counted and paged; the filtered export downloaded as XLSX and opened (its rows, its
Chinese headings and values); a file of inspection results in GBK with Chinese headings uploaded
from the page, its good rows stored and its bad row shown by line; pending notices say why they
wait. Screenshots of the desk at 1366x768 and 1920x1080 go to var/test-artifacts/ (docs/ holds copies)."""

from __future__ import annotations

from datetime import timedelta

import openpyxl
import psycopg
from playwright.async_api import Browser, Page, expect

from registry.demo import DEMO_AGENCY
from semon.today import register_today
from tests.browser.conftest import ARTEFACTS, DEMO_PASSWORD, System


async def agency_page(browser: Browser, system: System, width: int = 1400, height: int = 1000) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                        accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{system.base}/login")
    await page.get_by_test_id("login-username").fill("agency")
    await page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page).to_have_url(f"{system.base}/agency")
    return page


async def _agency_name(system: System) -> str:
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute("SELECT name FROM parties WHERE code = %s", (DEMO_AGENCY,))
        row = await cur.fetchone()
        assert row is not None
        return str(row[0])


async def test_the_filtered_export_is_the_whole_list_with_chinese_headings(browser: Browser, system: System) -> None:
    page = await agency_page(browser, system)
    await expect(page.get_by_test_id("agency-name")).to_have_text(await _agency_name(system))
    await page.get_by_test_id("filter-window").select_option("all")
    await page.get_by_test_id("filter-category").select_option("elevator")
    await page.get_by_test_id("filter-district").select_option("630102")
    listed = page.get_by_test_id("equipment-list")
    # The rows shown are those of the last filters chosen (an earlier answer arriving late is dropped).
    await expect(listed).to_have_attribute("data-query", "district=630102&category=elevator&sort=next_due")
    count = page.get_by_test_id("list-count")
    await expect(count).to_contain_text("共")
    await expect(page.get_by_test_id("equipment-row").first).to_be_visible()
    total = int(await count.get_attribute("data-total") or 0)
    assert total > 0
    # Paging: 50 a page, the second page starts at 51.
    await page.get_by_test_id("filter-size").select_option("50")
    await expect(count).to_contain_text(f"第 1–{min(50, total)} 条")
    if total > 50:
        await page.get_by_test_id("page-next").click()
        await expect(count).to_contain_text(f"第 51–{min(100, total)} 条，共 {total} 条")

    async with page.expect_download() as info:
        await page.get_by_test_id("export-xlsx").click()
    download = await info.value
    path = ARTEFACTS / "agency-export.xlsx"
    await download.save_as(path)
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book["register"].iter_rows(values_only=True))
    header = rows[0]
    assert header[:2] == ("设备代码", "使用登记证编号")
    assert {"设备类别", "设备品种/类型", "安装地址", "区县代码", "救援识别码", "下次检验日期"} <= set(header)
    assert len(rows) - 1 == total  # the whole filtered list, not the page shown
    assert {r[header.index("设备类别")] for r in rows[1:]} == {"电梯"}
    assert {r[header.index("区县代码")] for r in rows[1:]} == {"630102"}
    assert {r[header.index("检验机构代码")] for r in rows[1:]} == {DEMO_AGENCY}


async def _overdue_elevators(system: System, n: int) -> list[str]:
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute(
            """SELECT e.registration_code FROM equipment e JOIN parties a ON a.id = e.agency_id
               JOIN equipment_schedules s ON s.registration_code = e.registration_code AND s.schedule = 'periodic'
               WHERE a.code = %s AND e.category = 'elevator' AND e.status = 'in_use' AND s.owed
                 AND e.next_due < %s AND e.fit_for_use ORDER BY e.registration_code DESC LIMIT %s""",
            (DEMO_AGENCY, register_today(), n))
        return [str(r[0]) for r in await cur.fetchall()]


async def test_inspection_results_uploaded_from_the_page(browser: Browser, system: System) -> None:
    page = await agency_page(browser, system)
    first, second = await _overdue_elevators(system, 2)
    today = register_today().isoformat()
    lines = ["设备代码,检验项目,检验日期,检验结论,检验性质,报告编号,检验员",
             f"{first},定期检验,{today},合格,定期检验,XN-UP-1,王工",
             f"{second},定期检验,{today},合格,,XN-UP-2,李工",
             f"{first[:-1]}X,定期检验,{today},合格,,XN-UP-3,李工",  # line 4: not the agency's unit
             ""]
    data = "\r\n".join(lines).encode("gbk")  # Excel's "CSV" on a Chinese Windows
    await page.get_by_test_id("upload-file").set_input_files(
        {"name": "检验结果.csv", "mimeType": "text/csv", "buffer": data})
    await page.get_by_test_id("upload-submit").click()
    await expect(page.get_by_test_id("upload-summary")).to_have_text("已录入 2 条，退回 1 条")
    problem = page.get_by_test_id("upload-problem")
    await expect(problem).to_have_count(1)
    await expect(problem).to_have_attribute("data-line", "4")
    await expect(problem).to_contain_text(f"{first[:-1]}X")
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cur = await conn.execute("""SELECT registration_code, conclusion, inspector, recorded_by FROM inspections
                                    WHERE report_no LIKE 'XN-UP-%%' ORDER BY report_no""")
        assert await cur.fetchall() == [(first, "合格", "王工", "agency"), (second, "合格", "李工", "agency")]
    # Off the overdue list now.
    await page.get_by_test_id("filter-window").select_option("overdue")
    await expect(page.locator(f'[data-testid="equipment-list"] [data-code="{first}"]')).to_have_count(0)


async def test_screenshots_of_the_desk(browser: Browser, system: System) -> None:
    for width, height in ((1366, 768), (1920, 1080)):
        page = await agency_page(browser, system, width, height)
        await expect(page.get_by_test_id("equipment-row").first).to_be_visible()
        await expect(page.get_by_test_id("notice-list").locator("p.muted", has_text="加载")).to_have_count(0)
        row = page.get_by_test_id("equipment-row").first
        await row.get_by_role("button").click()
        await expect(page.get_by_test_id("inspection-conclusion")).to_contain_text("合格")
        waiting = page.get_by_test_id("notice-waiting")
        if await page.get_by_test_id("notice-row").count():
            await expect(waiting.first).to_contain_text("SEMON_NOTICE_DELIVERY")
        await page.evaluate("() => window.scrollTo(0, 0)")
        await page.screenshot(path=str(ARTEFACTS / f"console-agency-{width}.png"))
        await page.context.close()


async def test_windows_empty_lists_notices_and_a_refused_report_file(browser: Browser, system: System) -> None:
    page = await agency_page(browser, system)
    listed = page.get_by_test_id("equipment-list")
    await page.get_by_test_id("filter-window").select_option("due30")
    day_30 = (register_today() + timedelta(days=30)).isoformat()
    await expect(listed).to_have_attribute("data-query", f"overdue=false&due_until={day_30}&status=in_use"
                                                         "&sort=next_due")  # day 30 included
    await page.get_by_test_id("filter-q").fill("没有这样的设备")
    await page.get_by_test_id("filter-q").press("Enter")
    await expect(page.get_by_test_id("list-count")).to_have_text("无结果")
    notices = page.get_by_test_id("notice-count")
    await expect(notices).to_contain_text("共")
    assert int(await notices.get_attribute("data-total") or 0) >= await page.get_by_test_id("notice-row").count()

    (unit,) = await _overdue_elevators(system, 1)
    await page.get_by_test_id("filter-q").fill(unit)
    await page.get_by_test_id("filter-window").select_option("all")
    await page.locator(f'[data-testid="equipment-row"][data-code="{unit}"]').get_by_role("button").click()
    await expect(page.get_by_test_id("inspection-conclusion")).to_contain_text("合格")
    await page.get_by_test_id("inspection-file").set_input_files(
        {"name": "photo.pdf", "mimeType": "application/pdf", "buffer": b"\x89PNG\r\n\x1a\n" + b"0" * 64})
    await page.get_by_test_id("inspection-form").locator("button[type=submit]").click()
    message = page.get_by_test_id("inspection-message")
    await expect(message).to_contain_text("检验记录已保存，但报告文件未保存")
    await expect(message).to_have_attribute("data-report-refused", "true")
