"""Schemathesis against the whole API as ``semon up`` serves it (alerts, register, console), from
its own ``/api/openapi.json``, logged in as the administrator (who may call every operation):
no answer is a server error and every answer matches the document. Generated input, positive
and negative, a bounded number of examples per operation; logout is left out (it would end the
session the run uses)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from alerts.alarm_store import raise_alarm
from alerts.api import build_api, serve_api
from alerts.auth import CSRF_HEADER
from alerts.hub import LiveHub
from alerts.incident_store import open_incident
from alerts.model import Source
from console import add_console
from registry.api import add_registry_routes
from registry.demo import seed_demo_register
from registry.notices import scan_notices
from semon.alarm_types import AlarmType
from semon.db.pool import open_pool
from tests.integration.helpers import PASSWORD, add_users, ingest_settings

pytestmark = pytest.mark.integration

EXAMPLES_PER_MODE = 20  # per operation and generation mode: about a minute for the whole API
LEFT_OUT = {("POST", "/api/logout"), ("GET", "/api/live")}  # the session's end; a WebSocket


@contextlib.asynccontextmanager
async def whole_api(database_url: str) -> AsyncIterator[str]:
    settings = ingest_settings(api_port=0)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await seed_demo_register(conn, today=date.today(), total=200)
        await scan_notices(conn, date.today())
        alarm = await raise_alarm(conn, device_id="31106301022015000001", kind="elevator", type=AlarmType.ENTRAPMENT,
                                  source=Source.TELEMETRY, raised_at=datetime.now(UTC), details={"floor": 3})
        assert alarm is not None
        await open_incident(conn, alarm, settings)
        await conn.commit()
    await add_users(database_url)
    async with open_pool(database_url, min_size=1, max_size=4) as pool:
        app = build_api(pool, LiveHub(), settings)
        add_registry_routes(app, pool)
        add_console(app, pool)
        async with serve_api(app, "127.0.0.1", 0) as port:
            yield f"http://127.0.0.1:{port}"


def _fuzz(root: str) -> list[str]:
    """Run every operation's examples (in a thread: schemathesis calls are blocking); the failures."""
    http = requests.Session()
    answer = http.post(f"{root}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    headers = {CSRF_HEADER: answer.json()["csrf_token"]}
    cookies = {"semon_session": http.cookies["semon_session"]}
    document = http.get(f"{root}/api/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue
        operations += 1
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))

        @settings(max_examples=2 * EXAMPLES_PER_MODE, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call(base_url=root, headers=headers, cookies=cookies, timeout=30)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except Exception as exc:  # one operation's failure is reported with the others', not alone
            failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: "
                            + re.sub(r"\s+", " ", str(exc))[:1500])
    # Still logged in at the end: nothing the run sent ended the session.
    assert http.get(f"{root}/api/me", timeout=30).status_code == 200
    assert operations >= 15, operations
    return failures


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(database_url: str) -> None:
    async with whole_api(database_url) as root:
        failures = await asyncio.to_thread(_fuzz, root)
    assert not failures, "\n\n".join(failures)
