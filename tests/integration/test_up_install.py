"""`semon up` as an installer meets it: against real services it is not a demo (no generated
register, no simulated city, no demo users; the banner says how to create the first
administrator and ends with the console's address, not buried by an access log); a start-up
problem (a port taken, the database or the broker away or refusing, a bad setting, a data
directory that cannot be written) is one line naming the setting to change, and a non-zero exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from semon.stack import MosquittoServer, free_port
from tests.integration.helpers import query

pytestmark = pytest.mark.integration

BANNER_END = b"Ctrl-C stops everything.\n"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    data = Path(tempfile.mkdtemp(prefix="semon-install-", dir="/var/tmp"))
    os.chmod(data, 0o755)
    yield data
    shutil.rmtree(data, ignore_errors=True)


def _env(data: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMON_")}
    env.update({"SEMON_DATA_DIR": str(data), "SEMON_METRICS_PORT": "0", "SEMON_API_PORT": "0", **settings})
    return env


async def _refused(env: dict[str, str], command: str = "up") -> tuple[int, list[str]]:
    """Run `semon up` (or ``command``) that must not start: its exit status and its stderr's lines."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", command, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert b"semon is up" not in out
    assert proc.returncode is not None
    return proc.returncode, err.decode().splitlines()


def _the_line(lines: list[str], command: str = "up") -> str:
    assert not [line for line in lines if "Traceback" in line], "\n".join(lines)
    [line] = [line for line in lines if line.startswith(f"semon {command}:")]
    return line


@contextlib.contextmanager
def _listening(host: str = "127.0.0.1") -> Iterator[int]:
    """A port another program holds (listening, as a second server would)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_a_taken_api_port_is_one_line_naming_its_setting(data_dir: Path) -> None:
    with _listening() as port:
        code, lines = await _refused(_env(data_dir, SEMON_API_PORT=str(port)))
    assert code == 1
    line = _the_line(lines)
    assert line == (f"semon up: port {port} is in use (SEMON_API_PORT); choose another port, "
                    "or stop the program that holds it")
    assert not (data_dir / "stack").exists()  # refused before a private server was started


@pytest.mark.parametrize("command", ["alerts", "ingest"])
async def test_a_service_run_alone_says_so_of_its_ports_too(data_dir: Path, command: str) -> None:
    urls = {"SEMON_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
            "SEMON_DATABASE_URL": f"postgresql://semon@127.0.0.1:{free_port()}/semon"}
    variable = "SEMON_API_PORT" if command == "alerts" else "SEMON_METRICS_PORT"
    with _listening() as port:
        code, lines = await _refused(_env(data_dir, **urls, **{variable: str(port)}), command)
    assert code == 1
    assert _the_line(lines, command).startswith(f"semon {command}: port {port} is in use ({variable})")


async def test_a_taken_metrics_port_is_one_line_naming_its_setting(data_dir: Path) -> None:
    with _listening() as port:
        code, lines = await _refused(_env(data_dir, SEMON_METRICS_PORT=str(port)))
    assert code == 1
    assert f"port {port} is in use (SEMON_METRICS_PORT)" in _the_line(lines)


async def test_an_api_host_not_of_this_machine_names_its_setting(data_dir: Path) -> None:
    code, lines = await _refused(_env(data_dir, SEMON_API_PORT=str(free_port()), SEMON_API_HOST="192.0.2.1"))
    assert code == 1
    assert "(SEMON_API_HOST)" in _the_line(lines)


async def test_an_unreachable_database_names_its_setting(data_dir: Path, mosquitto: MosquittoServer) -> None:
    closed = free_port()
    url = f"postgresql://semon:secret-pw@127.0.0.1:{closed}/semon"
    code, lines = await _refused(_env(data_dir, SEMON_DATABASE_URL=url, SEMON_MQTT_URL=mosquitto.url))
    assert code == 1
    line = _the_line(lines)
    assert line.startswith(f"semon up: the database postgresql://semon:***@127.0.0.1:{closed}/semon "
                           "cannot be reached (SEMON_DATABASE_URL): ")
    assert "secret-pw" not in "\n".join(lines)


async def test_a_broker_away_or_refusing_names_its_setting(data_dir: Path, database_url: str,
                                                           stack_root: Path) -> None:
    closed = free_port()
    code, lines = await _refused(_env(data_dir, SEMON_DATABASE_URL=database_url,
                                      SEMON_MQTT_URL=f"mqtt://semon-ingest-1:pw@127.0.0.1:{closed}"))
    assert code == 1
    assert _the_line(lines).startswith(f"semon up: the broker mqtt://semon-ingest-1:***@127.0.0.1:{closed} "
                                       "cannot be reached (SEMON_MQTT_URL): ")
    broker = MosquittoServer(Path(tempfile.mkdtemp(prefix="mosquitto-", dir=stack_root)),
                             accounts={"semon-ingest-1": "the-right-one"})
    await broker.start()
    try:
        code, lines = await _refused(_env(data_dir, SEMON_DATABASE_URL=database_url,
                                          SEMON_MQTT_URL=f"mqtt://semon-ingest-1:wrong@127.0.0.1:{broker.port}"))
    finally:
        await broker.stop()
    assert code == 1
    assert _the_line(lines) == (f"semon up: the broker mqtt://semon-ingest-1:***@127.0.0.1:{broker.port} refused "
                                "the connection (SEMON_MQTT_URL): not authorised (wrong username or password?)")


async def test_a_data_directory_that_cannot_be_written_names_its_setting(data_dir: Path) -> None:
    blocker = data_dir / "a-file"
    blocker.write_text("")
    code, lines = await _refused(_env(data_dir / "a-file" / "var"))
    assert code == 1
    assert f"the data directory {data_dir / 'a-file' / 'var'} cannot be created or written (SEMON_DATA_DIR)" \
        in _the_line(lines)


async def test_a_bad_setting_is_one_line_naming_it(data_dir: Path) -> None:
    code, lines = await _refused(_env(data_dir, SEMON_API_PORT="80800"))
    assert code == 2
    assert lines == ["semon up: setting refused: SEMON_API_PORT='80800': Input should be less than or equal to 65535"]


@contextlib.asynccontextmanager
async def _up(env: dict[str, str], stderr: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    with stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "up", env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readuntil(BANNER_END), 120)).decode()
        yield proc, banner
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        async with asyncio.timeout(60):
            assert await proc.wait() == 0
    finally:
        with contextlib.suppress(ProcessLookupError):  # gone already, as it should be
            proc.kill()
        await proc.wait()


async def test_against_real_services_it_is_an_installation_not_a_demo(data_dir: Path, database_url: str,
                                                                     mosquitto: MosquittoServer) -> None:
    port = free_port()
    # Demo settings given all the same: an installation ignores them.
    env = _env(data_dir, SEMON_DATABASE_URL=database_url, SEMON_MQTT_URL=mosquitto.url, SEMON_API_PORT=str(port),
               SEMON_CITY_ELEVATORS="5", SEMON_REGISTRY_DEMO_UNITS="50", SEMON_AUTH_DEMO_PASSWORD="demo-demo-demo",
               SEMON_LOG_LEVEL="INFO")
    async with _up(env, data_dir / "stderr.log") as (_, banner):
        lines = banner.splitlines()
        assert lines[0] == "semon is up (an installation: no demo data, no simulated city)"
        assert lines[-2] == f"  CONSOLE       http://127.0.0.1:{port}/  <- open this in a browser"
        assert "simulated" not in banner.replace("no simulated city", "")
        assert "none yet: create the first administrator" in banner
        assert "semon users add NAME --role admin" in banner
        assert "DEMO CREDENTIALS" not in banner and "demo-demo-demo" not in banner
        assert "register      as stored" in banner
        assert "parts         ingest, rules, api, jobs, a process each" in banner
        async with aiohttp.ClientSession() as http:
            for _ in range(20):  # a console left open asks all the time
                async with http.get(f"http://127.0.0.1:{port}/login") as resp:
                    assert resp.status == 200
    assert await query(database_url, "SELECT count(*) FROM users") == [(0,)]
    assert await query(database_url, "SELECT count(*) FROM equipment") == [(0,)]
    assert not (data_dir / "demo-password").exists()
    log = (data_dir / "stderr.log").read_text()
    assert "GET /login" not in log  # no access log line per request
