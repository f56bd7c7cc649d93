"""The ingester's counters, exposed in Prometheus text format."""

from __future__ import annotations

import os
from collections.abc import Callable

from semon.metrics import Counter, Gauge, Histogram, Registry, exponential_buckets


class IngestMetrics:
    def __init__(self, backlog: Callable[[], float], connected: Callable[[], float]) -> None:
        r = self.registry = Registry()
        self.received = r.add(Counter("semon_ingest_received_total", "MQTT messages received"))
        self.stored = r.add(Counter("semon_ingest_stored_total", "Rows stored, by table", ("table",)))
        self.rejected = r.add(
            Counter("semon_ingest_rejected_total", "Messages rejected and recorded, by reason", ("reason",))
        )
        self.duplicates = r.add(
            Counter("semon_ingest_duplicates_total", "Redelivered messages already stored (not stored again)")
        )
        self.acked = r.add(Counter("semon_ingest_acked_total", "QoS 1 messages acknowledged after commit"))
        self.ack_dropped = r.add(
            Counter("semon_ingest_ack_dropped_total",
                    "Acknowledgements not sent because the connection changed (the broker redelivers)")
        )
        self.db_errors = r.add(Counter("semon_ingest_db_errors_total", "Failed batch writes, retried"))
        self.sanitised = r.add(
            Counter("semon_ingest_sanitised_total",
                    "Messages kept with a value PostgreSQL cannot hold replaced, by what was replaced",
                    ("what",))
        )
        self.refused_rows = r.add(
            Counter("semon_ingest_refused_rows_total",
                    "Rows the database refused, isolated and dead-lettered, by where", ("writer",))
        )
        self.dead_letter_failed = r.add(
            Counter("semon_ingest_dead_letter_failed_total",
                    "Refused messages whose dead letter the database refused too (logged, acknowledged)")
        )
        self.batches = r.add(Counter("semon_ingest_batches_total", "Committed batches"))
        self.commit_seconds = r.add(
            Histogram("semon_ingest_batch_commit_seconds", "Time to write and commit one batch",
                      exponential_buckets(0.001, 2, 14))
        )
        # Fine buckets (x1.15) so the benchmark can read p50/p99 from them.
        self.lag_seconds = r.add(
            Histogram("semon_ingest_lag_seconds", "Device timestamp to commit, per stored message",
                      exponential_buckets(0.001, 1.15, 80))
        )
        r.add(Gauge("semon_ingest_backlog", "Messages received and not yet committed", backlog))
        r.add(Gauge("semon_mqtt_connected", "1 while connected to the broker", connected))
        r.add(Gauge("process_resident_memory_bytes", "Resident memory of this process", resident_bytes))


def resident_bytes() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return float("nan")
