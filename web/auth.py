"""Users, sessions and the role policy on the HTTP side (aiohttp).

- ``POST /api/login`` ``{"username", "password"}`` sets the ``semon_session`` cookie (HttpOnly,
  SameSite=Strict) and answers ``{"user", "csrf_token"}``; ``POST /api/logout``; ``GET /api/me``;
  ``GET``/``POST /api/users``, ``POST /api/users/{username}/password`` and ``…/active``,
  ``GET /api/users/events`` for the administrator, every change recorded with who and when.
- ``auth_middleware``: a session for everything not public (401), the session's CSRF token in
  the ``X-CSRF-Token`` header on every change (403), and the application's role policy (``web.policy``, 403).
  API paths answer in JSON; the console's pages get a small HTML page instead.
- Handlers find the logged-in user with ``current_user(request)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn, TypeVar

from aiohttp import web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from yarl import URL

from semon.backoff import Backoff
from semon.periodic import every
from semon.settings import AuthSettings
from web.auth_pages import forbidden_page, login_required_page
from web.http import ApiError, json_response, read_body, read_query
from web.models import ActiveBody, EventsQuery, LoginBody, NewPasswordBody, NewUserBody
from web.passwords import hash_password, needs_rehash, verify_password
from web.policy import Policy, needs_csrf
from web.sessions import (
    Session,
    SessionLifetime,
    close_session,
    live_sessions,
    open_session,
    purge_expired,
    token_digest,
    use_session,
)
from web.throttle import LoginThrottle, ThrottleLimits
from web.users import (
    AgencyCheck,
    User,
    UserAction,
    UserError,
    UserExists,
    change_password,
    check_new_password,
    check_role_agency,
    create_user,
    list_users,
    login_candidate,
    normalise_username,
    record_user_event,
    set_active,
    set_password_hash,
    user_events,
    user_info,
)

log = logging.getLogger(__name__)

COOKIE = "semon_session"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_REQUIRED = "login required"
CSRF_REFUSED = "CSRF token missing or wrong"
_MAX_TOKEN_CHARS = 128  # longer than any token we issue: not worth a database lookup
# Verified when the username is unknown, so that a wrong name costs as long as a wrong password
# and the answer's timing does not tell which names exist. Same costs as DEFAULT_PARAMS.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$Ol61AroWhc148Ui5wZPTFA$jHQFG/95xw7cInb/G+lnOFHpi7/4/IYTBvGyKaoVFpY"
# Hashing is deliberately slow CPU work: a few at a time in threads, so a flood of logins cannot
# starve the event loop (the alarm path) of CPU, and a bounded number waiting. The throttle lets
# one address have only a few logins under way, so a flood from one place cannot fill the wait.
_HASHING_AT_ONCE = 2
_HASHING_WAITING_MAX = 256
_T = TypeVar("_T")


@dataclass(slots=True)
class AuthContext:
    pool: AsyncConnectionPool
    lifetime: SessionLifetime
    cookie_secure: bool
    throttle: LoginThrottle
    db_timeout_s: float
    agency_exists: AgencyCheck
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(_HASHING_AT_ONCE))
    hashing_waiting: int = 0

    def connection(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return self.pool.connection(timeout=self.db_timeout_s)

    async def hashed(self, work: Callable[[], _T]) -> _T:
        """Run one hash computation in a thread, a few at a time."""
        if self.hashing_waiting >= _HASHING_WAITING_MAX:
            raise ApiError(503, "too many logins at once; try again", {"Retry-After": "1"}, key="web.login_busy")
        self.hashing_waiting += 1
        try:
            async with self.hashing:
                return await asyncio.to_thread(work)
        finally:
            self.hashing_waiting -= 1


class LiveSockets:
    """The open live WebSockets by the session they were opened with, so that they end with it:
    at once on a logout in this process, and within ``check_s`` when the session ends any other
    way (a logout in another process, the user disabled or its password changed, expiry)."""

    def __init__(self) -> None:
        self._by_session: dict[bytes, set[web.WebSocketResponse]] = {}

    def add(self, digest: bytes, ws: web.WebSocketResponse) -> None:
        self._by_session.setdefault(digest, set()).add(ws)

    def discard(self, digest: bytes, ws: web.WebSocketResponse) -> None:
        sockets = self._by_session.get(digest)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._by_session[digest]

    def sessions(self) -> list[bytes]:
        return list(self._by_session)

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_session.values())

    async def end(self, digest: bytes, timeout_s: float) -> int:
        """Close every socket of one session (``SESSION_ENDED_CLOSE``); how many were open."""
        sockets = list(self._by_session.pop(digest, ()))

        async def close(ws: web.WebSocketResponse) -> None:
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await ws.close(code=SESSION_ENDED_CLOSE, message=SESSION_ENDED_REASON)

        await asyncio.gather(*(close(ws) for ws in sockets))
        return len(sockets)


# The close code of a live socket whose session ended (4000-4999: for applications; 4401 as in 401).
SESSION_ENDED_CLOSE = 4401
SESSION_ENDED_REASON = b"session ended; log in again"
AUTH = web.AppKey("auth", AuthContext)
LIVE_SOCKETS = web.AppKey("auth_live_sockets", LiveSockets)
POLICY = web.AppKey("policy", Policy)
USER = web.RequestKey("user", User)
SESSION = web.RequestKey("session", Session)


def current_user(request: web.Request) -> User | None:
    """The logged-in user, or None where auth is off (or on a public route)."""
    return request.get(USER)


def add_auth_routes(app: web.Application, pool: AsyncConnectionPool, settings: AuthSettings, policy: Policy, *,
                    agency_exists: AgencyCheck, backoff: Backoff, db_timeout_s: float = 5.0) -> None:
    """The login routes and the users', and what ``auth_middleware`` needs: ``policy`` is the
    application's role policy; ``agency_exists`` checks a new agency user's party code;
    ``backoff`` (the settings') paces the live-session check's retries."""
    app[POLICY] = policy
    lifetime = SessionLifetime(timedelta(seconds=settings.session_idle_s),
                               timedelta(seconds=settings.session_max_s))
    throttle = LoginThrottle(ThrottleLimits(
        free_failures=settings.login_max_failures, base_delay_s=settings.login_base_delay_s,
        window_s=settings.login_window_s, address_max_failures=settings.login_address_max_failures,
        address_in_flight=settings.login_address_in_flight))
    app[AUTH] = AuthContext(pool, lifetime, settings.cookie_secure, throttle, db_timeout_s, agency_exists)
    app[LIVE_SOCKETS] = LiveSockets()
    app.cleanup_ctx.append(functools.partial(_watch_live_sessions, check_s=settings.live_check_s, backoff=backoff))
    app.router.add_post("/api/login", _login)
    app.router.add_post("/api/logout", _logout)
    app.router.add_get("/api/me", _me)
    app.router.add_get("/api/users", _list_users)
    app.router.add_post("/api/users", _create_user)
    app.router.add_get("/api/users/events", _list_user_events)
    app.router.add_post("/api/users/{username}/password", _reset_password)
    app.router.add_post("/api/users/{username}/active", _set_active)


async def _watch_live_sessions(app: web.Application, *, check_s: float, backoff: Backoff) -> AsyncIterator[None]:
    task = asyncio.create_task(_check_live_sessions(app, check_s, backoff), name="live-session-check")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _check_live_sessions(app: web.Application, check_s: float, backoff: Backoff) -> NoReturn:
    """Every ``check_s`` (``semon.periodic``, with ``backoff``): close the live sockets whose session has ended
    (one query for all)."""
    auth, sockets = app[AUTH], app[LIVE_SOCKETS]

    async def check() -> None:
        digests = sockets.sessions()
        if not digests:
            return
        async with auth.connection() as conn:
            live = await live_sessions(conn, digests)
        for digest in digests:
            if digest not in live:
                closed = await sockets.end(digest, auth.db_timeout_s)
                log.info("closed %d live socket(s) of an ended session", closed)

    await every("live session check", check_s, check, log=log, backoff=backoff, first_after_s=check_s)


def live_socket_session(request: web.Request) -> bytes | None:
    """The digest of the session a live socket is opened with (None where auth is off)."""
    token = request.cookies.get(COOKIE)
    return token_digest(token) if token and SESSION in request else None


# The middleware


def _refuse(policy: Policy, path: str, status: int, message: str, role: str = "",
            key: str | None = None) -> web.StreamResponse:
    """A page gets its HTML answer; an API call raises, for ``_errors`` to answer in JSON."""
    if not policy.is_api(path):
        return login_required_page(path) if status == 401 else forbidden_page(role)
    headers = {"WWW-Authenticate": 'Cookie realm="semon", cookie-name="semon_session"'} if status == 401 else None
    raise ApiError(status, message, headers, key=key, params={"role": role})


def _csrf_ok(request: web.Request, session: Session) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf_token.encode("ascii"))


def _foreign_origin(request: web.Request, https: bool) -> bool:
    """A WebSocket opened by a page of another site (cross-site WebSocket hijacking): browsers
    send the page's Origin with the upgrade, and nothing else stops the cookie from going along
    but SameSite, so check it too: scheme, host and port must all be ours (``https``: the
    console is served over HTTPS, perhaps by a proxy in front)."""
    origin = request.headers.get("Origin")
    if origin is None or request.headers.get("Upgrade", "").lower() != "websocket":
        return False
    try:
        theirs = URL(origin)
        ours = URL(f"{'https' if https else request.scheme}://{request.host}")
        return not theirs.absolute or (theirs.scheme, theirs.host, theirs.port) != (ours.scheme, ours.host, ours.port)
    except (ValueError, TypeError):  # not even a URL
        return True


@web.middleware
async def auth_middleware(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    method, path = request.method, request.rel_url.path_safe  # the path as the router matches it
    policy = request.app[POLICY]
    if policy.is_public(method, path):
        return await handler(request)
    session = await _session_of(request)
    if session is None:
        return _refuse(policy, path, 401, LOGIN_REQUIRED, key="web.login_required")
    role = str(session.user.role)
    if needs_csrf(method) and not _csrf_ok(request, session):
        log.warning("%s %s by %s refused: CSRF token missing or wrong", method, path, session.user.username)
        return _refuse(policy, path, 403, CSRF_REFUSED, role, key="web.csrf")
    # No route (404) or not this method (405): nothing to protect, so say which, like the router.
    routed = request.match_info.http_exception is None
    if routed and not policy.allowed(session.user.role, method, path):
        return _refuse(policy, path, 403, f"forbidden for role {role}", role, key="web.forbidden_role")
    if _foreign_origin(request, request.app[AUTH].cookie_secure):
        log.warning("%s %s by %s refused: WebSocket from origin %r", method, path, session.user.username,
                    request.headers.get("Origin", "")[:100])
        return _refuse(policy, path, 403, "a WebSocket from another site", role, key="web.foreign_websocket")
    request[USER] = session.user
    request[SESSION] = session
    return await handler(request)


async def _session_of(request: web.Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return None
    auth = request.app[AUTH]
    async with auth.connection() as conn:
        return await use_session(conn, token, auth.lifetime)


# Handlers


def _session_json(user: User, csrf_token: str) -> dict[str, object]:
    return {"user": user.as_json(), "csrf_token": csrf_token}


async def _login(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    # Only JSON: a cross-site HTML form cannot send it, so no page can log a browser in as someone else.
    if request.content_type != "application/json":
        raise ApiError(415, "send the credentials as application/json", key="web.login_json")
    body = await read_body(request, LoginBody)
    key = body.username.strip().lower()
    address = request.remote or "?"
    throttle, loop = auth.throttle, asyncio.get_running_loop()
    # Cheap checks first, before any hashing: this pair's delay, this address's failures, and
    # how many logins this address has under way.
    wait = throttle.retry_after(key, address, loop.time())
    if wait > 0:
        log.warning("login for %r from %s refused: too many failures", key[:64], address)
        raise ApiError(429, "too many failed logins; try again later", {"Retry-After": str(math.ceil(wait))},
                       key="web.login_throttled")
    if not throttle.begin(address, loop.time()):
        log.warning("login for %r from %s refused: too many logins under way from there", key[:64], address)
        raise ApiError(429, "too many logins at once from this address; try again", {"Retry-After": "1"},
                       key="web.login_busy")
    try:
        # Counted before the check, so parallel guesses count too; a success forgives it.
        throttle.failed(key, address, loop.time())
        user = await _check_password(auth, key, body.password)
    finally:
        throttle.end(address)
    if user is None:
        log.warning("login failed for %r from %s", key[:64], address)
        raise ApiError(401, "wrong username or password", key="web.wrong_credentials")
    throttle.succeeded(key, address)
    async with auth.connection() as conn:
        session = await open_session(conn, user.id, auth.lifetime)
        await purge_expired(conn)
    log.info("%s (%s) logged in from %s", user.username, user.role, request.remote)
    response = json_response(_session_json(user, session.csrf_token))
    # Secure when told so, and whenever the request came over HTTPS (a trusted proxy's X-Forwarded-Proto).
    response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", path="/",
                        secure=auth.cookie_secure or request.scheme == "https",
                        max_age=int(auth.lifetime.max_age.total_seconds()))
    response.headers["Cache-Control"] = "no-store"
    return response


async def _check_password(auth: AuthContext, username: str, password: str) -> User | None:
    async with auth.connection() as conn:
        found = await login_candidate(conn, username)
    stored = found[1] if found is not None else _DUMMY_HASH
    if not await auth.hashed(lambda: verify_password(password, stored)) or found is None:
        return None
    user = found[0]
    # An older scheme (scrypt) or lower costs than today's: upgrade the hash now, while the
    # password is at hand. Best effort: a busy moment must not fail a right password.
    if needs_rehash(stored):
        try:
            new_hash = await auth.hashed(lambda: hash_password(password))
        except ApiError:
            log.info("%s: password rehash put off (hashing busy)", user.username)
            return user
        async with auth.connection() as conn:
            await set_password_hash(conn, user.id, new_hash)
        log.info("%s: password hash upgraded to argon2id", user.username)
    return user


async def _logout(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    token = request.cookies.get(COOKIE)
    if token:
        async with auth.connection() as conn:
            await close_session(conn, token)
        await request.app[LIVE_SOCKETS].end(token_digest(token), auth.db_timeout_s)
    user = current_user(request)
    if user is not None:
        log.info("%s logged out", user.username)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/", secure=auth.cookie_secure or request.scheme == "https", httponly=True,
                        samesite="Strict")
    return response


async def _me(request: web.Request) -> web.Response:
    session = request[SESSION]
    return json_response(_session_json(session.user, session.csrf_token))


async def _list_users(request: web.Request) -> web.Response:
    async with request.app[AUTH].connection() as conn:
        users = await list_users(conn)
    return json_response({"users": [u.as_json() for u in users]})


async def _create_user(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    body = await read_body(request, NewUserBody)
    try:
        username = normalise_username(body.username)
        check_new_password(body.password)
        agency = check_role_agency(body.role, body.agency)
    except UserError as exc:
        raise ApiError(400, str(exc), key=exc.key, params=exc.params) from None
    password_hash = await auth.hashed(lambda: hash_password(body.password))
    async with auth.connection() as conn:
        if agency is not None and not await auth.agency_exists(conn, agency):
            raise ApiError(400, f"agency {agency!r} is not an inspection agency in the register",
                           key="web.not_an_agency", params={"agency": agency})
        try:
            created = await create_user(conn, username, password_hash, body.role, agency=agency,
                                        display_name=body.display_name)
        except UserExists as exc:
            raise ApiError(409, str(exc), key=exc.key, params=exc.params) from None
        await record_user_event(conn, _actor(request), username, UserAction.CREATED,
                                {"role": str(body.role), "agency": agency, "display_name": body.display_name.strip()})
    log.info("%s created user %s (%s)", _actor(request), username, body.role)
    return json_response({"user": created.as_json()}, 201)


def _actor(request: web.Request) -> str:
    user = current_user(request)
    return user.username if user is not None else "?"


async def _list_user_events(request: web.Request) -> web.Response:
    query = read_query(request, EventsQuery)
    async with request.app[AUTH].connection() as conn:
        events = await user_events(conn, username=query.username, limit=query.limit)
    return json_response({"events": [e.as_json() for e in events]})


async def _reset_password(request: web.Request) -> web.Response:
    """A new password for a user; its sessions end (its live sockets within the live check)."""
    auth = request.app[AUTH]
    username = request.match_info["username"].lower()
    body = await read_body(request, NewPasswordBody)
    try:
        check_new_password(body.password)
    except UserError as exc:
        raise ApiError(400, str(exc), key=exc.key, params=exc.params) from None
    password_hash = await auth.hashed(lambda: hash_password(body.password))
    async with auth.connection() as conn:
        if not await change_password(conn, username, password_hash):
            raise ApiError(404, f"no user {username!r}", key="web.no_user", params={"username": username})
        await record_user_event(conn, _actor(request), username, UserAction.PASSWORD_RESET)
    log.info("%s reset the password of %s", _actor(request), username)
    return web.Response(status=204)


async def _set_active(request: web.Request) -> web.Response:
    """Disable or enable a user; a disabled user's sessions end at once. Nobody disables
    themselves (an administrator locking the last way in out)."""
    username = request.match_info["username"].lower()
    body = await read_body(request, ActiveBody)
    if not body.active and username == _actor(request):
        raise ApiError(400, "you cannot disable yourself; another administrator can", key="web.disable_self")
    async with request.app[AUTH].connection() as conn:
        before = await user_info(conn, username)
        if before is None:
            raise ApiError(404, f"no user {username!r}", key="web.no_user", params={"username": username})
        if before.active != body.active:
            await set_active(conn, username, body.active)
            await record_user_event(conn, _actor(request), username,
                                    UserAction.ENABLED if body.active else UserAction.DISABLED)
            log.info("%s %s user %s", _actor(request), "enabled" if body.active else "disabled", username)
        after = await user_info(conn, username)
    assert after is not None
    return json_response({"user": after.as_json()})
