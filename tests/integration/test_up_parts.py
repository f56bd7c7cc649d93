"""`semon up` runs each part in a process of its own under supervisord: an entrapment from a
third-party device reaches the live stream served by the API process; the rules process killed
with SIGKILL is started again, and a new entrapment reaches the live stream, nothing twice;
Ctrl-C stops everything, and SIGKILL of `semon up` leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from assembly.part_manager import ManagerOptions, PartError, PartManager, Program
from semon.metrics import parse_text, render
from semon.stack.process import StackError
from tests.integration.devices import paho_publish
from tests.integration.helpers import elevator, http_client, login, now_ms, query, wait_for_count

pytestmark = pytest.mark.integration

PASSWORD = "parts-demo-password-1"
BANNER_END = b"Ctrl-C stops everything.\n"


def _cmdline(pid: int) -> list[str]:
    try:
        return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _processes_of(data: Path) -> list[tuple[int, list[str]]]:
    """Every live process whose command line names the data directory (servers, supervisord, parts)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            args = _cmdline(int(entry.name))
            if any(str(data) in a for a in args):
                stat = Path(f"/proc/{entry.name}/stat")
                with contextlib.suppress(OSError):
                    if stat.read_text().rpartition(")")[2].split()[0] != "Z":
                        found.append((int(entry.name), args))
    return found


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def semon_up(**settings: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path, dict[str, Any]]]:
    data = Path(tempfile.mkdtemp(prefix="semon-parts-", dir="/var/tmp"))
    os.chmod(data, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    env.update({"SEMON_DATA_DIR": str(data), "SEMON_METRICS_PORT": "0", "SEMON_API_PORT": "0",
                "SEMON_REGISTRY_DEMO_UNITS": "0", "SEMON_AUTH_DEMO_PASSWORD": PASSWORD,
                "SEMON_RULES_CHECKPOINT_INTERVAL_S": "0.2", **settings})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "up", env=env,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readuntil(BANNER_END), 120)
        yield proc, data, json.loads((data / "running.json").read_text())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(AssertionError):
            await _until(lambda: not _processes_of(data), "the processes of the data directory to end", 30)
        shutil.rmtree(data, ignore_errors=True)


class Live:
    """A console on the API process's live stream."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []

    async def follow(self, api: str, connected: asyncio.Event) -> None:
        async with http_client() as http:
            await login(http, api, "operator", PASSWORD)
            async with http.ws_connect(f"{api}/live") as ws:
                connected.set()
                async for msg in ws:
                    self.changes.append(orjson.loads(msg.data))

    def raised(self, device_id: str) -> list[dict[str, Any]]:
        return [c for c in self.changes if c.get("topic") == "alarm" and c.get("op") == "raised"
                and c["alarm"]["device_id"] == device_id]


def _trapped(device_id: str, seq: int) -> tuple[str, bytes]:
    """The device's own trapped code (11 in the semon-v1 table)."""
    return f"se/elevator/{device_id}/event", orjson.dumps({"ts": now_ms(), "seq": seq, "code": 11})


async def _health(http: aiohttp.ClientSession, metrics_url: str) -> dict[str, Any]:
    async with http.get(metrics_url.removesuffix("/metrics") + "/healthz") as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def test_each_part_is_a_process_and_the_alarm_survives_a_killed_rules_process() -> None:
    async with semon_up(SEMON_CITY_ELEVATORS="5", SEMON_CITY_BOILERS="1") as (proc, data, state):
        parts: dict[str, int] = state["parts"]
        assert set(parts) == {"ingest", "rules", "api", "jobs", "city"}
        assert len(set(parts.values())) == 5 and proc.pid not in parts.values()
        manager = {_ppid(pid) for pid in parts.values()}
        assert len(manager) == 1  # one supervisord, itself a child of semon up
        (supervisord,) = manager
        assert _ppid(supervisord) == proc.pid
        for name, pid in parts.items():
            args = _cmdline(pid)
            assert args[1:4] == ["-m", "semon", "part"] and args[4] == name, args
            assert not any("@" in a or PASSWORD in a for a in args)  # no password on a command line
            # the telemetry side yields the CPU to the alarm path (SEMON_UP_TELEMETRY_NICE)
            assert os.getpriority(os.PRIO_PROCESS, pid) == (10 if name in ("ingest", "jobs", "city") else 0), name
        assert (data / "run/parts/config.json").stat().st_mode & 0o777 == 0o600
        assert (data / "run/supervisord.sock").stat().st_mode & 0o777 == 0o700

        live = Live()
        connected = asyncio.Event()
        follower = asyncio.create_task(live.follow(state["api_url"], connected))
        try:
            await asyncio.wait_for(connected.wait(), 30)
            await paho_publish(state["mqtt_url"], [_trapped("E-PARTS-1", 1)])
            await _until(lambda: len(live.raised("E-PARTS-1")) == 1, "the first entrapment on the live stream", 30)
            assert any(c["topic"] == "incident" and c["op"] == "raised"
                       and c["incident"]["device_id"] == "E-PARTS-1" for c in live.changes)

            os.kill(parts["rules"], signal.SIGKILL)
            async with aiohttp.ClientSession() as http:
                health: dict[str, Any] = {}

                async def rules_back() -> bool:
                    nonlocal health
                    health = await _health(http, state["metrics_url"])
                    rules = health["parts"]["rules"]
                    return bool(rules["restarts"] == 1 and rules["up"] and rules["pid"] != parts["rules"])

                deadline = asyncio.get_running_loop().time() + 60
                while not await rules_back():
                    assert asyncio.get_running_loop().time() < deadline, f"rules not back: {health}"
                    await asyncio.sleep(0.2)
                assert health["ok"] is True
                assert health["parts"]["rules"]["last_error"]
                assert _cmdline(health["parts"]["rules"]["pid"])[3:5] == ["part", "rules"]
                async with http.get(state["metrics_url"]) as resp:
                    samples = parse_text(await resp.text())
                assert samples['semon_part_restarts_total{part="rules"}'] == 1
                assert samples['semon_part_restarts_total{part="api"}'] == 0
                assert samples['semon_part_up{part="rules"}'] == 1
                assert samples['semon_part_up{part="api/alerts/live-listener"}'] == 1
                assert any(k.startswith("semon_ingest_") and 'part="ingest"' in k for k in samples)
                assert any(k.startswith("semon_rules_") and 'part="rules"' in k for k in samples)

            await paho_publish(state["mqtt_url"], [_trapped("E-PARTS-2", 1)])
            await _until(lambda: len(live.raised("E-PARTS-2")) == 1, "the entrapment after the restart", 30)
            await asyncio.sleep(2.0)  # a repeat would show by now
            assert len(live.raised("E-PARTS-1")) == 1 and len(live.raised("E-PARTS-2")) == 1
            rows = await query(state["database_url"],
                               "SELECT device_id, count(*) FROM alarms WHERE device_id LIKE %s "
                               "GROUP BY device_id ORDER BY device_id", ("E-PARTS-%",))
            assert [(str(d), int(str(n))) for d, n in rows] == [("E-PARTS-1", 1), ("E-PARTS-2", 1)]

            # An operator's close in the API process reaches the rules process: a new call for
            # help from the same car is a new alarm (an engine that missed the close would take
            # the entrapment for still open and raise nothing).
            incident = next(c["incident"]["id"] for c in live.changes if c["topic"] == "incident"
                            and c["op"] == "raised" and c["incident"]["device_id"] == "E-PARTS-2")
            async with http_client() as http:
                await login(http, state["api_url"], "operator", PASSWORD)
                async with http.post(f"{state['api_url']}/incidents/{incident}/steps",
                                     json={"step": "false_alarm", "comment": "test"}) as resp:
                    assert resp.status == 200, await resp.text()
            await _until(lambda: any(c["topic"] == "alarm" and c["op"] == "cleared"
                                     and c["alarm"]["device_id"] == "E-PARTS-2" for c in live.changes),
                         "the operator's close on the live stream", 30)
            # The rules process took the close: its checkpointed state of the car says so.
            deadline = asyncio.get_running_loop().time() + 30
            while not await query(state["database_url"],
                                  "SELECT 1 FROM rule_state WHERE device_id = 'E-PARTS-2' "
                                  "AND state->'rules'->'suppressed' ? 'entrapment'"):
                assert asyncio.get_running_loop().time() < deadline, "the rules process did not take the close"
                await asyncio.sleep(0.1)
            await paho_publish(state["mqtt_url"], [_trapped("E-PARTS-2", 2)])
            await _until(lambda: len(live.raised("E-PARTS-2")) == 2, "a new entrapment after the close", 30)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await follower

        proc.send_signal(signal.SIGINT)  # Ctrl-C: the parts in reverse order, then the servers
        assert await asyncio.wait_for(proc.wait(), 90) == 0
        assert not (data / "running.json").exists()
        assert _processes_of(data) == []


async def test_sigkill_of_semon_up_leaves_no_process_behind() -> None:
    async with semon_up(SEMON_CITY_ELEVATORS="0", SEMON_CITY_BOILERS="0") as (proc, data, state):
        assert set(state["parts"]) == {"ingest", "rules", "api", "jobs"}
        assert len(_processes_of(data)) >= 7  # broker, database, supervisord, four parts
        proc.kill()
        await proc.wait()
        await _until(lambda: not _processes_of(data), "every process to end after SIGKILL of semon up", 60)


async def test_a_leftover_process_manager_is_stopped_at_the_next_start() -> None:
    root = Path(tempfile.mkdtemp(prefix="semon-pm-", dir="/var/tmp"))
    run = root / "run"
    programs = [Program("city", ("part", "city", "--config", str(run / "parts/config.json")))]
    first, second = PartManager(run, programs), PartManager(run, programs)
    try:
        await first.start()
        old = int((run / "supervisord.pid").read_text())
        with pytest.raises(StackError, match="in use by another running process"):
            await PartManager(run, programs).start()  # a second `semon up` on the same directory
        first._lock.release()  # as when its `semon up` is gone, leaving it running
        await second.start()
        assert not _processes_of(run) or all(pid != old for pid, _ in _processes_of(run))
        assert int((run / "supervisord.pid").read_text()) != old
        assert [args[-2:] for _, args in _processes_of(run)] == [["-c", str(run.resolve() / "supervisord.conf")]]
    finally:
        await second.stop()
        await first.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_a_part_supervisord_gives_up_is_started_again_after_a_backoff() -> None:
    root = Path(tempfile.mkdtemp(prefix="semon-pm-", dir="/var/tmp"))
    run = root / "run"
    # No configuration file: the part fails at every start, and supervisord gives it up (FATAL).
    programs = [Program("city", ("part", "city", "--config", str(run / "parts/missing.json")))]
    manager = PartManager(run, programs, ManagerOptions(startsecs=10, startretries=0, poll_interval_s=0.1,
                                                        backoff_initial_s=0.1, backoff_max_s=0.2))
    watching: asyncio.Task[None] | None = None
    try:
        await manager.start()
        with pytest.raises(PartError, match="did not start"):
            await manager.start_part("city")
        watching = asyncio.create_task(manager.watch())
        await _until(lambda: parse_text(render(manager.registry)).get('semon_part_fatal_total{part="city"}', 0) >= 2,
                     "the given-up part to be started again", 60)
        assert parse_text(render(manager.registry))['semon_part_up{part="city"}'] == 0
        assert manager.healthy() is False
    finally:
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        await manager.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_several_ingest_processes_share_the_subscription() -> None:
    async with semon_up(SEMON_CITY_ELEVATORS="0", SEMON_CITY_BOILERS="0", SEMON_INGEST_PROCESSES="2") as (
            _proc, _data, state):
        assert {"ingest-1", "ingest-2"} <= set(state["parts"]) and "ingest" not in state["parts"]
        for index in ("1", "2"):
            args = _cmdline(state["parts"][f"ingest-{index}"])
            assert args[3:5] == ["part", "ingest"] and args[-2:] == ["--index", index]
        messages = [(f"se/elevator/E-SHARE-{i % 20}/telemetry", elevator(i // 20 + 1)) for i in range(400)]
        await paho_publish(state["mqtt_url"], messages)
        assert await wait_for_count(state["database_url"],
                                    "SELECT count(*) FROM elevator_telemetry WHERE device_id LIKE 'E-SHARE-%%'",
                                    400, 60) == 400
        await asyncio.sleep(1.0)  # a duplicate would show by now
        rows = await query(state["database_url"],
                           "SELECT count(*) FROM elevator_telemetry WHERE device_id LIKE 'E-SHARE-%%'")
        assert rows == [(400,)]
        async with aiohttp.ClientSession() as http, http.get(state["metrics_url"]) as resp:
            samples = parse_text(await resp.text())
        received = {part: samples.get(f'semon_ingest_received_total{{part="{part}"}}', 0)
                    for part in ("ingest-1", "ingest-2")}
        assert all(n > 0 for n in received.values()), received  # the broker shared the load
