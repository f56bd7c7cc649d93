"""The private broker and database of `semon up` are not open: generated passwords kept 0600,
reused at the next start; anonymous MQTT and passwordless PostgreSQL are refused."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from semon.stack import LocalStack, PostgresServer, StackError

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


class _Client:
    def __init__(self, url: str, client_id: str) -> None:
        parts = urlsplit(url)
        assert parts.username and parts.password and parts.port
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(parts.username, parts.password)
        self.messages: queue.Queue[bytes] = queue.Queue()
        self.acks: queue.Queue[int] = queue.Queue()
        self.subscribed: queue.Queue[int] = queue.Queue()
        self.client.on_message = lambda _c, _u, m: self.messages.put(bytes(m.payload))
        self.client.on_publish = lambda _c, _u, _mid, rc, _p=None: self.acks.put(rc.value)
        self.client.on_subscribe = lambda _c, _u, _mid, rcs, _p=None: self.subscribed.put(rcs[0].value)
        connected: queue.Queue[int] = queue.Queue()
        self.client.on_connect = lambda _c, _u, _f, rc, _p=None: connected.put(rc.value)
        self.client.connect("127.0.0.1", parts.port)
        self.client.loop_start()
        assert connected.get(timeout=10) == 0

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.get(timeout=10) == 1

    def publish(self, topic: str, payload: bytes) -> int:
        self.client.publish(topic, payload, qos=1)
        return self.acks.get(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _accounts_do_only_their_part(stack: LocalStack) -> None:
    rules = _Client(stack.rules_mqtt_url, "semon-rules-1")
    snoop = _Client(stack.mqtt_url, "E2")
    device = _Client(stack.mqtt_url, "E1")
    ingest = _Client(stack.ingest_mqtt_url, "semon-ingest-1")
    try:
        rules.subscribe("se/#")
        snoop.subscribe("se/#")  # granted, delivers nothing
        assert ingest.publish("se/elevator/E1/event", b"forged") == 0x87  # not authorized
        assert device.publish("elsewhere/E1", b"off-protocol") == 0x87
        assert device.publish("se/elevator/E1/telemetry", b"hello") == 0
        assert rules.messages.get(timeout=10) == b"hello"
        assert snoop.messages.empty() and rules.messages.empty()
        with pytest.raises(queue.Empty):
            snoop.messages.get(timeout=0.5)
    finally:
        for c in (rules, snoop, device, ingest):
            c.close()


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

        # The rules engine's account reads what the devices' account publishes; the devices' account
        # reads nothing (every delivery is checked against the ACL) and the ingester's account
        # cannot publish: paho-mqtt clients, subscriptions confirmed before anything is published.
        await asyncio.to_thread(_accounts_do_only_their_part, stack)

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


async def test_a_secrets_file_that_does_not_match_the_cluster_is_reported(root: Path) -> None:
    async with LocalStack(root):
        pass
    stored = json.loads((root / "credentials.json").read_text())
    stored["postgres:semon"] = "not-the-one-the-cluster-has"
    (root / "credentials.json").write_text(json.dumps(stored))
    stack = LocalStack(root)
    with pytest.raises(StackError, match="refused the stored password"):
        await stack.__aenter__()
    # The server that refused it is not left running.
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", stack.postgres.port)
