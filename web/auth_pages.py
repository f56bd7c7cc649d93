"""The small HTML answers a browser gets for a console page it may not open: 401 (log in
first) and 403 (this role may not), in Chinese and English.

Their one ``<style>`` block is allowed by its hash (``STYLE_SOURCE``, in the shell's
Content-Security-Policy, ``web.app.SECURITY_HEADERS``): the page needs nothing else, not even the
console's stylesheet (an application without the console part answers these pages too)."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from urllib.parse import quote

from aiohttp import web

_PAGE = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style></head>
<body>
<h1>{zh_title}</h1>
<p>{zh_text}</p>
<h1 lang="en">{en_title}</h1>
<p lang="en">{en_text}</p>
</body>
</html>
"""

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}"
          "h1{font-size:1.4rem}")
# The CSP source that allows exactly this style block and no other inline style.
STYLE_SOURCE = f"'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'"


def _html(status: int, **parts: str) -> web.Response:
    return web.Response(text=_PAGE.format(style=_STYLE, **parts), status=status, content_type="text/html",
                        charset="utf-8", headers={"Cache-Control": "no-store"})


def login_required_page(path: str) -> web.Response:
    # Our own path, as one leading slash: never "//host", which a browser reads as another site.
    href = escape("/login?next=" + quote("/" + path.lstrip("/\\"), safe="/"))
    return _html(401, title="请登录 · Login required",
                 zh_title="请先登录", zh_text=f'查看此页面需要登录。<a href="{href}">登录</a>',
                 en_title="Login required", en_text=f'You need to log in to see this page. <a href="{href}">Log in</a>')


def forbidden_page(role: str) -> web.Response:
    who = escape(role)
    return _html(403, title="无权访问 · Forbidden",
                 zh_title="无权访问", zh_text=f'您的角色（{who}）不能查看此页面。<a href="/">返回首页</a>，'
                                          '或<a href="/login">以其他用户登录</a>。',
                 en_title="Forbidden", en_text=f'Your role ({who}) may not see this page. <a href="/">Home</a>, '
                                             'or <a href="/login">log in as another user</a>.')
