"""The application every HTTP route of semon is served by (aiohttp): its middlewares, the shell's
own routes (login and users, the OpenAPI document) and serving it. Each domain package hands the
shell a ``Part``: its routes, the role rules of those routes, their OpenAPI paths and the
pydantic models those paths refer to, and its own errors; ``create_app`` collects them into one
application, one policy and one document.

- Errors are JSON ``{"error": "..."}``: an ``ApiError`` with its status; a domain package's own
  errors with the status it maps them to; psycopg errors translated here, at the boundary (503
  when the database is away, 500 otherwise); aiohttp's 404 and 405 as JSON too.
- With auth (the product's default) the auth middleware (``web.auth``) runs inside the error
  middleware, so its refusals and database errors become JSON errors; text PostgreSQL refuses
  is a 400 after it, before any handler (``web.inputs``).
- Every answer carries the security headers (``SECURITY_HEADERS``).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
import psycopg
from aiohttp import web
from aiohttp.typedefs import Middleware
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from semon.backoff import Backoff
from semon.settings import AuthSettings
from web.auth import add_auth_routes, auth_middleware, current_user
from web.auth_pages import STYLE_SOURCE as AUTH_PAGE_STYLE
from web.http import ApiError, error_response
from web.i18n import DEFAULT_LANG, MESSAGES, Catalogue, lang_stated, message_key, render, request_lang
from web.inputs import request_text_refusal
from web.openapi import openapi_document, part_schemas
from web.policy import Policy, Rule
from web.proxy import TrustedProxies, proxy_middleware
from web.users import AgencyCheck

log = logging.getLogger(__name__)

OPENAPI_JSON = web.AppKey("openapi_json", bytes)
DESCRIPTION = ("Errors are JSON objects {\"error\": \"...\"}. Log in with POST /api/login; x-roles lists the "
               "roles allowed per operation.")
_ERRORS = web.AppKey("domain_errors", Mapping[type[Exception], int])
_MESSAGES = web.AppKey("error_messages", Catalogue)

# Every answer, pages and errors alike: scripts, styles and connections from this origin only
# (the console has no inline script or style attribute; the 401/403 pages' one style block is
# allowed by its hash, web.auth_pages), never framed (clickjacking), no MIME sniffing, and no full
# URL in the Referer sent elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'self'; script-src 'self'; style-src 'self' {AUTH_PAGE_STYLE}; "
                               "img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
}


@dataclass(frozen=True, slots=True)
class Part:
    """What a domain package hands the shell.

    - ``add_routes``: registers its routes (and its app keys and hooks) on the application.
    - ``access``: the role rules of those routes (``web.policy.rule``, ``web.policy.public``);
      every route it adds must be covered by one of them (or by the shell's).
    - ``json_paths``: its paths outside ``/api/`` that answer in JSON rather than HTML.
    - ``paths``: its OpenAPI path items, referring to component schemas by model name
      (``web.openapi.json_body``, ``ref``).
    - ``requests``, ``answers``: the pydantic models of what its routes accept (bodies, queries)
      and of what they answer; the document's component schemas are generated from them.
    - ``errors``: its exceptions and the status each answers with (the message as the error; in
      the user's language when the exception carries ``key`` and ``params``, ``web.i18n``).
    - ``agency_exists``: the register's check of an agency user's party code (the register's
      part gives it; without it no agency user can be created through the API).
    - ``messages``: its error messages by key, in each language (``web.i18n``).
    """

    name: str
    add_routes: Callable[[web.Application], None]
    access: tuple[Rule, ...] = ()
    json_paths: tuple[str, ...] = ()
    paths: Mapping[str, Any] = field(default_factory=dict)
    requests: tuple[type[BaseModel], ...] = ()
    answers: tuple[type[BaseModel], ...] = ()
    errors: Mapping[type[Exception], int] = field(default_factory=dict)
    agency_exists: AgencyCheck | None = None
    messages: Catalogue = field(default_factory=dict)


def create_app(pool: AsyncConnectionPool, auth_settings: AuthSettings, parts: Sequence[Part], *, backoff: Backoff,
               auth: bool = True, db_timeout_s: float = 5.0, proxies: TrustedProxies | None = None,
               title: str = "semon API", description: str = DESCRIPTION) -> web.Application:
    """The application with the shell's middlewares and routes and each part's. The pool is opened
    and closed by the caller. With ``auth``, every route but the public ones needs a session and
    the role policy collected from the parts applies to everything served by this application;
    ``auth_settings`` is the auth section (sessions, throttling), the only settings the shell
    reads: each part got its own sections when it was built; ``backoff`` the settings'
    (``BackoffSettings``), for the shell's live-session check. ValueError when a part adds a route
    no rule speaks of (it would be the administrator's only, unnoticed), when two parts' models
    give two different schemas one name, or when a path refers to a schema no model gives.
    ``proxies``: the reverse proxies whose ``X-Forwarded-For``/``-Proto`` are believed (``web.proxy``)."""
    policy = Policy.of(*(p.access for p in parts), json_paths=(path for p in parts for path in p.json_paths))
    middlewares: list[Middleware] = [_errors, auth_middleware, _text_guard] if auth else [_errors, _text_guard]
    if proxies is not None and proxies.networks:
        middlewares.insert(0, proxy_middleware(proxies))
    app = web.Application(middlewares=middlewares)
    app[_ERRORS] = MappingProxyType({kind: status for p in parts for kind, status in p.errors.items()})
    app[_MESSAGES] = MappingProxyType({**MESSAGES, **{k: v for p in parts for k, v in p.messages.items()}})
    if auth:
        checks = [p.agency_exists for p in parts if p.agency_exists is not None]
        add_auth_routes(app, pool, auth_settings, policy, backoff=backoff, db_timeout_s=db_timeout_s,
                        agency_exists=checks[0] if checks else _no_agencies)
    app.router.add_get("/api/openapi.json", _openapi)
    for part in parts:
        part.add_routes(app)
    _check_covered(app, policy)
    paths = {path: item for p in parts for path, item in p.paths.items()}
    schemas: dict[str, dict[str, Any]] = {}
    for p in parts:  # the same name twice must be the same schema
        for name, schema in part_schemas(p.requests, p.answers).items():
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"two different schemas named {name} in the OpenAPI document")
    document = openapi_document(paths, schemas, policy if auth else None, title=title, description=description)
    app[OPENAPI_JSON] = orjson.dumps(document)
    app.on_response_prepare.append(_security_headers)
    return app


async def _no_agencies(conn: AsyncConnection[Any], code: str) -> bool:
    del conn, code
    return False  # no register in this application to know any


def _check_covered(app: web.Application, policy: Policy) -> None:
    for route in app.router.routes():
        if route.resource is None:
            continue
        sample = re.sub(r"\{[^}]+\}", "1", route.resource.canonical)
        if not policy.covers(route.method, sample):
            raise ValueError(f"no role rule for {route.method} {route.resource.canonical}")


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, host: str, port: int, *, access_log: bool = False) -> AsyncIterator[int]:
    """Serve ``app``; yields the bound port (useful with port 0). ``access_log``: a line per
    request on the logger ``aiohttp.access`` (off by default: the console's requests would bury
    the rest of the log)."""
    runner = web.AppRunner(app, access_log=logging.getLogger("aiohttp.access") if access_log else None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound: int = runner.addresses[0][1]
        log.info("HTTP API on http://%s:%d/api/", host, bound)
        yield bound
    finally:
        await runner.cleanup()


def actor_of(request: web.Request, claimed: str | None) -> str:
    """Who takes a step or records an inspection: the logged-in user, whatever the body claims.
    Only where auth is off (``create_app(auth=False)``) does the body's ``actor`` count; without
    it there, ApiError 400."""
    user = current_user(request)
    if user is not None:
        return user.username
    if claimed is None:
        raise ApiError(400, "actor: required without a session", key="web.actor_required")
    return claimed


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_JSON], content_type="application/json")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    del request
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _domain_status(request: web.Request, exc: Exception) -> int | None:
    for kind, status in request.app[_ERRORS].items():
        if isinstance(exc, kind):
            return status
    return None


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _localized(request, exc.status, exc.message, exc.headers, exc.key, exc.params)
    except psycopg.OperationalError as exc:  # the database is away; PoolTimeout is one of these
        log.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
        return _localized(request, 503, "database unavailable; try again", key="web.database_unavailable")
    except psycopg.Error:
        log.exception("%s %s: database error", request.method, request.path)
        return _localized(request, 500, "database error", key="web.database_error")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        key = {404: "web.not_found", 405: "web.method_not_allowed", 413: "web.too_large"}.get(exc.status)
        return _localized(request, exc.status, exc.text or exc.reason, allow, key)
    except Exception as exc:
        status = _domain_status(request, exc)
        if status is None:
            raise
        return _localized(request, status, str(exc), None, *message_key(exc))


def _localized(request: web.Request, status: int, message: str, headers: dict[str, str] | None = None,
               key: str | None = None, params: Mapping[str, Any] | None = None) -> web.Response:
    """The error in the request's language (``web.i18n``); its English text where no key names it."""
    if key is None:
        return error_response(status, message, headers)
    lang = request_lang(request)
    # The key goes to a client that states its language (the console does); the others keep the
    # answer they always had.
    code = key if lang_stated(request) else None
    if lang == DEFAULT_LANG:  # the English text is the caller's own
        return error_response(status, message, headers, code)
    return error_response(status, render(request.app[_MESSAGES], key, params or {}, lang, message), headers, code)


@web.middleware
async def _text_guard(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Text PostgreSQL refuses (U+0000, a lone surrogate), anywhere in a request to any route, is a
    400 with its place and reason before a handler runs (after auth: strangers' bodies are not read)."""
    why = await request_text_refusal(request)
    if why is not None:
        raise ApiError(400, why, key="web.bad_input", params={"detail": why})
    return await handler(request)
