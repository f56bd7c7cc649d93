"""A service stops when it is cancelled, whatever it was waiting for at that moment.

Python 3.11's ``asyncio.wait_for`` returns the inner result when the task is cancelled in the
same turn of the loop as the inner wait completes: the cancellation is lost, and a task group
waits forever for the task that lost it. The rules engine's checkpoint loop waited so for "a
checkpoint is due" with a timeout; stopping the engine while a checkpoint had just been asked
for (all the time under load) left it running: the engine's part never stopped, and a test
hung until CI's limit. The code base now waits with ``asyncio.timeout`` (ruff's banned-api
rule keeps ``wait_for`` out)."""

from __future__ import annotations

import asyncio

from assembly.alerts_service import rules_engine
from tests.flat_settings import flat_settings


async def test_the_checkpoint_loop_stops_when_cancelled_as_a_checkpoint_is_asked_for() -> None:
    engine = rules_engine(flat_settings(rules_checkpoint_interval_s=1.0), "mqtt://127.0.0.1:1", None, None)  # type: ignore[arg-type]
    checkpoints = 0

    async def checkpoint() -> bool:
        nonlocal checkpoints
        checkpoints += 1
        await asyncio.sleep(0)
        return True

    engine.checkpoint = checkpoint  # type: ignore[method-assign]
    for _ in range(50):
        task = asyncio.create_task(engine._checkpoints())
        await asyncio.sleep(0)
        engine._checkpoint_due.set()  # half the window waits for a checkpoint ...
        task.cancel()  # ... as the part is stopped
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done, "the checkpoint loop went on after its cancellation"
        assert task.cancelled()
