"""A 20,000-message stream survives a database restart, a broker restart and a killed
ingester: every message is stored exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import pytest

from semon.metrics import value
from semon.mqtt.client import BrokerAddress
from semon.mqtt.session import MqttSession
from semon.stack import MosquittoServer, PostgresServer, free_port
from simulators.loadgen import LoadPlan, LoadResult, run_load
from tests.integration.helpers import ingest_settings, query, running_ingester, subscribed, wait_for_count

pytestmark = pytest.mark.integration

STREAM = 20_000
RATE = 5_000  # four seconds of stream, so each disruption lands in the middle of it


async def stream_with_disruption(mosquitto: MosquittoServer, prefix: str,
                                 disrupt: Callable[[], Awaitable[None]], at: float = 1.5) -> LoadResult:
    plan = LoadPlan(rate=RATE, duration=STREAM / RATE, connections=2, devices=500, device_prefix=prefix)
    load = asyncio.create_task(run_load(BrokerAddress.from_url(mosquitto.url), plan))
    await asyncio.sleep(at)
    assert not load.done(), "the disruption must land mid-stream"
    await disrupt()
    result = await asyncio.wait_for(load, 180)
    assert result.sent == STREAM and result.unacknowledged == 0
    return result


async def assert_stored_exactly_once(database_url: str, timeout: float = 120) -> None:
    stored = await wait_for_count(database_url, "SELECT count(DISTINCT (device_id, seq)) FROM elevator_telemetry",
                                  STREAM, timeout)
    (rows,) = await query(database_url, "SELECT count(*), count(DISTINCT (device_id, seq)) FROM elevator_telemetry")
    assert stored == STREAM, f"lost {STREAM - stored} messages"
    assert rows == (STREAM, STREAM), f"duplicates: {rows}"


async def test_database_restart_mid_stream(mosquitto: MosquittoServer, postgres: PostgresServer,
                                           database_url: str) -> None:
    window = 2_000
    settings = ingest_settings(ingest_receive_maximum=window)
    async with running_ingester(settings, mosquitto.url, database_url) as ingester:
        backlog_while_down: list[float] = []

        async def restart_database() -> None:
            await postgres.stop("fast")
            for _ in range(20):  # two seconds down, watching the buffer
                await asyncio.sleep(0.1)
                backlog_while_down.append(len(ingester._queue) + ingester._in_batches)
            await postgres.start()

        await stream_with_disruption(mosquitto, "DBR-", restart_database)
        await assert_stored_exactly_once(database_url)
        assert value(ingester.metrics.db_errors) > 0, "the outage was not noticed"
    # Bounded buffer: never more than the receive window plus the batches being retried.
    assert max(backlog_while_down) <= window


async def test_broker_restart_mid_stream(mosquitto: MosquittoServer, database_url: str) -> None:
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        await stream_with_disruption(mosquitto, "MQR-", mosquitto.restart)
        await assert_stored_exactly_once(database_url)
        assert isinstance(ingester.session, MqttSession) and ingester.session.connects >= 2


async def start_ingester_process(mqtt_url: str, database_url: str, metrics_port: int = 0) -> asyncio.subprocess.Process:
    env = {**os.environ, "SEMON_MQTT_URL": mqtt_url, "SEMON_DATABASE_URL": database_url,
           "SEMON_INGEST_CLIENT_ID": "killed-ingester", "SEMON_METRICS_PORT": str(metrics_port),
           "SEMON_LOG_LEVEL": "WARNING"}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "ingest", env=env)


async def test_ingester_killed_mid_stream(mosquitto: MosquittoServer, database_url: str) -> None:
    port = free_port()
    first = await start_ingester_process(mosquitto.url, database_url, port)
    second: asyncio.subprocess.Process | None = None
    try:
        # The first ingester subscribed (its persistent session exists) before the stream starts:
        # on a loaded machine its start can take longer than the whole stream.
        await subscribed(port)

        async def kill_and_restart() -> None:
            nonlocal second
            first.send_signal(signal.SIGKILL)
            await first.wait()
            await asyncio.sleep(1.0)
            second = await start_ingester_process(mosquitto.url, database_url)

        await stream_with_disruption(mosquitto, "KIL-", kill_and_restart)
        await assert_stored_exactly_once(database_url)
        assert first.returncode == -signal.SIGKILL
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
