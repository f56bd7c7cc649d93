"""Topic layout of wire protocol v1: ``se/{kind}/{device_id}/{channel}``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

PROTOCOL_VERSION = 1
TOPIC_ROOT = "se"
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Kind(StrEnum):
    ELEVATOR = "elevator"
    BOILER = "boiler"


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"


class TopicError(ValueError):
    """The topic does not follow the protocol."""


@dataclass(frozen=True, slots=True)
class Topic:
    kind: Kind
    device_id: str
    channel: Channel

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.kind}/{self.device_id}/{self.channel}"


_KINDS = {k.value: k for k in Kind}
_CHANNELS = {c.value: c for c in Channel}


def topic_for(kind: Kind, device_id: str, channel: Channel) -> str:
    return f"{TOPIC_ROOT}/{kind}/{device_id}/{channel}"


def subscription_filter() -> str:
    """Everything under the root, so that a message on a malformed topic (five levels, three,
    an empty level) reaches the ingester and is recorded as ``bad_topic`` rather than dropped
    by the broker unseen."""
    return f"{TOPIC_ROOT}/#"


@lru_cache(maxsize=1 << 17)  # one entry per device and channel: topics repeat for ever
def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != TOPIC_ROOT:
        raise TopicError(f"topic is not se/{{kind}}/{{device_id}}/{{channel}}: {topic[:120]!r}")
    kind = _KINDS.get(parts[1])
    if kind is None:
        raise TopicError(f"unknown kind {parts[1][:40]!r}")
    if not DEVICE_ID_PATTERN.fullmatch(parts[2]):
        raise TopicError(f"malformed device id {parts[2][:80]!r}")
    channel = _CHANNELS.get(parts[3])
    if channel is None:
        raise TopicError(f"unknown channel {parts[3][:40]!r}")
    return Topic(kind, parts[2], channel)
