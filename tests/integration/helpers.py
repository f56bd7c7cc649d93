"""Shared helpers for the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import orjson
import psycopg

from assembly.parts import new_ingester
from bench.ingest import scrape
from ingest.service import Ingester
from semon.settings import Settings
from tests.flat_settings import flat_settings
from web.auth import CSRF_HEADER
from web.passwords import hash_password
from web.users import Role, UserExists, create_user

_client_numbers = itertools.count(1)

PASSWORD = "correct horse battery"  # every test user's
# One of each role; the agency user belongs to the demo register's XNTJS.
TEST_USERS = (("op", Role.OPERATOR, None), ("xntjs", Role.AGENCY, "XNTJS"), ("bureau", Role.BUREAU, None),
              ("admin", Role.ADMIN, None))


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # once per run: scrypt is slow on purpose


async def add_users(database_url: str, users: tuple[tuple[str, Role, str | None], ...] = TEST_USERS) -> None:
    """Users (name, role, agency) with the password PASSWORD; those that exist are left as they are."""
    password_hash = await asyncio.to_thread(_password_hash)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for username, role, agency in users:
            with contextlib.suppress(UserExists):
                await create_user(conn, username, password_hash, role, agency=agency)
        await conn.commit()


def http_client(base_url: str | None = None) -> aiohttp.ClientSession:
    """A client that keeps the session cookie: aiohttp's default jar refuses cookies from an IP
    address, and the test servers are on 127.0.0.1."""
    return aiohttp.ClientSession(base_url=base_url, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(session: aiohttp.ClientSession, base: str, username: str, password: str = PASSWORD) -> str:
    """Log in through ``{base}/login`` (base: the API's root, ``…/api``) as the console does: the
    cookie goes to the session's jar, and the CSRF token into its default headers, so every later
    request carries both. Returns the CSRF token."""
    async with session.post(f"{base}/login", json={"username": username, "password": password}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    token: str = body["csrf_token"]
    session.headers[CSRF_HEADER] = token
    return token


def ingest_settings(**overrides: object) -> Settings:
    n = next(_client_numbers)
    base: dict[str, object] = {
        "ingest_client_id": f"test-ingest-{n}",
        "metrics_port": 0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "state_flush_interval_s": 0.1,
    }
    base.update(overrides)
    return flat_settings(**base)


@contextlib.asynccontextmanager
async def running_ingester(settings: Settings, mqtt_url: str, database_url: str) -> AsyncIterator[Ingester]:
    ingester = new_ingester(settings, mqtt_url, database_url)
    task = asyncio.create_task(ingester.run())
    await asyncio.wait_for(ingester.running.wait(), 30)
    await asyncio.wait_for(ingester.session.connected.wait(), 30)
    try:
        yield ingester
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def wait_for_count(url: str, sql: str, expected: int, timeout: float = 60) -> int:
    """Poll a COUNT query until it reaches ``expected``; return the last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await query(url, sql)
        value = int(str(rows[0][0]))
        if value >= expected or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def elevator(seq: int, **fields: object) -> bytes:
    frame: dict[str, object] = {
        "ts": now_ms(), "seq": seq, "running": False, "direction": "stop", "floor": 1,
        "door_locked": True, "door_zone": True, "passenger": False, "mode": "normal",
        "power": "main", "speed_mps": 0.0, "trip_count": 100, "run_hours": 10.0,
    }
    frame.update(fields)
    return orjson.dumps(frame)


def boiler(seq: int, **fields: object) -> bytes:
    frame: dict[str, object] = {
        "ts": now_ms(), "seq": seq, "burner_on": True, "flame": True, "pressure_mpa": 0.8,
        "water_level_mm": 5.0, "outlet_temp_c": 95.5, "return_temp_c": 70.0, "flue_temp_c": 180.0,
        "feedwater_flow_m3h": 2.5, "fuel_flow_m3h": 120.0,
    }
    frame.update(fields)
    return orjson.dumps(frame)


async def subscribed(metrics_port: int, timeout: float = 60) -> None:
    """Until the ingester on ``metrics_port`` has its subscription (connected is set after SUBACK)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    while True:
        try:
            if (await scrape(url)).get("semon_mqtt_connected") == 1.0:
                return
        except (OSError, aiohttp.ClientError):
            pass
        assert loop.time() < deadline, f"the ingester on {metrics_port} never subscribed"
        await asyncio.sleep(0.2)
