"""Login sessions in PostgreSQL. The browser holds a random token in a cookie; the database
holds only its SHA-256, so reading the table does not let anyone log in. Each session carries
its own CSRF token, which the console sends back in a header on every change.

Expiry slides: each use moves it ``idle`` ahead, but never past ``max_age`` after the login.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from psycopg import AsyncConnection

from web.users import User, user_from_row

TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class SessionLifetime:
    idle: timedelta
    max_age: timedelta


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str  # for the cookie only: never stored, never logged
    csrf_token: str


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


async def open_session(conn: AsyncConnection, user_id: int, lifetime: SessionLifetime) -> NewSession:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    csrf = secrets.token_urlsafe(TOKEN_BYTES)
    await conn.execute(
        """INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at)
           VALUES (%s, %s, %s, now() + least(%s::interval, %s::interval))""",
        (token_digest(token), user_id, csrf, lifetime.idle, lifetime.max_age))
    return NewSession(token, csrf)


async def use_session(conn: AsyncConnection, token: str, lifetime: SessionLifetime) -> Session | None:
    """The live session behind ``token`` (its user active), its expiry moved on; None if there
    is none. One statement: the lookup and the slide cannot disagree."""
    cur = await conn.execute(
        """UPDATE sessions s SET last_seen_at = now(),
                  expires_at = least(now() + %s::interval, s.created_at + %s::interval)
           FROM users u
           WHERE s.token_hash = %s AND s.expires_at > now() AND u.id = s.user_id AND u.active
           RETURNING u.id, u.username, u.role, u.agency_code, u.display_name, s.csrf_token""",
        (lifetime.idle, lifetime.max_age, token_digest(token)))
    row = await cur.fetchone()
    if row is None:
        return None
    return Session(user_from_row(row), str(row[5]))


async def close_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE token_hash = %s", (token_digest(token),))


async def purge_expired(conn: AsyncConnection) -> int:
    """Forget expired sessions (done at each login, so the table stays the size of its users)."""
    cur = await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
    return cur.rowcount


async def live_sessions(conn: AsyncConnection, digests: list[bytes]) -> set[bytes]:
    """Which of these sessions (by token digest) are still live, their user active; their expiry
    is not moved (an open live stream is not a use)."""
    cur = await conn.execute(
        """SELECT s.token_hash FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.token_hash = ANY(%s) AND s.expires_at > now() AND u.active""", (digests,))
    return {bytes(row[0]) for row in await cur.fetchall()}
