"""The rules engine killed with SIGKILL five times, each time mid-entrapment, under load from
paho-mqtt devices: every entrapment raised exactly once, the engine receiving again after each
restart, no false ``silent`` alarm."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time

import orjson
import paho.mqtt.client as paho

from semon.stack import MosquittoServer
from semon.stack.process import free_port
from tests.integration.devices import paho_client, paho_publish, stop
from tests.integration.helpers import query

RATE = int(os.environ.get("SEMON_TEST_KILL_RATE", "5000"))  # messages/s from the background devices
DEVICES = 500
ROUNDS = 5


def _frame(seq: int, **overrides: object) -> bytes:
    frame: dict[str, object] = {"ts": int(time.time() * 1000), "seq": seq, "running": False, "direction": "stop",
                                "floor": 5, "door_locked": True, "door_zone": True, "passenger": False,
                                "mode": "normal", "power": "main", "speed_mps": 0.0, "trip_count": 1,
                                "run_hours": 1.0}
    frame.update(overrides)
    return orjson.dumps(frame)


class Load(threading.Thread):
    """Healthy frames from DEVICES elevators at RATE messages/s, QoS 1, from one paho client."""

    def __init__(self, url: str) -> None:
        super().__init__(name="paho-load", daemon=True)
        self.url = url
        self.halt = threading.Event()
        self.sent = 0
        self.seconds = 0.0
        self.freed: list[str] = []

    def run(self) -> None:
        client: paho.Client = paho_client(self.url, "test-load", inflight=1000)
        started = time.monotonic()
        seq = 0
        try:
            while not self.halt.is_set():
                seq += 1
                tick = time.monotonic()
                for d in range(DEVICES):
                    client.publish(f"se/elevator/LOAD-{d:04d}/telemetry", _frame(seq), qos=1)
                for device in list(self.freed):  # alive after their round: a silent alarm would be false
                    client.publish(f"se/elevator/{device}/telemetry", _frame(1_000_000 + seq), qos=1)
                self.sent += DEVICES + len(self.freed)
                # DEVICES messages per DEVICES / RATE seconds; behind schedule: go on at once.
                self.halt.wait(max(0.0, DEVICES / RATE - (time.monotonic() - tick)))
        finally:
            self.seconds = time.monotonic() - started
            stop(client)


async def _engine(mqtt_url: str, database_url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "SEMON_MQTT_URL": mqtt_url, "SEMON_DATABASE_URL": database_url,
           "SEMON_API_PORT": str(free_port()), "SEMON_METRICS_PORT": "0", "SEMON_RULES_CLIENT_ID": "test-rules-kill",
           "SEMON_RULES_ENTRAPMENT_OUTSIDE_DOOR_ZONE_S": "4",
           # A small window, so that what the broker resends before the SUBACK fills it: the
           # fault this test guards against leaves the engine deaf once it is full.
           "SEMON_RULES_RECEIVE_MAXIMUM": "500"}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "alerts", env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)


async def _alarms(database_url: str, device: str) -> int:
    rows = await query(database_url, "SELECT count(*) FROM alarms WHERE device_id = %s AND type = 'entrapment'",
                       (device,))
    return int(str(rows[0][0]))


async def test_engine_killed_five_times_mid_entrapment(mosquitto: MosquittoServer, database_url: str) -> None:
    load = Load(mosquitto.url)
    engine = await _engine(mosquitto.url, database_url)
    load.start()
    loop = asyncio.get_running_loop()
    try:
        for k in range(ROUNDS):
            device = f"E-KILL-{k}"
            topic = f"se/elevator/{device}/telemetry"
            seq = 1
            await paho_publish(mosquitto.url, [(topic, _frame(seq, door_zone=False, passenger=True))])
            await asyncio.sleep(1.0)  # trapped for a second of the four: mid-entrapment
            engine.send_signal(signal.SIGKILL)
            await engine.wait()
            engine = await _engine(mosquitto.url, database_url)
            deadline = loop.time() + 120
            while await _alarms(database_url, device) == 0:  # the restarted engine receives and raises
                assert loop.time() < deadline, f"round {k}: entrapment never raised"
                seq += 1
                await paho_publish(mosquitto.url, [(topic, _frame(seq, door_zone=False, passenger=True))])
                await asyncio.sleep(0.5)
            # Freed at a landing; the alarm clears.
            seq += 1
            await paho_publish(mosquitto.url, [(topic, _frame(seq, door_zone=True, door_locked=False))])
            load.freed.append(device)
        # Wait until the last engine has worked through what was sent, then count once more.
        last = f"E-KILL-{ROUNDS - 1}"
        deadline = loop.time() + 120
        while (await query(database_url, "SELECT count(*) FROM alarms WHERE device_id = %s AND state = 'open'",
                           (last,)))[0][0] != 0:
            assert loop.time() < deadline, "the last entrapment never cleared"
            await asyncio.sleep(0.5)
    finally:
        load.halt.set()
        await asyncio.to_thread(load.join, 30)
        if engine.returncode is None:
            engine.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(engine.wait(), 20)
            except TimeoutError:
                engine.kill()
                await engine.wait()
    assert load.seconds > 0 and load.sent > 0, "the load never ran"
    rate = load.sent / load.seconds
    print(f"background load: {load.sent} messages in {load.seconds:.1f}s = {rate:.0f}/s")
    for k in range(ROUNDS):
        assert await _alarms(database_url, f"E-KILL-{k}") == 1, f"round {k}"
    silent = await query(database_url, "SELECT device_id FROM alarms WHERE type = 'silent'")
    assert silent == []
