"""Which rules engine reads which partitions: leases in a JetStream key-value bucket
(docs/scale.md, "Partitions and their engines").

Each engine writes ``member.{id}`` every third of ``lease_s``, and holds a partition ``p`` by the
key ``p.{p}``, made with ``create`` (refused while another engine holds it) and renewed with
``update`` on the revision it last wrote (refused once anyone else wrote it). The bucket's
entries expire ``lease_s`` after their last write, so a dead engine's members and partitions
vanish by themselves and a live engine creates the partition keys again. Each engine aims at
``ceil(partitions / members)`` partitions: one that holds more gives the surplus back (its
engine stopped first), one that holds fewer takes free ones, starting from a place of its own in
the ring so that engines starting together do not race for the same keys.

An engine that cannot renew a partition (its lease expired while it was cut off, or the bucket
cannot be written) stops reading it at once: another may hold it now.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from semon.backoff import Backoff
from semon.cluster.jetstream import ClusterUnavailable, NatsLink, unavailable
from semon.periodic import every
from semon.settings import ClusterSettings

log = logging.getLogger(__name__)

BUCKET = "semon_rules_leases"

Change = Callable[[int], Awaitable[None]]


class PartitionLeases:
    """The partitions this engine (``member``) holds, kept by ``run``.

    ``on_acquired(p)`` is awaited once a lease on ``p`` is taken (start reading it);
    ``on_released(p)`` when it is lost or given back (stop reading it; awaited before the key is
    deleted, so nobody else reads ``p`` while this engine still does). ``held`` is the set held.
    """

    def __init__(self, link: NatsLink, settings: ClusterSettings, member: str, *, on_acquired: Change,
                 on_released: Change, backoff: Backoff) -> None:
        self.link = link
        self.settings = settings
        self.member = member
        self._on_acquired = on_acquired
        self._on_released = on_released
        self._backoff = backoff
        self.held: dict[int, int] = {}  # partition → the revision of our last write
        self._renewed: dict[int, float] = {}  # partition → when it was last written (loop clock)
        self.members = 0
        self.rounds = 0
        self.ready = asyncio.Event()
        self._kv: KeyValue | None = None
        self._offset = zlib.crc32(member.encode()) % settings.partitions

    async def run(self) -> None:
        try:
            await every(f"partition leases of {self.member}", self.settings.lease_s / 3, self.round, log=log,
                        backoff=self._backoff)
        finally:
            for partition in sorted(self.held):
                await self._drop(partition, "stopping")

    async def _bucket(self) -> KeyValue:
        if self._kv is not None:
            return self._kv
        js = await self.link.jetstream()
        try:
            try:
                self._kv = await js.key_value(BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self._kv = await js.create_key_value(config=KeyValueConfig(
                    bucket=BUCKET, history=1, ttl=self.settings.lease_s, storage=StorageType.FILE,
                    replicas=self.settings.replicas))
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise unavailable(exc) from None
        return self._kv

    async def _live_members(self) -> int:
        js = await self.link.jetstream()
        info = await js.stream_info(f"KV_{BUCKET}", subjects_filter=f"$KV.{BUCKET}.member.>")
        return max(1, len(info.state.subjects or {}))

    async def round(self) -> None:
        """One round: our membership written, our leases renewed, the surplus given back, free
        partitions taken up to our share. Raises ``ClusterUnavailable`` when the bucket cannot be
        reached (the leases we could not renew are dropped first)."""
        try:
            kv = await self._bucket()
            await kv.put(f"member.{self.member}", b"1")
            self.members = await self._live_members()
        except ClusterUnavailable:
            await self._expire_unrenewed()
            raise
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await self._expire_unrenewed()
            raise unavailable(exc) from None
        await self._renew(kv)
        share = math.ceil(self.settings.partitions / self.members)
        for partition in sorted(self.held, reverse=True)[:max(0, len(self.held) - share)]:
            revision = self.held[partition]
            await self._drop(partition, f"given back ({self.members} engines: {share} each)")
            try:
                await kv.delete(f"p.{partition}", last=revision)
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.info("lease on partition %d not deleted (%s); it expires by itself", partition, exc)
        if len(self.held) < share:
            await self._take(kv, share)
        self.rounds += 1
        self.ready.set()

    async def _renew(self, kv: KeyValue) -> None:
        loop = asyncio.get_running_loop()
        for partition, revision in list(self.held.items()):
            try:
                self.held[partition] = await kv.update(f"p.{partition}", self.member.encode(), last=revision)
                self._renewed[partition] = loop.time()
            except nats.js.errors.KeyWrongLastSequenceError:
                await self._drop(partition, "lost: it expired or another engine holds it now")
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                # A slow or failing write (a node of the cluster gone): kept while the lease may
                # still be ours, dropped once it may have expired.
                log.info("lease on partition %d not renewed (%s: %s)", partition, type(exc).__name__, exc)
                await self._expire_unrenewed()

    async def _take(self, kv: KeyValue, share: int) -> None:
        n = self.settings.partitions
        for step in range(n):
            if len(self.held) >= share:
                return
            partition = (self._offset + step) % n
            if partition in self.held:
                continue
            try:
                revision = await kv.create(f"p.{partition}", self.member.encode())
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # held by another engine
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.info("lease on partition %d not taken (%s)", partition, exc)
                return
            self.held[partition] = revision
            self._renewed[partition] = asyncio.get_running_loop().time()
            log.info("%s holds partition %d", self.member, partition)
            await self._on_acquired(partition)

    async def _expire_unrenewed(self) -> None:
        """Leases not renewed within ``lease_s`` may be another engine's by now: dropped."""
        now = asyncio.get_running_loop().time()
        for partition in sorted(self.held):
            if now - self._renewed.get(partition, now) >= self.settings.lease_s * 0.8:
                await self._drop(partition, "lost: the lease could not be renewed in time")

    async def _drop(self, partition: int, why: str) -> None:
        if self.held.pop(partition, None) is None:
            return
        self._renewed.pop(partition, None)
        log.info("%s stops reading partition %d: %s", self.member, partition, why)
        await self._on_released(partition)
