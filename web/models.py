"""What the shell's own routes accept (the login, a new user; validated with pydantic) and what
they answer (the session, the users, every error): the OpenAPI document takes its schemas from
these models, so the two cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from web.users import MIN_PASSWORD_LENGTH, Role


class LoginBody(BaseModel):
    # Passwords are taken as typed: no stripping.
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class NewUserBody(BaseModel):
    """A user the administrator creates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1, max_length=64, description="case-insensitive; letters, digits, . _ @ -")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    role: Role
    agency: str | None = Field(default=None, max_length=64,
                               description="the agency's party code in the register; required for role agency")
    display_name: str = Field(default="", max_length=100)


class NewPasswordBody(BaseModel):
    """A password the administrator sets for a user (ends the user's sessions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)


class ActiveBody(BaseModel):
    """Disable (false: logged out at once, cannot log in) or enable (true) a user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    active: bool = Field(strict=True, description="true or false, nothing read as either")


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str | None = Field(default=None, max_length=64, description="one user's changes only")
    limit: int = Field(default=100, ge=1, le=1000)


# What the shell's own routes answer. Each mirrors the JSON its handler writes (``User.as_json``,
# ``UserInfo.as_json``, ``web.http.error_response``); the OpenAPI document's schemas are these
# models', and the API's tests validate real answers against them.


class Answer(BaseModel):
    """The base of every response model: exactly the fields named, each one present (a nullable
    field is null, never absent, unless it says otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Error(Answer):
    """Every error answer."""

    error: str = Field(description="what is wrong, in the request's language (X-Semon-Lang, lang, Accept-Language)")
    code: str | None = Field(default=None, description="the message's key (web.i18n), where it has one, to a "
                             "client that states its language (X-Semon-Lang or lang)")


class SessionUser(Answer):
    """Who is logged in."""

    username: str
    role: Role
    agency: str | None = Field(description="the agency's party code (role agency)")
    display_name: str


class Session(Answer):
    user: SessionUser
    csrf_token: str = Field(description="send it back in the X-CSRF-Token header on every POST")


class UserInfo(SessionUser):
    """A user as the administrator lists them."""

    id: int
    active: bool
    created_at: datetime


class UserList(Answer):
    users: list[UserInfo]


class CreatedUser(Answer):
    user: UserInfo


class UserEvent(Answer):
    """One change to a user, by whom and when."""

    at: datetime
    actor: str = Field(description="the administrator's username, or 'semon users (<system user>)'")
    username: str
    action: Literal["created", "password_reset", "disabled", "enabled"]
    detail: dict[str, str | None] = Field(description="at creation: role, agency, display_name")


class UserEventList(Answer):
    events: list[UserEvent]


SHELL_ANSWERS: tuple[type[Answer], ...] = (Error, Session, UserList, CreatedUser, UserEventList)
SHELL_REQUESTS: tuple[type[BaseModel], ...] = (LoginBody, NewUserBody, NewPasswordBody, ActiveBody, EventsQuery)
