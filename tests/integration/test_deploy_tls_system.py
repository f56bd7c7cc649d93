"""The whole system against deploy/mosquitto/ as shipped (password file, ACL, TLS listener,
``use_username_as_clientid``): ``semon ingest``, ``semon alerts`` and ``semon simulate`` each log
in over ``mqtts://`` with their own account and the CA file of ``SEMON_MQTT_CA_FILE``, and work;
a paho-mqtt device with an account of its own cannot publish as the simulated device, read
anything, or take over the ingester's or the rules engine's session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from semon.stack.process import free_port
from tests.integration.deploy_broker import DeployBroker, deploy_broker
from tests.integration.helpers import elevator, now_ms, query

pytestmark = pytest.mark.integration

DEVICE = "31106301022019000123"  # the simulated elevator: its account is its registration code
OTHER = "31106301022019000124"  # a paho-mqtt elevator with an account of its own
INGEST = "semon-ingest-1"
RULES = "semon-rules-1"
FORGED_SEQ = 7_777_777
TIMEOUT = 30.0  # for each awaited condition; the whole test takes 10-20 s

# One elevator whose id is its account, stopped between floors with a passenger: the device
# reports code 04 and then, after its firmware's 15 s window, code 11 (trapped). At speed 20
# its 40 s take 2 s.
SCENARIO = f"""
name = "deploy-tls-entrapment"
description = "An elevator logged in under its registration code traps a passenger between floors."
seed = 5
duration = 40
start = "2026-06-01T09:30:00+08:00"

[[device]]
id = "{DEVICE}"
kind = "elevator"
lowest_floor = 1
highest_floor = 12
start_floor = 1

[[timeline]]
at = 5
device = "{DEVICE}"
do = "entrapment_between_floors"
floor = 5
passengers = 1
release_after = 120

[[expect]]
device = "{DEVICE}"
alarms = ["stopped_outside_door_zone", "entrapment"]
"""


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="semon-deploy-tls-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def url(broker: DeployBroker, user: str) -> str:
    secret = quote(broker.accounts[user], safe="")
    return f"mqtts://{quote(user, safe='')}:{secret}@127.0.0.1:{broker.tls_port}"


def base_env(broker: DeployBroker, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    env.update({"SEMON_DATABASE_URL": database_url, "SEMON_MQTT_CA_FILE": str(broker.cafile),
                "SEMON_METRICS_PORT": "0", "SEMON_API_PORT": str(free_port())})
    return env


@contextlib.asynccontextmanager
async def service(name: str, env: dict[str, str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """``semon {name}`` with its output in ``log``; stopped with SIGTERM at the end."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", name, env=env,
                                                    stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class Device:
    """A paho-mqtt 2 device over TLS (MQTT 5), logged in as ``user``; what it receives, its
    PUBACK reason codes and its CONNACK on queues."""

    def __init__(self, broker: DeployBroker, user: str, client_id: str, *, persistent: bool = False) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  reconnect_on_failure=False)
        self.user = user
        self.client.tls_set(ca_certs=str(broker.cafile))
        self.client.username_pw_set(user, broker.accounts[user])
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: queue.Queue[ReasonCode] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.client.on_connect = lambda _c, _u, _f, rc, _p=None: self.connack.put(rc)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.on_publish = lambda _c, _u, _mid, rc, _p=None: self.acks.put(rc)
        self.client.on_subscribe = lambda _c, _u, _mid, rcs, _p=None: self.subacks.put(list(rcs))
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600 if persistent else 0
        self.client.connect("127.0.0.1", broker.tls_port, clean_start=not persistent, properties=props)
        self.client.loop_start()
        code = self.connack.get(timeout=TIMEOUT)
        assert not code.is_failure, f"{user} refused: {code}"

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        assert self.subacks.get(timeout=TIMEOUT)[0].value == 1

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the broker's PUBACK reason."""
        self.client.publish(topic, payload, qos=1)
        try:
            return self.acks.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"{self.user}: no PUBACK for {topic} (connection taken over or lost)") from None

    def received(self) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.messages.get_nowait())
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def wait_until(what: str, condition: object, *procs: asyncio.subprocess.Process) -> None:
    """Poll ``condition`` (a callable, sync or async) until true; fail after TIMEOUT s, or at
    once if one of ``procs`` has ended."""
    assert callable(condition)
    deadline = time.monotonic() + TIMEOUT
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        for proc in procs:
            assert proc.returncode is None, f"{what}: a service ended ({proc.returncode})"
        assert time.monotonic() < deadline, f"{what}: not within {TIMEOUT} s"
        await asyncio.sleep(0.1)


async def simulate(env: dict[str, str], scenario: Path) -> dict[str, Any]:
    """``semon simulate`` of ``scenario`` at speed 20; its JSON summary."""
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "semon", "simulate", "--scenario", str(scenario), "--speed", "20", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(sim.communicate(), TIMEOUT)
    except TimeoutError:
        sim.kill()
        _, err = await sim.communicate()
        raise AssertionError(f"semon simulate did not finish in {TIMEOUT} s: "
                             f"{err.decode(errors='replace')[-2000:]}") from None
    assert sim.returncode == 0, err.decode(errors="replace")
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return summary


async def count(database_url: str, sql: str, *params: object) -> int:
    return int(str((await query(database_url, sql, params))[0][0]))


def event(seq: int, code: int, floor: int = 5) -> bytes:
    return orjson.dumps({"ts": now_ms(), "seq": seq, "code": code, "floor": floor})


async def test_services_and_a_simulated_device_over_tls_with_an_account_each(
        root: Path, database_url: str) -> None:
    async with deploy_broker(root) as broker:
        env = base_env(broker, database_url)

        def ingest_connections() -> int:  # each one a login as semon-ingest-1: a reconnect would show
            return broker.log().count(f"u'{INGEST}')")

        def rules_connections() -> int:
            return broker.log().count(f"u'{RULES}')")

        async with (service("ingest", {**env, "SEMON_MQTT_URL": url(broker, INGEST)}, root / "ingest.log") as ingest,
                    service("alerts", {**env, "SEMON_MQTT_URL": url(broker, RULES),
                                       "SEMON_RULES_EVENTS_MQTT_URL": url(broker, f"{RULES}-events"),
                                       "SEMON_RULES_CLIENT_ID": RULES}, root / "alerts.log") as rules):
            procs = (ingest, rules)
            # Both log in over TLS with their own account and subscribe.
            for account in (INGEST, RULES):
                await wait_until(f"{account} subscribed", lambda a=account: f"Received SUBSCRIBE from {a}\n"
                                 in broker.log(), *procs)
            assert ingest_connections() == 1 and rules_connections() == 1

            # 1. A device cannot publish as another device, nor read anything.
            other = Device(broker, OTHER, OTHER)
            other.subscribe("se/#")
            other.subscribe(f"$share/{INGEST}/se/+/+/+")
            forged = [(f"se/elevator/{DEVICE}/telemetry", elevator(FORGED_SEQ)),
                      (f"se/elevator/{DEVICE}/event", event(FORGED_SEQ + 1, 11)),
                      (f"se/elevator/{DEVICE}/status", b"offline")]
            for topic, payload in forged:
                assert other.publish(topic, payload).value == 0x87, topic  # not authorized
            # Its own topics work; they come after the forged ones, so once these are stored
            # and raised, the forged ones would have been too.
            assert other.publish(f"se/elevator/{OTHER}/telemetry", elevator(1)).value == 0
            assert other.publish(f"se/elevator/{OTHER}/event", event(2, 90)).value == 0  # button, nobody inside
            await wait_until("the other device's frame stored", lambda: count(
                database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = %s", OTHER), *procs)
            await wait_until("the other device's alarm button raised", lambda: count(
                database_url, "SELECT count(*) FROM alarms WHERE device_id = %s AND type = 'alarm_button'", OTHER),
                *procs)
            for table in ("elevator_telemetry", "device_events", "alarms", "device_state"):
                assert await count(database_url, f"SELECT count(*) FROM {table} WHERE device_id = %s",
                                   DEVICE) == 0, table

            # 2. The simulated device logs in over TLS under its registration code; its telemetry
            # is stored and its entrapment raised. The other device, subscribed to se/#, reads none of it.
            scenario = root / "scenario.toml"
            scenario.write_text(SCENARIO)
            summary = await simulate({**env, "SEMON_MQTT_URL": url(broker, DEVICE)}, scenario)
            assert summary["expected_alarms_match"] is True and summary["frames"] == summary["acked"] > 0
            assert f"u'{DEVICE}')" in broker.log()  # it logged in as its own account
            frames = int(summary["frames"]) - int(summary["events"])
            await wait_until("the simulated device's telemetry stored",
                             lambda: _at_least(database_url, DEVICE, frames), *procs)
            await wait_until("the simulated entrapment raised", lambda: count(
                database_url, "SELECT count(*) FROM alarms WHERE device_id = %s AND type = 'entrapment'", DEVICE),
                *procs)
            assert await count(database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = %s",
                               DEVICE) == frames
            assert await count(database_url, "SELECT count(*) FROM elevator_telemetry WHERE seq = %s",
                               FORGED_SEQ) == 0
            codes = await query(database_url, "SELECT code FROM device_events WHERE device_id = %s ORDER BY time",
                                (DEVICE,))
            assert [c for (c,) in codes] == [4, 11]  # the device's own, not the forged one
            assert await count(database_url, "SELECT count(*) FROM alarms WHERE device_id = %s "
                               "AND type = 'entrapment'", DEVICE) == 1
            assert other.received() == []
            other.close()

            # 3. Connecting with a service's client id takes over nothing: the broker makes the
            # client id the username, so each stays in its own account's session.
            hijackers = [Device(broker, OTHER, INGEST, persistent=True),
                         Device(broker, DEVICE, RULES, persistent=True)]
            try:
                assert hijackers[0].publish(f"se/elevator/{OTHER}/telemetry", elevator(3)).value == 0
                assert hijackers[0].publish(f"se/elevator/{OTHER}/event", event(4, 11)).value == 0
                await wait_until("the ingester storing after the attempt", lambda: count(
                    database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = %s AND seq = 3", OTHER),
                    *procs)
                await wait_until("the engine raising after the attempt", lambda: count(
                    database_url, "SELECT count(*) FROM alarms WHERE device_id = %s AND type = 'entrapment'",
                    OTHER), *procs)
                # Neither hijacker inherited a service's subscription, nor a message queued for it.
                assert [h.received() for h in hijackers] == [[], []]
            finally:
                for h in hijackers:
                    h.close()
            log = broker.log()
            assert f"Client {INGEST} already connected" not in log and f"Client {RULES} already connected" not in log
            assert ingest_connections() == 1 and rules_connections() == 1  # never reconnected
            assert ingest.returncode is None and rules.returncode is None


async def _at_least(database_url: str, device: str, n: int) -> bool:
    return await count(database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = %s", device) >= n
