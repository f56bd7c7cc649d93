"""The rules of cluster mode: one rules engine per partition this process holds (docs/scale.md).

The devices' messages are partitioned by device id (``semon.cluster.subjects``); a partition is
read by the one process holding its lease (``semon.cluster.leases``). For each partition it
takes, the process builds a ``RulesEngine`` of its own (``make_engine(partition)``, given by the
composition root: its sources are the partition's JetStream consumers, made again from their
acknowledgement floor, and it restores the state and open alarms of that partition's devices
from the database); for each it gives back or loses, that engine is stopped. So a device is
judged by one engine at a time, in the order it published, and a partition taken over resumes
from the last holder's checkpoint: what was judged since is judged again and recognised, nothing
is raised twice.

Operators' closes are heard once per process and handed to the engine of the device's partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from psycopg_pool import AsyncConnectionPool

from alerts.engine import RulesEngine
from alerts.live_notify import listen_operator_closes
from alerts.model import Alarm
from semon.backoff import Backoff
from semon.cluster.jetstream import NatsLink
from semon.cluster.leases import PartitionLeases
from semon.cluster.subjects import partition_of
from semon.profile import DeviceProfile
from semon.settings import ClusterSettings

log = logging.getLogger(__name__)


class PartitionFailed(RuntimeError):
    """A partition's engine ended with an error (a bug): the whole part is started again."""


class PartitionedRules:
    """``run()`` until cancelled: leases kept, an engine running for each partition held.

    ``engines``: partition → its running engine. ``ready`` is set after the first round of
    leases (the partitions this process could take are being read)."""

    def __init__(self, make_engine: Callable[[int], RulesEngine], link: NatsLink, settings: ClusterSettings,
                 member: str, pool: AsyncConnectionPool, backoff: Callable[[], Backoff]) -> None:
        self._make_engine = make_engine
        self.link = link
        self.settings = settings
        self.member = member
        self.pool = pool
        self._backoff = backoff
        self.engines: dict[int, RulesEngine] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._failed: asyncio.Queue[tuple[int, BaseException]] = asyncio.Queue()
        self.leases = PartitionLeases(link, settings, member, on_acquired=self._start, on_released=self._stop,
                                      backoff=backoff())
        self.ready = self.leases.ready

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.leases.run(), name="rules-leases")
                tg.create_task(listen_operator_closes(self.pool, self.closed_by_operator, self._backoff()),
                               name="rules-operator-closes")
                partition, exc = await self._failed.get()
                raise PartitionFailed(f"the engine of partition {partition} failed: {type(exc).__name__}: {exc}")
        finally:
            for partition in list(self._tasks):
                await self._stop(partition)
            await self.link.close()

    async def _start(self, partition: int) -> None:
        engine = self.engines[partition] = self._make_engine(partition)
        task = self._tasks[partition] = asyncio.create_task(engine.run(), name=f"rules-partition-{partition}")

        def ended(done: asyncio.Task[None]) -> None:
            if not done.cancelled() and done.exception() is not None and self._tasks.get(partition) is done:
                self._failed.put_nowait((partition, done.exception() or RuntimeError("ended")))

        task.add_done_callback(ended)
        log.info("partition %d: its engine started", partition)

    async def _stop(self, partition: int) -> None:
        task = self._tasks.pop(partition, None)
        self.engines.pop(partition, None)
        if task is None:
            return
        current = asyncio.current_task()
        cancels = current.cancelling() if current is not None else 0
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            # The engine's own cancellation ends here; one of the caller's that came meanwhile
            # (the process stopping while a partition is given back) goes on, or the process
            # would never stop.
            if current is not None and current.cancelling() > cancels:
                raise
        except Exception as exc:  # its failure was reported by its done callback
            log.debug("partition %d: its engine ended with %s", partition, type(exc).__name__)
        log.info("partition %d: its engine stopped", partition)

    def owner_of(self, device_id: str) -> RulesEngine | None:
        return self.engines.get(partition_of(device_id, self.settings.partitions))

    def closed_by_operator(self, alarm: Alarm) -> None:
        engine = self.owner_of(alarm.device_id)
        if engine is not None:
            engine.closed_by_operator(alarm)

    def apply_profiles(self, profiles: dict[str, DeviceProfile]) -> None:
        for engine in list(self.engines.values()):
            engine.apply_profiles(profiles)
