"""``semon.periodic.every``: one policy for every periodic loop. An outage warns without a
traceback, any other error logs one, both back off and the loop goes on; recovery is logged
once; a pass longer than the interval is warned about; cancellation ends it."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest

from semon.backoff import Backoff
from semon.periodic import every

log = logging.getLogger("test.periodic")


async def _run_until(outcomes: list[BaseException | float | None], interval_s: float = 0.001) -> list[int]:
    """Run ``every`` over ``outcomes`` (an exception to raise, seconds to take, or None), one a
    pass; the last pass waits to be cancelled. Returns the passes run."""
    passes: list[int] = []
    done = asyncio.Event()

    async def work() -> None:
        passes.append(len(passes))
        if len(passes) >= len(outcomes):
            done.set()
            await asyncio.sleep(3600)  # cancelled in here
        outcome = outcomes[len(passes) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, float):
            await asyncio.sleep(outcome)

    task = asyncio.create_task(every("test work", interval_s, work, log=log, backoff=Backoff(0.001, 0.002)))
    async with asyncio.timeout(10):
        await done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return passes


async def test_an_outage_warns_without_a_traceback_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    outage = psycopg.OperationalError("connection refused")
    passes = await _run_until([outage, TimeoutError("pool timeout"), OSError("unreachable"), None, None])
    assert len(passes) == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all(r.exc_info is None for r in warnings)
    assert "unavailable (OperationalError: connection refused)" in warnings[0].getMessage()
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert recovered == ["test work: working again after 3 failed pass(es)"]  # once


async def test_any_other_error_logs_its_traceback_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    passes = await _run_until([KeyError("rated"), ValueError("bad row"), None, KeyError("again"), None, None])
    assert len(passes) == 6
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3 and all(r.exc_info is not None for r in errors)
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert recovered == ["test work: working again after 2 failed pass(es)",
                         "test work: working again after 1 failed pass(es)"]


async def test_a_pass_longer_than_the_interval_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    await _run_until([0.05, None, None], interval_s=0.01)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "longer than its interval of 0.0 s" in warnings[0]


async def test_the_first_pass_waits_when_asked() -> None:
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()

    task = asyncio.create_task(every("test work", 1.0, work, log=log, first_after_s=0.2))
    await asyncio.sleep(0.05)
    assert not ran.is_set()
    async with asyncio.timeout(5):
        await ran.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
