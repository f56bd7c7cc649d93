"""The role policy table and the login throttle, without a server."""

from __future__ import annotations

import pytest
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from alerts.api import ACCESS as ALERTS_ACCESS
from alerts.api import JSON_PATHS as ALERTS_JSON_PATHS
from console.web import ACCESS as CONSOLE_ACCESS
from registry.api import ACCESS as REGISTRY_ACCESS
from semon.settings import AuthSettings, BackoffSettings
from web.app import Part, create_app
from web.policy import READ, Policy, needs_csrf, rule
from web.throttle import LoginThrottle, ThrottleLimits
from web.users import Role, UserError, check_new_password, check_role_agency, normalise_username

OPERATOR, AGENCY, BUREAU, ADMIN = Role.OPERATOR, Role.AGENCY, Role.BUREAU, Role.ADMIN
# The policy of the application `semon alerts` serves: the shell's rules and each package's.
POLICY = Policy.of(ALERTS_ACCESS, REGISTRY_ACCESS, CONSOLE_ACCESS, json_paths=ALERTS_JSON_PATHS)
allowed, is_public, is_api = POLICY.allowed, POLICY.is_public, POLICY.is_api

# (method, path, the roles allowed): the table, route by route.
CASES = [
    ("GET", "/api/alarms", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/alarms/7", {OPERATOR, BUREAU, ADMIN}),
    ("HEAD", "/api/incidents", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/incidents/7", {OPERATOR, BUREAU, ADMIN}),
    ("POST", "/api/incidents/7/steps", {OPERATOR, ADMIN}),
    ("POST", "/api/incidents/7/comments", {OPERATOR, ADMIN}),
    ("POST", "/api/incidents/7", {ADMIN}),
    ("POST", "/api/incidents", {OPERATOR, ADMIN}),  # a phone-reported incident
    ("GET", "/api/incidents/handover", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/incidents/causes", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/registry/search", {OPERATOR, AGENCY, BUREAU, ADMIN}),
    ("GET", "/api/kpis/rescue", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/live", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/devices/31106301022015000001", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/registry/equipment", {OPERATOR, AGENCY, BUREAU, ADMIN}),
    ("GET", "/api/registry/equipment/X1", {OPERATOR, AGENCY, BUREAU, ADMIN}),
    ("POST", "/api/registry/equipment/X1/inspections", {AGENCY, ADMIN}),
    ("POST", "/api/registry/equipment/X1", {ADMIN}),
    ("GET", "/api/registry/rate", {OPERATOR, AGENCY, BUREAU, ADMIN}),
    ("GET", "/api/registry/rate/trend.svg", {OPERATOR, AGENCY, BUREAU, ADMIN}),
    ("GET", "/api/registry/notices", {AGENCY, BUREAU, ADMIN}),
    ("GET", "/api/users", {ADMIN}),
    ("POST", "/api/users", {ADMIN}),
    ("GET", "/api/me", {OPERATOR, AGENCY, BUREAU, ADMIN}),
    ("POST", "/api/logout", {OPERATOR, AGENCY, BUREAU, ADMIN}),
    ("GET", "/board", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/agency", {AGENCY, ADMIN}),
    ("GET", "/bureau", {BUREAU, ADMIN}),
    ("POST", "/board", {ADMIN}),
    ("GET", "/api/alarmsx", {ADMIN}),  # a prefix is not a path
    ("GET", "/api/something-new", {ADMIN}),  # a route without a rule is the administrator's only
    ("DELETE", "/api/incidents/7", {ADMIN}),
]


@pytest.mark.parametrize(("method", "path", "roles"), CASES)
def test_the_policy_table(method: str, path: str, roles: set[Role]) -> None:
    assert {role for role in Role if allowed(role, method, path)} == roles


def test_what_is_public() -> None:
    for method, path in [("POST", "/api/login"), ("GET", "/api/openapi.json"), ("GET", "/healthz"), ("GET", "/"),
                         ("GET", "/login"), ("GET", "/static/app.js"), ("HEAD", "/static/css/a.css")]:
        assert is_public(method, path), (method, path)
    for method, path in [("GET", "/api/login"), ("POST", "/api/openapi.json"), ("GET", "/board"),
                         ("GET", "/api/alarms"), ("GET", "/staticx"), ("GET", "/api/live")]:
        assert not is_public(method, path), (method, path)


def test_csrf_and_answer_kinds() -> None:
    assert not any(needs_csrf(m) for m in ("GET", "HEAD", "OPTIONS"))
    assert all(needs_csrf(m) for m in ("POST", "PUT", "PATCH", "DELETE"))
    assert is_api("/api/alarms") and is_api("/healthz") and not is_api("/board") and not is_api("/apix")


async def _nothing(request: web.Request) -> web.Response:
    del request
    return web.Response()


def test_a_route_without_a_rule_of_its_own_is_refused_when_the_application_is_built() -> None:
    pool = AsyncConnectionPool("", open=False)

    def routes(app: web.Application) -> None:
        app.router.add_get("/api/things/{id}", _nothing)

    with pytest.raises(ValueError, match=r"no role rule for (GET|HEAD) /api/things/\{id\}"):
        create_app(pool, AuthSettings(), [Part("things", routes)], backoff=BackoffSettings().backoff())
    app = create_app(pool, AuthSettings(), [Part("things", routes, (rule(READ, "/api/things/**", OPERATOR),))],
                     backoff=BackoffSettings().backoff())
    assert any(r.resource is not None and r.resource.canonical == "/api/things/{id}" for r in app.router.routes())


def test_failures_grow_a_delay_for_the_username_from_that_address_only() -> None:
    throttle = LoginThrottle(ThrottleLimits(free_failures=3, base_delay_s=1.0, window_s=60))
    for t in (0.0, 1.0, 2.0):
        assert throttle.retry_after("op", "10.0.0.9", t) == 0
        throttle.failed("op", "10.0.0.9", t)
    assert throttle.retry_after("op", "10.0.0.9", 2.0) == 1.0  # the fourth try waits a second
    throttle.failed("op", "10.0.0.9", 3.0)
    assert throttle.retry_after("op", "10.0.0.9", 3.0) == 2.0  # then two, four, ...
    throttle.failed("op", "10.0.0.9", 5.0)
    assert throttle.retry_after("op", "10.0.0.9", 5.0) == 4.0
    # The owner, from another address, is never held up; nor are other users from this one.
    assert throttle.retry_after("op", "192.0.2.1", 5.0) == 0
    assert throttle.retry_after("bureau", "10.0.0.9", 5.0) == 0
    # The delay is capped by the window, and failures older than the window are forgotten.
    assert [throttle.delay(n) for n in (2, 3, 4, 5, 10, 99)] == [0, 1, 2, 4, 60, 60]
    assert throttle.retry_after("op", "10.0.0.9", 66.0) == 0


def test_a_success_forgives_its_pair_but_not_its_address() -> None:
    throttle = LoginThrottle(ThrottleLimits(free_failures=1, address_max_failures=4, window_s=60))
    throttle.failed("op", "10.0.0.9", 0.0)
    throttle.failed("op", "10.0.0.9", 0.0)
    assert throttle.retry_after("op", "10.0.0.9", 0.0) > 0
    throttle.failed("me", "10.0.0.9", 0.0)  # counted ahead of the check
    throttle.succeeded("me", "10.0.0.9")  # and taken back: it was right
    assert throttle.retry_after("op", "10.0.0.9", 0.0) > 0  # the other pair is not forgiven
    throttle.failed("x", "10.0.0.9", 0.0)
    assert throttle.retry_after("nobody", "10.0.0.9", 1.0) == 0  # three failures of the address so far
    throttle.failed("y", "10.0.0.9", 1.0)
    assert throttle.retry_after("nobody", "10.0.0.9", 1.0) == 59.0  # the address is refused for the window
    assert throttle.retry_after("nobody", "10.0.0.8", 1.0) == 0
    assert throttle.retry_after("nobody", "10.0.0.9", 61.5) == 0


def test_an_address_has_a_few_logins_under_way_at_most() -> None:
    throttle = LoginThrottle(ThrottleLimits(address_in_flight=2))
    assert throttle.begin("10.0.0.9", 0.0) and throttle.begin("10.0.0.9", 0.0)
    assert not throttle.begin("10.0.0.9", 0.0)
    assert throttle.begin("10.0.0.8", 0.0)
    throttle.end("10.0.0.9")
    assert throttle.begin("10.0.0.9", 0.0)


def test_the_throttle_is_bounded() -> None:
    throttle = LoginThrottle(ThrottleLimits(free_failures=0, window_s=60, max_tracked=100))
    for i in range(1000):
        throttle.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}", 0.0)
    assert throttle.retry_after("user999", "10.0.3.231", 0.5) > 0
    assert throttle.retry_after("user0", "10.0.0.0", 0.5) == 0
    assert len(throttle._pairs) <= 100 and len(throttle._addresses) <= 100


def test_usernames_and_agencies() -> None:
    assert normalise_username("  Zhang.Wei@XNTJS ") == "zhang.wei@xntjs"
    for bad in ("", "a b", "-x", "张伟", "x" * 65):
        with pytest.raises(UserError):
            normalise_username(bad)
    assert check_role_agency(AGENCY, " XNTJS ") == "XNTJS"
    assert check_role_agency(OPERATOR, None) is None
    with pytest.raises(UserError):
        check_role_agency(AGENCY, None)
    with pytest.raises(UserError):
        check_role_agency(BUREAU, "XNTJS")


@pytest.mark.parametrize(("password", "reason"), [
    ("short", "at least 8 characters"), (" " * 8, "only spaces"), ("\t \u3000 \n   ", "only spaces"),
    ("aaaaaaaa", "4 different characters"), ("abababab", "4 different characters"), ("abcabcab", "4 different"),
])
def test_a_password_of_spaces_or_of_few_characters_is_refused(password: str, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        check_new_password(password)


@pytest.mark.parametrize("password", ["abcdabcd", "correct horse battery", " spaced out ", "密码是八个字符吧"])
def test_a_password_of_eight_and_four_different_characters_is_taken(password: str) -> None:
    check_new_password(password)
