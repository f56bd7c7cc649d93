"""A device replaying frames dated long before the retention window: rejected, no chunks made.

Reported: 3,000 QoS 1 frames from one device with ``ts`` on 3,000 different days from
2000-01-02 made 3,000 TimescaleDB chunks per burst and held up every other device's frames.
The devices are paho-mqtt clients (MQTT 5, QoS 1) on a real Mosquitto; the database is a real
PostgreSQL with TimescaleDB.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from semon.metrics import value
from semon.stack import MosquittoServer
from tests.integration.helpers import elevator, ingest_settings, query, running_ingester, wait_for_count
from tests.integration.test_ingest_poison import count, paho_publish, wait_until

pytestmark = pytest.mark.integration

DAYS = 3000
FIRST_DAY = datetime(2000, 1, 2, tzinfo=UTC)
CHUNKS = ("SELECT count(*) FROM timescaledb_information.chunks "
          "WHERE hypertable_name IN ('elevator_telemetry', 'boiler_telemetry', 'device_events')")


def old_burst(device: str) -> list[tuple[str, bytes]]:
    """One frame per day from 2000-01-02 on, alternately in RFC 3339 and epoch milliseconds,
    and an event on every hundredth day."""
    out: list[tuple[str, bytes]] = []
    for i in range(DAYS):
        day = FIRST_DAY + timedelta(days=i, hours=i % 24)
        ts: object = day.isoformat() if i % 2 else int(day.timestamp() * 1000)
        out.append((f"se/elevator/{device}/telemetry", elevator(i + 1, ts=ts)))
        if i % 100 == 0:
            out.append((f"se/elevator/{device}/event",
                        json.dumps({"ts": ts, "seq": 100_000 + i, "code": 90}).encode()))
    return out


async def test_a_burst_over_thousands_of_old_days_makes_no_chunks_and_others_flow(
        mosquitto: MosquittoServer, database_url: str) -> None:
    burst = old_burst("OLD-1")
    old_messages = len(burst)  # 3,000 frames and 30 events
    good = 300
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        before = await count(database_url, CHUNKS)

        async def good_device() -> None:
            for k in range(0, good, 50):
                await paho_publish(mosquitto, "E-GOOD", [("se/elevator/E-GOOD/telemetry", elevator(s + 1))
                                                         for s in range(k, k + 50)])

        # Two bursts of the same bytes (as after a device restart that replays its buffer),
        # alongside another device's live frames.
        await asyncio.gather(paho_publish(mosquitto, "OLD-1", burst), good_device())
        await paho_publish(mosquitto, "OLD-1", burst)
        await wait_until(lambda: value(ingester.metrics.rejected, "stale_timestamp") == 2 * old_messages, timeout=120)
        stored = await wait_for_count(database_url,
                                      "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-GOOD'", good)
        assert stored == good
        # a frame sent after both bursts is stored too: nothing was held up
        await paho_publish(mosquitto, "E-GOOD", [("se/elevator/E-GOOD/telemetry", elevator(good + 1))])
        assert await wait_for_count(database_url, "SELECT max(last_seq) FROM device_state WHERE device_id = 'E-GOOD'",
                                    good + 1) == good + 1
        after = await count(database_url, CHUNKS)
        metrics = {"stale": value(ingester.metrics.rejected, "stale_timestamp"),
                   "storage_error": value(ingester.metrics.rejected, "storage_error")}

    print(json.dumps({"test": "stale_burst", "old_messages": old_messages, "chunks_before": before,
                      "chunks_after": after, **metrics}))
    assert metrics["storage_error"] == 0
    # The good device's frames are all from today (two days if the test runs across midnight UTC).
    assert after - before <= 2
    oldest = (await query(database_url, "SELECT min(range_start) FROM timescaledb_information.chunks"))[0][0]
    assert oldest is None or (isinstance(oldest, datetime) and oldest > datetime.now(UTC) - timedelta(days=92))
    assert await count(database_url, "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'OLD-1'") == 0
    assert await count(database_url, "SELECT count(*) FROM device_events") == 0
    # Recorded once each, although each was sent twice.
    rejected = await query(database_url, "SELECT reason, count(*), count(DISTINCT (topic, payload)) "
                                         "FROM rejected_messages WHERE device_id = 'OLD-1' GROUP BY reason")
    assert rejected == [("stale_timestamp", old_messages, old_messages)]
    detail = await query(database_url, "SELECT detail FROM rejected_messages WHERE device_id = 'OLD-1' LIMIT 1")
    assert "is more than 91 days before" in str(detail[0][0])
    assert await count(database_url, "SELECT count(*) FROM rejected_messages WHERE device_id <> 'OLD-1'") == 0
