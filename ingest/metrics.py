"""The ingester's counters, in a registry of its own (``prometheus_client``)."""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from semon.metrics import exponential_buckets


class IngestMetrics:
    def __init__(self, backlog: Callable[[], float], connected: Callable[[], float]) -> None:
        r = self.registry = CollectorRegistry()
        self.received = Counter("semon_ingest_received_total", "MQTT messages received", registry=r)
        self.stored = Counter("semon_ingest_stored_total", "Rows stored, by table", ("table",), registry=r)
        self.rejected = Counter("semon_ingest_rejected_total", "Messages rejected and recorded, by reason",
                                ("reason",), registry=r)
        self.duplicates = Counter("semon_ingest_duplicates_total",
                                  "Redelivered messages already stored (not stored again)", registry=r)
        self.acked = Counter("semon_ingest_acked_total", "QoS 1 messages acknowledged after commit", registry=r)
        self.ack_dropped = Counter(
            "semon_ingest_ack_dropped_total",
            "Acknowledgements not sent because the connection changed (the broker redelivers)", registry=r)
        self.db_errors = Counter("semon_ingest_db_errors_total", "Failed batch writes, retried", registry=r)
        self.sanitised = Counter(
            "semon_ingest_sanitised_total",
            "Messages kept with a value PostgreSQL cannot hold replaced, by what was replaced", ("what",),
            registry=r)
        self.refused_rows = Counter(
            "semon_ingest_refused_rows_total",
            "Rows the database refused, isolated and dead-lettered, by where", ("writer",), registry=r)
        self.dead_letter_failed = Counter(
            "semon_ingest_dead_letter_failed_total",
            "Refused messages whose dead letter the database refused too (logged, acknowledged)", registry=r)
        self.batches = Counter("semon_ingest_batches_total", "Committed batches", registry=r)
        self.commit_seconds = Histogram("semon_ingest_batch_commit_seconds", "Time to write and commit one batch",
                                        buckets=exponential_buckets(0.001, 2, 14), registry=r)
        # Fine buckets (x1.15) so the benchmark can read p50/p99 from them. Observed per stored
        # message: about 1 µs each (docs/ingest.md, "Metrics").
        self.lag_seconds = Histogram("semon_ingest_lag_seconds", "Device timestamp to commit, per stored message",
                                     buckets=exponential_buckets(0.001, 1.15, 80), registry=r)
        Gauge("semon_ingest_backlog", "Messages received and not yet committed", registry=r).set_function(backlog)
        Gauge("semon_mqtt_connected", "1 while connected to the broker", registry=r).set_function(connected)
        Gauge("process_resident_memory_bytes", "Resident memory of this process",
              registry=r).set_function(resident_bytes)


def resident_bytes() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return float("nan")
