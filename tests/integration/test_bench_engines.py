"""``python -m bench.engines``, run short as a user runs it: a 3-node cluster of each engine on
127.0.0.1, 2,000 MQTT messages, and the one JSON line it prints. Nothing may be lost or
duplicated; NATS keeps every device's order (its partitions are chosen by the device id),
RabbitMQ each device's order per topic (its consistent hash takes the whole routing key, so a
device's telemetry and events land in different queues). No timing is asserted beyond rates
above zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"start_s", "published", "publish_rate", "received", "consume_rate", "p50_ms", "p99_ms", "lost",
        "duplicated", "order_violations", "order_violations_per_topic", "partitioned_by_device", "mqtt_features"}


def _bench(engine: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.engines", "--messages", "2000", "--devices", "50", "--engine", engine],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # progress goes to stderr: stdout is the JSON line alone
    result: dict[str, Any] = json.loads(lines[0])
    assert (result["messages"], result["devices"]) == (2000, 50)
    assert set(result["engines"]) == {engine}
    run: dict[str, Any] = result["engines"][engine]
    assert set(run) >= KEYS
    assert run["published"] == 2000
    assert (run["lost"], run["duplicated"], run["order_violations_per_topic"]) == (0, 0, 0)
    assert run["publish_rate"] > 0 and run["consume_rate"] > 0 and run["start_s"] > 0
    assert 0 <= run["p50_ms"] <= run["p99_ms"]
    return run


def _own_processes_left(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if marker in line]


def test_nats_cluster_keeps_every_message_and_each_device_in_order() -> None:
    run = _bench("nats")
    assert run["order_violations"] == 0
    assert run["partitioned_by_device"] is True
    assert run["mqtt_features"] == {"retained_across_nodes": True, "retained_same_node": True,
                                    "last_will_across_nodes": True, "session_resumed_on_other_node": True}
    assert not _own_processes_left("/tmp/engines-nats-")


def test_rabbitmq_cluster_keeps_every_message_and_each_topic_in_order() -> None:
    run = _bench("rabbitmq")
    # The hash of se.elevator.{id}.telemetry and of se.elevator.{id}.event: two queues per device.
    assert run["partitioned_by_device"] is False
    assert run["amqp_message_from_mqtt"]["routing_key"].startswith("se.elevator.E")
    assert all(isinstance(v, bool) for v in run["mqtt_features"].values())
    assert not _own_processes_left("semonbench")
