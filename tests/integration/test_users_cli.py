"""`semon users` as an administrator runs it: add (password from stdin), list, passwd, disable."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import psycopg
import pytest

from tests.integration.helpers import query
from web.passwords import verify_password

pytestmark = pytest.mark.integration


async def semon_users(database_url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "semon", "users", *args, env={**env, "SEMON_DATABASE_URL": database_url},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def stored_hash(database_url: str, username: str) -> str:
    ((value,),) = await query(database_url, "SELECT password_hash FROM users WHERE username = %s", (username,))
    return str(value)


async def test_add_list_passwd_disable(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("INSERT INTO parties (code, name, role) VALUES ('XNTJS', '西宁市特种设备检验所', 'agency')")
        await conn.commit()
    code, out, err = await semon_users(database_url, "add", "Li.Na", "--role", "agency", "--agency", "XNTJS",
                                       "--display-name", "李娜", "--password-stdin", stdin="first password\n")
    assert code == 0, err
    added = json.loads(out)
    assert (added["username"], added["role"], added["agency"], added["display_name"]) == (
        "li.na", "agency", "XNTJS", "李娜")
    assert "first password" not in out + err  # never echoed, never logged
    assert verify_password("first password", await stored_hash(database_url, "li.na"))

    for args, stdin, expected in [
        (("add", "li.na", "--role", "bureau"), "another password\n", "exists"),
        (("add", "x1", "--role", "agency", "--agency", "NOPE"), "long enough\n", "not an inspection agency"),
        (("add", "x2", "--role", "agency"), "long enough\n", "needs its agency"),
        (("add", "x3", "--role", "operator"), "short\n", "at least 8"),
        (("add", "x4", "--role", "operator"), " " * 8 + "\n", "only spaces"),
        (("passwd", "li.na"), " " * 8 + "\n", "only spaces"),
        (("passwd", "li.na"), "abababab\n", "4 different characters"),
        (("passwd", "nobody"), "long enough\n", "no user"),
    ]:
        code, _, err = await semon_users(database_url, *args, stdin=stdin)
        assert code != 0 and expected in err, (args, err)

    code, _, err = await semon_users(database_url, "add", "ops1", "--role", "operator", stdin="op password\n")
    assert code == 0, err
    code, out, _ = await semon_users(database_url, "list")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(u["username"], u["role"], u["active"]) for u in listed] == [("li.na", "agency", True),
                                                                         ("ops1", "operator", True)]

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("""INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at)
                              SELECT '\\x01', id, 'c', now() + interval '1 hour' FROM users WHERE username = 'li.na'""")
        await conn.commit()
    code, _, err = await semon_users(database_url, "passwd", "LI.NA", stdin="second password\n")
    assert code == 0, err
    assert verify_password("second password", await stored_hash(database_url, "li.na"))
    assert await query(database_url, "SELECT count(*) FROM sessions") == [(0,)]  # logged out everywhere
    code, _, err = await semon_users(database_url, "disable", "ops1")
    assert code == 0, err
    assert await query(database_url, "SELECT active FROM users WHERE username = 'ops1'") == [(False,)]
