"""CPU time per message of each stage of the ingest path, and of the rules engine's decode.

Wall-clock throughput on a shared machine is noisy; CPU time of one process running each stage
over the same messages is not (much). Run from the repository root:

    python -m ingest.cpu_cost [--messages 20000] [--rounds 5]

and it prints one JSON object: microseconds of CPU per message for each stage (the best of
``rounds``, which discounts the other work on the machine), over a stream of elevator frames
as the load generator sends them (epoch-millisecond ``ts``) and, separately, RFC 3339 ones:

- ``mqtt_parse``: PUBLISH packets in a 64 KiB read, parsed into messages (semon/mqtt/client.py);
- ``decode``: the ingester's ``decode`` (semon/protocol/decode.py);
- ``rules_decode``: the rules engine's decode of the same bytes;
- ``rows``: the batch's rows and device state (ingest/batch.py);
- ``copy_encode``: the binary COPY encoding of the rows as the writer sends them (psycopg), the
  client's side of ``COPY``; the server's work is not in the ingester's process;
- ``after_commit``: the device state merged and the metrics counted (ingest/service.py);
- ``ack``: the PUBACKs of a batch in one buffer;
- with ``--database``, ``write_batch``: the client's CPU for ``ingest/writer.py``'s whole
  transaction of 5,000-message batches (COPY into staging, INSERT … SELECT, commit) against a
  private PostgreSQL with TimescaleDB started for the run; waiting for the server is not CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import postgres
from psycopg._copy_base import format_row_binary  # what the writer's COPY runs per row
from psycopg.adapt import Transformer
from psycopg.pq import Format

from ingest import writer
from ingest.batch import Batch
from ingest.service import Ingester
from ingest.state import DeviceStateBuffer
from ingest.writer import WriteResult
from semon.db import apply_migrations
from semon.mqtt.client import Message, MqttClient
from semon.mqtt.packets import ConnectOptions, encode_puback, encode_publish
from semon.protocol import decode as decode_module
from semon.protocol.decode import DecodeLimits, decode
from semon.protocol.topics import Channel, Kind, topic_for
from semon.settings import BackoffSettings, IngestSettings, MetricsSettings, MqttSettings, TelemetrySettings
from semon.stack import PostgresServer


def frames(count: int, now: datetime, rfc3339: bool) -> list[tuple[str, bytes]]:
    """Elevator telemetry as the load generator publishes it, 10,000 devices round robin."""
    base_ms = int(now.timestamp() * 1000) - 1_000
    out = []
    for i in range(count):
        device = f"BENCH{i % 10_000:06d}"
        ts: int | str = base_ms + i
        if rfc3339:
            ts = (now - timedelta(milliseconds=1_000 - i % 1_000)).astimezone(UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "+08:00")
        payload = orjson.dumps({
            "ts": ts, "seq": i, "running": True, "direction": "up", "floor": i % 30,
            "door_locked": True, "door_zone": False, "passenger": False, "mode": "normal", "power": "main",
            "speed_mps": 1.5, "trip_count": 1000 + i, "run_hours": 12.5,
        })
        out.append((topic_for(Kind.ELEVATOR, device, Channel.TELEMETRY), payload))
    return out


def _best(rounds: int, count: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return round(best / count * 1e6, 3)


def _rules_decoder() -> Callable[[str, bytes, datetime, DecodeLimits], object]:
    lean = getattr(decode_module, "decode_for_rules", None)  # absent before the lean decode existed
    return decode if lean is None else lean


async def _measure(count: int, rounds: int, rfc3339: bool, database_url: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    limits = DecodeLimits()
    messages = frames(count, now, rfc3339)
    stream = b"".join(encode_publish(t.encode(), p, 1, i % 65_535 + 1) for i, (t, p) in enumerate(messages))
    received: list[Message] = []
    client = MqttClient(ConnectOptions(client_id="cost"), received.append)

    def parse() -> None:
        received.clear()
        for at in range(0, len(stream), 65_536):
            client.data_received(stream[at:at + 65_536])

    mqtt_parse = _best(rounds, count, parse)
    assert len(received) == count, len(received)

    outcomes: list[Any] = []

    def run_decode() -> None:
        outcomes[:] = [decode(m.topic, m.payload, now, limits) for m in received]

    decode_us = _best(rounds, count, run_decode)
    assert all(type(o).__name__ == "Decoded" for o in outcomes), outcomes[0]
    rules_decode = _rules_decoder()
    rules_us = _best(rounds, count, lambda: [rules_decode(m.topic, m.payload, now, limits) for m in received])

    batches: list[Batch] = []

    def rows() -> None:
        batches.clear()
        for at in range(0, count, 5_000):
            batch = Batch()
            for m, o in zip(received[at:at + 5_000], outcomes[at:at + 5_000], strict=True):
                batch.add(o, m.topic, m.payload, now, 1024)
            batches.append(batch)

    rows_us = _best(rounds, count, rows)
    ingester = Ingester(IngestSettings(), MqttSettings(), "mqtt://127.0.0.1:1", "postgresql://127.0.0.1:1/semon",
                        telemetry=TelemetrySettings(), metrics=MetricsSettings(), backoff=BackoffSettings())

    def after_commit() -> None:
        ingester.state = DeviceStateBuffer()
        for at, batch in zip(range(0, count, 5_000), batches, strict=True):
            ingester.state.merge(batch.devices)
            ingester._account(WriteResult(len(batch.elevator), 0, 0, 0, 0), outcomes[at:at + 5_000],
                              time.time(), 0.1)

    after_us = _best(rounds, count, after_commit)

    def copy_encode() -> None:
        for batch in batches:
            tx = Transformer()
            tx.set_dumper_types([postgres.types[t].oid for t in writer._ELEVATOR_TYPES], Format.BINARY)
            out = bytearray()
            for row in batch.elevator:
                format_row_binary(row, tx, out)

    copy_us = _best(rounds, count, copy_encode)
    ids = [m.packet_id for m in received]
    ack_us = _best(rounds, count, lambda: [b"".join(encode_puback(p) for p in ids[a:a + 5_000])
                                           for a in range(0, count, 5_000)])
    result = {"mqtt_parse": mqtt_parse, "decode": decode_us, "rows": rows_us, "copy_encode": copy_us,
              "after_commit": after_us, "ack": ack_us,
              "ingest_total": round(mqtt_parse + decode_us + rows_us + copy_us + after_us + ack_us, 3),
              "rules_decode": rules_us}
    if database_url is not None:
        result["write_batch"] = await _write_cost(database_url, batches, rounds, count)
    return result


async def _write_cost(database_url: str, batches: list[Batch], rounds: int, count: int) -> float:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await writer.prepare_connection(conn)
        best = float("inf")
        for _ in range(rounds):
            await conn.execute("TRUNCATE elevator_telemetry")
            await conn.commit()
            started = time.process_time()
            for batch in batches:
                await writer.write_batch(conn, batch)
            best = min(best, time.process_time() - started)
    return round(best / count * 1e6, 3)


@contextlib.asynccontextmanager
async def private_database() -> AsyncIterator[str]:
    root = Path(tempfile.mkdtemp(prefix="semon-cost-", dir="/var/tmp"))
    os.chmod(root, 0o755)  # as root, PostgreSQL runs as 'postgres' and must reach it
    server = PostgresServer(root / "postgres", durable=False)
    try:
        await server.start()
        await apply_migrations(server.url)
        yield server.url
    finally:
        await server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"messages": args.messages, "rounds": args.rounds, "unit": "cpu_us_per_message"}
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(private_database()) if args.database else None
        result["epoch_ms_ts"] = await _measure(args.messages, args.rounds, rfc3339=False, database_url=url)
        result["rfc3339_ts"] = await _measure(args.messages, args.rounds, rfc3339=True, database_url=url)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", action="store_true",
                        help="also measure write_batch against a private PostgreSQL started for the run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
