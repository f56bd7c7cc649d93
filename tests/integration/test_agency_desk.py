"""The agency's desk on a real PostgreSQL: its lists searched, filtered, sorted, counted and paged
with no cut; the filtered XLSX export in Chinese; a zh-CN export imported back as the same
register; errors in the user's language."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import quote

import openpyxl
import psycopg
import pytest

from assembly.parts import city_units
from registry.demo import seed_demo_register
from registry.io import export_register, import_register
from registry.notices import scan_notices
from semon.db.pool import open_pool
from semon.today import register_today
from tests.integration.helpers import add_users, http_client, login
from tests.integration.test_register_api import api

pytestmark = pytest.mark.integration


async def _seed(database_url: str, total: int = 2_000) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=register_today(), total=total, given=city_units(20, 0))
        await conn.commit()
    await add_users(database_url)


async def _count(database_url: str, sql: str, *params: object) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_the_agencys_list_is_counted_paged_filtered_and_sorted(database_url: str) -> None:
    await _seed(database_url)
    own = await _count(database_url, """SELECT count(*) FROM equipment e JOIN parties a ON a.id = e.agency_id
                                        WHERE a.code = 'XNTJS'""")
    assert own > 500  # more than the console's old silent cut
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        seen: list[str] = []
        offset = 0
        while True:
            page = await (await http.get(f"{base}/registry/equipment?limit=300&offset={offset}"
                                         "&sort=registration_code")).json()
            assert page["total"] == own and page["limit"] == 300 and page["offset"] == offset
            seen += [e["registration_code"] for e in page["equipment"]]
            if len(page["equipment"]) < 300:
                break
            offset += 300
        assert len(seen) == own == len(set(seen)) and seen == sorted(seen)

        today = register_today()
        window = f"due_from={today}&due_before={today + timedelta(days=60)}"
        page = await (await http.get(f"{base}/registry/equipment?district=630102&category=elevator&status=in_use"
                                     f"&{window}&sort=next_due&desc=true&limit=1000")).json()
        expected = await _count(database_url, """
            SELECT count(*) FROM equipment e JOIN parties a ON a.id = e.agency_id WHERE a.code = 'XNTJS'
            AND e.district_code = '630102' AND e.category = 'elevator' AND e.status = 'in_use'
            AND e.next_due >= %s AND e.next_due < %s""", today, today + timedelta(days=60))
        assert page["total"] == expected == len(page["equipment"]) > 0
        dues = [e["next_due"] for e in page["equipment"]]
        assert dues == sorted(dues, reverse=True)
        assert all(e["district_code"] == "630102" and e["category"] == "elevator" for e in page["equipment"])

        # Search: part of an address, case and wildcards taken literally.
        probe = page["equipment"][0]
        words = str(probe["address"])[:4]
        found = await (await http.get(f"{base}/registry/equipment", params={"q": words, "limit": "1000"})).json()
        assert probe["registration_code"] in {e["registration_code"] for e in found["equipment"]}
        assert all(words in str(e["address"]) or words.lower() in e["registration_code"].lower()
                   for e in found["equipment"])
        none = await (await http.get(f"{base}/registry/equipment", params={"q": "%_%"})).json()
        assert none["total"] == 0
        # Another agency's units: refused, not silently empty.
        resp = await http.get(f"{base}/registry/equipment?agency=OTHER")
        assert resp.status == 403


async def test_the_filtered_export_holds_the_whole_list_in_chinese(database_url: str) -> None:
    await _seed(database_url)
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        query = "category=elevator&status=in_use&overdue=false"
        listed = await (await http.get(f"{base}/registry/equipment?{query}&limit=1")).json()
        resp = await http.get(f"{base}/registry/export?{query}&format=xlsx", headers={"X-Semon-Lang": "zh-CN"})
        assert resp.status == 200
        assert resp.headers["Content-Disposition"].startswith('attachment; filename="register-')
        assert int(resp.headers["X-Total-Count"]) == listed["total"]
        book = openpyxl.load_workbook(io.BytesIO(await resp.read()), read_only=True)
        rows = list(book["register"].iter_rows(values_only=True))
        header = rows[0]
        assert header[:2] == ("设备代码", "使用登记证编号") and {"设备类别", "设备品种/类型", "区县代码"} <= set(header)
        assert all(h is not None and not str(h).isascii() for h in header)  # every heading in Chinese
        assert len(rows) - 1 == listed["total"] > 0
        assert {r[header.index("设备类别")] for r in rows[1:]} == {"电梯"}
        assert {r[header.index("在用状态")] for r in rows[1:]} == {"在用"}
        # In English by the request's Accept-Language; CSV too.
        resp = await http.get(f"{base}/registry/export?{query}&format=csv", headers={"Accept-Language": "en-US"})
        text = (await resp.read()).decode("utf-8-sig")
        assert text.startswith("registration_code,use_registration_no,")
        assert text.count("\r\n") - 1 == listed["total"]


async def test_a_chinese_export_imports_back_as_the_same_register(database_url: str) -> None:
    await _seed(database_url, total=600)
    async with open_pool(database_url, min_size=1, max_size=2) as pool:
        for fmt in ("xlsx", "csv"):
            out = io.BytesIO()
            written = await export_register(pool, out, fmt, chinese=True)
            assert written == await _count(database_url, "SELECT count(*) FROM equipment") > 500
            report = await import_register(pool, out.getvalue(), fmt)
            assert not report.problems, report.problems[:3]
            assert (report.inserted, report.updated, report.unchanged) == (0, 0, written)


async def test_errors_are_in_the_users_language(database_url: str) -> None:
    await add_users(database_url)
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "admin")
        resp = await http.get(f"{base}/registry/equipment/NOPE", headers={"X-Semon-Lang": "zh-CN"})
        body = await resp.json()
        assert resp.status == 404 and body == {"error": "登记册中没有设备 NOPE", "code": "registry.not_in_register"}
        resp = await http.get(f"{base}/registry/equipment/NOPE", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert (await resp.json())["error"] == "equipment NOPE is not in the register"
        resp = await http.get(f"{base}/registry/equipment?limit=0", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        body = await resp.json()
        assert resp.status == 400 and body["error"].startswith("输入有误：") and "code" not in body  # not asked for
        resp = await http.get(f"{base}/no/such/page", headers={"X-Semon-Lang": "zh-CN"})
        assert resp.status == 404 and (await resp.json())["error"] == "未找到"


async def _agency_units(database_url: str, category: str, n: int) -> list[str]:
    """``n`` units in use of ``category`` owing a periodic inspection, made XNTJS's."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("""SELECT e.registration_code FROM equipment e
                                    JOIN equipment_schedules s ON s.registration_code = e.registration_code
                                    WHERE e.category = %s AND e.status = 'in_use' AND e.fit_for_use
                                      AND s.schedule = 'periodic' AND s.owed AND NOT e.exempt
                                    ORDER BY 1 LIMIT %s""", (category, n))
        codes = [str(r[0]) for r in await cur.fetchall()]
        await conn.execute("""UPDATE equipment SET agency_id = (SELECT id FROM parties WHERE code = 'XNTJS')
                              WHERE registration_code = ANY(%s)""", (codes,))
        await conn.commit()
        return codes


async def test_results_uploaded_as_a_chinese_office_saves_them(database_url: str) -> None:
    await _seed(database_url)
    lifts = await _agency_units(database_url, "elevator", 3)
    vessels = await _agency_units(database_url, "pressure_vessel", 1)
    today = register_today()
    day = (today - timedelta(days=2)).isoformat()
    lines = ["设备代码,检验项目,检验日期,检验结论,检验性质,报告编号,检验员,安全状况等级",
             f"{lifts[0]},定期检验,{day},合格,定期检验,R-1,王工,",
             f"{lifts[1]},定期检验,{day},符合要求,,R-2,李工,",  # 3: a boiler's word, not an elevator's
             f"{lifts[2]},定期检验,{day},不合格,,R-3,张工,",
             f"{lifts[2]},定期检验,{today.isoformat()},合格,复检,R-3F,张工,",
             f"{vessels[0]},定期检验,{day},,,R-5,赵工,4",
             f"NOT-OURS,定期检验,{day},合格,,R-6,王工,",  # 7
             ""]
    data = "\r\n".join(lines).encode("gbk")  # as Excel saves "CSV" on a Chinese Windows
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data=data,
                               headers={"Content-Type": "text/csv", "X-Semon-Lang": "zh-CN"})
        report = await resp.json()
        assert resp.status == 200, report
        assert (report["stored"], report["rejected"]) == (4, 2), report
        assert [p["line"] for p in report["problems"]] == [3, 7]
        assert "符合要求" in report["problems"][0]["reason"] and "TSG T7001-2023" in report["problems"][0]["reason"]
        detail = await (await http.get(f"{base}/registry/equipment/{lifts[2]}")).json()
        latest = detail["inspections"][0]
        assert (latest["conclusion"], latest["kind"], latest["inspector"], latest["result"]) == (
            "合格", "reinspection", "张工", "pass")
        assert detail["fit_for_use"]  # the re-inspection passed
        vessel = await (await http.get(f"{base}/registry/equipment/{vessels[0]}")).json()
        assert vessel["inspections"][0]["conclusion"] == "基本符合要求" and vessel["rated"]["safety_grade"] == 4

        # One inspection by hand, with its conclusion; then its report file.
        resp = await http.post(f"{base}/registry/equipment/{lifts[0]}/inspections",
                               json={"inspected_on": str(today), "conclusion": "不合格", "inspector": "王工"})
        recorded = await resp.json()
        assert resp.status == 201 and not recorded["fit_for_use"]
        report_url = f"{base}/registry/inspections/{recorded['inspection_id']}/report"
        pdf = b"%PDF-1.4\n" + b"0" * 2000
        resp = await http.post(f"{report_url}?filename=../../报告 R-9.pdf", data=pdf,
                               headers={"Content-Type": "application/pdf"})
        assert resp.status == 201, await resp.text()
        for body, kind, status in [(b"<html>", "text/html", 415), (b"MZ\x90\x00", "application/pdf", 415),
                                   (b"%PDF-" + b"0" * (11 * 1024 * 1024), "application/pdf", 413)]:
            resp = await http.post(f"{report_url}?filename=x.pdf", data=body, headers={"Content-Type": kind})
            assert resp.status == status, await resp.text()
        resp = await http.get(report_url)
        assert resp.status == 200 and await resp.read() == pdf and resp.content_type == "application/pdf"
        assert resp.headers["Content-Disposition"] == (
            "attachment; filename=\"___R-9.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%20R-9.pdf")
        detail = await (await http.get(f"{base}/registry/equipment/{lifts[0]}")).json()
        assert detail["inspections"][0]["report"]["filename"] == "报告 R-9.pdf"

        agency = await (await http.get(f"{base}/registry/agencies/XNTJS")).json()
        assert agency["code"] == "XNTJS" and agency["name"] != "XNTJS"
        assert (await http.get(f"{base}/registry/agencies/OTHER")).status == 404

    async with api(database_url) as base, http_client() as http:
        await login(http, base, "bureau")
        resp = await http.get(f"{base}/registry/inspections/{recorded['inspection_id']}/report")
        assert resp.status == 200  # the bureau reads it too
        conclusions = await (await http.get(f"{base}/registry/conclusions")).json()
        boiler = next(c for c in conclusions["categories"] if c["category"] == "boiler")
        assert [c["name"] for c in boiler["conclusions"]] == ["符合要求", "基本符合要求", "不符合要求"]


async def test_pending_notices_say_why_they_wait(database_url: str) -> None:
    await _seed(database_url)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await scan_notices(conn, register_today())
        await conn.commit()
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "bureau")
        notices = (await (await http.get(f"{base}/registry/notices?state=pending&limit=50",
                                         headers={"X-Semon-Lang": "zh-CN"})).json())["notices"]
        assert notices and all(n["waiting"] and "SEMON_NOTICE_DELIVERY" in n["waiting"] for n in notices)
        assert notices[0]["waiting"].startswith("未开启发送")


async def test_results_as_an_xlsx_workbook_and_what_is_refused(database_url: str) -> None:
    await _seed(database_url)
    (lift,) = await _agency_units(database_url, "elevator", 1)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["registration_code", "schedule", "inspected_on", "conclusion", "inspector"])
    sheet.append([lift, "periodic", register_today() - timedelta(days=1), "pass", "Wang"])
    sheet.append([lift, "periodic", register_today() + timedelta(days=1), "合格", "Wang"])  # 3: the future
    out = io.BytesIO()
    book.save(out)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        resp = await http.post(f"{base}/registry/inspections/import?format=xlsx", data=out.getvalue(),
                               headers={"Content-Type": xlsx})
        report = await resp.json()
        assert (report["stored"], [p["line"] for p in report["problems"]]) == (1, [3]), report
        detail = await (await http.get(f"{base}/registry/equipment/{lift}")).json()
        assert (detail["inspections"][0]["conclusion"], detail["inspections"][0]["inspector"]) == ("合格", "Wang")
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data=b"a,b\n",
                               headers={"Content-Type": "application/json", "X-Semon-Lang": "zh-CN"})
        assert resp.status == 415 and (await resp.json())["code"] == "registry.results_type"
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data=b"",
                               headers={"Content-Type": "text/csv"})
        assert resp.status == 400
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data=b"x" * (17 * 1024 * 1024),
                               headers={"Content-Type": "text/csv"})
        assert resp.status == 413
    # Another role may not upload results.
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "op")
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data=b"x",
                               headers={"Content-Type": "text/csv"})
        assert resp.status == 403


async def test_a_reinspection_the_same_day_is_its_own_record_and_a_second_one_a_correction(
        database_url: str) -> None:
    await _seed(database_url)
    lift, other = await _agency_units(database_url, "elevator", 2)
    today = register_today().isoformat()
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        url = f"{base}/registry/equipment/{lift}/inspections"
        failed = await (await http.post(url, json={"inspected_on": today, "conclusion": "不合格",
                                                   "report_no": "R-F"})).json()
        assert failed["replaced"] is False and failed["warnings"] == []
        # 复检 by its Chinese name, the same day: a record of its own; the failure stays.
        resp = await http.post(url, json={"inspected_on": today, "conclusion": "合格", "kind": "复检",
                                          "report_no": "R-P"})
        passed = await resp.json()
        assert resp.status == 201, passed
        assert passed["replaced"] is False and passed["inspection_id"] != failed["inspection_id"]
        assert passed["warnings"] == [] and passed["fit_for_use"]
        detail = await (await http.get(f"{base}/registry/equipment/{lift}")).json()
        assert {(i["kind"], i["report_no"]) for i in detail["inspections"] if str(i["inspected_on"]) == today} == {
            ("regular", "R-F"), ("reinspection", "R-P")}
        # The same kind again that day: a correction of the first, said so.
        again = await (await http.post(url, json={"inspected_on": today, "conclusion": "不合格",
                                                  "report_no": "R-F2"})).json()
        assert again["replaced"] is True and again["inspection_id"] == failed["inspection_id"]
        # A 复检 with no earlier failure: stored, with a warning.
        lone = await (await http.post(f"{base}/registry/equipment/{other}/inspections",
                                      json={"inspected_on": today, "conclusion": "合格",
                                            "kind": "reinspection"})).json()
        assert lone["replaced"] is False and len(lone["warnings"]) == 1 and "no earlier failure" in lone["warnings"][0]

        # In a file: a row that corrects a record counts as replaced, not stored; the same
        # inspection twice in one file: the second refused with the first's line.
        data = "\r\n".join(["设备代码,检验项目,检验日期,检验结论,检验性质,报告编号",
                            f"{lift},定期检验,{today},合格,复检,R-P2",
                            f"{other},定期检验,{today},不合格,,R-X",
                            f"{other},定期检验,{today},合格,定期检验,R-Y", ""]).encode()
        report = await (await http.post(f"{base}/registry/inspections/import?format=csv", data=data,
                                        headers={"Content-Type": "text/csv"})).json()
        assert (report["stored"], report["replaced"], report["rejected"]) == (1, 1, 1), report
        assert [(p["line"], "line 3" in p["reason"]) for p in report["problems"]] == [(4, True)]
        assert [w["line"] for w in report["warnings"] if "replaces" in w["reason"]] == [2]
        detail = await (await http.get(f"{base}/registry/equipment/{lift}")).json()
        assert sorted(i["report_no"] for i in detail["inspections"] if str(i["inspected_on"]) == today) == [
            "R-F2", "R-P2"]


async def test_implausible_inspection_dates_are_refused(database_url: str) -> None:
    await _seed(database_url)
    (lift,) = await _agency_units(database_url, "elevator", 1)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("UPDATE equipment SET commissioned_on = '2015-06-01' WHERE registration_code = %s",
                           (lift,))
        await conn.commit()
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        url = f"{base}/registry/equipment/{lift}/inspections"
        for day in ("1900-01-01", "2015-05-31"):
            resp = await http.post(url, json={"inspected_on": day, "conclusion": "合格"},
                                   headers={"X-Semon-Lang": "zh-CN"})
            body = await resp.json()
            assert resp.status == 400 and body["code"] == "registry.inspection_too_early", body
            assert day in body["error"] and "投用" in body["error"]
        resp = await http.post(url, json={"inspected_on": "2015-06-01", "conclusion": "合格"})
        assert resp.status == 201
        data = f"设备代码,检验日期,检验结论\r\n{lift},1900-01-01,合格\r\n".encode()
        report = await (await http.post(f"{base}/registry/inspections/import?format=csv", data=data,
                                        headers={"Content-Type": "text/csv"})).json()
        assert report["stored"] == 0 and report["rejected"] == 1
        assert "before the unit was commissioned" in report["problems"][0]["reason"]


async def test_due_within_30_days_includes_the_unit_due_on_day_30(database_url: str) -> None:
    await _seed(database_url, total=300)
    (lift,) = await _agency_units(database_url, "elevator", 1)
    today = register_today()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("UPDATE equipment SET next_due = %s WHERE registration_code = %s",
                           (today + timedelta(days=30), lift))
        await conn.commit()
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        # As the desk asks for its 30-day window (console/static/agency.js).
        found = await (await http.get(f"{base}/registry/equipment?overdue=false&status=in_use&limit=1000"
                                      f"&due_until={today + timedelta(days=30)}")).json()
        assert lift in {e["registration_code"] for e in found["equipment"]}
        assert all(e["next_due"] <= str(today + timedelta(days=30)) for e in found["equipment"])
        found = await (await http.get(f"{base}/registry/equipment?overdue=false&status=in_use&limit=1000"
                                      f"&due_until={today + timedelta(days=29)}")).json()
        assert lift not in {e["registration_code"] for e in found["equipment"]}


async def test_the_notices_are_counted_and_paged_not_cut(database_url: str) -> None:
    await _seed(database_url)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await scan_notices(conn, register_today())
        await conn.commit()
    total = await _count(database_url, "SELECT count(*) FROM notices")
    assert total > 10
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "bureau")
        seen: list[int] = []
        offset = 0
        while True:
            page = await (await http.get(f"{base}/registry/notices?limit=7&offset={offset}")).json()
            assert (page["total"], page["limit"], page["offset"]) == (total, 7, offset)
            seen += [n["id"] for n in page["notices"]]
            if len(page["notices"]) < 7:
                break
            offset += 7
        assert len(seen) == len(set(seen)) == total
        resp = await http.get(f"{base}/registry/notices?offset=-1")
        assert resp.status == 400


async def test_a_report_is_served_under_the_extension_of_its_checked_type(database_url: str) -> None:
    await _seed(database_url, total=300)
    (lift,) = await _agency_units(database_url, "elevator", 1)
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        recorded = await (await http.post(f"{base}/registry/equipment/{lift}/inspections",
                                          json={"inspected_on": str(register_today()), "conclusion": "合格"})).json()
        url = f"{base}/registry/inspections/{recorded['inspection_id']}/report"
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
        for body, kind, given, kept in [(png, "image/png", "photo.pdf", "photo.png"),
                                        (b"%PDF-1.7\n" + b"0" * 100, "application/pdf", "x.html", "x.pdf"),
                                        (b"\xff\xd8\xff\xe0" + b"0" * 100, "image/jpeg", "扫描件", "扫描件.jpg"),
                                        (png, "image/png", "...", f"report-{recorded['inspection_id']}.png")]:
            resp = await http.post(url, params={"filename": given}, data=body, headers={"Content-Type": kind})
            assert resp.status == 201 and (await resp.json())["filename"] == kept
            resp = await http.get(url)
            assert resp.content_type == kind and await resp.read() == body
            assert resp.headers["Content-Disposition"].endswith(f"filename*=UTF-8''{quote(kept)}")


async def test_bad_list_filters_are_refused_and_full_width_digits_found(database_url: str) -> None:
    await _seed(database_url, total=300)
    (lift,) = await _agency_units(database_url, "elevator", 1)
    today = register_today()
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        for query, says in [("district=abc", "district"), ("district=6301020", "district"),
                            (f"due_from={today}&due_before={today - timedelta(days=1)}", "due_before"),
                            (f"due_from={today}&due_until={today - timedelta(days=1)}", "due_until"),
                            ("category=elevator&category=boiler", "category"),
                            ("sort=address&sort=owner", "sort")]:
            for path in ("equipment", "export"):
                resp = await http.get(f"{base}/registry/{path}?{query}")
                body = await resp.json()
                assert resp.status == 400 and says in body["error"], (path, query, body)
        resp = await http.get(f"{base}/registry/equipment?district=abc", headers={"X-Semon-Lang": "zh-CN"})
        assert (await resp.json())["error"].startswith("输入有误：")
        full_width = lift[-6:].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
        assert full_width != lift[-6:]
        found = await (await http.get(f"{base}/registry/equipment", params={"q": full_width})).json()
        assert lift in {e["registration_code"] for e in found["equipment"]}


async def test_row_reasons_and_refusals_are_in_the_users_language(database_url: str) -> None:
    await _seed(database_url, total=300)
    (lift,) = await _agency_units(database_url, "elevator", 1)
    today = register_today()
    lines = ["设备代码,检验日期,检验结论",
             f"NOT-OURS,{today},合格",  # 2
             f"{lift},{today + timedelta(days=3)},合格",  # 3
             f"{lift},{today},符合要求",  # 4
             f"3.1101E+19,{today},合格",  # 5
             ""]
    async with api(database_url) as base, http_client() as http:
        await login(http, base, "xntjs")
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data="\r\n".join(lines).encode(),
                               headers={"Content-Type": "text/csv", "X-Semon-Lang": "zh-CN"})
        reasons = {p["line"]: p["reason"] for p in (await resp.json())["problems"]}
        assert reasons[2] == "登记册中没有设备 NOT-OURS"
        assert reasons[3] == f"inspected_on {today + timedelta(days=3)} 晚于今天"
        assert reasons[4].startswith("检验结论 '符合要求' 不是该类设备（elevator）的结论：合格 / 不合格")
        assert reasons[5].startswith("registration_code '3.1101E+19' 是科学计数法的数字")
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data=b"x,y\r\n1,2\r\n",
                               headers={"Content-Type": "text/csv", "X-Semon-Lang": "zh-CN"})
        assert (await resp.json())["problems"][0]["reason"] == "缺少必填列“设备代码”（registration_code）"
        # The same in English when asked so.
        resp = await http.post(f"{base}/registry/inspections/import?format=csv", data="\r\n".join(lines).encode(),
                               headers={"Content-Type": "text/csv", "X-Semon-Lang": "en"})
        assert {p["line"]: p["reason"] for p in (await resp.json())["problems"]}[2] == (
            "equipment NOT-OURS is not in the register")
        resp = await http.post(f"{base}/registry/equipment/{lift}/inspections", json={
            "inspected_on": str(today), "conclusion": "符合要求"}, headers={"X-Semon-Lang": "zh-CN"})
        body = await resp.json()
        assert resp.status == 400 and body["error"].startswith("无法录入：检验结论 '符合要求' 不是该类设备"), body
        # The English export's file name is English.
        resp = await http.get(f"{base}/registry/export?format=csv&lang=en")
        assert resp.headers["Content-Disposition"].endswith(f"''register-{today}.csv")
        resp = await http.get(f"{base}/registry/export?format=csv&lang=zh-CN")
        assert resp.headers["Content-Disposition"].endswith(quote(f"设备清单-register-{today}.csv"))
