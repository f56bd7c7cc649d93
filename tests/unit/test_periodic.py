"""``semon.periodic``: one policy for every periodic, retried or reconnecting loop. An outage
warns once, without a traceback, when it starts, any other error logs one; their repeats are
debug with a reminder at most every ``REMIND_AFTER_S``; both back off and the loop goes on;
recovery is logged once; a pass that worked and took longer than the interval is warned about,
unless it overlapped an outage; cancellation ends it. ``until_done`` returns the work's result
and raises what is not to be retried; ``keep_connected`` starts its backoff anew once a
connection worked."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from semon import periodic
from semon.backoff import Backoff
from semon.periodic import Failures, every, keep_connected, until_done

log = logging.getLogger("test.periodic")


@pytest.fixture(autouse=True)
def _only_these_loops(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The records are this module's loops' only: a client another test left running in the same
    process (an MQTT session's keep-alive warnings) is not theirs. The capture's handler is the
    session's, so the filter goes again after the test."""
    only = logging.Filter("test.periodic")
    caplog.handler.addFilter(only)
    yield
    caplog.handler.removeFilter(only)


async def _run_until(outcomes: list[BaseException | float | None], interval_s: float = 0.001,
                     backoff: Backoff | None = None) -> list[int]:
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

    task = asyncio.create_task(every("test work", interval_s, work, log=log,
                                     backoff=backoff or Backoff(0.001, 0.002)))
    async with asyncio.timeout(10):
        await done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return passes


async def test_an_outage_warns_once_without_a_traceback_and_the_loop_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "test.periodic")
    outage = psycopg.OperationalError("connection to server failed:\n\tConnection refused")
    passes = await _run_until([outage, TimeoutError("pool timeout"), OSError("unreachable"), None, None])
    assert len(passes) == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is None  # when it started, on one line
    assert "unavailable (OperationalError: connection to server failed: Connection refused)" in warnings[0].getMessage()
    quiet = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(quiet) == 2 and "attempt 2; TimeoutError: pool timeout" in quiet[0]
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert recovered == ["test work: working again after 3 failure(s)"]  # once


async def test_any_other_error_logs_its_traceback_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    passes = await _run_until([KeyError("rated"), ValueError("bad row"), None, KeyError("again"), None, None])
    assert len(passes) == 6
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3 and all(r.exc_info is not None for r in errors)
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert recovered == ["test work: working again after 2 failure(s)",
                         "test work: working again after 1 failure(s)"]


async def test_a_pass_longer_than_the_interval_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    await _run_until([0.05, None, None], interval_s=0.01)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "longer than its interval of 0.0 s" in warnings[0]


async def test_a_long_outage_is_one_warning_then_reminders_at_most_every_remind_interval(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thirty failed attempts: one warning when it starts, the rest debug but for a reminder
    each time ``REMIND_AFTER_S`` has passed, saying how many attempts and since when."""
    caplog.set_level(logging.INFO, "test.periodic")
    monkeypatch.setattr(periodic, "REMIND_AFTER_S", 0.05)
    outcomes: list[BaseException | float | None] = [psycopg.OperationalError("refused")] * 30 + [None]

    started = time.time()
    await _run_until(outcomes, backoff=Backoff(0.005, 0.005))
    took = time.time() - started
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0].startswith("test work: unavailable (OperationalError: refused)")
    reminders = warnings[1:]
    # At most one a remind interval (however slow a loaded machine makes the attempts), and
    # fewer than the attempts.
    assert 1 <= len(reminders) <= took / 0.05 + 1
    assert len(reminders) < 30
    since = time.strftime("%H:%M:%S", time.localtime(started))
    assert re.fullmatch(rf"test work: still unavailable after \d+ attempts, since {since} \(OperationalError: "
                        r"refused\); retrying in 0\.0 s", reminders[0])


async def test_a_repeated_error_logs_its_traceback_once_and_a_new_kind_of_failure_again(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    outage = psycopg.OperationalError("refused")
    await _run_until([KeyError("a"), KeyError("a"), KeyError("a"), outage, outage, KeyError("a"), None, None])
    logged = [(r.levelno, r.exc_info is not None) for r in caplog.records]
    assert logged == [(logging.ERROR, True), (logging.WARNING, False), (logging.ERROR, True), (logging.INFO, False)]


async def test_a_pass_that_overlapped_an_outage_is_not_an_overrun(caplog: pytest.LogCaptureFixture) -> None:
    """A pass that waited for other work waiting out an outage (the rules' checkpoint waiting
    for the alarm writes) took long because of the outage: not warned about as an overrun."""
    caplog.set_level(logging.INFO, "test.periodic")
    written = asyncio.Event()
    outcomes: list[BaseException] = [psycopg.OperationalError("away")] * 3

    async def write() -> None:
        if outcomes:
            raise outcomes.pop()
        written.set()

    async def pass_waiting_for_the_write() -> None:
        await written.wait()

    writer = asyncio.create_task(until_done("alarm change", write, log=log, backoff=Backoff(0.02, 0.02)))
    passes: list[int] = []
    second = asyncio.Event()

    async def work() -> None:
        passes.append(1)
        if len(passes) == 1:
            await pass_waiting_for_the_write()
        else:
            second.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(every("test checkpoint", 0.01, work, log=log, backoff=Backoff(0.001, 0.002)))
    async with asyncio.timeout(5):
        await writer
        await second.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    messages = [r.getMessage() for r in caplog.records if r.name == "test.periodic"]
    assert not [m for m in messages if "longer than its interval" in m]
    assert messages == ["alarm change: unavailable (OperationalError: away); retrying in 0.0 s",
                        "alarm change: working again after 3 failure(s)"]


async def test_the_first_pass_waits_when_asked() -> None:
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()

    task = asyncio.create_task(every("test work", 1.0, work, log=log, backoff=Backoff(0.001, 0.002), first_after_s=0.2))
    await asyncio.sleep(0.05)
    assert not ran.is_set()
    async with asyncio.timeout(5):
        await ran.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_wake_runs_the_next_pass_before_the_interval() -> None:
    wake = asyncio.Event()
    passes: list[float] = []
    ran = asyncio.Event()

    async def work() -> None:
        passes.append(asyncio.get_running_loop().time())
        ran.set()

    task = asyncio.create_task(every("test work", 3600.0, work, log=log, backoff=Backoff(0.001, 0.002), wake=wake))
    async with asyncio.timeout(5):
        await ran.wait()
        ran.clear()
        await asyncio.sleep(0.05)
        assert len(passes) == 1  # the interval is an hour
        wake.set()
        await ran.wait()
    assert len(passes) == 2 and not wake.is_set()  # cleared by the pass it started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class _Counted(Backoff):
    """Records the attempt number behind each delay."""

    def __init__(self) -> None:
        super().__init__(0.001, 0.002)
        self.attempts: list[int] = []

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.attempts.append(self._attempt)
        return delay


async def test_until_done_retries_by_the_policy_and_returns_the_result(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    outcomes: list[BaseException] = [psycopg.OperationalError("away"), KeyError("bug")]

    async def work() -> str:
        if outcomes:
            raise outcomes.pop(0)
        return "done"

    backoff = _Counted()
    assert await until_done("test write", work, log=log, backoff=backoff) == "done"
    assert backoff.attempts == [1, 2]
    records = [(r.levelno, r.exc_info is not None, r.getMessage()) for r in caplog.records]
    assert records[0][:2] == (logging.WARNING, False) and "unavailable (OperationalError: away)" in records[0][2]
    assert records[1][:2] == (logging.ERROR, True) and records[1][2].startswith("test write failed; retrying in")
    assert records[2] == (logging.INFO, False, "test write: working again after 2 failure(s)")
    assert len(records) == 3


async def test_until_done_raises_what_is_not_to_be_retried_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await until_done("test write", work, log=log, backoff=Backoff(0.001, 0.002),
                         retry=lambda exc: not isinstance(exc, ValueError))
    assert calls == 1 and caplog.records == []


async def test_until_done_shares_its_failures_across_calls(caplog: pytest.LogCaptureFixture) -> None:
    """A writer's outage that ends its call with a refusal is still recovered from (and logged
    as such) by the next call."""
    caplog.set_level(logging.INFO, "test.periodic")
    failures = Failures("test writer", log=log, backoff=_Counted())
    outcomes: list[Exception | None] = [OSError("unreachable"), KeyError("refused"), None]

    async def work() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    with pytest.raises(KeyError):
        await until_done("ignored", work, log=log, backoff=failures, retry=lambda exc: not isinstance(exc, KeyError))
    await until_done("ignored", work, log=log, backoff=failures)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and messages[0].startswith("test writer: unavailable (OSError: unreachable)")
    assert messages[1] == "test writer: working again after 1 failure(s)"
    assert failures.count == 0 and failures.backoff.next_delay() <= 0.001  # anew


async def test_keep_connected_reconnects_and_starts_its_backoff_anew_once_working(
        caplog: pytest.LogCaptureFixture) -> None:
    """Two connections refused, one that works and is lost, one closed in order, one that
    works and stays: each end is logged and followed by the backoff's next delay, which starts
    anew after a connection worked."""
    caplog.set_level(logging.INFO, "test.periodic")
    backoff = _Counted()
    plan: list[str] = ["refused", "refused", "lost", "closed", "stays"]
    up = asyncio.Event()

    async def serve(working: Callable[[], None]) -> None:
        step = plan.pop(0)
        if step == "refused":
            raise ConnectionRefusedError("refused")
        working()
        if step == "lost":
            raise psycopg.OperationalError("server closed the connection")
        if step == "stays":
            up.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(keep_connected("test link", serve, log=log, backoff=backoff))
    async with asyncio.timeout(5):
        await up.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backoff.attempts == [1, 2, 1, 1]
    levels = [(r.levelno, r.exc_info is not None) for r in caplog.records]
    assert levels == [(logging.WARNING, False), (logging.INFO, False),  # the second refusal: debug
                      (logging.WARNING, False), (logging.INFO, False), (logging.WARNING, False),
                      (logging.INFO, False)]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[1] == "test link: working again after 2 failure(s)"
    assert "unavailable (ConnectionEnded: the connection ended)" in messages[4]


async def test_keep_connected_logs_a_bug_with_its_traceback_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "test.periodic")
    plan: list[BaseException | None] = [AttributeError("bug"), None]
    up = asyncio.Event()

    async def serve(working: Callable[[], None]) -> None:
        step = plan.pop(0)
        if step is not None:
            raise step
        working()
        up.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(keep_connected("test link", serve, log=log, backoff=Backoff(0.001, 0.002)))
    async with asyncio.timeout(5):
        await up.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None and errors[0].exc_info[0] is AttributeError


@pytest.mark.parametrize("shape", [every, until_done, keep_connected, Failures])
def test_the_backoff_is_required_so_that_every_loop_has_the_settings(shape: Callable[..., object]) -> None:
    """A loop without a backoff would ignore SEMON_BACKOFF_*: there is no default to fall on."""
    assert inspect.signature(shape).parameters["backoff"].default is inspect.Parameter.empty
