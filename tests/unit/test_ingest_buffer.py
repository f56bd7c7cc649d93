"""The ingester's own bound on its buffer: reading pauses at the receive maximum and resumes
at half of it; nothing is dropped."""

from __future__ import annotations

from assembly.parts import new_ingester
from semon.mqtt.client import Message
from tests.flat_settings import flat_settings


def _message(i: int) -> Message:
    return Message("se/elevator/E1/telemetry", b"{}", 1, False, False, i % 65535 + 1)


async def test_reading_pauses_when_full_and_resumes_below_half() -> None:
    ingester = new_ingester(flat_settings(ingest_receive_maximum=100), "mqtt://127.0.0.1:1", "postgresql:///none")
    session = ingester.session
    for i in range(99):
        ingester._on_message(1, _message(i))
    assert not session.reading_paused
    ingester._on_message(1, _message(99))
    assert session.reading_paused and ingester.reading_pauses == 1
    while len(ingester._queue) > 51:
        ingester._queue.popleft()
        ingester._resume_if_drained()
        assert session.reading_paused
    ingester._queue.popleft()
    ingester._resume_if_drained()
    assert not session.reading_paused


async def test_messages_in_a_batch_count_until_committed() -> None:
    ingester = new_ingester(flat_settings(ingest_receive_maximum=100), "mqtt://127.0.0.1:1", "postgresql:///none")
    ingester._in_batches = 60  # taken by a writer, not yet committed and acknowledged
    for i in range(39):
        ingester._on_message(1, _message(i))
    assert not ingester.session.reading_paused
    ingester._on_message(1, _message(39))
    assert ingester.session.reading_paused
    ingester._queue.clear()
    ingester._resume_if_drained()
    assert ingester.session.reading_paused  # 60 still held: above half the window
    ingester._in_batches = 50
    ingester._resume_if_drained()
    assert not ingester.session.reading_paused


async def test_a_reconnect_drops_the_stale_copies_and_resumes() -> None:
    ingester = new_ingester(flat_settings(ingest_receive_maximum=10), "mqtt://127.0.0.1:1", "postgresql:///none")
    for i in range(10):
        ingester._on_message(1, _message(i))
    assert ingester.session.reading_paused
    ingester._on_connected(2, True)  # the broker redelivers those ten on connection 2
    assert len(ingester._queue) == 0
    assert not ingester.session.reading_paused
