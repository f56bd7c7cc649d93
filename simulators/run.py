"""Running devices without a broker: every output in time order, for tests and dry runs."""

from __future__ import annotations

from collections.abc import Iterable

from simulators.core import Output, SimDevice


def simulate(devices: Iterable[SimDevice], until: float) -> list[Output]:
    """Advance each device to ``until``; outputs sorted by time, each device's in its own order."""
    tagged: list[tuple[float, int, int, Output]] = []
    for d, device in enumerate(devices):
        out: list[Output] = []
        device.advance(until, out)
        tagged.extend((o.t, d, i, o) for i, o in enumerate(out))
    tagged.sort(key=lambda x: (x[0], x[1], x[2]))
    return [o for *_, o in tagged]
