"""deploy/mosquitto/ as shipped, driven by third-party clients (paho-mqtt, mosquitto_pub and
mosquitto_sub with --cafile): devices log in over TLS and publish their own topics only, read
nothing, cannot take over a service's session; anonymous clients are refused; an oversized
packet closes the sender's connection instead of vanishing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.integration.deploy_broker import DeployBroker, deploy_broker

pytestmark = pytest.mark.integration

DEVICE = "31106301022019000123"
OTHER = "31106301022019000124"
INGEST = "semon-ingest-1"
RULES = "semon-rules-1"


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="semon-deploy-broker-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def broker(root: Path) -> AsyncIterator[DeployBroker]:
    async with deploy_broker(root) as b:
        yield b


class Paho:
    """A paho-mqtt client (MQTT 5 unless told) with what it received, in order, on queues."""

    def __init__(self, broker: DeployBroker, username: str | None, client_id: str = "", *, tls: bool = True,
                 protocol: MQTTProtocolVersion = mqtt.MQTTv5, persistent: bool = False) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                                  reconnect_on_failure=False)
        if tls:
            self.client.tls_set(ca_certs=str(broker.cafile))
        if username is not None:
            self.client.username_pw_set(username, broker.accounts[username])
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: queue.Queue[tuple[int, ReasonCode]] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, rc, _p=None: self.connack.put(rc)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.on_publish = lambda _c, _u, mid, rc, _p=None: self.acks.put((mid, rc))
        self.client.on_subscribe = lambda _c, _u, _mid, rcs, _p=None: self.subacks.put(list(rcs))
        self.client.on_disconnect = lambda *_args: self.disconnected.set()
        props = None
        if protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600 if persistent else 0
        port = broker.tls_port if tls else broker.port
        if protocol == mqtt.MQTTv5:
            self.client.connect("127.0.0.1", port, clean_start=not persistent, properties=props)
        else:
            self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.code = self.connack.get(timeout=10)

    def subscribe(self, topic: str) -> list[ReasonCode]:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=10)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        return self.client.publish(topic, payload, qos=1, retain=retain).mid

    def puback(self) -> ReasonCode:
        return self.acks.get(timeout=10)[1]

    def received(self, count: int, quiet: float = 0.3, timeout: float = 30) -> list[tuple[str, bytes]]:
        """The first ``count`` messages (waiting up to ``timeout`` s), then any more that come
        within ``quiet`` s: a test compares the whole list, so extras show up."""
        out: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                out.append(self.messages.get(timeout=max(0.0, deadline - time.monotonic())))
        while True:
            try:
                out.append(self.messages.get(timeout=quiet))
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def mosquitto_tool(broker: DeployBroker, tool: str, user: str | None, *args: str,
                   tls: bool = True, cafile: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    cmd = [tool, "-h", "127.0.0.1", "-p", str(broker.tls_port if tls else broker.port)]
    if tls and cafile:
        cmd += ["--cafile", str(broker.cafile)]
    elif tls:
        cmd += ["--capath", "/etc/ssl/certs"]  # the system's CAs, which never signed this server
    if user is not None:
        cmd += ["-u", user, "-P", broker.accounts[user]]
    return subprocess.run([*cmd, *args], check=False, capture_output=True, text=True, timeout=timeout)


def wait_for(predicate: object, timeout: float = 10) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _a_device_logs_in_over_tls_and_publishes_its_own_topics(broker: DeployBroker) -> None:
    ingest = Paho(broker, INGEST, INGEST, persistent=True)
    rules = Paho(broker, RULES, RULES, persistent=True)
    try:
        assert ingest.code == 0 and rules.code == 0
        assert ingest.subscribe("$share/semon-ingest/se/+/+/+")[0].value == 1
        assert rules.subscribe("se/+/+/+")[0].value == 1
        out = mosquitto_tool(broker, "mosquitto_pub", DEVICE, "-q", "1", "-r",
                             "-t", f"se/elevator/{DEVICE}/status", "-m", "online")
        assert out.returncode == 0, out.stderr
        device = Paho(broker, DEVICE, DEVICE)
        device.publish(f"se/elevator/{DEVICE}/telemetry", b'{"seq":1}')
        device.publish(f"se/elevator/{DEVICE}/event", b'{"seq":2}')
        assert device.puback() == 0 and device.puback() == 0
        device.close()
        expected = [(f"se/elevator/{DEVICE}/status", b"online"), (f"se/elevator/{DEVICE}/telemetry", b'{"seq":1}'),
                    (f"se/elevator/{DEVICE}/event", b'{"seq":2}')]
        assert ingest.received(3) == expected
        assert rules.received(3) == expected
    finally:
        ingest.close()
        rules.close()

    # TLS is verified: the system's CAs did not sign this server, so the client refuses it.
    out = mosquitto_tool(broker, "mosquitto_pub", DEVICE, "-q", "1", "-t", f"se/elevator/{DEVICE}/telemetry",
                         "-m", "x", cafile=False)
    assert out.returncode != 0 and "tls error" in out.stderr.lower(), out.stderr
    unverified = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    unverified.tls_set()  # the system's CAs
    with pytest.raises(ssl.SSLCertVerificationError):
        unverified.connect("127.0.0.1", broker.tls_port)


def _anonymous_clients_and_wrong_passwords_are_refused(broker: DeployBroker) -> None:
    for tls in (True, False):
        out = mosquitto_tool(broker, "mosquitto_pub", None, "-q", "1", "-t", f"se/elevator/{DEVICE}/telemetry",
                             "-m", "x", tls=tls)
        assert out.returncode != 0 and "not authorised" in out.stderr.lower(), out.stderr
        anonymous = Paho(broker, None, DEVICE, tls=tls)
        assert anonymous.code.is_failure and anonymous.code.value == 0x87  # not authorized
        anonymous.close()
    wrong = dict(broker.accounts, **{DEVICE: "not-the-secret"})
    out = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.tls_port), "--cafile",
                          str(broker.cafile), "-u", DEVICE, "-P", wrong[DEVICE], "-q", "1",
                          "-t", f"se/elevator/{DEVICE}/telemetry", "-m", "x"], check=False, capture_output=True,
                         text=True,
                         timeout=20)
    assert out.returncode != 0 and "not authorised" in out.stderr.lower(), out.stderr


def _a_device_cannot_publish_as_another_or_read_anything(broker: DeployBroker) -> None:
    ingest = Paho(broker, INGEST, INGEST, persistent=True)
    ingest.subscribe("se/#")
    other = Paho(broker, OTHER, OTHER)
    # The other device's retained status and a later frame: the snooping device gets neither.
    other.publish(f"se/boiler/{OTHER}/status", b"online", retain=True)
    assert other.puback() == 0
    snoop = Paho(broker, DEVICE, DEVICE)
    try:
        assert snoop.subscribe("se/#")[0].value == 1  # granted, but every delivery is checked
        assert snoop.subscribe("$share/semon-ingest/se/+/+/+")[0].value == 1
        other.publish(f"se/boiler/{OTHER}/telemetry", b'{"seq":7}')
        assert other.puback() == 0
        # MQTT 5: publishing under another device's code is answered "not authorized" (0x87) ...
        snoop.publish(f"se/boiler/{OTHER}/telemetry", b"forged")
        snoop.publish(f"se/boiler/{OTHER}/event", b"forged")
        snoop.publish(f"se/boiler/{OTHER}/status", b"offline", retain=True)
        snoop.publish("se/boiler/semon-rules-1/event", b"forged")
        assert [snoop.puback().value for _ in range(4)] == [0x87] * 4
        # The services' accounts cannot publish device messages either.
        service = Paho(broker, RULES, RULES)
        service.publish(f"se/elevator/{DEVICE}/event", b"forged-by-service")
        assert service.puback().value == 0x87
        service.close()
        assert snoop.received(0, quiet=0.5) == []
        snoop.close()  # one connection per account: the next login as DEVICE would replace it
        # ... MQTT 3.1.1 has no way to say so (PUBACK success), but the message goes nowhere.
        out = mosquitto_tool(broker, "mosquitto_pub", DEVICE, "-V", "311", "-q", "1",
                             "-t", f"se/elevator/{OTHER}/telemetry", "-m", "forged-311")
        assert out.returncode == 0, out.stderr
        # Marker: once the ingester has it, everything published before it has been routed.
        other.publish(f"se/boiler/{OTHER}/telemetry", b"marker")
        assert other.puback() == 0
        got = ingest.received(3)
        assert [p for _t, p in got] == [b"online", b'{"seq":7}', b"marker"]
        # mosquitto_sub as the device, with the retained status waiting on the broker: nothing.
        out = mosquitto_tool(broker, "mosquitto_sub", DEVICE, "-i", "ignored", "-q", "1", "-t", "se/#", "-v",
                             "-W", "2")
        assert out.stdout == "", out.stdout
    finally:
        for c in (ingest, other, snoop):
            c.close()


def _a_device_cannot_take_over_a_services_session(broker: DeployBroker, service: str) -> None:
    holder = Paho(broker, service, service, persistent=True)
    holder.subscribe("se/+/+/+")
    # A device asks for the service's client id: the broker replaces it with the device's own
    # (use_username_as_clientid), so the service is not disconnected and its session stays its own.
    thief = Paho(broker, DEVICE, service, persistent=True)
    assert thief.code == 0
    try:
        thief.publish(f"se/elevator/{DEVICE}/telemetry", b"while-the-thief-is-connected")
        assert thief.puback() == 0
        assert holder.received(1) == [(f"se/elevator/{DEVICE}/telemetry", b"while-the-thief-is-connected")]
        assert not holder.disconnected.is_set()
        # With the service away, what is queued for it is not handed to a client claiming its id.
        holder.close()
        thief.close()
        device = Paho(broker, OTHER, OTHER)
        device.publish(f"se/elevator/{OTHER}/telemetry", b"queued")
        assert device.puback() == 0
        device.close()
        thief = Paho(broker, DEVICE, service, persistent=True)
        assert thief.received(0, quiet=1.0) == []
        thief.close()
        holder = Paho(broker, service, service, persistent=True)
        assert holder.received(1) == [(f"se/elevator/{OTHER}/telemetry", b"queued")]
    finally:
        holder.close()
        thief.close()
    # Mosquitto logs the forced id: the device's session is under its own code.
    assert f"as {DEVICE} " in broker.log()


def _an_oversized_packet_closes_the_senders_connection(broker: DeployBroker, root: Path) -> None:
    ingest = Paho(broker, INGEST, INGEST, persistent=True)
    ingest.subscribe("se/#")
    big = root / "big.json"
    big.write_bytes(b"x" * 300_000)  # above max_packet_size (260 KiB)
    try:
        # MQTT 3.1.1 device: its connection is closed instead of a silent PUBACK (mosquitto_pub
        # says "The connection was lost" over plain TCP, "Protocol error" over TLS).
        for tls in (True, False):
            out = mosquitto_tool(broker, "mosquitto_pub", DEVICE, "-V", "311", "-q", "1",
                                 "-t", f"se/elevator/{DEVICE}/telemetry", "-f", str(big), tls=tls)
            assert out.returncode != 0 and out.stderr.startswith("Error: "), out.stderr
        # MQTT 5 (paho sends it although CONNACK said the limit): disconnected, no PUBACK.
        device = Paho(broker, OTHER, OTHER)
        device.publish(f"se/elevator/{OTHER}/telemetry", big.read_bytes())
        assert device.disconnected.wait(10)
        assert device.acks.empty()
        device.client.loop_stop()
        # 20 KB, above the ingester's limit but within the broker's: it reaches the ingester,
        # which records it as "oversized".
        mid = root / "mid.json"
        mid.write_bytes(b"y" * 20_000)
        out = mosquitto_tool(broker, "mosquitto_pub", DEVICE, "-V", "311", "-q", "1",
                             "-t", f"se/elevator/{DEVICE}/telemetry", "-f", str(mid))
        assert out.returncode == 0, out.stderr
        assert [len(p) for _t, p in ingest.received(1)] == [20_000]
        assert broker.log().count("disconnected due to oversize packet") == 3
    finally:
        ingest.close()


def test_the_deploy_config_keeps_the_files_private() -> None:
    conf = (Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    lines = [line.split() for line in conf.splitlines() if line.strip() and not line.startswith("#")]
    options = {fields[0]: fields[1:] for fields in lines}
    assert options["allow_anonymous"] == ["false"]
    assert options["use_username_as_clientid"] == ["true"]
    assert options["per_listener_settings"] == ["false"]
    assert "message_size_limit" not in options and options["max_packet_size"] == ["266240"]
    assert options["autosave_interval"] == ["1"] and options["autosave_on_changes"] == ["false"]
    assert os.path.basename(options["password_file"][0]) == "semon.passwd"


async def test_a_device_logs_in_over_tls_and_publishes_its_own_topics(broker: DeployBroker) -> None:
    await asyncio.to_thread(_a_device_logs_in_over_tls_and_publishes_its_own_topics, broker)


async def test_anonymous_clients_and_wrong_passwords_are_refused(broker: DeployBroker) -> None:
    await asyncio.to_thread(_anonymous_clients_and_wrong_passwords_are_refused, broker)


async def test_a_device_cannot_publish_as_another_or_read_anything(broker: DeployBroker) -> None:
    await asyncio.to_thread(_a_device_cannot_publish_as_another_or_read_anything, broker)


@pytest.mark.parametrize("service", [INGEST, RULES])
async def test_a_device_cannot_take_over_a_services_session(broker: DeployBroker, service: str) -> None:
    await asyncio.to_thread(_a_device_cannot_take_over_a_services_session, broker, service)


async def test_an_oversized_packet_closes_the_senders_connection(broker: DeployBroker, root: Path) -> None:
    await asyncio.to_thread(_an_oversized_packet_closes_the_senders_connection, broker, root)
