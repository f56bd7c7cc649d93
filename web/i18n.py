"""Error messages in the user's language.

An ``ApiError`` may carry a message key and its parameters (``ApiError(400, "english text",
key="registry.unknown_unit", params={"code": code})``); the error middleware (``web.app``) looks
the key up in the catalogue of the parts (each ``Part`` hands its own, ``Part.messages``, beside
the shell's ``MESSAGES``) and answers ``{"error": "<text in the language>"}``, with
``"code": "<key>"`` beside it for a client that states its language (``X-Semon-Lang`` or ``lang``:
the console does).
An error without a key, or a key no catalogue holds, keeps its English text.

The language of a request (``request_lang``): the console's choice in the ``X-Semon-Lang`` header
(``zh-CN`` or ``en``), then a ``lang`` query parameter, then ``Accept-Language`` (its preferred
language among ours, by q-value); English when none says (API clients, scripts).
A catalogue maps each key to its templates, ``{"zh-CN": "…{code}…", "en": "…{code}…"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

LANGS: Final = ("zh-CN", "en")
DEFAULT_LANG: Final = "en"
LANG_HEADER: Final = "X-Semon-Lang"

Catalogue = Mapping[str, Mapping[str, str]]

# The shell's own messages.
MESSAGES: Catalogue = {
    "web.database_unavailable": {"zh-CN": "数据库暂不可用，请稍后重试", "en": "database unavailable; try again"},
    "web.database_error": {"zh-CN": "数据库错误", "en": "database error"},
    "web.not_found": {"zh-CN": "未找到", "en": "Not Found"},
    "web.method_not_allowed": {"zh-CN": "不支持该请求方法", "en": "Method Not Allowed"},
    "web.too_large": {"zh-CN": "请求内容过大", "en": "Request Entity Too Large"},
    "web.bad_input": {"zh-CN": "输入有误：{detail}", "en": "{detail}"},
    "web.json_required": {"zh-CN": "需要 JSON 格式的请求内容", "en": "a JSON body is required"},
    "web.actor_required": {"zh-CN": "actor：未登录时必须填写", "en": "actor: required without a session"},
    "web.login_required": {"zh-CN": "请先登录", "en": "login required"},
    "web.forbidden_role": {"zh-CN": "角色“{role}”无权执行此操作", "en": "forbidden for role {role}"},
    "web.csrf": {"zh-CN": "页面已过期（CSRF 令牌无效），请刷新后重试", "en": "CSRF token missing or wrong"},
    "web.wrong_credentials": {"zh-CN": "用户名或密码错误", "en": "wrong username or password"},
    "web.login_json": {"zh-CN": "请以 application/json 提交用户名和密码",
                       "en": "send the credentials as application/json"},
    "web.login_throttled": {"zh-CN": "登录失败次数过多，请稍后再试", "en": "too many failed logins; try again later"},
    "web.login_busy": {"zh-CN": "同时登录的请求过多，请重试", "en": "too many logins at once; try again"},
}


def _accepted(header: str) -> str | None:
    """The preferred language of an Accept-Language header among ``LANGS`` (zh, zh-CN, zh-Hans
    → zh-CN; en, en-US → en), None when it names neither."""
    best: tuple[float, str] | None = None
    for item in header.split(","):
        tag, _, rest = item.strip().partition(";")
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                continue
        lang = {"zh": "zh-CN", "en": "en"}.get(tag.strip().lower().split("-")[0])
        if lang is not None and quality > 0 and (best is None or quality > best[0]):  # a tie: the first
            best = (quality, lang)
    return best[1] if best else None


def request_lang(request: web.Request) -> str:
    """The language to answer ``request`` in (see the module's docstring)."""
    for given in (request.headers.get(LANG_HEADER), request.query.get("lang")):
        if given in LANGS:
            return given
        if given and given.lower().startswith("zh"):
            return "zh-CN"
    return _accepted(request.headers.get("Accept-Language", "")) or DEFAULT_LANG


def lang_stated(request: web.Request) -> bool:
    """The client says its language itself (``X-Semon-Lang`` or ``lang``): it gets the message's
    key as ``code`` beside the text."""
    return LANG_HEADER in request.headers or "lang" in request.query


def render(catalogue: Catalogue, key: str, params: Mapping[str, Any], lang: str, fallback: str) -> str:
    """The message ``key`` in ``lang`` with its parameters; ``fallback`` when the catalogue does
    not hold it (or a parameter is missing: a defect of the caller, not of the user's request)."""
    templates = catalogue.get(key)
    if templates is None:
        return fallback
    template = templates.get(lang) or templates.get(DEFAULT_LANG)
    if template is None:
        return fallback
    try:
        return template.format_map(dict(params))
    except (KeyError, IndexError, ValueError):
        return fallback
