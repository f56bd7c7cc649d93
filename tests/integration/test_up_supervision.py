"""`semon up` supervises its parts: a part that fails is restarted, shown on /healthz and in the
metrics, while the others keep serving; cancelling (Ctrl-C) stops everything cleanly."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import alerts.service
import semon.up
from ingest.service import Ingester
from semon.metrics import parse_text
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.settings import Settings
from semon.stack import MosquittoServer
from tests.integration.helpers import elevator, wait_for_count

pytestmark = pytest.mark.integration


async def _wait(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_failing_part_is_restarted_while_the_others_serve(
        mosquitto: MosquittoServer, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    failures = {"ingest": 2, "snapshots": 1}

    class FlakyIngester(Ingester):
        async def run(self) -> None:
            if failures["ingest"]:
                failures["ingest"] -= 1
                raise RuntimeError("the ingester broke")
            await super().run()

    async def flaky_snapshots(pool: Any, **_: Any) -> None:
        if failures["snapshots"]:
            failures["snapshots"] -= 1
            raise RuntimeError("the snapshot job broke")
        await asyncio.Event().wait()

    monkeypatch.setattr(semon.up, "Ingester", FlakyIngester)
    monkeypatch.setattr(alerts.service, "run_snapshots", flaky_snapshots)
    data = Path(tempfile.mkdtemp(prefix="semon-up-sup-"))
    settings = Settings(data_dir=data, mqtt_url=mosquitto.url, database_url=database_url, metrics_port=0,
                        api_port=0, city_elevators=0, city_boilers=0, registry_demo_units=0, auth_demo_users=False,
                        backoff_initial_s=0.05, backoff_max_s=0.2, ingest_client_id="up-sup-ingest",
                        rules_client_id="up-sup-rules")
    up = asyncio.create_task(semon.up.run_up(settings))
    running = data / "running.json"
    try:
        await _wait(running.exists, "running.json")
        state = json.loads(running.read_text())
        metrics_url = str(state["metrics_url"])
        health_url = metrics_url.removesuffix("/metrics") + "/healthz"
        async with aiohttp.ClientSession() as http:
            async with http.get(health_url) as resp:
                health = await resp.json()
            assert set(health["parts"]) >= {"ingest", "alerts", "alerts/rules-engine", "alerts/rate-snapshots",
                                            "alerts/notice-scans", "alerts/incident-deadlines"}
            assert health["parts"]["ingest"]["restarts"] == 2
            assert health["parts"]["ingest"]["last_error"] == "RuntimeError: the ingester broke"
            assert health["parts"]["alerts/rules-engine"]["restarts"] == 0
            # The restarted ingester stores what devices send; the API answers all along.
            client = MqttClient(ConnectOptions("up-sup-device"))
            await client.connect(BrokerAddress.from_url(mosquitto.url))
            await client.publish("se/elevator/E-SUP/telemetry", elevator(1))
            await client.disconnect()
            assert await wait_for_count(
                database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-SUP'", 1, 30) == 1
            async with http.get(f"{state['api_url']}/openapi.json") as resp:
                assert resp.status == 200

            samples: dict[str, float] = {}
            snapshots = 'semon_part_restarts_total{part="alerts/rate-snapshots"}'
            deadline = asyncio.get_running_loop().time() + 30
            while samples.get(snapshots) != 1:
                assert asyncio.get_running_loop().time() < deadline, "the snapshot job was not restarted"
                async with http.get(metrics_url) as resp:
                    samples = parse_text(await resp.text())
                await asyncio.sleep(0.05)
            async with http.get(health_url) as resp:
                health = await resp.json()
            assert health["parts"]["alerts/rate-snapshots"]["last_error"] == "RuntimeError: the snapshot job broke"
            assert samples['semon_part_restarts_total{part="ingest"}'] == 2
            assert samples['semon_part_restarts_total{part="alerts"}'] == 0
            assert samples['semon_part_up{part="alerts/rules-engine"}'] == 1
            assert any(k.startswith("semon_ingest_") for k in samples)  # the ingester's own, served here too
            assert any(k.startswith("semon_rules_") for k in samples)
    finally:
        up.cancel()  # Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await up
    assert not running.exists()
