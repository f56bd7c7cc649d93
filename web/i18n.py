"""Error messages in the user's language.

An ``ApiError`` may carry a message key and its parameters (``ApiError(400, "english text",
key="registry.not_in_register", params={"code": code})``); the error middleware (``web.app``) looks
the key up in the catalogue of the parts (each ``Part`` hands its own, ``Part.messages``, beside
the shell's ``MESSAGES``) and answers ``{"error": "<text in the language>"}``, with
``"code": "<key>"`` beside it for a client that states its language (``X-Semon-Lang`` or ``lang``:
the console does).
An error without a key, or a key no catalogue holds, keeps its English text.

The language of a request (``request_lang``): the console's choice in the ``X-Semon-Lang`` header
(``zh-CN`` or ``en``), then a ``lang`` query parameter, then ``Accept-Language`` (its preferred
language among ours, by q-value); English when none says (API clients, scripts).
A catalogue maps each key to its templates, ``{"zh-CN": "…{code}…", "en": "…{code}…"}``. A
parameter may itself be given in each language (``{"state": {"zh-CN": "已接警", "en": "acknowledged"}}``,
``Named``): it is rendered in the message's language.

A domain package's own errors (``Part.errors``) are answered in the user's language too when
they are ``KeyedError``s with a key, as ``ApiError`` is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

LANGS: Final = ("zh-CN", "en")
DEFAULT_LANG: Final = "en"
LANG_HEADER: Final = "X-Semon-Lang"

Catalogue = Mapping[str, Mapping[str, str]]
Named = Mapping[str, str]  # a parameter's text in each language: {"zh-CN": "…", "en": "…"}

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
    "web.foreign_websocket": {"zh-CN": "拒绝来自其他网站的 WebSocket 连接", "en": "a WebSocket from another site"},
    # The users (web.users, the administrator's routes in web.auth)
    "web.username_format": {"zh-CN": "用户名为 1–64 个字母、数字或 . _ @ -（以字母或数字开头）",
                            "en": "a username is 1-64 letters, digits or . _ @ - (starting with a letter or digit)"},
    "web.password_short": {"zh-CN": "密码至少 {min} 个字符", "en": "a password has at least {min} characters"},
    "web.password_spaces": {"zh-CN": "密码不能全是空格", "en": "a password cannot be only spaces"},
    "web.password_distinct": {"zh-CN": "密码至少要有 {min} 个不同的字符",
                              "en": "a password has at least {min} different characters"},
    "web.agency_code_needed": {"zh-CN": "检验机构用户需要填写其检验机构代码",
                               "en": "an agency user needs its agency's party code"},
    "web.agency_only": {"zh-CN": "只有检验机构用户属于检验机构，{role}用户不属于",
                        "en": "only agency users belong to an agency, not {role} users"},
    "web.not_an_agency": {"zh-CN": "登记册中没有代码为 {agency} 的检验机构",
                          "en": "agency {agency} is not an inspection agency in the register"},
    "web.user_exists": {"zh-CN": "用户 {username} 已存在", "en": "user {username} exists"},
    "web.no_user": {"zh-CN": "没有用户 {username}", "en": "no user {username}"},
    "web.disable_self": {"zh-CN": "不能停用自己的账号，请由另一位管理员操作",
                         "en": "you cannot disable yourself; another administrator can"},
}

# The roles' names in the user's language (the console's, console/static/i18n.js "role").
ROLE_NAMES: Mapping[str, Named] = {
    "operator": {"zh-CN": "值班员", "en": "operator"}, "agency": {"zh-CN": "检验机构", "en": "agency"},
    "bureau": {"zh-CN": "监管局", "en": "bureau"}, "admin": {"zh-CN": "管理员", "en": "admin"},
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
    values = {name: _in_lang(value, lang) for name, value in params.items()}
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError):
        return fallback


def _in_lang(value: Any, lang: str) -> Any:
    """A parameter given in each language (``Named``) in ``lang``; any other as it is."""
    if isinstance(value, Mapping) and DEFAULT_LANG in value:
        return value.get(lang, value[DEFAULT_LANG])
    return value


class KeyedError(Exception):
    """An error whose message (English, what logs and scripts read) has a key and parameters in
    the parts' catalogues, so the user reads it in their language: ``ApiError``, and the domain
    packages' own errors (``Part.errors``: the incidents', the users')."""

    def __init__(self, message: str, *, key: str | None = None, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.params: Mapping[str, Any] = params or {}


def message_key(exc: BaseException) -> tuple[str | None, Mapping[str, Any]]:
    """The message key and parameters of a ``KeyedError``; ``(None, {})`` for any other error
    (its English text stands)."""
    return (exc.key, exc.params) if isinstance(exc, KeyedError) else (None, {})
