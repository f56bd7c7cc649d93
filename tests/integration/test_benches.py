"""The benchmarks, run short against real systems: the JSON keys they print, lost and duplicated
messages counted in the database, the C pipe's COPY taking JSON verbatim, and the runs against a
running ``semon up`` (found through its running.json) naming its processes. No timing is asserted."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg
import pytest
from pydantic import SecretStr

from bench.alerts import AlertsBenchOptions, run_alerts_bench, run_alerts_cluster_bench
from bench.fleet import SERIAL_OFFSET, FleetBenchOptions, fleet_devices, run_fleet_against_running
from bench.ingest import (
    COPY_COMMAND,
    BenchOptions,
    ClusterBenchOptions,
    _libpq_env,
    c_pipe_binaries,
    run_bench,
    run_cluster_bench,
    stored_counts,
)
from bench.up_process import semon_up_process
from semon.mqtt.client import BrokerAddress
from semon.settings import Settings
from semon.stack import MosquittoServer, free_port
from simulators.loadgen import LoadPlan, planned_total, run_load, run_load_apart
from tests.flat_settings import flat_settings
from tests.integration.helpers import ingest_settings, query, running_ingester

pytestmark = pytest.mark.integration

INGEST_KEYS = {"offered_rate", "achieved_offered_rate", "sent", "stored", "stored_rate", "c_pipe_rate", "ratio",
               "lost", "duplicates", "c_pipe_lost", "p50_ms", "p99_ms", "ingest_rss_mb", "connections",
               "duration_s", "system", "processes", "rounds", "semon_cpu_us_per_message", "c_pipe_cpu_us_per_message"}
PROCESS_KEYS = {"rss_mb", "pss_mb", "cpu_s", "processes"}


def _last_json_line(out: str) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return line


async def test_ingest_bench_counts_from_the_database_beside_the_c_pipe(
        mosquitto: MosquittoServer, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running_ingester(ingest_settings(), mosquitto.url, database_url) as ingester:
        assert ingester.metrics_port is not None
        settings = flat_settings(mqtt_url=mosquitto.url, database_url=database_url, metrics_host="127.0.0.1",
                            metrics_port=ingester.metrics_port, data_dir=tmp_path)
        options = BenchOptions(rate=400, duration=1.5, devices=40, rounds=2, drain_timeout=60)
        result = await run_bench(settings, options)
    assert _last_json_line(capsys.readouterr().out) == json.loads(json.dumps(result))
    assert set(result) >= INGEST_KEYS
    per_run = planned_total(LoadPlan(400, 1.5, result["connections"], 40, ""))
    assert result["sent"] == result["stored"] == 2 * per_run
    assert (result["lost"], result["duplicates"]) == (0, 0)
    assert result["system"] == "configured"
    assert [r["order"] for r in result["rounds"]] == ["semon,c_pipe", "c_pipe,semon"]
    assert set(result["processes"]["bench"]) == PROCESS_KEYS
    if c_pipe_binaries() is None:
        assert result["c_pipe_rate"] is None
        return
    assert result["c_pipe_lost"] == 0 and all(r["c_pipe_stored"] == per_run for r in result["rounds"])
    assert result["c_pipe_rate"] > 0 and result["ratio"] > 0
    assert all(r["c_pipe_tools_cpu_s"] > 0 for r in result["rounds"])
    # The ingester runs in this process, not one of the system's the benchmark can see.
    assert result["semon_cpu_us_per_message"] is None and result["c_pipe_cpu_us_per_message"] > 0
    assert "bench:c-pipe-mosquitto" in result["rounds"][0]["c_pipe_processes"]
    # The pipe's table is gone after the run.
    tables = "SELECT count(*) FROM pg_tables WHERE starts_with(tablename, 'bench_c_pipe_')"
    assert await query(database_url, tables) == [(0,)]


async def test_lost_and_duplicated_rows_are_told_apart(mosquitto: MosquittoServer, database_url: str) -> None:
    prefix = f"BENCHT{secrets.token_hex(2).upper()}-"
    async with running_ingester(ingest_settings(), mosquitto.url, database_url):
        load = await run_load(BrokerAddress.from_url(mosquitto.url), LoadPlan(200, 0.5, 2, 10, prefix))
        for _ in range(600):
            if (await stored_counts(database_url, prefix))[1] == load.sent:
                break
            await asyncio.sleep(0.1)
    assert (await stored_counts(database_url, prefix))[:2] == (load.sent, load.sent)
    # One message lost, another stored twice (a redelivery at another time: same device and seq).
    first = "(SELECT device_id, seq FROM elevator_telemetry ORDER BY device_id, seq LIMIT 1)"
    last = "(SELECT device_id, seq FROM elevator_telemetry ORDER BY device_id DESC, seq DESC LIMIT 1)"
    assert await query(database_url, "WITH gone AS (DELETE FROM elevator_telemetry WHERE (device_id, seq) = "
                                     f"{first} RETURNING 1) SELECT count(*) FROM gone") == [(1,)]
    assert await query(database_url, "WITH again AS (INSERT INTO elevator_telemetry SELECT time + interval '1 ms',"
                                     " device_id, seq, running, direction, floor, door_locked, door_zone, passenger,"
                                     " mode, power, speed_mps, trip_count, run_hours, received_at"
                                     f" FROM elevator_telemetry WHERE (device_id, seq) = {last} RETURNING 1)"
                                     " SELECT count(*) FROM again") == [(1,)]
    rows, distinct, _ = await stored_counts(database_url, prefix)
    assert (load.sent - distinct, rows - distinct) == (1, 1)


async def test_the_load_generator_apart_publishes_its_whole_plan_from_a_child_process(
        mosquitto: MosquittoServer, database_url: str) -> None:
    prefix = f"BENCHA{secrets.token_hex(2).upper()}-"
    plan = LoadPlan(300, 0.5, 2, 12, prefix)
    async with running_ingester(ingest_settings(), mosquitto.url, database_url):
        load = await run_load_apart(BrokerAddress.from_url(mosquitto.url), plan)
        for _ in range(600):
            if (await stored_counts(database_url, prefix))[1] == load.sent:
                break
            await asyncio.sleep(0.1)
    assert load.sent == load.acked == planned_total(plan) and load.unacknowledged == 0
    assert load.cpu_s > 0 and load.elapsed > 0
    assert (await stored_counts(database_url, prefix))[:2] == (load.sent, load.sent)
    # Every device signed off in an orderly way, from the child too.
    offline = await query(database_url, "SELECT count(*) FROM device_state WHERE starts_with(device_id, %s)"
                                         " AND online IS FALSE", (prefix,))
    assert offline == [(12,)]


async def test_a_cancelled_load_generator_apart_leaves_no_process_behind(mosquitto: MosquittoServer) -> None:
    plan = LoadPlan(200, 30.0, 1, 5, f"BENCHK{secrets.token_hex(2).upper()}-")
    me = psutil.Process()
    others = {c.pid for c in me.children()}  # the fixtures' broker and database

    def generators() -> list[psutil.Process]:
        return [c for c in me.children() if c.pid not in others]

    task = asyncio.create_task(run_load_apart(BrokerAddress.from_url(mosquitto.url), plan))
    for _ in range(100):
        if generators():
            break
        await asyncio.sleep(0.05)
    children = generators()
    assert children, "the load generator runs in a child process"
    assert "simulators.loadgen" in children[0].cmdline()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not generators()
    assert all(not c.is_running() or c.status() == psutil.STATUS_ZOMBIE for c in children)


@pytest.mark.skipif(c_pipe_binaries() is None, reason="psql is not installed")
async def test_the_c_pipe_copy_takes_each_json_line_verbatim(database_url: str) -> None:
    documents = [{"s": "back\\slash \"quoted\" new\nline tab\t é 困人", "u": "\\u00e9", "n": 1},
                 {"s": "\\.", "e": ""}, {"s": ",;|\\N"}]
    table = f"bench_copy_{secrets.token_hex(3)}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"CREATE TABLE {table} (payload jsonb NOT NULL)")
    proc = await asyncio.create_subprocess_exec(
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", COPY_COMMAND.format(table=table),
        stdin=asyncio.subprocess.PIPE, env=_libpq_env(database_url))
    await proc.communicate(b"".join(orjson.dumps(d) + b"\n" for d in documents))
    assert proc.returncode == 0
    rows = await query(database_url, f"SELECT payload FROM {table}")
    def key(d: object) -> str:
        return json.dumps(d, sort_keys=True)

    assert sorted((r[0] for r in rows), key=key) == sorted(documents, key=key)


# --- against a running `semon up` ---------------------------------------------------------------


@pytest.fixture(scope="module")
async def running_up() -> AsyncIterator[tuple[Settings, str]]:
    """A `semon up` with a small city, and the settings of a command run beside it (its data
    directory, so the benchmarks find it through running.json; its demo password)."""
    password = secrets.token_urlsafe(16)
    env = {"SEMON_CITY_ELEVATORS": "20", "SEMON_CITY_BOILERS": "2", "SEMON_REGISTRY_DEMO_UNITS": "0",
           "SEMON_AUTH_DEMO_PASSWORD": password, "SEMON_API_PORT": str(free_port()), "SEMON_METRICS_PORT": "0",
           "SEMON_LOG_LEVEL": "WARNING"}
    async with semon_up_process(env, prefix="semon-test-bench-") as state:
        data_dir = Path(psutil.Process(int(state["pid"])).environ()["SEMON_DATA_DIR"])
        yield flat_settings(data_dir=data_dir, auth_demo_password=SecretStr(password)), str(state["database_url"])


async def test_alerts_bench_against_the_running_system(running_up: tuple[Settings, str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    settings, _ = running_up
    options = AlertsBenchOptions(rates=(300, 600), duration=2, entrapments=4, drain_timeout=60, overload=True,
                                 probe_rate=1500, probe_duration=1.5, backlog_timeout=120)
    results = await run_alerts_bench(settings, options)
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines == json.loads(json.dumps(results))
    assert [r["mode"] for r in results] == ["rate", "rate", "overload"]
    assert [r["offered_rate"] for r in results[:2]] == [300, 600]
    for r in results:
        assert {"p50_ms", "p99_ms", "max_ms", "missed", "duplicated", "background_rate", "processes"} <= set(r)
        assert (r["missed"], r["duplicated"], r["system"]) == (0, 0, "running")
        # The system's processes (one `semon up`, or its parts), the broker and the database among them.
        assert {"mosquitto", "postgres", "bench"} <= set(r["processes"])
        assert r["processes"]["semon-up"]["processes"] == 1
        # The load generator ran in a process of its own and says what it cost.
        assert r["loadgen_cpu_s"] > 0 and r["loadgen_us_per_message"] > 0
    overload = results[-1]
    assert overload["ingest_capacity"] > 0 and overload["offered_rate"] == round(2 * overload["ingest_capacity"])
    assert overload["sent"] == overload["stored"] and (overload["lost"], overload["duplicates"]) == (0, 0)
    assert overload["drain_s"] >= 0


async def test_fleet_connects_to_the_running_system_through_edge_brokers(running_up: tuple[Settings, str]) -> None:
    settings, database_url = running_up
    options = FleetBenchOptions(devices=30, duration=3, running=True, per_process=15, edge_brokers=True)
    result = await run_fleet_against_running(settings, options)
    assert (result["simulator_processes"], result["edge_brokers"], result["connected_at_measure"]) == (2, 2, 30)
    assert {"sim_bytes_per_device", "sim_bytes_per_device_connected", "service_rss_mb", "broker_nofile"} <= set(result)
    assert result["service_rss_mb"]  # semon's own processes, named
    processes = result["processes"]
    assert isinstance(processes, dict)
    assert {"bench:simulator-0", "bench:simulator-1", "bench:edge-mosquitto-0"} <= set(processes)
    # The devices' messages reached the system through the bridges: their status, at least.
    ids = [d.device_id for d in fleet_devices(30, options.boiler_share, options.seed, SERIAL_OFFSET)]
    rows = await query(database_url, "SELECT count(*) FROM device_state WHERE device_id = ANY(%s)", (ids,))
    assert rows[0][0] == 30


# --- cluster mode: a fresh `semon up --cluster 3 --workers W` per W ----------------------------


async def test_ingest_bench_in_cluster_mode_stores_every_message_published(
        capsys: pytest.CaptureFixture[str]) -> None:
    options = ClusterBenchOptions(workers=(2,), nodes=3, duration=2.0, rate=600, devices=60, drain_timeout=60)
    result = await run_cluster_bench(options)
    assert _last_json_line(capsys.readouterr().out) == json.loads(json.dumps(result))
    assert (result["bench"], result["cluster"]) == ("ingest", 3)
    [run] = result["results"]
    assert run["workers"] == 2 and run["connections"] == 6  # two per node
    # A timed plan: each connection stops at the duration, at most a tick short of its share.
    assert 0.9 * planned_total(LoadPlan(600, 2.0, 6, 60, "")) <= run["published"] <= 1200
    assert run["unacknowledged"] == 0
    assert run["stored"] == run["published"] and (run["lost"], run["duplicates"]) == (0, 0)
    assert run["stored_rate"] > 0 and run["achieved_offered_rate"] > 0
    # None: no scrape of the workers' counters answered within so short a load.
    assert run["backlog_at_load_end"] is None or 0 <= run["backlog_at_load_end"] <= run["published"]
    # Every part of the cluster is in the figures: its three nodes, two workers, three engines.
    processes = run["processes"]
    assert {"nats-1", "nats-2", "nats-3", "ingest-1", "ingest-2", "rules-1", "rules-2", "rules-3",
            "postgres"} <= set(processes)
    assert processes["ingest-1"]["cpu_s"] > 0 and processes["ingest-2"]["cpu_s"] > 0
    assert run["semon_cpu_us_per_message"] > 0


async def test_alerts_bench_in_cluster_mode_sees_every_entrapment_once(capsys: pytest.CaptureFixture[str]) -> None:
    options = AlertsBenchOptions(rates=(300,), duration=3, entrapments=6, drain_timeout=60, backlog_timeout=120)
    env = {"SEMON_CITY_ELEVATORS": "20", "SEMON_CITY_BOILERS": "2", "SEMON_REGISTRY_DEMO_UNITS": "0"}
    result = await run_alerts_cluster_bench(options, workers=(1,), nodes=3, env=env)
    assert _last_json_line(capsys.readouterr().out) == json.loads(json.dumps(result))
    assert (result["bench"], result["cluster"]) == ("alerts", 3)
    [run] = result["results"]
    assert (run["workers"], run["mode"], run["offered_rate"]) == (1, "rate", 300)
    assert (run["missed"], run["duplicated"], run["system"]) == (0, 0, "started")
    assert run["p50_ms"] > 0 and run["p99_ms"] >= run["p50_ms"] and run["background_rate"] > 0
    assert {"nats-1", "nats-2", "nats-3", "ingest", "rules-1", "rules-2", "rules-3", "api",
            "bench"} <= set(run["processes"])
