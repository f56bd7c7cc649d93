"""Serve a metrics registry over HTTP (``/metrics``) with a health check (``/healthz``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from semon.metrics import Registry

log = logging.getLogger(__name__)


@asynccontextmanager
async def serve_metrics(
    registry: Registry, host: str, port: int, healthy: Callable[[], bool] = lambda: True,
    status: Callable[[], dict[str, Any]] | None = None, render: Callable[[], Awaitable[str]] | None = None,
) -> AsyncIterator[int]:
    """Yields the bound port (useful with port 0). ``/healthz`` answers ``{"ok": bool}`` with 200
    or 503, and with ``status`` its result under ``"parts"`` (e.g. the supervised parts).
    ``render``: the exposition instead of the registry's (e.g. several processes' together)."""

    async def metrics(_: web.Request) -> web.Response:
        text = await render() if render is not None else registry.render()
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

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
