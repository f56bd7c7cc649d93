"""``NatsLink.client()`` says when no server takes the connection (``ClusterUnavailable``,
naming the servers and the last error), instead of nats-py trying its first connection for
ever in silence: ``semon ingest`` and ``semon alerts`` then warn, by the outage policy, that
the cluster is away and why."""

from __future__ import annotations

import asyncio
import socket

import pytest

from semon.cluster.jetstream import ClusterUnavailable, NatsLink
from semon.settings import ClusterSettings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_cluster_is_reported() -> None:
    link = NatsLink(ClusterSettings(nats_urls=f"nats://127.0.0.1:{_closed_port()}"), "unreachable")
    try:
        with pytest.raises(ClusterUnavailable, match=r"no NATS server of nats://127\.0\.0\.1:"):
            async with asyncio.timeout(15):
                await link.client()
    finally:
        await link.close()
