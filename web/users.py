"""Console users in PostgreSQL: who they are, their role, and (for an inspection agency) which
agency's equipment they may see. Passwords arrive here already hashed (``web.passwords``):
hashing is CPU work for a thread, not for a held database connection."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from web.i18n import ROLE_NAMES, KeyedError

MIN_PASSWORD_LENGTH = 8
MIN_PASSWORD_DISTINCT = 4  # "abababab" is eight characters, but guessed at once
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")


class Role(StrEnum):
    OPERATOR = "operator"  # the emergency centre (96333)
    AGENCY = "agency"  # an inspection agency (检验机构): its own equipment only
    BUREAU = "bureau"  # the city bureau (市场监管局): reads everything
    ADMIN = "admin"  # everything, and the users


class UserAction(StrEnum):
    """What ``user_events`` records (migration 0013)."""

    CREATED = "created"
    PASSWORD_RESET = "password_reset"
    DISABLED = "disabled"
    ENABLED = "enabled"


class UserError(KeyedError):
    """A user that cannot be created as asked; the message says why (in English), ``key`` and
    ``params`` name it in the shell's catalogue (``web.i18n.MESSAGES``)."""


class UserExists(UserError):
    pass


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    agency: str | None  # the agency's party code, for role agency
    display_name: str

    def as_json(self) -> dict[str, Any]:
        return {"username": self.username, "role": str(self.role), "agency": self.agency,
                "display_name": self.display_name}


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as the administrator lists them."""

    user: User
    active: bool
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {**self.user.as_json(), "id": self.user.id, "active": self.active,
                "created_at": self.created_at.isoformat()}


def normalise_username(name: str) -> str:
    """Usernames are case-insensitive: stored and looked up in lower case."""
    username = name.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise UserError("a username is 1-64 letters, digits or . _ @ - (starting with a letter or digit)",
                        key="web.username_format")
    return username


def check_new_password(password: str) -> None:
    """UserError unless ``password`` may be set: at least ``MIN_PASSWORD_LENGTH`` characters,
    not only whitespace, and at least ``MIN_PASSWORD_DISTINCT`` different characters (eight
    spaces, "aaaaaaaa" or "abababab" are refused: the length alone lets them through)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password has at least {MIN_PASSWORD_LENGTH} characters", key="web.password_short",
                        params={"min": MIN_PASSWORD_LENGTH})
    if not password.strip():
        raise UserError("a password cannot be only spaces", key="web.password_spaces")
    if len(set(password)) < MIN_PASSWORD_DISTINCT:
        raise UserError(f"a password has at least {MIN_PASSWORD_DISTINCT} different characters",
                        key="web.password_distinct", params={"min": MIN_PASSWORD_DISTINCT})


def check_role_agency(role: Role, agency: str | None) -> str | None:
    """The agency code an agency user needs (and the others must not have)."""
    agency = agency.strip() if agency else None
    if role is Role.AGENCY and not agency:
        raise UserError("an agency user needs its agency's party code", key="web.agency_code_needed")
    if role is not Role.AGENCY and agency:
        raise UserError(f"only agency users belong to an agency, not {role} users", key="web.agency_only",
                        params={"role": ROLE_NAMES.get(str(role), str(role))})
    return agency


_COLUMNS = "id, username, role, agency_code, display_name"


def user_from_row(row: tuple[Any, ...]) -> User:
    user_id, username, role, agency, display_name = row[:5]
    return User(int(user_id), str(username), Role(role), agency, str(display_name))


AgencyCheck = Callable[[AsyncConnection[Any], str], Awaitable[bool]]
"""Whether a party code is an inspection agency's: the register's to say (``registry.store.agency_exists``,
handed over by the register's part of the application and by the composition root to the CLI)."""


async def create_user(conn: AsyncConnection, username: str, password_hash: str, role: Role, *,
                      agency: str | None = None, display_name: str = "") -> UserInfo:
    """Insert a user; ``UserExists`` if the name is taken. The caller validated the agency code
    against the register where one is required (an ``AgencyCheck``)."""
    username = normalise_username(username)
    agency = check_role_agency(role, agency)
    cur = await conn.execute(
        f"""INSERT INTO users (username, password_hash, role, agency_code, display_name)
            VALUES (%s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING
            RETURNING {_COLUMNS}, active, created_at""",
        (username, password_hash, str(role), agency, display_name.strip()))
    row = await cur.fetchone()
    if row is None:
        raise UserExists(f"user {username!r} exists", key="web.user_exists", params={"username": username})
    return UserInfo(user_from_row(row), bool(row[5]), row[6])


async def login_candidate(conn: AsyncConnection, username: str) -> tuple[User, str] | None:
    """An active user by name with the stored hash, to verify a password against."""
    cur = await conn.execute(f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = %s AND active",
                             (username.strip().lower(),))
    row = await cur.fetchone()
    return (user_from_row(row), str(row[5])) if row is not None else None


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


async def change_password(conn: AsyncConnection, username: str, password_hash: str) -> bool:
    """A new password; the user's sessions end with the old one. False if there is no such user."""
    cur = await conn.execute("UPDATE users SET password_hash = %s WHERE username = %s RETURNING id",
                             (password_hash, username.strip().lower()))
    row = await cur.fetchone()
    if row is not None:
        await conn.execute("DELETE FROM sessions WHERE user_id = %s", (row[0],))
    return row is not None


async def set_active(conn: AsyncConnection, username: str, active: bool) -> bool:
    """Enable or disable a user. A disabled user's sessions end for good (enabling it again does
    not bring them back), and its live sockets close within ``SEMON_AUTH_LIVE_CHECK_S``."""
    cur = await conn.execute("UPDATE users SET active = %s WHERE username = %s RETURNING id",
                             (active, username.strip().lower()))
    row = await cur.fetchone()
    if row is not None and not active:
        await conn.execute("DELETE FROM sessions WHERE user_id = %s", (row[0],))
    return row is not None


async def count_users(conn: AsyncConnection) -> int:
    cur = await conn.execute("SELECT count(*) FROM users")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def list_users(conn: AsyncConnection) -> list[UserInfo]:
    cur = await conn.execute(f"SELECT {_COLUMNS}, active, created_at FROM users ORDER BY username")
    return [UserInfo(user_from_row(row), bool(row[5]), row[6]) for row in await cur.fetchall()]


async def user_info(conn: AsyncConnection, username: str) -> UserInfo | None:
    cur = await conn.execute(f"SELECT {_COLUMNS}, active, created_at FROM users WHERE username = %s",
                             (username.strip().lower(),))
    row = await cur.fetchone()
    return UserInfo(user_from_row(row), bool(row[5]), row[6]) if row is not None else None


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One change to a user: when (UTC), by whom (a username, or ``semon users (<system user>)``),
    to whom, what, and its details (the role and agency at creation)."""

    at: datetime
    actor: str
    username: str
    action: UserAction
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actor": self.actor, "username": self.username,
                "action": str(self.action), "detail": self.detail}


async def record_user_event(conn: AsyncConnection, actor: str, username: str, action: UserAction,
                            detail: dict[str, Any] | None = None) -> None:
    """Record a change in the caller's transaction, so the change and its record stand or fall together."""
    await conn.execute("INSERT INTO user_events (actor, username, action, detail) VALUES (%s, %s, %s, %s)",
                       (actor, username.strip().lower(), str(action), Jsonb(detail or {})))


async def user_events(conn: AsyncConnection, *, username: str | None = None, limit: int = 100) -> list[UserEvent]:
    """The latest changes first, all users' or one's."""
    where, params = ("WHERE username = %s", (username.strip().lower(), limit)) if username else ("", (limit,))
    cur = await conn.execute(f"SELECT at, actor, username, action, detail FROM user_events {where} "
                             "ORDER BY at DESC, id DESC LIMIT %s", params)
    return [UserEvent(row[0], str(row[1]), str(row[2]), UserAction(row[3]), dict(row[4]))
            for row in await cur.fetchall()]
