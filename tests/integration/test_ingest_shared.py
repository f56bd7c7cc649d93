"""Two ingesters on one shared subscription, through the disruptions of test_ingest_resilience.

Several ingesters split the load only through a shared subscription (``$share/{group}/se/#``),
and Mosquitto 2.0 restores a persistent session's shared subscription without its group after a
restart: until the ingesters subscribe again, what the devices publish matches no subscriber
and is dropped (docs/ingest.md). Whether anything is lost depends on who reconnects first, so a
broker restart is measured (docs/ingest.md), not tested here; these tests hold what two
ingesters must do every time: split the stream, and lose nothing when one of them is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from ingest.service import Ingester
from semon.metrics import value
from semon.stack import MosquittoServer, free_port
from tests.integration.helpers import ingest_settings, query, running_ingester, subscribed, wait_for_count
from tests.integration.test_ingest_resilience import STREAM, stream_with_disruption

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def two_ingesters(mqtt_url: str, database_url: str) -> AsyncIterator[tuple[Ingester, Ingester]]:
    group = f"ingest-{secrets.token_hex(8)}"
    async with (
        running_ingester(ingest_settings(ingest_share_group=group, ingest_client_id="shared-1"), mqtt_url,
                         database_url) as first,
        running_ingester(ingest_settings(ingest_share_group=group, ingest_client_id="shared-2"), mqtt_url,
                         database_url) as second,
    ):
        yield first, second


async def stored(database_url: str) -> tuple[int, int]:
    (row,) = await query(database_url, "SELECT count(*), count(DISTINCT (device_id, seq)) FROM elevator_telemetry")
    return int(str(row[0])), int(str(row[1]))


async def settled(database_url: str, quiet_s: float = 5.0, timeout: float = 120) -> tuple[int, int]:
    """The counts once nothing more has arrived for ``quiet_s`` (everything the broker still had)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = await stored(database_url)
    while loop.time() < deadline:
        await asyncio.sleep(quiet_s)
        now = await stored(database_url)
        if now == last:
            return now
        last = now
    return last


async def test_two_ingesters_share_the_stream(mosquitto: MosquittoServer, database_url: str) -> None:
    async def nothing() -> None:
        return None

    async with two_ingesters(mosquitto.url, database_url) as (first, second):
        await stream_with_disruption(mosquitto, "SHR-", nothing)
        await wait_for_count(database_url, "SELECT count(DISTINCT (device_id, seq)) FROM elevator_telemetry",
                             STREAM, 120)
        assert await stored(database_url) == (STREAM, STREAM)
        # Both took a share: the group splits the load.
        assert value(first.metrics.received) > 0 and value(second.metrics.received) > 0


async def start_process(mqtt_url: str, database_url: str, group: str, client_id: str,
                        metrics_port: int = 0) -> asyncio.subprocess.Process:
    env = {**os.environ, "SEMON_MQTT_URL": mqtt_url, "SEMON_DATABASE_URL": database_url,
           "SEMON_INGEST_CLIENT_ID": client_id, "SEMON_INGEST_SHARE_GROUP": group,
           "SEMON_METRICS_PORT": str(metrics_port), "SEMON_LOG_LEVEL": "WARNING"}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "ingest", env=env)


async def test_two_ingesters_lose_nothing_when_one_is_killed(mosquitto: MosquittoServer, database_url: str) -> None:
    """One of two ingester processes is killed (SIGKILL) mid-stream and started again with its
    client id: what it held unacknowledged is redelivered, to it or to the other."""
    group = f"ingest-{secrets.token_hex(8)}"
    ports = [free_port(), free_port()]
    procs = [await start_process(mosquitto.url, database_url, group, f"shared-kill-{i + 1}", port)
             for i, port in enumerate(ports)]
    try:
        for port in ports:  # both subscribed before the stream starts: the group holds nothing before
            await subscribed(port)

        async def kill_and_restart() -> None:
            procs[0].send_signal(signal.SIGKILL)
            await procs[0].wait()
            await asyncio.sleep(1.0)
            procs.append(await start_process(mosquitto.url, database_url, group, "shared-kill-1"))

        await stream_with_disruption(mosquitto, "SHK-", kill_and_restart)
        rows, distinct = await settled(database_url)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
    print(f"two ingesters, one killed: stored {distinct} of {STREAM}, lost {STREAM - distinct}, "
          f"duplicates {rows - distinct}")
    assert (rows, distinct) == (STREAM, STREAM), f"lost {STREAM - distinct}, duplicates {rows - distinct}"
