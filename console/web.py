"""The console's part of the API application: the page shells, the static files, the device
card API and the register's calendar, with who may open which (``ACCESS``, enforced by the
shell's auth layer). Every page path serves the same ``index.html``; the JavaScript renders by path."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from console.api import DeviceSources, add_device_routes
from console.api_models import ANSWERS
from console.map_api import MapSources, add_map_routes
from console.openapi import console_paths
from semon.settings import RegistrySettings
from semon.today import Clock, utc_now
from web.app import Part
from web.policy import ADMIN, AGENCY, BUREAU, EVERYONE, OPERATOR, READ, Rule, public, rule

STATIC_DIR = Path(__file__).with_name("static")
INDEX_HTML = STATIC_DIR / "index.html"
PAGES = ("/login", "/board", "/agency", "/bureau", "/map", "/admin/users")
LOGIN_ROUTE = "/api/login"


# Who may open what: the login page and its assets without a session; each role its pages; the
# device card for the emergency centre and the bureau; the register's calendar (the console's
# dates) for everyone logged in.
ACCESS: tuple[Rule, ...] = (
    public(READ, "/"),
    public(READ, "/login"),
    public(READ, "/static/**"),
    public(READ, "/favicon.ico"),
    rule(READ, "/board/**", OPERATOR, BUREAU),
    rule(READ, "/agency/**", AGENCY),
    rule(READ, "/bureau/**", BUREAU),
    rule(READ, "/admin/**", ADMIN),
    rule(READ, "/api/devices/**", OPERATOR, BUREAU),
    rule(READ, "/api/calendar", *EVERYONE),
    # the city map: its page and its markers for the emergency centre and the bureau
    rule(READ, "/map/**", OPERATOR, BUREAU),
    rule(READ, "/api/map", OPERATOR, BUREAU),
)


def console_part(pool: AsyncConnectionPool, sources: DeviceSources, registry: RegistrySettings, *,
                 maps: MapSources, clock: Clock = utc_now) -> Part:
    """``/``, the pages, ``/static/``, ``/api/devices/{device_id}``, ``/api/calendar`` and
    ``/api/map`` for the shell (``web.app.create_app``). ``sources``: the owners' functions the
    device card reads; ``maps``: those the city map reads;
    ``registry``: the register's section (the calendar's zone, the card's "today"). ``clock``
    gives the instant the register's "today" is taken at (tests fix it)."""

    def add_routes(app: web.Application) -> None:
        add_device_routes(app, pool, sources, registry, clock=clock)
        add_map_routes(app, pool, maps)
        app.router.add_get("/", _root)
        for path in PAGES:
            app.router.add_get(path, _page)
        app.router.add_static("/static/", STATIC_DIR, name="console-static")
        app.on_response_prepare.append(_revalidate)

    return Part("console", add_routes, ACCESS, paths=console_paths(), answers=ANSWERS)


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
