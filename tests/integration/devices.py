"""Third-party devices for the integration tests: paho-mqtt and mosquitto_pub publishers."""

from __future__ import annotations

import asyncio
import shutil

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from semon.mqtt.client import BrokerAddress


def paho_client(url: str, client_id: str = "", *, inflight: int = 20, ca_file: str | None = None) -> paho.Client:
    """A connected MQTT 5 paho client with its network thread running (caller: ``stop``)."""
    address = BrokerAddress.from_url(url, ca_file=ca_file)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    context = address.ssl_context()
    if context is not None:
        client.tls_set_context(context)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.ReceiveMaximum = 65535
    rc = client.connect(address.host, address.port, keepalive=30, clean_start=True, properties=props)
    if rc != 0:
        raise ConnectionError(f"paho connect failed: {rc}")
    client.loop_start()
    return client


def paho_client_311(url: str, client_id: str = "") -> paho.Client:
    """A connected MQTT 3.1.1 paho client (for a NATS cluster's MQTT listener) with its network
    thread running (caller: ``stop``)."""
    address = BrokerAddress.from_url(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    rc = client.connect(address.host, address.port, keepalive=30)
    if rc != 0:
        raise ConnectionError(f"paho connect failed: {rc}")
    client.loop_start()
    return client


def stop(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


def paho_publish_sync(url: str, messages: list[tuple[str, bytes]], qos: int = 1,
                      ca_file: str | None = None) -> None:
    """Publish and wait until the broker has acknowledged every message."""
    client = paho_client(url, ca_file=ca_file)
    try:
        infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)
            if not info.is_published():
                raise TimeoutError("paho publish not acknowledged")
    finally:
        stop(client)


async def paho_publish(url: str, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    await asyncio.to_thread(paho_publish_sync, url, messages, qos)


async def mosquitto_pub(port: int, topic: str, payload: bytes, qos: int = 1, *extra: str) -> None:
    binary = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    proc = await asyncio.create_subprocess_exec(
        binary, "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", str(qos), "-t", topic, "-s", *extra,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate(payload)
    if proc.returncode != 0:
        raise RuntimeError(f"mosquitto_pub failed ({proc.returncode}): {err.decode(errors='replace')}")
