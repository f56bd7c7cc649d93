"""The application every HTTP route of semon is served by (aiohttp): its middlewares, the shell's
own routes (login and users, the OpenAPI document) and serving it.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType

import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from semon.settings import Settings
from web.auth import add_auth_routes, auth_middleware, current_user
from web.http import ApiError, error_response
from web.inputs import request_text_refusal

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
OPENAPI_JSON = web.AppKey("openapi_json", bytes)
_ERRORS = web.AppKey("domain_errors", Mapping[type[Exception], int])

# Every answer, pages and errors alike: scripts, styles and connections from this origin only
# (the console has no inline script or style attribute), never framed (clickjacking), no MIME
# sniffing, and no full URL in the Referer sent elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
}


def create_app(pool: AsyncConnectionPool, settings: Settings, *, auth: bool = True, db_timeout_s: float = 5.0,
               errors: Mapping[type[Exception], int] = MappingProxyType({})) -> web.Application:
    """The application with the shell's middlewares and routes; the domain packages add theirs.
    The pool is opened and closed by the caller. ``errors``: a domain package's exceptions and
    the status each answers with (its message as the error). With ``auth``, every route but the
    public ones needs a session and the role policy (``web.policy``) applies to everything served
    by this application, routes added later included."""
    app = web.Application(middlewares=[_errors, auth_middleware, _text_guard] if auth else [_errors, _text_guard])
    app[SETTINGS] = settings
    app[_ERRORS] = MappingProxyType(dict(errors))
    if auth:
        add_auth_routes(app, pool, settings, db_timeout_s=db_timeout_s)
    app.router.add_get("/api/openapi.json", _openapi)
    app.on_response_prepare.append(_security_headers)
    return app


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``app``; yields the bound port (useful with port 0)."""
    runner = web.AppRunner(app)
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
        raise ApiError(400, "actor: required without a session")
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
        return error_response(exc.status, exc.message, exc.headers)
    except psycopg.OperationalError as exc:  # the database is away; PoolTimeout is one of these
        log.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
        return error_response(503, "database unavailable; try again")
    except psycopg.Error:
        log.exception("%s %s: database error", request.method, request.path)
        return error_response(500, "database error")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, exc.text or exc.reason, allow)
    except Exception as exc:
        status = _domain_status(request, exc)
        if status is None:
            raise
        return error_response(status, str(exc))


@web.middleware
async def _text_guard(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Text PostgreSQL refuses (U+0000, a lone surrogate), anywhere in a request to any route, is a
    400 with its place and reason before a handler runs (after auth: strangers' bodies are not read)."""
    why = await request_text_refusal(request)
    if why is not None:
        raise ApiError(400, why)
    return await handler(request)
