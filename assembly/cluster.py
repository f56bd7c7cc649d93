"""Cluster mode as the composition root assembles it (docs/scale.md): the ingester's source is
the stream's shared consumer, the rules run one engine per partition held
(``alerts.partitioned``), each engine's sources being its partition's consumers."""

from __future__ import annotations

import os

from psycopg_pool import AsyncConnectionPool

from alerts.engine import EngineMetrics, ProfileLookup, RulesEngine
from alerts.hub import LiveHub
from alerts.partitioned import PartitionedRules
from registry.store import unit_entry
from semon.cluster.jetstream import (
    INGEST_CONSUMER,
    NatsLink,
    PullSource,
    ensure_ingest_consumer,
    ensure_rules_consumer,
    remake_rules_consumer,
    rules_consumer,
)
from semon.cluster.subjects import partition_of
from semon.settings import Settings
from semon.source import MessageSource, OnConnected, OnMessage, SourceFactory


def ingest_source(settings: Settings, name: str) -> SourceFactory:
    """The ingest workers' shared consumer, on a connection of the ingester's own (``name``:
    how the servers list it); its window is the ingester's receive maximum."""
    c = settings.cluster

    def make(on_message: OnMessage, on_connected: OnConnected) -> MessageSource:
        return PullSource(NatsLink(c, name), c, INGEST_CONSUMER, lambda js: ensure_ingest_consumer(js, c),
                          on_message=on_message, on_connected=on_connected, window=settings.ingest.receive_maximum,
                          backoff=settings.backoff.backoff(), owns_link=True)

    return make


def partition_engine(settings: Settings, link: NatsLink, partition: int, pool: AsyncConnectionPool, hub: LiveHub,
                     profiles: ProfileLookup | None, metrics: EngineMetrics) -> RulesEngine:
    """The engine of ``partition``: its frames and events from the partition's consumers (made
    again from their acknowledgement floor when it takes the partition), its devices those of
    the partition."""
    c, r = settings.cluster, settings.rules

    def source(kind: str, window: int) -> SourceFactory:
        def make(on_message: OnMessage, on_connected: OnConnected) -> MessageSource:
            return PullSource(link, c, rules_consumer(kind, partition),
                              lambda js: remake_rules_consumer(js, c, kind, partition, window),
                              rebind=lambda js: ensure_rules_consumer(js, c, kind, partition, window),
                              on_message=on_message, on_connected=on_connected, window=window,
                              backoff=settings.backoff.backoff(), batch=min(window, 500))
        return make

    return RulesEngine(r, settings.mqtt, "", pool, hub, profiles, metrics, incidents=settings.incidents,
                       telemetry=settings.telemetry, backoff=settings.backoff, register=unit_entry,
                       sources=(source("fr", r.receive_maximum), source("ev", r.events_receive_maximum)),
                       owns=lambda device_id: partition_of(device_id, c.partitions) == partition,
                       listen_closes=False)


def cluster_rules(settings: Settings, pool: AsyncConnectionPool, hub: LiveHub, profiles: ProfileLookup | None,
                  metrics: EngineMetrics) -> PartitionedRules:
    """This process's share of the partitions, as member ``{client id}-{pid}`` of the engines."""
    member = f"{settings.rules.client_id}-{os.getpid()}"
    link = NatsLink(settings.cluster, member)
    return PartitionedRules(
        lambda partition: partition_engine(settings, link, partition, pool, hub, profiles, metrics),
        link, settings.cluster, member, pool, settings.backoff.backoff)
