"""The role policy table and the login throttle, without a server."""

from __future__ import annotations

import pytest

from alerts.policy import allowed, is_api, is_public, needs_csrf
from alerts.throttle import LoginThrottle
from alerts.users import Role, UserError, check_role_agency, normalise_username

OPERATOR, AGENCY, BUREAU, ADMIN = Role.OPERATOR, Role.AGENCY, Role.BUREAU, Role.ADMIN

# (method, path, the roles allowed): the table, route by route.
CASES = [
    ("GET", "/api/alarms", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/alarms/7", {OPERATOR, BUREAU, ADMIN}),
    ("HEAD", "/api/incidents", {OPERATOR, BUREAU, ADMIN}),
    ("GET", "/api/incidents/7", {OPERATOR, BUREAU, ADMIN}),
    ("POST", "/api/incidents/7/steps", {OPERATOR, ADMIN}),
    ("POST", "/api/incidents/7/comments", {OPERATOR, ADMIN}),
    ("POST", "/api/incidents/7", {ADMIN}),
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


def test_the_throttle_locks_a_username_after_repeated_failures() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=60)
    for t in (0.0, 1.0):
        throttle.failed("op", t)
        assert throttle.retry_after("op", t) == 0
    throttle.failed("op", 2.0)
    assert throttle.retry_after("op", 2.0) == 60 and throttle.retry_after("op", 50.0) == 12
    assert throttle.retry_after("bureau", 2.0) == 0  # per username
    assert throttle.retry_after("op", 62.5) == 0  # served
    throttle.failed("op", 63.0)
    assert throttle.retry_after("op", 63.0) == 0  # a clean slate after the lockout


def test_old_failures_are_forgotten_and_a_success_forgives() -> None:
    throttle = LoginThrottle(max_failures=2, window_s=60)
    throttle.failed("op", 0.0)
    throttle.failed("op", 61.0)  # the first is outside the window
    assert throttle.retry_after("op", 61.0) == 0
    throttle.succeeded("op")
    throttle.failed("op", 62.0)
    assert throttle.retry_after("op", 62.0) == 0


def test_the_throttle_is_bounded() -> None:
    throttle = LoginThrottle(max_failures=1, window_s=60, max_tracked=100)
    for i in range(1000):
        throttle.failed(f"user{i}", 0.0)
    assert throttle.retry_after("user999", 1.0) > 0 and throttle.retry_after("user0", 1.0) == 0
    assert len(throttle._failures) == 100


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
