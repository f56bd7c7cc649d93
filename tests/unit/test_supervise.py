"""semon.supervise: a failing part is restarted while the others keep serving; its state shows on
/healthz and in the metrics; stopping stops every part."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from semon.metrics import parse_text, render
from semon.metrics_http import serve_metrics
from semon.supervise import Supervisor


class Echo:
    """A part that answers requests until cancelled: proof that it keeps serving."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue[asyncio.Future[str]] = asyncio.Queue(maxsize=10)
        self.stopped = asyncio.Event()

    async def run(self) -> None:
        try:
            while True:
                reply = await self.requests.get()
                reply.set_result("pong")
        finally:
            self.stopped.set()

    async def ask(self) -> str:
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self.requests.put(reply)
        return await asyncio.wait_for(reply, 10)


class Flaky:
    """Fails on each of its first ``failures`` starts, then runs until cancelled."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.starts = 0
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise RuntimeError(f"broken start {self.starts}")
        self.running.set()
        await asyncio.Event().wait()


async def test_a_failing_part_is_restarted_and_the_others_keep_serving(caplog: pytest.LogCaptureFixture) -> None:
    echo, flaky = Echo(), Flaky(failures=3)
    async with Supervisor(backoff_initial_s=0.01, backoff_max_s=0.02) as parts:
        parts.start("echo", echo.run)
        parts.start("flaky", flaky.run)
        assert await echo.ask() == "pong"
        await asyncio.wait_for(flaky.running.wait(), 30)
        assert flaky.starts == 4
        assert await echo.ask() == "pong"  # the same task all along
        status = parts.status()
        assert status["echo"] == {"up": True, "restarts": 0, "last_error": None}
        assert status["flaky"] == {"up": True, "restarts": 3, "last_error": "RuntimeError: broken start 3"}
        assert parts.healthy()
        samples = parse_text(render(parts.registry))
        assert samples['semon_part_restarts_total{part="flaky"}'] == 3
        assert samples['semon_part_failures_total{part="flaky"}'] == 3
        assert samples['semon_part_restarts_total{part="echo"}'] == 0
        assert samples['semon_part_up{part="flaky"}'] == 1
    assert echo.stopped.is_set()
    failures = [r for r in caplog.records if r.name == "semon.supervise" and r.levelno == logging.ERROR]
    assert len(failures) == 3
    assert all(r.exc_info is not None for r in failures)  # logged with its traceback


async def test_a_part_waiting_to_restart_is_down_on_healthz_and_in_the_metrics() -> None:
    echo, flaky = Echo(), Flaky(failures=1)
    async with Supervisor(backoff_initial_s=3600, backoff_max_s=3600) as parts:
        parts.start("echo", echo.run)
        part = parts.start("flaky", flaky.run)
        await parts.wait_for(lambda: part.last_error is not None)
        async with serve_metrics(parts.registry, "127.0.0.1", 0, healthy=parts.healthy,
                                 status=parts.status) as port, aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 503
                body = await resp.json()
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                samples = parse_text(await resp.text())
        assert body["ok"] is False
        assert body["parts"]["flaky"]["up"] is False
        assert body["parts"]["flaky"]["last_error"] == "RuntimeError: broken start 1"
        assert body["parts"]["echo"]["up"] is True
        assert samples['semon_part_up{part="flaky"}'] == 0
        assert samples['semon_part_up{part="echo"}'] == 1
        assert await echo.ask() == "pong"


async def test_a_check_that_fails_shows_the_part_down() -> None:
    connected = False
    async with Supervisor() as parts:
        part = parts.start("linked", asyncio.Event().wait, check=lambda: connected)
        await parts.wait_for(lambda: part.running)
        assert not parts.healthy()
        connected = True
        assert parts.healthy()


async def test_a_scope_stops_its_parts_and_can_start_them_again() -> None:
    async with Supervisor() as parts:
        first = Echo()
        async with parts.scope("alerts") as scope:
            scope.start("echo", first.run)
            assert await first.ask() == "pong"
        assert first.stopped.is_set()
        assert parts.status()["alerts/echo"]["up"] is False
        second = Echo()
        async with parts.scope("alerts") as scope:
            scope.start("echo", second.run)
            assert await second.ask() == "pong"
            with pytest.raises(ValueError, match="supervised already"):
                scope.start("echo", second.run)


async def test_a_part_that_finishes_without_restart_is_done() -> None:
    done = asyncio.Event()

    async def once() -> None:
        done.set()

    async with Supervisor() as parts:
        part = parts.start("once", once, restart=False)
        await parts.wait_for(lambda: part.finished)
        assert done.is_set() and part.starts == 1 and parts.healthy()
