"""Serve a metrics registry over HTTP (``/metrics``) with a health check (``/healthz``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from semon.metrics import render

log = logging.getLogger(__name__)


@asynccontextmanager
async def serve_metrics(
    registry: Collector, host: str, port: int, healthy: Callable[[], bool] = lambda: True,
    status: Callable[[], dict[str, Any]] | None = None, collect: Callable[[], Awaitable[Collector]] | None = None,
) -> AsyncIterator[int]:
    """Yields the bound port (useful with port 0). ``/metrics`` is the text exposition (format
    0.0.4) of ``registry``, or with ``collect`` of what it returns at each scrape (e.g. several
    processes' metrics together). ``/healthz`` answers ``{"ok": bool}`` with 200 or 503, and
    with ``status`` its result under ``"parts"`` (e.g. the supervised parts)."""

    async def metrics(_: web.Request) -> web.Response:
        source = await collect() if collect is not None else registry
        return web.Response(body=render(source).encode(), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def healthz(_: web.Request) -> web.Response:
        ok = healthy()
        body: dict[str, Any] = {"ok": ok}
        if status is not None:
            body["parts"] = status()
        return web.json_response(body, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []  # aiohttp exposes no public accessor
    bound = sockets[0].getsockname()[1] if sockets else port
    log.info("metrics on http://%s:%d/metrics", host, bound)
    try:
        yield bound
    finally:
        await runner.cleanup()
