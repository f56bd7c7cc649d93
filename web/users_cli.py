"""``semon users …``: create, list, re-password, disable and enable console users, against ``SEMON_DATABASE_URL`` or the
database of a running ``semon up``. The password never goes on the command line (where ``ps``
and the shell history would show it): it is read from the terminal or from stdin."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from typing import Any

import psycopg

from semon.db import apply_migrations
from web.passwords import hash_password
from web.users import (
    AgencyCheck,
    Role,
    UserAction,
    UserError,
    change_password,
    check_new_password,
    check_role_agency,
    create_user,
    list_users,
    normalise_username,
    record_user_event,
    set_active,
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    users: argparse.ArgumentParser = sub.add_parser("users", help="console users and their roles")
    users_sub = users.add_subparsers(dest="users", required=True)
    add = users_sub.add_parser("add", help="create a user (the password is asked for, or read from stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[str(r) for r in Role])
    add.add_argument("--agency", help="the agency's party code in the register (required for --role agency)")
    add.add_argument("--display-name", default="", help="the name the console shows")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin, even at a terminal")
    users_sub.add_parser("list", help="every user, one JSON object a line")
    passwd = users_sub.add_parser("passwd", help="set a user's password (ends the user's sessions)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin, even at a terminal")
    for name, what in (("disable", "a disabled user cannot log in, and is logged out at once"),
                       ("enable", "let a disabled user log in again")):
        users_sub.add_parser(name, help=what).add_argument("username")
    return users


def cli_actor() -> str:
    """Who changes users on the command line, as ``user_events`` records it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = f"uid {os.getuid()}"
    return f"semon users ({who})"


def read_password(args: argparse.Namespace) -> str:
    """Before the event loop starts: reading a terminal blocks."""
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the passwords differ")
    return first


async def add_user(url: str, args: argparse.Namespace, password: str, *, agency_exists: AgencyCheck) -> int:
    """``semon users add``; ``agency_exists`` checks an agency user's party code in the register."""
    try:
        username = normalise_username(args.username)
        role = Role(args.role)
        agency = check_role_agency(role, args.agency)
        check_new_password(password)
    except UserError as exc:
        print(f"semon users add: {exc}", file=sys.stderr)
        return 2
    password_hash = await asyncio.to_thread(hash_password, password)
    await apply_migrations(url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        if agency is not None and not await agency_exists(conn, agency):
            print(f"semon users add: {agency!r} is not an inspection agency in the register", file=sys.stderr)
            return 2
        try:
            created = await create_user(conn, username, password_hash, role, agency=agency,
                                        display_name=args.display_name)
        except UserError as exc:
            print(f"semon users add: {exc}", file=sys.stderr)
            return 1
        await record_user_event(conn, cli_actor(), username, UserAction.CREATED,
                                {"role": str(role), "agency": agency, "display_name": args.display_name.strip()})
        await conn.commit()
    print(json.dumps(created.as_json(), ensure_ascii=False))
    return 0


async def print_users(url: str) -> int:
    await apply_migrations(url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for info in await list_users(conn):
            print(json.dumps(info.as_json(), ensure_ascii=False))
    return 0


async def new_password(url: str, args: argparse.Namespace, password: str) -> int:
    try:
        check_new_password(password)
    except UserError as exc:
        print(f"semon users passwd: {exc}", file=sys.stderr)
        return 2
    password_hash = await asyncio.to_thread(hash_password, password)
    await apply_migrations(url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        found = await change_password(conn, args.username, password_hash)
        if found:
            await record_user_event(conn, cli_actor(), args.username, UserAction.PASSWORD_RESET)
        await conn.commit()
    if not found:
        print(f"semon users passwd: no user {args.username!r}", file=sys.stderr)
        return 1
    return 0


async def activate(url: str, args: argparse.Namespace, active: bool) -> int:
    await apply_migrations(url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        found = await set_active(conn, args.username, active)
        if found:
            await record_user_event(conn, cli_actor(), args.username,
                                    UserAction.ENABLED if active else UserAction.DISABLED)
        await conn.commit()
    if not found:
        print(f"semon users {args.users}: no user {args.username!r}", file=sys.stderr)
        return 1
    return 0
