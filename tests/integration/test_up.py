"""`semon up` brings up a private broker and database, ingests, serves the API to its demo
users, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import aiohttp
import pytest

from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from tests.integration.helpers import elevator, http_client, login, wait_for_count

pytestmark = pytest.mark.integration


async def test_semon_up_runs_the_stack_and_stops_on_ctrl_c() -> None:
    data = Path(tempfile.mkdtemp(prefix="semon-up-", dir="/var/tmp"))
    os.chmod(data, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    env.update({"SEMON_DATA_DIR": str(data), "SEMON_METRICS_PORT": "0",
                "SEMON_CITY_ELEVATORS": "20", "SEMON_CITY_BOILERS": "2",
                "SEMON_API_PORT": "0"})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "up", env=env,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readuntil(b"Ctrl-C stops everything.\n"), 60)).decode()
        assert "MQTT broker" in banner and "database" in banner
        assert "20 elevators and 2 boilers" in banner
        # The demo password is generated at the first start, shown once, and kept in var/ (0600).
        password = json.loads((data / "demo-password").read_text())["password"]
        assert len(password) >= 16
        assert f"operator, agency (XNTJS), bureau, admin; password {password!r}" in banner
        assert "DEMO CREDENTIALS" in banner
        state = json.loads((data / "running.json").read_text())
        for private in ("demo-password", "running.json", "stack/credentials.json"):
            assert (data / private).stat().st_mode & 0o777 == 0o600, private
        # running.json carries the passwords the tools need; the banner shows none of them.
        stack_secrets = json.loads((data / "stack/credentials.json").read_text())
        assert all(secret not in banner for secret in stack_secrets.values())
        assert stack_secrets["mqtt:semon-devices"] in state["mqtt_url"]
        assert stack_secrets["postgres:semon"] in state["database_url"]
        async with aiohttp.ClientSession() as http, http.get(f"{state['api_url']}/alarms") as resp:
            assert resp.status == 401  # the alerts API is up beside the ingester, behind a login
        async with http_client() as http:
            await login(http, state["api_url"], "operator", password)
            async with http.get(f"{state['api_url']}/alarms") as resp:
                assert resp.status == 200
            await login(http, state["api_url"], "agency", password)
            async with http.get(f"{state['api_url']}/registry/equipment?limit=1000") as resp:
                units = (await resp.json())["equipment"]
                assert units and {u["agency"]["code"] for u in units} == {"XNTJS"}

        client = MqttClient(ConnectOptions("up-smoke"))
        await client.connect(BrokerAddress.from_url(state["mqtt_url"]))
        await client.publish("se/elevator/E-UP/telemetry", elevator(1))
        await client.disconnect()
        assert await wait_for_count(
            state["database_url"], "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-UP'", 1, 30) == 1
        # The simulated city streams into the database: every device, each on its own connection.
        assert await wait_for_count(state["database_url"],
                                    "SELECT count(DISTINCT device_id) FROM device_state WHERE online", 22, 30) == 22
        assert await wait_for_count(state["database_url"],
                                    "SELECT count(DISTINCT device_id) FROM boiler_telemetry", 2, 30) == 2

        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        assert not (data / "running.json").exists()
        # The private servers went down with it.
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", BrokerAddress.from_url(state["mqtt_url"]).port)

        # The next start reuses every password and shows none of them.
        env.update({"SEMON_CITY_ELEVATORS": "0", "SEMON_CITY_BOILERS": "0"})
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "up", env=env,
                                                    stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readuntil(b"Ctrl-C stops everything.\n"), 60)).decode()
        assert password not in banner and str(data / "demo-password") in banner
        assert json.loads((data / "stack/credentials.json").read_text()) == stack_secrets
        state = json.loads((data / "running.json").read_text())
        assert stack_secrets["postgres:semon"] in state["database_url"]
        async with http_client() as http:
            await login(http, state["api_url"], "operator", password)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(data, ignore_errors=True)
