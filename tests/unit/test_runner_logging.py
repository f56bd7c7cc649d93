"""The processes' logging: psycopg_pool's warning on every connection attempt during an outage is
let through once a minute per kind, on one line, with how many were held back; another kind of
warning (the pool giving up) and errors pass at once."""

from __future__ import annotations

import logging

import pytest

from semon.runner import POOL_LOGGER, RepeatedWarnings, configure_logging


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_warning_repeated_during_an_outage_is_let_through_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    pool_log = logging.getLogger("test.psycopg.pool")
    throttle = RepeatedWarnings(60.0, clock)
    pool_log.addFilter(throttle)
    try:
        caplog.set_level(logging.INFO, pool_log.name)
        for _ in range(30):  # an attempt every 2 s for a minute
            pool_log.warning("error connecting in %r: %s", "semon-alerts",
                             "connection failed: connection to server at \"127.0.0.1\", port 5432 failed:"
                             " Connection refused\n\tIs the server running on that host?")
            clock.now += 2.0
        pool_log.warning("reconnection attempt in pool %r failed after %s sec", "semon-alerts", 300)
        pool_log.error("an error always passes")
        pool_log.error("an error always passes")
        pool_log.warning("error connecting in %r: %s", "semon-alerts", "refused")
    finally:
        pool_log.removeFilter(throttle)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "error connecting in 'semon-alerts': connection failed: connection to server at \"127.0.0.1\", port 5432 "
        "failed: Connection refused Is the server running on that host?",
        "reconnection attempt in pool 'semon-alerts' failed after 300 sec",
        "an error always passes",
        "an error always passes",
        "error connecting in 'semon-alerts': refused (29 more like it in the last 60 s)",
    ]


def test_the_processes_logging_throttles_the_pools_warnings() -> None:
    pool_log = logging.getLogger(POOL_LOGGER)
    before = list(pool_log.filters)
    try:
        configure_logging()
        assert any(isinstance(f, RepeatedWarnings) for f in pool_log.filters)
    finally:
        pool_log.filters[:] = before
