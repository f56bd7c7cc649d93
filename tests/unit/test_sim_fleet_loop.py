"""The fleet loop: the same frames as a dry run, handed to each device's link in order; one
broken device does not stop the others."""

from __future__ import annotations

from typing import Any

from simulators import faults as f
from simulators.core import Frame
from simulators.elevator import Elevator, ElevatorSpec
from simulators.fleet import Fleet, SimClock
from simulators.run import simulate
from tests.unit.sim_helpers import ORIGIN_MS


class Collect:
    """Keeps what the fleet hands over, as a link would publish it."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.changes: list[str] = []

    def send(self, frame: Frame) -> None:
        self.frames.append(frame)

    def drop(self) -> None:
        self.changes.append("drop")

    def restore(self, *, announce_online: bool = True) -> None:
        self.changes.append("restore" if announce_online else "restore without online")


def cars(n: int) -> list[Elevator]:
    return [Elevator(f"E-{i}", ElevatorSpec(peak_calls_per_hour=120), origin_ms=ORIGIN_MS, seed=8) for i in range(n)]


async def test_fleet_hands_over_exactly_the_dry_run_frames_per_device() -> None:
    expected: dict[str, list[Frame]] = {}
    for o in simulate(cars(20), 600):
        if isinstance(o, Frame):
            expected.setdefault(o.device_id, []).append(o)
    devices = cars(20)
    links = {d.device_id: Collect() for d in devices}
    fleet = Fleet(devices, links, SimClock(factor=2000), keep_lags=True)
    await fleet.run(600)
    assert {d: link.frames for d, link in links.items()} == expected
    assert fleet.stats.frames == sum(len(v) for v in expected.values())


class Broken(Elevator):
    def telemetry(self, t: float) -> dict[str, Any]:
        if t > 100:
            raise RuntimeError("model bug")
        return super().telemetry(t)


async def test_a_failing_device_is_stopped_and_the_rest_go_on() -> None:
    broken = Broken("E-X", ElevatorSpec(peak_calls_per_hour=120), origin_ms=ORIGIN_MS, seed=8)
    devices: list[Elevator] = [broken, *cars(3)]
    links = {d.device_id: Collect() for d in devices}
    fleet = Fleet(devices, links, SimClock(factor=2000))
    await fleet.run(300)
    assert fleet.stats.failed == 1
    assert all(f.t <= 100 for f in links["E-X"].frames)
    assert all(max(f.t for f in links[d.device_id].frames) > 290 for d in devices[1:])


async def test_a_device_back_without_online_is_restored_without_announcing_it() -> None:
    """A field device that reconnects and publishes without ``online``: the fleet tells its link so."""
    devices = cars(2)
    devices[0].inject(f.Disconnect(at=30, device="E-0", do="disconnect", duration=60, announce_online=False))
    devices[1].inject(f.Disconnect(at=30, device="E-1", do="disconnect", duration=60))
    links = {d.device_id: Collect() for d in devices}
    fleet = Fleet(devices, links, SimClock(factor=2000))
    await fleet.run(200)
    assert links["E-0"].changes == ["drop", "restore without online"]
    assert links["E-1"].changes == ["drop", "restore"]
