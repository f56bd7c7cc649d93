"""Who may do what: the one table of the role policy, and what is public. Pure, so the whole
policy is unit-testable and readable in one place.

Paths are matched as the router matches them (``request.rel_url.path_safe``). In a pattern,
``{name}`` is one path segment and a trailing ``/**`` is the path itself or anything below it.
Anything no rule allows is refused: a route added without a rule is the administrator's only.

Agency users are further limited to their own agency's equipment and notices; that scoping is
done by the register's handlers (``registry/api.py``), which know whose equipment a unit is.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from web.users import Role

READ = frozenset({"GET", "HEAD"})
POST = frozenset({"POST"})
ANY_METHOD: frozenset[str] = frozenset()  # empty: every method
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # these change nothing, so need no CSRF token

OPERATOR, AGENCY, BUREAU, ADMIN = Role.OPERATOR, Role.AGENCY, Role.BUREAU, Role.ADMIN
EVERYONE = frozenset(Role)


@dataclass(frozen=True, slots=True)
class Rule:
    methods: frozenset[str]
    pattern: str
    roles: frozenset[Role]

    def matches(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and _compiled(self.pattern).fullmatch(path) is not None


def _rule(methods: frozenset[str], pattern: str, *roles: Role) -> Rule:
    return Rule(methods, pattern, frozenset(roles))


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    tail = pattern.endswith("/**")
    body = pattern.removesuffix("/**") if tail else pattern
    regex = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(body))
    return re.compile(regex + ("(?:/.*)?" if tail else ""))


# Reachable without a session: logging in, the API's description, the health check, and the
# console's login page with its assets.
PUBLIC: tuple[Rule, ...] = (
    _rule(POST, "/api/login", *EVERYONE),
    _rule(READ, "/api/openapi.json", *EVERYONE),
    _rule(READ, "/healthz", *EVERYONE),
    _rule(READ, "/", *EVERYONE),
    _rule(READ, "/login", *EVERYONE),
    _rule(READ, "/static/**", *EVERYONE),
    _rule(READ, "/favicon.ico", *EVERYONE),
)

# With a session: method + path -> the roles allowed.
POLICY: tuple[Rule, ...] = (
    _rule(READ, "/api/me", *EVERYONE),
    _rule(READ, "/api/calendar", *EVERYONE),  # the register's today and time zone (the console's dates)
    _rule(POST, "/api/logout", *EVERYONE),
    # The emergency centre works incidents; the bureau watches.
    _rule(READ, "/api/alarms/**", OPERATOR, BUREAU),
    _rule(READ, "/api/incidents/**", OPERATOR, BUREAU),
    _rule(POST, "/api/incidents/{id}/steps", OPERATOR),
    _rule(POST, "/api/incidents/{id}/comments", OPERATOR),
    _rule(READ, "/api/kpis/**", OPERATOR, BUREAU),
    _rule(READ, "/api/live", OPERATOR, BUREAU),
    _rule(READ, "/api/devices/**", OPERATOR, BUREAU),
    # The register: the operator's device card, the agencies' own units (scoped in registry/api.py).
    _rule(READ, "/api/registry/equipment/**", OPERATOR, AGENCY, BUREAU),
    _rule(POST, "/api/registry/equipment/{code}/inspections", AGENCY),
    _rule(READ, "/api/registry/rate/**", OPERATOR, AGENCY, BUREAU),
    _rule(READ, "/api/registry/notices/**", AGENCY, BUREAU),
    # The console's pages (served by the console package; enforced here).
    _rule(READ, "/board/**", OPERATOR, BUREAU),
    _rule(READ, "/agency/**", AGENCY),
    _rule(READ, "/bureau/**", BUREAU),
    # The administrator: the users, and everything else.
    _rule(ANY_METHOD, "/api/users/**", ADMIN),
    _rule(ANY_METHOD, "/**", ADMIN),
)


def is_public(method: str, path: str) -> bool:
    return any(rule.matches(method, path) for rule in PUBLIC)


def allowed(role: Role, method: str, path: str) -> bool:
    return any(role in rule.roles and rule.matches(method, path) for rule in POLICY)


def needs_csrf(method: str) -> bool:
    return method not in SAFE_METHODS


def is_api(path: str) -> bool:
    """API paths answer in JSON; the rest are the console's pages, which answer in HTML."""
    return path.startswith("/api/") or path in {"/api", "/healthz"}
