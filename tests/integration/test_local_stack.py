"""The private broker and database of `semon up` are not open: generated passwords kept 0600,
reused at the next start; anonymous MQTT and passwordless PostgreSQL are refused."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from semon.stack import LocalStack, PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="semon-local-stack-", dir="/var/tmp"))
    os.chmod(path, 0o755)  # as root, PostgreSQL runs as 'postgres' and must reach it
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _mosquitto(tool: str, *args: str, timeout: float = 10) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(tool, *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def _login(url: str) -> list[str]:
    parts = urlsplit(url)
    assert parts.username and parts.password and parts.port
    return ["-h", "127.0.0.1", "-p", str(parts.port), "-u", parts.username, "-P", parts.password]


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def _postgres_refuses(url: str) -> str:
    with pytest.raises(psycopg.OperationalError) as refused:
        await psycopg.AsyncConnection.connect(url, connect_timeout=5)
    return str(refused.value)


async def test_the_local_stack_needs_its_passwords_and_keeps_them_private(root: Path) -> None:
    async with LocalStack(root) as stack:
        port = str(stack.mosquitto.port)
        secrets = json.loads((root / "credentials.json").read_text())
        assert set(secrets) == {"postgres:semon", "mqtt:semon-ingest", "mqtt:semon-rules", "mqtt:semon-devices"}
        assert len(set(secrets.values())) == 4 and all(len(s) >= 32 for s in secrets.values())
        for private in ("credentials.json", "mosquitto/passwd", "mosquitto/acl", "mosquitto/mosquitto.conf"):
            assert _mode(root / private) == 0o600, private
        assert _mode(root / "mosquitto") == 0o700
        assert all(s not in (root / "mosquitto/passwd").read_text() for s in secrets.values())  # hashed

        # PostgreSQL: scram only, no trust line; no password or a wrong one is refused.
        hba = [line.split() for line in (stack.postgres.data_dir / "pg_hba.conf").read_text().splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
        assert hba and {fields[-1] for fields in hba} == {"scram-sha-256"}
        assert "password" in await _postgres_refuses(stack.postgres.safe_url())
        assert "password authentication failed" in await _postgres_refuses(
            stack.database_url.replace(secrets["postgres:semon"], "wrong"))
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            cur = await conn.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'semon'")
            assert await cur.fetchone() == (True,)

        # Mosquitto: anonymous and wrong passwords refused (CONNACK 5, not authorised).
        rc, out = await _mosquitto("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
                                   "-t", "se/elevator/ANON/telemetry", "-m", "{}")
        assert rc != 0 and "not authorised" in out.lower(), out
        rc, out = await _mosquitto("mosquitto_pub", *_login(stack.mqtt_url.replace(
            secrets["mqtt:semon-devices"], "wrong")), "-q", "1", "-t", "se/elevator/X/telemetry", "-m", "{}")
        assert rc != 0 and "not authorised" in out.lower(), out

        # The rules engine's account reads what the devices' account publishes ...
        reader = await asyncio.create_subprocess_exec(
            "mosquitto_sub", *_login(stack.rules_mqtt_url), "-q", "1", "-t", "se/#", "-v", "-C", "1", "-W", "20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        # ... and the devices' account reads nothing: every delivery is checked against its ACL.
        snoop = await asyncio.create_subprocess_exec(
            "mosquitto_sub", *_login(stack.mqtt_url), "-q", "1", "-t", "se/#", "-v", "-W", "4",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        await asyncio.sleep(0)  # both are started; the publisher retries until the reader got it
        for _ in range(40):
            rc, out = await _mosquitto("mosquitto_pub", *_login(stack.mqtt_url), "-q", "1",
                                       "-t", "se/elevator/E1/telemetry", "-m", "hello")
            assert rc == 0, out
            try:
                line = await asyncio.wait_for(reader.stdout.readline(), 0.5)  # type: ignore[union-attr]
                break
            except TimeoutError:
                continue
        assert line.decode().strip() == "se/elevator/E1/telemetry hello"
        await reader.wait()
        snooped, _ = await snoop.communicate()
        assert b"hello" not in snooped

        # The ingester's account cannot publish: a forged device message never reaches a reader.
        reader = await asyncio.create_subprocess_exec(
            "mosquitto_sub", *_login(stack.rules_mqtt_url), "-q", "1", "-t", "se/#", "-v", "-W", "3",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        await asyncio.sleep(0.5)
        rc, out = await _mosquitto("mosquitto_pub", *_login(stack.ingest_mqtt_url), "-q", "1",
                                   "-t", "se/elevator/E1/event", "-m", "forged")
        forged, _ = await reader.communicate()
        assert b"forged" not in forged

    # The next start reuses the same passwords (the data would be unreachable otherwise).
    async with LocalStack(root) as again:
        assert json.loads((root / "credentials.json").read_text()) == secrets
        async with await psycopg.AsyncConnection.connect(again.database_url):
            pass
        rc, out = await _mosquitto("mosquitto_pub", *_login(again.mqtt_url), "-q", "1",
                                   "-t", "se/elevator/E1/telemetry", "-m", "again")
        assert rc == 0, out


async def test_a_cluster_made_with_trust_is_converted_to_passwords(root: Path) -> None:
    old = PostgresServer(root / "postgres")  # as the local stack made them before
    await old.start()
    await old.stop()
    server = PostgresServer(root / "postgres", password="s3cret-Pass_word")
    await server.start()
    try:
        assert "password" in await _postgres_refuses(server.safe_url())
        async with await psycopg.AsyncConnection.connect(server.url):
            pass
        assert "trust" not in (server.data_dir / "pg_hba.conf").read_text()
    finally:
        await server.stop()
