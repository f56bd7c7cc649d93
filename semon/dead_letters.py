"""The record of what could not be taken: ``rejected_messages``, the dead letters.

Two packages dead-letter: the ingester (a message it cannot decode, or a row the database
refuses) and the rules engine (an alarm change the database refuses). They do not import each
other, so the record lives below both, beside the migrations that made the table: its columns,
the key that makes a redelivery one row, the shape of a row, its writers and its retention. The
reasons are the decoder's vocabulary, ``semon.protocol.decode.RejectReason``.

A message is identified by its topic and its bytes (:func:`message_key`): a broker's
redelivery, or a device resending the same bytes, is recorded once (``ON CONFLICT
(message_key) DO NOTHING``; migration 0005 computes the same key in SQL).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from psycopg import AsyncConnection, sql

from semon.protocol.decode import RejectReason, clean_text

COLUMNS = ("received_at", "topic", "kind", "device_id", "reason", "detail", "payload", "payload_size",
           "message_key")
# The COPY types of COLUMNS, in order.
TYPES = ["timestamptz", "text", "text", "text", "text", "text", "bytea", "int4", "bytea"]

# Where the ingester COPYs a batch's dead letters: a temporary table of its connection, created
# once per connection (its pool's ``configure`` hook) and emptied by every commit.
STAGE = "stage_rejected"
STAGING_DDL = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGE} (
    received_at timestamptz, topic text, kind text, device_id text, reason text, detail text,
    payload bytea, payload_size integer, message_key bytea
) ON COMMIT DELETE ROWS;
"""

# Characters kept of a message's texts: the topic or the detail may quote what a device sent.
TOPIC_CHARS, KIND_CHARS, DEVICE_CHARS, DETAIL_CHARS = 256, 32, 64, 500


def message_key(topic: str, payload: bytes) -> bytes:
    """What identifies a message for the record of rejections: its topic and its bytes, 32
    bytes: sha256(topic as UTF-8 (lone surrogates kept) || 0x00 || the whole payload)."""
    return hashlib.sha256(topic.encode("utf-8", "surrogatepass") + b"\x00" + payload).digest()


def _text(value: str | None, limit: int) -> str | None:
    return None if value is None else clean_text(value[:limit])


def row(received_at: datetime, topic: str, kind: str | None, device_id: str | None, reason: RejectReason,
        detail: str, payload: bytes, keep_bytes: int) -> tuple[object, ...]:
    """One message as a row of :data:`COLUMNS`: every text cut to its limit and storable in
    PostgreSQL (U+0000 and lone surrogates replaced), the payload's first ``keep_bytes`` bytes
    with its full size, the key over the whole of it."""
    return (
        received_at, _text(topic, TOPIC_CHARS), _text(kind, KIND_CHARS), _text(device_id, DEVICE_CHARS),
        reason.value, _text(detail, DETAIL_CHARS), payload[:keep_bytes], len(payload),
        message_key(topic, payload),
    )


async def write_staged(conn: AsyncConnection, rows: list[tuple[object, ...]]) -> int:
    """COPY ``rows`` (of :func:`row`) into :data:`STAGE` and record them, in the caller's
    transaction; returns how many were new (a message recorded before is not again)."""
    if not rows:
        return 0
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    copy_stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(STAGE), columns)
    async with conn.cursor().copy(copy_stmt) as copy:
        copy.set_types(TYPES)
        for values in rows:
            await copy.write_row(values)
    cur = await conn.execute(
        sql.SQL("INSERT INTO rejected_messages ({}) SELECT {} FROM {} ON CONFLICT (message_key) DO NOTHING").format(
            columns, columns, sql.Identifier(STAGE)))
    return cur.rowcount


async def record(conn: AsyncConnection, *, topic: str, kind: str | None, device_id: str | None,
                 reason: RejectReason, detail: str, payload: bytes, keep_bytes: int) -> bool:
    """Record one message, received now (the transaction's time), with its texts as given (the
    caller makes them storable); the payload's first ``keep_bytes`` bytes are kept with its full
    size. False if it was recorded before."""
    cur = await conn.execute(
        """INSERT INTO rejected_messages (received_at, topic, kind, device_id, reason, detail,
                                          payload, payload_size, message_key)
           VALUES (now(), %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (message_key) DO NOTHING""",
        (topic, kind, device_id, reason.value, detail, payload[:keep_bytes], len(payload),
         message_key(topic, payload)))
    return cur.rowcount == 1


async def forget_older_than(conn: AsyncConnection, keep: timedelta) -> None:
    """Delete the dead letters received more than ``keep`` ago (the retention of raw telemetry)."""
    await conn.execute("DELETE FROM rejected_messages WHERE received_at < now() - %s::interval", (keep,))
