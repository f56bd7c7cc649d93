"""Inspection conclusions per category (TSG names), why a notice waits, and the language an
error is answered in."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from registry.conclusions import judge, load
from registry.due import Category, DueError, Result
from registry.notices import Delivery, waiting_reason
from web.i18n import MESSAGES, render, request_lang


def test_every_category_has_its_conclusions_and_source() -> None:
    table = load()
    assert set(table) == set(Category)
    assert [c.name for c in table[Category.ELEVATOR].conclusions] == ["合格", "不合格"]
    assert table[Category.ELEVATOR].kinds == ("regular", "reinspection")
    assert [c.name for c in table[Category.BOILER].conclusions] == ["符合要求", "基本符合要求", "不符合要求"]
    assert all("TSG" in entry.source for entry in table.values())


@pytest.mark.parametrize(("category", "conclusion", "result"), [
    (Category.ELEVATOR, "合格", Result.PASS), (Category.ELEVATOR, "不合格", Result.FAIL),
    (Category.ELEVATOR, "Pass", Result.PASS), (Category.BOILER, "基本符合要求", Result.CONDITIONAL),
    (Category.GAS_CYLINDER, "报废", Result.FAIL), (Category.CRANE, " 合格 ", Result.PASS),
])
def test_a_conclusion_gives_the_result(category: Category, conclusion: str, result: Result) -> None:
    assert judge(category, conclusion=conclusion).result is result


def test_a_reinspection_is_a_kind_only_where_the_rules_have_it() -> None:
    assert judge(Category.ELEVATOR, conclusion="合格", kind="复检").kind == "reinspection"
    with pytest.raises(DueError, match="boiler has no 'reinspection'"):
        judge(Category.BOILER, conclusion="符合要求", kind="reinspection")


@pytest.mark.parametrize(("grade", "conclusion", "result"), [
    (1, "符合要求", Result.PASS), (3, "符合要求", Result.PASS), (4, "基本符合要求", Result.CONDITIONAL),
    (5, "不符合要求", Result.FAIL)])
def test_a_vessels_safety_grade_gives_its_conclusion(grade: int, conclusion: str, result: Result) -> None:
    judged = judge(Category.PRESSURE_VESSEL, safety_grade=grade)
    assert (judged.conclusion, judged.result, judged.safety_grade) == (conclusion, result, grade)


def test_what_does_not_go_together_is_refused() -> None:
    with pytest.raises(DueError, match="not one of elevator's: 合格 / 不合格"):
        judge(Category.ELEVATOR, conclusion="符合要求")
    with pytest.raises(DueError, match="does not go with safety grade 5"):
        judge(Category.PRESSURE_VESSEL, conclusion="符合要求", safety_grade=5)
    with pytest.raises(DueError, match="not judged by safety grade"):
        judge(Category.ELEVATOR, conclusion="合格", safety_grade=2)
    with pytest.raises(DueError, match="is a pass, not a fail"):
        judge(Category.ELEVATOR, conclusion="合格", result=Result.FAIL)
    with pytest.raises(DueError, match="not one of 1–4"):
        judge(Category.PRESSURE_PIPING, safety_grade=5)
    assert judge(Category.ELEVATOR, result=Result.CONDITIONAL).conclusion is None  # the older form


def test_why_a_notice_waits() -> None:
    off, on, no_smtp = Delivery(), Delivery(True, "smtp.example.cn"), Delivery(True, "")
    hook = "https://x.example.cn/h"

    def why(delivery: Delivery, channel: str, email: str | None = "a@b.cn", webhook_url: str | None = hook,
            state: str = "pending") -> str | None:
        return waiting_reason(delivery, state=state, channel=channel, email=email, webhook_url=webhook_url)

    assert why(off, "email") == "notice.delivery_off"
    assert why(on, "email") is None
    assert why(no_smtp, "email") == "notice.no_smtp"
    assert why(no_smtp, "webhook") is None
    assert why(on, "webhook", webhook_url=None) == "notice.no_webhook"
    assert why(off, "email", email=None) == "notice.no_email"
    assert why(off, "email", state="delivered") is None


@pytest.mark.parametrize(("headers", "query", "lang"), [
    ({}, "", "en"), ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "", "zh-CN"),
    ({"Accept-Language": "en-US,en;q=0.9,zh;q=0.8"}, "", "en"), ({"Accept-Language": "fr, zh;q=0.5"}, "", "zh-CN"),
    ({"Accept-Language": "zh;q=0, en"}, "", "en"), ({"Accept-Language": "de"}, "", "en"),
    ({"Accept-Language": "en", "X-Semon-Lang": "zh-CN"}, "", "zh-CN"), ({"Accept-Language": "zh"}, "?lang=en", "en"),
])
def test_the_language_of_a_request(headers: dict[str, str], query: str, lang: str) -> None:
    assert request_lang(make_mocked_request("GET", f"/api/x{query}", headers=headers)) == lang


def test_messages_render_in_each_language_and_fall_back() -> None:
    detail = {"detail": "limit: too small"}
    assert render(MESSAGES, "web.bad_input", detail, "zh-CN", "x") == "输入有误：limit: too small"
    assert render(MESSAGES, "web.bad_input", {}, "zh-CN", "fallback") == "fallback"  # a parameter missing
    assert render(MESSAGES, "no.such.key", {}, "zh-CN", "fallback") == "fallback"
    for key, templates in MESSAGES.items():
        assert set(templates) == {"zh-CN", "en"}, key
