"""Who may do what: the role policy, one table of rules collected from the shell and from each
domain package (which declares the rules of its own routes next to them), and what is public.
Pure, so the whole policy is unit-testable and readable in one place.

Paths are matched as the router matches them (``request.rel_url.path_safe``). In a pattern,
``{name}`` is one path segment and a trailing ``/**`` is the path itself or anything below it.
Anything no rule allows is refused: a route without a rule is the administrator's only (the
shell's fallback rule), and the shell refuses to build an application with such a route
(``Policy.covers``). A change (any method but GET, HEAD, OPTIONS) needs the session's CSRF token.

Agency users are further limited to their own agency's equipment and notices; that scoping is
done by the register's handlers (``registry/api.py``), which know whose equipment a unit is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
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
    """``methods`` (empty: every method) on paths matching ``pattern`` are allowed to ``roles``,
    or to anyone, without a session, when ``public``."""

    methods: frozenset[str]
    pattern: str
    roles: frozenset[Role]
    public: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and _compiled(self.pattern).fullmatch(path) is not None


def rule(methods: frozenset[str], pattern: str, *roles: Role) -> Rule:
    """With a session: ``methods`` on ``pattern`` for ``roles``."""
    return Rule(methods, pattern, frozenset(roles))


def public(methods: frozenset[str], pattern: str) -> Rule:
    """Without a session: ``methods`` on ``pattern`` for anyone."""
    return Rule(methods, pattern, EVERYONE, public=True)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    tail = pattern.endswith("/**")
    body = pattern.removesuffix("/**") if tail else pattern
    regex = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(body))
    return re.compile(regex + ("(?:/.*)?" if tail else ""))


# The shell's own routes: logging in and the API's description without a session; the session
# and the users with one.
SHELL: tuple[Rule, ...] = (
    public(POST, "/api/login"),
    public(READ, "/api/openapi.json"),
    rule(READ, "/api/me", *EVERYONE),
    rule(POST, "/api/logout", *EVERYONE),
    rule(ANY_METHOD, "/api/users/**", ADMIN),
)
# The administrator: everything else.
FALLBACK = rule(ANY_METHOD, "/**", ADMIN)


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules of one application: the shell's, its packages', and the fallback.
    ``json_paths``: paths outside ``/api/`` that answer in JSON (a health check), not HTML."""

    rules: tuple[Rule, ...]
    json_paths: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *access: Iterable[Rule], json_paths: Iterable[str] = ()) -> Policy:
        """The shell's rules, then each package's ``access``, then the fallback."""
        return cls((*SHELL, *(r for rules in access for r in rules), FALLBACK), frozenset(json_paths))

    def is_public(self, method: str, path: str) -> bool:
        return any(r.public and r.matches(method, path) for r in self.rules)

    def allowed(self, role: Role, method: str, path: str) -> bool:
        return any(not r.public and role in r.roles and r.matches(method, path) for r in self.rules)

    def covers(self, method: str, path: str) -> bool:
        """Whether a rule other than the administrator's fallback speaks of this route."""
        return any(r is not FALLBACK and r.matches(method, path) for r in self.rules)

    def is_api(self, path: str) -> bool:
        """API paths answer in JSON; the rest are the console's pages, which answer in HTML."""
        return path.startswith("/api/") or path == "/api" or path in self.json_paths


def needs_csrf(method: str) -> bool:
    return method not in SAFE_METHODS
