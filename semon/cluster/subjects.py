"""The subjects of cluster mode: where a device's MQTT topic lands in NATS, and back.

NATS's MQTT listener turns the topic ``se/{kind}/{device_id}/{channel}`` into the subject
``se.{kind}.{device_id}.{channel}``; the servers' subject mappings (``mappings``, written into
every node's configuration) move it to a partition chosen by the device id alone, so a
device's telemetry, status and events share one partition and keep their order in it:

- ``semon.fr.{p}.{kind}.{device_id}.{telemetry|status}``: the frames of partition ``p``;
- ``semon.ev.{p}.{kind}.{device_id}``: its events (the alarm path reads them on a consumer of
  their own, never behind frames);
- anything else under ``se.`` (a malformed topic) is kept as published, for the ingester to
  record as ``bad_topic``.

The listener stores every QoS 1 message it takes, before its PUBACK, in its own replicated
stream ``$MQTT_msgs`` under ``$MQTT.msgs.{subject}`` (the subject after the mappings): that
stream is the log semon's consumers read (``STREAM``, docs/scale.md).

The partition is NATS's deterministic token partition (``{{partition(n, 2)}}``): FNV-1a (32
bits) of the device id, modulo ``n``; ``partition_of`` computes the same here.
"""

from __future__ import annotations

from semon.protocol.topics import TOPIC_ROOT

STREAM = "$MQTT_msgs"  # nats-server's own name for it
STORED = "$MQTT.msgs."  # the prefix of its subjects
ROOT = "semon"
FRAMES = "fr"
EVENTS = "ev"

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def partition_of(device_id: str, partitions: int) -> int:
    """The partition (0 ≤ p < ``partitions``) NATS maps ``device_id`` to: FNV-1a 32 of its
    UTF-8 bytes modulo ``partitions``, as nats-server's ``partition`` mapping function."""
    h = _FNV_OFFSET
    for byte in device_id.encode():
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h % partitions


def mappings(partitions: int) -> dict[str, str]:
    """The servers' subject mappings (nats-server ``mappings`` block) for ``partitions``."""
    part = f"{{{{partition({partitions},2)}}}}"
    device = "{{wildcard(1)}}.{{wildcard(2)}}"
    return {
        f"{TOPIC_ROOT}.*.*.event": f"{ROOT}.{EVENTS}.{part}.{device}",
        f"{TOPIC_ROOT}.*.*.telemetry": f"{ROOT}.{FRAMES}.{part}.{device}.telemetry",
        f"{TOPIC_ROOT}.*.*.status": f"{ROOT}.{FRAMES}.{part}.{device}.status",
    }


def frames_filter(partition: int) -> str:
    """Partition ``partition``'s telemetry and status, as stored."""
    return f"{STORED}{ROOT}.{FRAMES}.{partition}.>"


def events_filter(partition: int) -> str:
    """Partition ``partition``'s events, as stored."""
    return f"{STORED}{ROOT}.{EVENTS}.{partition}.>"


def everything() -> str:
    """Every message stored, malformed topics included (the ingester's filter)."""
    return f"{STORED}>"


def mqtt_topic(subject: str) -> str:
    """The MQTT topic a device published for ``subject``, stored (``$MQTT.msgs.`` …) or not
    (the inverse of the listener's conversion and of ``mappings``):
    ``$MQTT.msgs.semon.ev.3.elevator.E1`` → ``se/elevator/E1/event``. An empty MQTT level,
    which the listener writes as ``/``, is empty again."""
    tokens = subject.removeprefix(STORED).split(".")
    if len(tokens) >= 5 and tokens[0] == ROOT:
        if tokens[1] == EVENTS and len(tokens) == 5:
            return f"{TOPIC_ROOT}/{tokens[3]}/{tokens[4]}/event"
        if tokens[1] == FRAMES and len(tokens) == 6:
            return f"{TOPIC_ROOT}/{tokens[3]}/{tokens[4]}/{tokens[5]}"
    return "/".join("" if t == "/" else t for t in tokens)
