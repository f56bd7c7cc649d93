"""Mount the console on the API application: the page shells, the static files, the device
card API and the register's calendar. Every page path serves the same ``index.html``; the
JavaScript renders by path. Who may open which page is decided by the server's auth layer, not here."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from console.api import add_device_routes
from semon.today import Clock, utc_now

STATIC_DIR = Path(__file__).with_name("static")
INDEX_HTML = STATIC_DIR / "index.html"
PAGES = ("/login", "/board", "/agency", "/bureau")
LOGIN_ROUTE = "/api/login"


def add_console(app: web.Application, pool: AsyncConnectionPool, *, clock: Clock = utc_now) -> None:
    """Register ``/``, the pages, ``/static/``, ``/api/devices/{device_id}`` and ``/api/calendar``
    on ``app``. ``clock`` gives the instant the register's "today" is taken at (tests fix it)."""
    add_device_routes(app, pool, clock=clock)
    app.router.add_get("/", _root)
    for path in PAGES:
        app.router.add_get(path, _page)
    app.router.add_static("/static/", STATIC_DIR, name="console-static")
    app.on_response_prepare.append(_revalidate)


def _auth_enabled(app: web.Application) -> bool:
    return any(r.canonical == LOGIN_ROUTE for r in app.router.resources())


async def _root(request: web.Request) -> web.StreamResponse:
    # Without the auth layer (development) there is nobody to log in; the login page itself
    # forwards a user who already has a session to their role's page.
    raise web.HTTPFound("/login" if _auth_enabled(request.app) else "/board")


async def _page(request: web.Request) -> web.StreamResponse:
    del request
    return web.FileResponse(INDEX_HTML)


async def _revalidate(request: web.Request, response: web.StreamResponse) -> None:
    """The console must not run stale code after a deploy: browsers revalidate (cheap 304s)."""
    if request.path.startswith("/static/") or request.path in PAGES:
        response.headers["Cache-Control"] = "no-cache"
