"""`semon up` supervises its parts, each a process: one that dies is started again, shown on
/healthz and in the metrics, while the others keep serving; cancelling (Ctrl-C) stops them all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import assembly.up
from semon.metrics import parse_text
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.stack import MosquittoServer
from tests.flat_settings import flat_settings
from tests.integration.helpers import elevator, wait_for_count

pytestmark = pytest.mark.integration


async def _wait(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory with a short path (supervisord's socket lives in it: a Unix socket's path
    is at most 107 bytes, more than pytest's tmp_path leaves), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="semon-up-sup-") as name:
        yield Path(name)


async def test_a_dead_part_is_started_again_while_the_others_serve(
        mosquitto: MosquittoServer, database_url: str, data: Path) -> None:
    settings = flat_settings(data_dir=data, mqtt_url=mosquitto.url, database_url=database_url, metrics_port=0,
                        api_port=0, city_elevators=0, city_boilers=0, registry_demo_units=0, auth_demo_users=False,
                        backoff_initial_s=0.05, backoff_max_s=0.2, ingest_client_id="up-sup-ingest",
                        rules_client_id="up-sup-rules")
    up = asyncio.create_task(assembly.up.run_up(settings))
    running = data / "running.json"
    pids: dict[str, int] = {}
    try:
        await _wait(running.exists, "running.json")
        state = json.loads(running.read_text())
        pids = state["parts"]
        metrics_url = str(state["metrics_url"])
        health_url = metrics_url.removesuffix("/metrics") + "/healthz"
        async with aiohttp.ClientSession() as http:
            async with http.get(health_url) as resp:
                health = await resp.json()
                assert resp.status == 200, health
            assert set(health["parts"]) == {"ingest", "rules", "api", "jobs"}
            assert set(health["parts"]["jobs"]["parts"]) >= {"alerts/rate-snapshots", "alerts/notice-scans",
                                                             "alerts/incident-deadlines"}
            assert all(p["restarts"] == 0 and p["up"] for p in health["parts"].values())

            os.kill(pids["ingest"], signal.SIGKILL)
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                async with http.get(health_url) as resp:
                    health = await resp.json()
                ingest = health["parts"]["ingest"]
                if ingest["restarts"] == 1 and ingest["up"]:
                    break
                assert asyncio.get_running_loop().time() < deadline, health
                async with http.get(f"{state['api_url']}/openapi.json") as resp:
                    assert resp.status == 200  # the API answers all along
                await asyncio.sleep(0.1)
            assert ingest["pid"] != pids["ingest"] and ingest["last_error"]

            # The restarted ingester stores what devices send.
            client = MqttClient(ConnectOptions("up-sup-device"))
            await client.connect(BrokerAddress.from_url(mosquitto.url))
            await client.publish("se/elevator/E-SUP/telemetry", elevator(1))
            await client.disconnect()
            assert await wait_for_count(
                database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-SUP'", 1, 30) == 1

            async with http.get(metrics_url) as resp:
                samples = parse_text(await resp.text())
            assert samples['semon_part_restarts_total{part="ingest"}'] == 1
            assert samples['semon_part_restarts_total{part="rules"}'] == 0
            assert samples['semon_part_up{part="rules/alerts/rules-engine"}'] == 1
            assert any(k.startswith("semon_ingest_") for k in samples)  # the parts' own, served here too
            assert any(k.startswith("semon_rules_") for k in samples)
            pids["ingest"] = ingest["pid"]
    finally:
        up.cancel()  # Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await up
    assert not running.exists()
    assert not any(_alive(pid) for pid in pids.values())
