"""Simulations against a real Mosquitto: a compressed scenario publishes exactly its dry-run
frames in order, with the right Last Will behaviour; a city fleet connects each device on its
own; a broker restart mid-run loses nothing."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import orjson
import pytest

from semon.stack import MosquittoServer
from simulators.core import Frame
from simulators.scenario import load_scenario
from simulators.service import Simulation, SimulationOptions
from tests.integration.recorder import Recorder, recording

pytestmark = pytest.mark.integration

ORIGIN_MS = 1_780_000_000_000


def status_of(payload: bytes) -> str:
    """online, offline (the Last Will) or shutdown (an orderly offline)."""
    if payload.startswith(b"{"):
        status = orjson.loads(payload)
        return "shutdown" if status.get("reason") == "shutdown" else str(status["state"])
    return payload.decode()


def by_device(recorder: Recorder) -> dict[str, list[tuple[str, object]]]:
    seen: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for m in recorder.messages:
        _, _, device, channel = m.topic.split("/")
        seen[device].append((channel, status_of(m.payload) if channel == "status" else orjson.loads(m.payload)))
    return seen


async def test_compressed_scenario_publishes_its_dry_run_in_order(mosquitto: MosquittoServer) -> None:
    scenario = load_scenario("connectivity")
    expected: dict[str, list[tuple[str, object]]] = defaultdict(list)
    origin_ms = scenario.origin_ms(ORIGIN_MS)
    for o in scenario.dry_run(origin_ms):
        if isinstance(o, Frame):
            expected[o.device_id].append((str(o.channel), o.payload))
    async with recording(mosquitto.url, "se/#") as recorder:
        options = SimulationOptions(scenario=scenario.path, speed=60, origin_ms=origin_ms)
        report = await Simulation(mosquitto.url, options).run()
        total = sum(len(v) for v in expected.values())
        await recorder.wait_for(lambda: len([m for m in recorder.messages if "status" not in m.topic]) >= total)
        await recorder.wait_for(lambda: sum(1 for m in recorder.messages if b"offline" in m.payload) >= 4)
    assert report.frames == total and report.acked == total
    assert {(c.device_id, c.alarm) for c in report.causes} == scenario.expected()

    seen = by_device(recorder)
    for device, frames in expected.items():
        published = [(channel, payload) for channel, payload in seen[device] if channel != "status"]
        assert published == frames, device  # the same frames, in the same order
    statuses = {d: [p for c, p in msgs if c == "status"] for d, msgs in seen.items()}
    # Dropped without DISCONNECT: the broker publishes the Last Will; back: online; closed: shutdown.
    assert statuses["E-0402"] == ["online", "offline", "online", "shutdown"]
    # Silent keeps its connection: no Last Will.
    assert statuses["E-0401"] == ["online", "shutdown"]
    assert statuses["B-0401"] == ["online", "shutdown"]
    # What E-0402 measured while it was away arrives after it is back, oldest first.
    back = seen["E-0402"].index(("status", "online"), 1)
    kept = [p for c, p in seen["E-0402"][back:] if c != "status"]
    assert kept and kept == sorted(kept, key=lambda p: p["seq"])  # type: ignore[index]


async def test_city_fleet_one_connection_and_one_will_per_device(mosquitto: MosquittoServer) -> None:
    options = SimulationOptions(elevators=40, boilers=4, seed=3, duration=6)
    simulation = Simulation(mosquitto.url, options)
    async with recording(mosquitto.url, "se/#") as recorder:
        report = await simulation.run()
        await recorder.wait_for(lambda: sum(1 for m in recorder.messages if b"offline" in m.payload) >= 44)
    assert report.devices == 44 and report.frames == report.acked > 44
    seen = by_device(recorder)
    assert set(seen) == {d.device_id for d in simulation.city}
    for device, msgs in seen.items():
        statuses = [p for c, p in msgs if c == "status"]
        assert statuses == ["online", "shutdown"], device
        seqs = [p["seq"] for c, p in msgs if c != "status"]  # type: ignore[index]
        assert seqs == list(range(1, len(seqs) + 1)), device
    kinds = {m.topic.split("/")[1] for m in recorder.messages}
    assert kinds == {"elevator", "boiler"}
    districts = {d.district.name for d in simulation.city}
    assert len(districts) >= 5


async def test_broker_restart_mid_run_loses_nothing(mosquitto: MosquittoServer) -> None:
    options = SimulationOptions(elevators=30, boilers=3, seed=4, duration=12, speed=4)
    simulation = Simulation(mosquitto.url, options)
    async with recording(mosquitto.url, "se/+/+/telemetry", "se/+/+/event") as recorder:
        run = asyncio.create_task(simulation.run())
        await asyncio.wait_for(simulation.connected.wait(), 30)
        await asyncio.sleep(1.0)
        await mosquitto.restart()
        report = await run
        await recorder.wait_for(lambda: len({(m.topic, m.payload) for m in recorder.messages}) >= report.frames,
                                timeout=30)
    assert report.frames == report.acked
    assert all(link.connects == 2 for link in simulation.links.values())  # each came back by itself
    per_device: dict[str, set[int]] = defaultdict(set)
    for m in recorder.messages:
        per_device[m.topic.split("/")[2]].add(int(orjson.loads(m.payload)["seq"]))
    for device, seqs in per_device.items():
        assert seqs == set(range(1, max(seqs) + 1)), device
