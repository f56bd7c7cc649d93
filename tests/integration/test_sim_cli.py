"""`semon simulate` as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from semon.stack import MosquittoServer

pytestmark = pytest.mark.integration


async def semon(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", *args, env={**base, **(env or {})},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_simulate_a_scenario_against_the_broker(mosquitto: MosquittoServer) -> None:
    code, out, err = await semon("simulate", "--scenario", "alarm-button", "--speed", "20",
                                 env={"SEMON_MQTT_URL": mosquitto.url})
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["expected_alarms_match"] is True
    assert summary["alarms"] == ["E-0201 entrapment", "E-0202 alarm_button"]
    assert summary["frames"] == summary["acked"] > 0 and summary["devices"] == 2


async def test_dry_run_prints_frames_and_alarms_as_json_lines() -> None:
    code, out, err = await semon("simulate", "--scenario", "entrapment-between-floors", "--dry-run")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert {"se/elevator/E-0012/telemetry", "se/elevator/E-0012/event"} <= {x.get("topic") for x in lines}
    assert [x["alarm"] for x in lines if "alarm" in x] == ["stopped_outside_door_zone", "entrapment", "entrapment"]


async def test_a_bad_scenario_is_refused_before_connecting() -> None:
    code, _, err = await semon("simulate", "--scenario", "no-such-scenario", env={"SEMON_MQTT_URL": "mqtt://127.0.0.1:1"})
    assert code == 2 and "no bundled scenario of that name" in err and "alarm-button" in err
    code, _, err = await semon("simulate", env={"SEMON_MQTT_URL": "mqtt://127.0.0.1:1"})
    assert code == 2 and "nothing to simulate" in err
