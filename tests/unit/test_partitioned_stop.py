"""Stopping a partition's engine (``alerts.partitioned``) keeps a cancellation of the caller:
a process told to stop while it was giving a partition back stops, and does not hang."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from psycopg_pool import AsyncConnectionPool

from alerts.engine import RulesEngine
from alerts.partitioned import PartitionedRules
from semon.backoff import Backoff
from semon.cluster.jetstream import NatsLink
from semon.settings import ClusterSettings


class WindingDown:
    """An engine whose run takes a moment to end once cancelled (its last writes)."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self.stopping = stopping

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.stopping.set()
            await asyncio.sleep(0.5)


def _rules(stopping: asyncio.Event) -> PartitionedRules:
    settings = ClusterSettings(nats_urls="nats://127.0.0.1:1")
    return PartitionedRules(lambda _: cast(RulesEngine, WindingDown(stopping)), NatsLink(settings, "test"), settings,
                            "test", cast(AsyncConnectionPool, None), lambda: Backoff(0.1, 1.0))


async def test_a_caller_cancelled_while_an_engine_stops_stays_cancelled() -> None:
    stopping = asyncio.Event()
    rules = _rules(stopping)
    await rules._start(3)
    await asyncio.sleep(0)  # the engine runs
    stopper = asyncio.create_task(rules._stop(3))
    await stopping.wait()
    stopper.cancel()  # e.g. SIGTERM while the leases gave the partition back
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert rules.engines == {}


async def test_an_engine_stopped_on_its_own_is_no_error_of_the_caller() -> None:
    stopping = asyncio.Event()
    rules = _rules(stopping)
    await rules._start(5)
    await asyncio.sleep(0)
    await rules._stop(5)  # returns: the engine's own cancellation is not the caller's
    assert stopping.is_set() and rules.engines == {}


async def test_a_process_already_stopping_stops_every_engine() -> None:
    stopping = asyncio.Event()
    rules = _rules(stopping)
    await rules._start(1)
    await rules._start(2)
    await asyncio.sleep(0)
    stopped: list[int] = []

    async def stop_all() -> None:
        try:
            await asyncio.Event().wait()
        finally:  # as PartitionedRules.run does once cancelled
            for partition in list(rules.engines):
                await rules._stop(partition)
                stopped.append(partition)

    stopper = asyncio.create_task(stop_all())
    await asyncio.sleep(0)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert stopped == [1, 2] and rules.engines == {}
