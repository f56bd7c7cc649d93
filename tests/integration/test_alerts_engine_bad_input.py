"""The rules engine takes the ingester's whole bad-input corpus, and more, through its real path:
published by third-party clients (``mosquitto_pub``, paho-mqtt) to a real Mosquitto, judged by a
running alerts service on a real PostgreSQL. Afterwards the engine is the one it was (never
restarted), every checkpoint committed, every message acknowledged (a restart gets none of them
again), and a plain entrapment is raised exactly once."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.engine import RulesEngine
from semon.metrics import value
from semon.mqtt.client import BrokerAddress
from semon.stack import MosquittoServer
from tests.integration.helpers import elevator, query
from tests.integration.test_alerts_engine import alerts, publish, trapped_frame
from tests.integration.test_ingest_rejects import BAD_MESSAGES

pytestmark = pytest.mark.integration

_ids = itertools.count(1)


def _raw(frame: bytes, placeholder: str, literal: bytes) -> bytes:
    """A frame with a JSON value orjson would not write (NaN, Infinity, deep nesting)."""
    return frame.replace(orjson.dumps(placeholder), literal)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _event(seq: int, code: int, **fields: Any) -> bytes:
    return orjson.dumps({"ts": int(time.time() * 1000), "seq": seq, "code": code, **fields})


# (topic, payload): each for a device that has sent nothing before, unless it says E-1.
STATUS_INPUTS: list[tuple[str, bytes]] = [
    ("se/elevator/X-OFF/status", b"offline"),  # the one that stopped everything
    # An online dated 2000 would clear that alarm before it was raised: stale_timestamp, ignored.
    ("se/elevator/X-OFF/status", b'{"state":"online","ts":"2000-01-01T00:00:00+00:00"}'),
    ("se/elevator/X-SHUT/status", b'{"state":"offline","reason":"shutdown"}'),
    ("se/elevator/X-ON/status", b"online"),
    ("se/boiler/X-BOFF/status", b"offline"),
    ("se/elevator/X-WS/status", b"  offline\r\n"),
    ("se/elevator/X-Y2999/status", b'{"state":"offline","ts":"2999-12-31T23:59:59+00:00"}'),  # future_timestamp
    ("se/elevator/X-Y2999Z/status", b'{"state":"offline","ts":"2999-12-31T23:59:59-14:00"}'),  # future_timestamp
    ("se/elevator/X-OFS/status", b'{"state":"offline","ts":"2000-01-01T00:00:00+23:59"}'),  # bad_timestamp
    ("se/elevator/X-Y9999/status", b'{"state":"offline","ts":253402300799999}'),  # bad_timestamp
    ("se/elevator/X-Y10000/status", b'{"state":"offline","ts":"9999-12-31T23:59:59-14:00"}'),  # beyond, in UTC
    ("se/elevator/X-NUL/status", b'{"state":"offline","x_note":"\\u0000"}'),
    ("se/elevator/X-NULR/status", b'{"state":"offline","reason":"shut\\u0000down"}'),
    ("se/elevator/X-EMPTY/status", b""),
    ("se/elevator/X-BOM/status", b'\xef\xbb\xbf{"state":"online"}'),
    ("se/elevator/X-BIN/status", b"\xff\xfe\x00"),
]
FRAME_INPUTS: list[tuple[str, bytes]] = [
    ("se/elevator/X-NOTE/telemetry", elevator(1, x_note="\u0000")),
    ("se/elevator/X-NAN/telemetry", _raw(elevator(1, x_v="@"), "@", b"NaN")),
    ("se/elevator/X-INF/telemetry", _raw(elevator(1, x_v="@"), "@", b"-Infinity")),
    ("se/elevator/X-DEEP/telemetry", _raw(elevator(1, x_v="@"), "@", _nested(255))),
    ("se/elevator/X-NANREQ/telemetry", _raw(elevator(1, speed_mps="@"), "@", b"NaN")),
    ("se/elevator/X-BIGINT/telemetry", _raw(elevator(1, x_v="@"), "@", b"9" * 400)),
    ("se/elevator/X-BIGSEQ/telemetry", elevator(1).replace(b'"seq":1,', b'"seq":99999999999999999999999999,')),
    ("se/elevator/X-SURR/telemetry", _raw(elevator(1, x_v="@"), "@", b'"\\ud800"')),
    ("se/elevator/X-TS0/telemetry", elevator(1, ts=0)),
    ("se/elevator/X-NEGTS/telemetry", elevator(1, ts=-1)),
    ("se/elevator/X-TRAPCODE/event", _event(1, 11, detail="\u0000")),  # raises an entrapment
    ("se/elevator/X-BUTTON/event", _event(1, 90, detail="\u0000\u0000")),
    ("se/elevator/X-NORMAL/event", _event(1, 40)),
    ("se/boiler/X-BCODE/event", _event(1, 11)),
    ("se/elevator/X-BIG/telemetry", elevator(1, x_pad="x" * 200_000)),
    ("se/elevator/X-5/telemetry/extra", elevator(1)),  # five levels: not the engine's subscription
    ("se/elevator/X-GARBAGE/event", b"\x00\x01\x02"),
    ("se/elevator/X-ARRAY/event", b"[]"),
]


def _pub(port: int, topic: str, payload: bytes) -> None:
    """mosquitto_pub, as a device's integrator would try it: QoS 1, not retained."""
    import subprocess

    body = ["-s"] if payload else ["-n"]  # -n: an empty message (-s refuses zero-length input)
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-i", f"pub-{next(_ids)}",
                    "-t", topic, *body], input=payload, check=True, timeout=30)


def _paho(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"paho-bad-{next(_ids)}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=1)
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


def _reaches_the_engine(topic: str) -> bool:
    return topic.startswith("se/") and topic.count("/") == 3


async def _wait(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_the_bad_input_corpus_leaves_the_engine_running(mosquitto: MosquittoServer, database_url: str) -> None:
    port = BrokerAddress.from_url(mosquitto.url).port
    by_paho = [(t, p) for t, p, _ in BAD_MESSAGES] + FRAME_INPUTS
    expected = sum(1 for t, _ in STATUS_INPUTS + FRAME_INPUTS if _reaches_the_engine(t))
    client_id = "test-rules-bad-input"
    async with alerts(mosquitto.url, database_url, client_id=client_id) as (service, live, _):
        engine = service.engine
        assert isinstance(engine, RulesEngine)
        for topic, payload in STATUS_INPUTS:
            await asyncio.to_thread(_pub, port, topic, payload)
        await asyncio.to_thread(_paho, port, by_paho)
        # Last, from another client: once it is judged, everything before it has been.
        await asyncio.to_thread(_pub, port, "se/elevator/X-LAST/status", b"online")
        await _wait(lambda: "X-LAST" in engine.devices, "the last message")
        assert engine.messages >= expected + 1
        # Two checkpoints after the last message: everything it caused has been written.
        done = value(engine.metrics.checkpoints)
        await _wait(lambda: value(engine.metrics.checkpoints) >= done + 2, "two checkpoints")
        assert service.engine is engine  # the same engine all along: never failed, never restarted
        assert service.supervisor.parts["alerts/rules-engine"].starts == 1
        assert value(engine.metrics.checkpoint_retries) == 0
        assert value(engine.metrics.state_refused) == 0
        assert value(engine.metrics.changes_refused) == 0
        assert value(engine.metrics.message_errors, "rule_error") == 0  # each bad one was told by its reason
        assert value(engine.metrics.message_errors, "not_json") >= 2
        assert value(engine.metrics.message_errors, "bad_timestamp") >= 3
        assert value(engine.metrics.message_errors, "future_timestamp") >= 2
        assert value(engine.metrics.message_errors, "stale_timestamp") >= 1
        # A plain entrapment afterwards: raised, once.
        t0 = int(time.time() * 1000) - 60_000
        await publish(mosquitto.url, [trapped_frame(i + 1, t0 + i * 5_000) for i in range(5)], device="E-AFTER")
        await live.wait_for(lambda: ("E-AFTER", "entrapment") in live.raised())
        done = value(engine.metrics.checkpoints)
        await _wait(lambda: value(engine.metrics.checkpoints) >= done + 2, "two checkpoints")
        raised = live.raised()
    assert raised.count(("E-AFTER", "entrapment")) == 1
    states: dict[str, Any] = {str(d): state for d, state in await query(database_url,
                                                                         "SELECT device_id, state FROM rule_state")}
    # The device that had sent nothing but "offline": its state stored, with no timestamp yet.
    assert states["X-OFF"]["rules"]["offline"] is True  # the online dated 2000 cleared nothing
    assert states["X-OFF"]["rules"]["last_ts"] is None
    assert states["X-SHUT"]["rules"]["offline"] is True
    offline = {str(d) for (d,) in await query(database_url, "SELECT device_id FROM alarms WHERE type = 'offline'")}
    assert {"X-OFF", "X-BOFF", "X-WS", "X-NUL"} <= offline
    # a status dated beyond the clock window raises nothing (no alarm dated 2999)
    assert not {"X-Y2999", "X-Y2999Z", "X-OFS", "X-Y9999", "X-Y10000"} & offline
    still_open = await query(database_url, "SELECT count(*) FROM alarms "
                                           "WHERE device_id = 'X-OFF' AND type = 'offline' AND state = 'open'")
    assert still_open[0][0] == 1
    assert "X-SHUT" not in offline  # an orderly shutdown raises nothing
    assert "X-NULR" in offline  # "shut\\u0000down" is no shutdown: the connection was lost

    # Every message was acknowledged: a new engine with the same session gets none of them again,
    # only what is sent now (the broker would redeliver the unacknowledged ones first).
    async with alerts(mosquitto.url, database_url, client_id=client_id) as (service, live, _):
        engine = service.engine
        assert isinstance(engine, RulesEngine)
        await asyncio.to_thread(_pub, port, "se/elevator/X-SENTINEL/status", b"offline")
        await _wait(lambda: engine.messages >= 1, "the sentinel")
        await live.wait_for(lambda: ("X-SENTINEL", "offline") in live.raised())
        assert engine.messages == 1
        assert ("E-AFTER", "entrapment") not in live.raised()
    entrapments = await query(database_url,
                              "SELECT count(*) FROM alarms WHERE device_id = 'E-AFTER' AND type = 'entrapment'")
    assert entrapments[0][0] == 1
