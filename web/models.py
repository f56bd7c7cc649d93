"""What the shell's own routes accept: the login and a new user, validated with pydantic (the
OpenAPI document takes their schemas from here)."""

from __future__ import annotations

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
