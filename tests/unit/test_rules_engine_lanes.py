"""The engine's alarm writer: calls for help (entrapment, the alarm button) are written before
the other alarm changes waiting, each lane in its own order, and a checkpoint waits for both."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from alerts.engine import RulesEngine
from alerts.hub import LiveHub
from alerts.model import Source
from alerts.rules import Change
from semon.alarm_types import AlarmType
from tests.integration.helpers import ingest_settings


class Recording(RulesEngine):
    def __init__(self) -> None:
        s = ingest_settings(rules_client_id="test-lanes")
        super().__init__(s.rules, s.mqtt, "mqtt://127.0.0.1:1", None, LiveHub(10),  # type: ignore[arg-type]
                         incidents=s.incidents, telemetry=s.telemetry, backoff=s.backoff)  # no database: our _commit
        self.written: list[tuple[str, bool, AlarmType]] = []

    async def _commit(self, device_id: str, kind: str, change: Change) -> list[dict[str, Any]]:
        await asyncio.sleep(0)  # a transaction's await
        self.written.append((device_id, change.raised, change.type))
        return []


def change(raised: bool, alarm: AlarmType) -> Change:
    return Change(raised, alarm, Source.CODE, 0.0)


async def test_a_call_for_help_is_written_before_the_changes_waiting_ahead_of_it() -> None:
    engine = Recording()
    for d in range(200):  # a city's network blinks: 200 Last Wills
        engine._enqueue(f"E-{d}", "elevator", change(True, AlarmType.OFFLINE))
    engine._enqueue("E-TRAPPED", "elevator", change(True, AlarmType.ALARM_BUTTON))
    engine._enqueue("E-TRAPPED", "elevator", change(True, AlarmType.ENTRAPMENT))
    engine._enqueue("E-TRAPPED", "elevator", change(False, AlarmType.ALARM_BUTTON))
    writer = asyncio.create_task(engine._write_changes())
    try:
        await asyncio.wait_for(engine.checkpoint(), 10)  # waits for both lanes
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    assert engine.written[:3] == [("E-TRAPPED", True, AlarmType.ALARM_BUTTON),
                                  ("E-TRAPPED", True, AlarmType.ENTRAPMENT),
                                  ("E-TRAPPED", False, AlarmType.ALARM_BUTTON)]
    assert engine.written[3:] == [(f"E-{d}", True, AlarmType.OFFLINE) for d in range(200)]  # in order, all
