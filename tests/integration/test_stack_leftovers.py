"""`semon up` killed with SIGKILL leaves nothing behind that stops the next start: its private
servers go down with it, a server still running in the data directory is stopped at the next
start (never a process that is not ours), and the broker and database keep their ports."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from semon.stack import LocalStack, StackError
from tests.integration.helpers import elevator, wait_for_count

pytestmark = pytest.mark.integration

BANNER_END = b"Ctrl-C stops everything.\n"


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="semon-leftovers-", dir="/var/tmp"))
    os.chmod(path, 0o755)  # as root, PostgreSQL runs as 'postgres' and must reach it
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # an exited child not yet reaped is gone


async def _gone(pid: int, timeout: float = 60) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _alive(pid):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _server_pids(stack: Path) -> tuple[int, int]:
    """(postgres, mosquitto) as their pid files in the stack's directory name them."""
    postgres = int((stack / "postgres/postmaster.pid").read_text().splitlines()[0])
    mosquitto = int((stack / "mosquitto/mosquitto.pid").read_text().split()[0])
    return postgres, mosquitto


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


async def _publish(mqtt_url: str, topic: str, payload: bytes) -> None:
    parts = urlsplit(mqtt_url)
    assert parts.username and parts.password
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(parts.port), "-u", parts.username, "-P", parts.password,
        "-q", "1", "-t", topic, "-s", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(payload), 30)
    assert proc.returncode == 0, out


class _Up:
    """``semon up`` as a process of its own on ``data``."""

    def __init__(self, data: Path, **settings: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
        self.env.update({"SEMON_DATA_DIR": str(data), "SEMON_METRICS_PORT": "0", "SEMON_API_PORT": "0",
                         "SEMON_REGISTRY_DEMO_UNITS": "30", **settings})
        self.data = data
        self.proc: asyncio.subprocess.Process | None = None
        self.servers: list[int] = []  # (postgres, mosquitto) of each start, for the teardown

    def server_pids(self) -> tuple[int, int]:
        pids = _server_pids(self.data / "stack")
        self.servers.extend(pids)
        return pids

    async def start(self) -> dict[str, str]:
        self.proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "up", env=self.env,
                                                         stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        await asyncio.wait_for(self.proc.stdout.readuntil(BANNER_END), 180)
        state: dict[str, str] = json.loads((self.data / "running.json").read_text())
        return state

    async def end(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 60)


@pytest.fixture
async def up(root: Path) -> AsyncIterator[_Up]:
    runner = _Up(root, SEMON_CITY_ELEVATORS="2", SEMON_CITY_BOILERS="0")
    yield runner
    if runner.proc is not None and runner.proc.returncode is None:
        runner.proc.kill()
        await runner.proc.wait()
    for pid, sig in zip(runner.servers, itertools.cycle((signal.SIGINT, signal.SIGTERM)), strict=False):
        if _alive(pid):  # whatever failed, no server of this test outlives it
            os.kill(pid, sig)


async def test_semon_up_killed_with_sigkill_starts_again_on_the_same_ports(root: Path, up: _Up) -> None:
    first = await up.start()
    old_pids = up.server_pids()
    assert all(_alive(pid) for pid in old_pids)
    await _publish(first["mqtt_url"], "se/elevator/E-KILLED/telemetry", elevator(1))
    assert await wait_for_count(first["database_url"],
                                "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-KILLED'", 1, 30) == 1

    assert await up.end(signal.SIGKILL) == -signal.SIGKILL
    # Its servers go down with it: they are not left to the init process.
    for pid in old_pids:
        assert await _gone(pid), f"server {pid} outlived its semon up"

    again = await up.start()
    assert _port(again["mqtt_url"]) == _port(first["mqtt_url"])
    assert _port(again["database_url"]) == _port(first["database_url"])
    assert json.loads((root / "stack/ports.json").read_text()) == {
        "mqtt": _port(first["mqtt_url"]), "postgres": _port(first["database_url"])}
    async with await psycopg.AsyncConnection.connect(again["database_url"]) as conn:
        cur = await conn.execute("SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-KILLED'")
        assert await cur.fetchone() == (1,)
    await _publish(again["mqtt_url"], "se/elevator/E-KILLED/telemetry", elevator(2))
    assert await wait_for_count(again["database_url"],
                                "SELECT count(*) FROM elevator_telemetry WHERE device_id = 'E-KILLED'", 2, 30) == 2
    new_pids = up.server_pids()
    assert await up.end(signal.SIGINT) == 0
    for pid in (*old_pids, *new_pids):
        assert not _alive(pid), f"server {pid} left running"


_ORPHAN_MAKER = """
import asyncio, sys
from pathlib import Path
import psycopg
from semon.stack import LocalStack

async def main():
    stack = LocalStack(Path(sys.argv[1]), die_with_parent=False)
    await stack.__aenter__()
    async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
        await conn.execute("CREATE TABLE kept (note text)")
        await conn.execute("INSERT INTO kept VALUES ('before the kill')")
        await conn.commit()
    print(stack.mosquitto.port, stack.postgres.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_servers_left_running_by_a_killed_process_are_stopped_at_the_next_start(root: Path) -> None:
    # Servers without the parent-death signal (an older semon, or no setpriv): they outlive the kill.
    maker = await asyncio.create_subprocess_exec(sys.executable, "-c", _ORPHAN_MAKER, str(root),
                                                 stdout=asyncio.subprocess.PIPE)
    try:
        assert maker.stdout is not None
        ports = [int(p) for p in (await asyncio.wait_for(maker.stdout.readline(), 120)).split()]
    finally:
        maker.kill()
        await maker.wait()
    orphans = _server_pids(root)
    assert all(_alive(pid) for pid in orphans)
    try:
        async with LocalStack(root) as stack:
            assert [stack.mosquitto.port, stack.postgres.port] == ports
            for pid in orphans:
                assert not _alive(pid)
            async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
                assert await (await conn.execute("SELECT note FROM kept")).fetchall() == [("before the kill",)]
            new = _server_pids(root)
            # The leftover was shut down cleanly, not crashed: no recovery at this start.
            log = (stack.postgres.data_dir / "server.log").read_text()
            assert "received fast shutdown request" in log
            assert "was interrupted" not in log.rpartition("received fast shutdown request")[2]
        for pid in new:
            assert await _gone(pid)
    finally:  # whatever failed, no server of this test outlives it
        for pid, sig in zip(orphans, (signal.SIGINT, signal.SIGTERM), strict=True):
            if _alive(pid):
                os.kill(pid, sig)


async def test_a_pid_file_naming_a_process_not_ours_never_gets_it_signalled(root: Path) -> None:
    async with LocalStack(root):
        pass
    bystander = await asyncio.create_subprocess_exec("sleep", "600")
    try:
        # Both pid files name live processes that are not servers of this directory: this test's
        # own process (which the postgres we start counts as its parent) and an unrelated one.
        (root / "postgres/postmaster.pid").write_text(f"{os.getpid()}\n{root / 'postgres'}\n")
        (root / "mosquitto/mosquitto.pid").write_text(f"{bystander.pid}\n")
        async with LocalStack(root) as stack, await psycopg.AsyncConnection.connect(stack.database_url):
            pass
        assert bystander.returncode is None and _alive(bystander.pid)

        # postgres refuses a pid file naming another live process: said plainly, nothing signalled.
        (root / "postgres/postmaster.pid").write_text(f"{bystander.pid}\n{root / 'postgres'}\n")
        with pytest.raises(StackError, match=f"names process {bystander.pid}, which is not a postgres"):
            async with LocalStack(root):
                pass
        assert bystander.returncode is None and _alive(bystander.pid)
    finally:
        bystander.kill()
        await bystander.wait()


async def test_a_second_stack_on_a_directory_in_use_is_refused(root: Path) -> None:
    async with LocalStack(root) as running:
        with pytest.raises(StackError, match=f"in use by another running process \\(pid {os.getpid()}"):
            async with LocalStack(root):
                pass
        async with await psycopg.AsyncConnection.connect(running.database_url):
            pass  # the running one is untouched
        assert all(_alive(pid) for pid in _server_pids(root))


async def test_a_kept_port_taken_by_another_process_moves_with_a_warning(
        root: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with LocalStack(root) as stack:
        kept = stack.mosquitto.port
    squatter = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", kept)
    try:
        async with LocalStack(root) as stack:
            assert stack.mosquitto.port != kept
            moved = stack.mosquitto.port
        assert f"port {kept} kept for mosquitto is taken by another process; mosquitto moves to port {moved}" \
            in caplog.text
        assert json.loads((root / "ports.json").read_text())["mqtt"] == moved
    finally:
        squatter.close()
        await squatter.wait_closed()
