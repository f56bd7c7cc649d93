"""semon.cluster.subjects: where a device's topic lands in the partitioned log, and back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from semon.cluster.subjects import (
    events_filter,
    frames_filter,
    mappings,
    mqtt_topic,
    partition_of,
)
from semon.protocol.topics import DEVICE_ID_PATTERN

# nats-server 2.9.10's `partition(8,2)` mapping put these devices here (seen on a running node).
SEEN_ON_THE_SERVER = {"lift-1": 6, "lift-2": 3, "lift-3": 0, "lift-4": 5, "x": 7}

device_ids = st.from_regex(DEVICE_ID_PATTERN, fullmatch=True).filter(lambda d: "." not in d)


def test_the_partition_is_the_servers() -> None:
    assert {d: partition_of(d, 8) for d in SEEN_ON_THE_SERVER} == SEEN_ON_THE_SERVER


@given(device_ids, st.integers(min_value=1, max_value=1024))
def test_a_device_has_one_partition_within_range(device: str, partitions: int) -> None:
    p = partition_of(device, partitions)
    assert 0 <= p < partitions
    assert partition_of(device, partitions) == p


def test_the_mappings_key_on_the_device_token_and_keep_the_channel() -> None:
    m = mappings(12)
    assert m == {
        "se.*.*.event": "semon.ev.{{partition(12,2)}}.{{wildcard(1)}}.{{wildcard(2)}}",
        "se.*.*.telemetry": "semon.fr.{{partition(12,2)}}.{{wildcard(1)}}.{{wildcard(2)}}.telemetry",
        "se.*.*.status": "semon.fr.{{partition(12,2)}}.{{wildcard(1)}}.{{wildcard(2)}}.status",
    }
    assert frames_filter(3) == "$MQTT.msgs.semon.fr.3.>"  # as the listener's stream stores them
    assert events_filter(3) == "$MQTT.msgs.semon.ev.3.>"


@given(device_ids, st.sampled_from(["elevator", "boiler"]), st.sampled_from(["telemetry", "status"]),
       st.integers(min_value=0, max_value=11))
def test_a_mapped_subject_gives_back_the_devices_topic(device: str, kind: str, channel: str, p: int) -> None:
    assert mqtt_topic(f"semon.fr.{p}.{kind}.{device}.{channel}") == f"se/{kind}/{device}/{channel}"
    assert mqtt_topic(f"semon.ev.{p}.{kind}.{device}") == f"se/{kind}/{device}/event"
    assert mqtt_topic(f"$MQTT.msgs.semon.ev.{p}.{kind}.{device}") == f"se/{kind}/{device}/event"


def test_a_malformed_topic_comes_back_as_published() -> None:
    # The listener keeps what the mappings do not match; an empty level is written "/".
    assert mqtt_topic("se.bad") == "se/bad"
    assert mqtt_topic("$MQTT.msgs.se.bad") == "se/bad"
    assert mqtt_topic("se.elevator.x.telemetry.extra") == "se/elevator/x/telemetry/extra"
    assert mqtt_topic("se./.x.telemetry") == "se//x/telemetry"
    assert mqtt_topic("semon.fr.1.elevator") == "semon/fr/1/elevator"
