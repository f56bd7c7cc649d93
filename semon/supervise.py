"""Supervision of a service's parts: each runs as its own task; one that fails is logged with its
traceback and started again after a jittered, capped backoff, while the others go on.

The last of the layers, for what the parts' own loops do not catch: a part waits out an outage
of the broker or the database itself (``semon.periodic``), so what ends a part is a bug. Its
failures are logged and backed off by the same policy (``semon.periodic.Failures``).

    async with Supervisor(registry=metrics) as parts:
        parts.start("ingest", lambda: Ingester(...).run())
        parts.start("alerts", alerts.run, check=lambda: alerts.ready.is_set())
        await parts.wait()  # until cancelled (Ctrl-C): then every part is stopped, last first

A part is a coroutine *factory*: each start calls it again, so a part that keeps state it cannot
trust after a failure builds itself afresh. A part that returns by itself is started again too
(nothing here is meant to end), unless it was started with ``restart=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from semon.backoff import Backoff
from semon.periodic import Failures

log = logging.getLogger(__name__)

PartFactory = Callable[[], Awaitable[Any]]


@dataclass(slots=True)
class Part:
    """One supervised part and where it stands."""

    name: str
    factory: PartFactory
    failures: Failures
    check: Callable[[], bool] | None = None  # up, beyond running: e.g. its broker connection is current
    restart: bool = True
    running: bool = False
    finished: bool = False  # returned and not to be restarted
    starts: int = 0
    last_error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def up(self) -> bool:
        if self.finished:
            return True
        if not self.running:
            return False
        try:
            return self.check() if self.check is not None else True
        except Exception:  # a check that fails says: not up
            log.exception("health check of %s failed", self.name)
            return False

    def status(self) -> dict[str, Any]:
        return {"up": self.up, "restarts": max(self.starts - 1, 0), "last_error": self.last_error}


class _PartUp:
    """A collector: ``semon_part_up`` of each part, read at each collection."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    def collect(self) -> list[Metric]:
        family = GaugeMetricFamily("semon_part_up", "1 while a supervised part runs (and passes its check), else 0",
                                   labels=("part",))
        for p in self._supervisor.parts.values():
            family.add_metric((p.name,), int(p.up))
        return [family]


class Supervisor:
    """Starts parts, restarts the failed ones, reports their state. Use as an async context
    manager; leaving it (or cancelling the task in it) stops every part, the last started first."""

    def __init__(self, *, backoff_initial_s: float = 0.5, backoff_max_s: float = 30.0,
                 stable_after_s: float = 60.0, registry: CollectorRegistry | None = None) -> None:
        """``stable_after_s``: a part that ran this long before failing starts its backoff anew."""
        self.parts: dict[str, Part] = {}
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._stable_after_s = stable_after_s
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(_PartUp(self))
        self.restarts = Counter(
            "semon_part_restarts_total", "Times a supervised part was started again after it failed or ended",
            ("part",), registry=self.registry)
        self.failures = Counter(
            "semon_part_failures_total", "Times a supervised part failed with an exception", ("part",),
            registry=self.registry)
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def start(self, name: str, factory: PartFactory, *, check: Callable[[], bool] | None = None,
              restart: bool = True) -> Part:
        """Run ``factory()`` as the part ``name`` from now on. A name is unique among running
        parts; a stopped part's name may be started again (a scope opened anew)."""
        old = self.parts.get(name)
        if old is not None and old.task is not None:
            raise ValueError(f"a part named {name!r} is supervised already")
        part = Part(name, factory, Failures(f"part {name}", log=log, backoff=Backoff(*self._backoff)), check, restart)
        self.parts[name] = part
        self.restarts.labels(name)  # shown from the start, at 0
        self.failures.labels(name)
        part.task = asyncio.create_task(self._keep(part), name=f"supervised-{name}")
        return part

    def healthy(self) -> bool:
        """Every part up."""
        return all(p.up for p in self.parts.values())

    def status(self) -> dict[str, dict[str, Any]]:
        """Per part: ``{"up": bool, "restarts": int, "last_error": str | None}``."""
        return {name: p.status() for name, p in self.parts.items()}

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` holds, re-checked each time a part starts, fails or ends."""
        while not predicate():
            self._changed.clear()
            await self._changed.wait()

    async def wait(self) -> None:
        """Until cancelled: the supervised parts run in their own tasks."""
        await asyncio.Event().wait()

    def scope(self, prefix: str) -> Scope:
        """Parts started through the scope are named ``prefix/name`` and stopped when it closes
        (they then show as down until the scope is opened again)."""
        return Scope(self, prefix)

    async def stop(self, names: list[str] | None = None) -> None:
        """Cancel the named parts (default: all), the last started first, and wait for each."""
        chosen = [p for p in self.parts.values() if names is None or p.name in names]
        for part in reversed(chosen):
            task, part.task = part.task, None
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            part.running = False
        self._note()

    def _note(self) -> None:
        self._changed.set()

    async def _keep(self, part: Part) -> None:
        loop = asyncio.get_running_loop()
        while True:
            part.starts += 1
            if part.starts > 1:
                self.restarts.labels(part.name).inc()
            part.running = True
            self._note()
            began = loop.time()
            try:
                await part.factory()
            except asyncio.CancelledError:
                part.running = False
                raise
            except Exception as exc:
                part.running = False
                part.last_error = f"{type(exc).__name__}: {exc}"[:500]
                self.failures.labels(part.name).inc()
                failure: Exception = exc
            else:
                part.running = False
                if not part.restart:
                    part.finished = True
                    self._note()
                    log.info("part %s finished", part.name)
                    return
                failure = RuntimeError("ended by itself")
            if loop.time() - began >= self._stable_after_s:  # it had worked: its backoff starts anew
                part.failures.succeeded()
            self._note()
            await part.failures.failed(failure)


class Scope:
    """A group of parts in a supervisor, stopped together: see ``Supervisor.scope``."""

    def __init__(self, supervisor: Supervisor, prefix: str) -> None:
        self.supervisor = supervisor
        self.prefix = prefix
        self._names: list[str] = []

    def start(self, name: str, factory: PartFactory, *, check: Callable[[], bool] | None = None,
              restart: bool = True) -> Part:
        full = f"{self.prefix}/{name}"
        part = self.supervisor.start(full, factory, check=check, restart=restart)
        self._names.append(full)
        return part

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.supervisor.stop(self._names)
        self._names = []
