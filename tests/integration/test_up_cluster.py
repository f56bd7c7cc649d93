"""`semon up --cluster 3`: a private 3-node NATS cluster, ingest workers and rules engines on its
partitioned stream, the simulated city publishing to it; a device's entrapment on any node
raised once; Ctrl-C (SIGINT to the whole process group) stops everything."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pytest

from semon.mqtt.client import BrokerAddress
from tests.integration.devices import paho_client_311, stop
from tests.integration.helpers import wait_for_count

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
async def test_semon_up_cluster_raises_an_entrapment_and_stops_on_ctrl_c() -> None:
    data = Path(tempfile.mkdtemp(prefix="semon-up-cluster-", dir="/var/tmp"))
    os.chmod(data, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    env.update({"SEMON_DATA_DIR": str(data), "SEMON_METRICS_PORT": "0", "SEMON_API_PORT": "0",
                "SEMON_CITY_ELEVATORS": "20", "SEMON_CITY_BOILERS": "0", "SEMON_CLUSTER_PARTITIONS": "6"})
    # A session of its own, as a terminal's foreground job: Ctrl-C reaches the whole group.
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "up", "--cluster", "3", env=env,
                                                stdout=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(240):
            banner = (await proc.stdout.readuntil(b"Ctrl-C stops everything.\n")).decode()
        assert "NATS cluster of 3" in banner
        assert "ingest-1, ingest-2, ingest-3, rules-1, rules-2, rules-3" in banner
        state = json.loads((data / "running.json").read_text())
        mqtt_urls = state["cluster"]["mqtt_urls"]
        assert len(mqtt_urls) == 3 and all(u.endswith("?protocol=3.1.1") for u in mqtt_urls)
        credentials = json.loads((data / "stack" / "nats-credentials.json").read_text())
        assert all(secret not in banner for secret in credentials.values())
        assert (data / "stack" / "nats-credentials.json").stat().st_mode & 0o777 == 0o600

        # The simulated city streams into the database through the cluster.
        assert await wait_for_count(state["database_url"],
                                    "SELECT count(DISTINCT device_id) FROM elevator_telemetry", 20, 60) == 20
        # A third-party device on the third node: its entrapment is raised once.
        client = paho_client_311(mqtt_urls[2], "E-UP-CLUSTER")
        try:
            info = client.publish("se/elevator/E-UP-CLUSTER/event",
                                  orjson.dumps({"ts": int(time.time() * 1000), "seq": 1, "code": 11, "floor": 2}),
                                  qos=1)
            await asyncio.to_thread(info.wait_for_publish, 30)
        finally:
            stop(client)
        query = "SELECT count(*) FROM alarms WHERE device_id = 'E-UP-CLUSTER' AND type = 'entrapment'"
        assert await wait_for_count(state["database_url"], query, 1, 60) == 1

        os.killpg(proc.pid, signal.SIGINT)
        async with asyncio.timeout(120):
            assert await proc.wait() == 0
        assert not (data / "running.json").exists()
        for url in mqtt_urls:  # the cluster went down with it
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", BrokerAddress.from_url(url).port)
        for pid in state["parts"].values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        shutil.rmtree(data, ignore_errors=True)
