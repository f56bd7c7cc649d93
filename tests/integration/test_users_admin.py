"""The administrator's user management over the API (the console's /admin/users page uses it):
create, reset a password, disable and enable, every change recorded with who and when; nobody
disables themselves; only the administrator may. And behind a trusted reverse proxy the login
throttle sees the client's address from X-Forwarded-For, from nobody else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest

from registry.api import registry_part
from registry.demo import seed_demo_register
from semon.db.pool import open_pool
from semon.today import register_today
from tests.flat_settings import flat_settings
from tests.integration.helpers import PASSWORD, TEST_USERS, add_users, http_client, login, query
from web.app import create_app, serve_app
from web.proxy import TrustedProxies

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def api(database_url: str, *, proxies: list[str] | None = None, **overrides: Any) -> AsyncIterator[str]:
    """The shell with the register's part (which knows the agencies); yields the API's root."""
    settings = flat_settings(**overrides)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=register_today(), total=50)
        await conn.commit()
    await add_users(database_url, TEST_USERS)
    async with open_pool(database_url, max_size=4, name="test-users-admin") as pool:
        app = create_app(pool, settings.auth, [registry_part(pool, settings.registry)],
                         backoff=settings.backoff.backoff(), proxies=TrustedProxies.of(proxies or []))
        async with serve_app(app, "127.0.0.1", 0) as port:
            yield f"http://127.0.0.1:{port}/api"


async def _status(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body


async def test_the_admin_creates_resets_disables_and_enables_and_each_is_recorded(database_url: str) -> None:
    async with api(database_url) as base, http_client() as admin, http_client() as clerk:
        await login(admin, base, "admin")
        status, body = await _status(admin, "POST", f"{base}/users", json={
            "username": "Li.Na", "password": "first-password", "role": "agency", "agency": "XNTJS",
            "display_name": "李娜"})
        assert status == 201 and body["user"]["username"] == "li.na" and body["user"]["agency"] == "XNTJS"
        await login(clerk, base, "li.na", "first-password")
        assert (await _status(clerk, "GET", f"{base}/me"))[0] == 200

        # A new password ends the user's sessions; the old one no longer opens one.
        status, _ = await _status(admin, "POST", f"{base}/users/li.na/password", json={"password": "second-password"})
        assert status == 204
        assert (await _status(clerk, "GET", f"{base}/me"))[0] == 401
        async with http_client() as other:
            status, _ = await _status(other, "POST", f"{base}/login",
                                      json={"username": "li.na", "password": "first-password"})
            assert status == 401
        await login(clerk, base, "li.na", "second-password")

        # Disabled: logged out at once, and cannot log in; enabled: can again.
        status, body = await _status(admin, "POST", f"{base}/users/li.na/active", json={"active": False})
        assert status == 200 and body["user"]["active"] is False
        assert (await _status(clerk, "GET", f"{base}/me"))[0] == 401
        status, _ = await _status(clerk, "POST", f"{base}/login",
                                  json={"username": "li.na", "password": "second-password"})
        assert status == 401
        status, body = await _status(admin, "POST", f"{base}/users/li.na/active", json={"active": True})
        assert status == 200 and body["user"]["active"] is True
        await login(clerk, base, "li.na", "second-password")

        status, body = await _status(admin, "GET", f"{base}/users/events?username=li.na")
        assert status == 200
        assert [(e["action"], e["actor"]) for e in body["events"]] == [
            ("enabled", "admin"), ("disabled", "admin"), ("password_reset", "admin"), ("created", "admin")]
        assert body["events"][-1]["detail"] == {"role": "agency", "agency": "XNTJS", "display_name": "李娜"}
        assert all(e["at"].endswith("+00:00") for e in body["events"])


async def test_nobody_disables_themselves_and_only_the_admin_manages_users(database_url: str) -> None:
    async with api(database_url) as base, http_client() as admin, http_client() as operator:
        await login(admin, base, "admin")
        status, body = await _status(admin, "POST", f"{base}/users/admin/active", json={"active": False})
        assert status == 400 and "cannot disable yourself" in body["error"]
        assert (await _status(admin, "GET", f"{base}/me"))[0] == 200
        assert await query(database_url, "SELECT count(*) FROM user_events WHERE username = 'admin'") == [(0,)]
        status, body = await _status(admin, "POST", f"{base}/users/nobody/password", json={"password": "long-enough"})
        assert status == 404
        status, body = await _status(admin, "POST", f"{base}/users/op/password", json={"password": "short"})
        assert status == 400
        # Eight spaces are eight characters, but no password: refused with the reason, on creation and reset.
        for password, reason in ((" " * 8, "only spaces"), ("abababab", "at least 4 different characters")):
            status, body = await _status(admin, "POST", f"{base}/users/op/password", json={"password": password})
            assert status == 400 and reason in body["error"], body
            status, body = await _status(admin, "POST", f"{base}/users", json={
                "username": "spaces", "password": password, "role": "operator"})
            assert status == 400 and reason in body["error"], body
        assert await query(database_url, "SELECT count(*) FROM users WHERE username = 'spaces'") == [(0,)]
        assert await query(database_url, "SELECT count(*) FROM user_events WHERE username = 'op'") == [(0,)]
        status, body = await _status(admin, "POST", f"{base}/users/op/active", json={"active": "no"})
        assert status == 400

        await login(operator, base, "op")
        for method, path, payload in (("GET", "/users", None), ("GET", "/users/events", None),
                                      ("POST", "/users/bureau/active", {"active": False}),
                                      ("POST", "/users/bureau/password", {"password": "taken-over-1"})):
            assert (await _status(operator, method, f"{base}{path}", json=payload))[0] == 403, path
        # the enabled user's password still works: nothing changed
        async with http_client() as bureau:
            await login(bureau, base, "bureau", PASSWORD)


async def _failed_logins(base: str, times: int, forwarded_for: str | None) -> int:
    """Wrong passwords for one user, each from the given X-Forwarded-For; the last answer's status."""
    status = 0
    async with http_client() as http:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        for _ in range(times):
            status, _ = await _status(http, "POST", f"{base}/login", headers=headers,
                                      json={"username": "op", "password": "wrong-password"})
    return status


async def test_behind_a_trusted_proxy_the_throttle_sees_the_client(database_url: str) -> None:
    limits: dict[str, Any] = {"auth_login_address_max_failures": 3, "auth_login_max_failures": 100}
    async with api(database_url, proxies=["127.0.0.1"], **limits) as base:
        # one desk PC guessing is held up; another behind the same proxy is not
        assert await _failed_logins(base, 4, "198.51.100.7") == 429
        async with http_client() as http:
            status, _ = await _status(http, "POST", f"{base}/login", headers={"X-Forwarded-For": "198.51.100.8"},
                                      json={"username": "op", "password": PASSWORD})
            assert status == 200
            status, _ = await _status(http, "POST", f"{base}/login", headers={"X-Forwarded-For": "198.51.100.7"},
                                      json={"username": "op", "password": PASSWORD})
            assert status == 429


async def test_without_a_trusted_proxy_the_header_is_not_believed(database_url: str) -> None:
    limits: dict[str, Any] = {"auth_login_address_max_failures": 3, "auth_login_max_failures": 100}
    async with api(database_url, **limits) as base:
        # a client naming another address each time is still one address: its own
        for n in range(4):
            status = await _failed_logins(base, 1, f"198.51.100.{n}")
        assert status == 429
        async with http_client() as http:
            status, _ = await _status(http, "POST", f"{base}/login", headers={"X-Forwarded-For": "203.0.113.1"},
                                      json={"username": "op", "password": PASSWORD})
            assert status == 429


async def test_the_user_routes_errors_answer_in_the_users_language(database_url: str) -> None:
    new = {"username": "op", "password": "long-enough", "role": "operator"}
    cases: list[tuple[str, str, dict[str, Any], int, str, str, str]] = [
        ("POST", "/users", new, 409, "web.user_exists", "user 'op' exists", "用户 op 已存在"),
        ("POST", "/users/admin/active", {"active": False}, 400, "web.disable_self",
         "you cannot disable yourself; another administrator can", "不能停用自己的账号，请由另一位管理员操作"),
        ("POST", "/users", {**new, "username": "op9", "agency": "XNTJS"}, 400, "web.agency_only",
         "only agency users belong to an agency, not operator users", "只有检验机构用户属于检验机构，值班员用户不属于"),
        ("POST", "/users", {**new, "username": "ag9", "role": "agency"}, 400, "web.agency_code_needed",
         "an agency user needs its agency's party code", "检验机构用户需要填写其检验机构代码"),
        ("POST", "/users", {**new, "username": "ag9", "role": "agency", "agency": "NOPE"}, 400, "web.not_an_agency",
         "agency 'NOPE' is not an inspection agency in the register", "登记册中没有代码为 NOPE 的检验机构"),
        ("POST", "/users", {**new, "username": "a b"}, 400, "web.username_format",
         "a username is 1-64 letters, digits or . _ @ - (starting with a letter or digit)",
         "用户名为 1–64 个字母、数字或 . _ @ -（以字母或数字开头）"),
        ("POST", "/users/op/password", {"password": " " * 8}, 400, "web.password_spaces",
         "a password cannot be only spaces", "密码不能全是空格"),
        ("POST", "/users/op/password", {"password": "abababab"}, 400, "web.password_distinct",
         "a password has at least 4 different characters", "密码至少要有 4 个不同的字符"),
        ("POST", "/users/nobody/password", {"password": "long-enough"}, 404, "web.no_user",
         "no user 'nobody'", "没有用户 nobody"),
        ("POST", "/users/nobody/active", {"active": True}, 404, "web.no_user", "no user 'nobody'", "没有用户 nobody"),
    ]
    async with api(database_url) as base, http_client() as admin:
        await login(admin, base, "admin")
        for method, path, body, status, key, english, chinese in cases:
            for lang, expected in ((None, {"error": english}), ("zh-CN", {"error": chinese, "code": key}),
                                   ("en", {"error": english, "code": key})):
                headers = {"X-Semon-Lang": lang} if lang else {}
                assert await _status(admin, method, f"{base}{path}", json=body, headers=headers) == (status, expected)
        assert await query(database_url, "SELECT count(*) FROM user_events") == [(0,)]  # nothing changed
