"""The benchmarks' process figures: each process named by the part it runs, CPU time counted
over the interval only, and the pure functions of the benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.alerts import latency_figures, parse_rates
from bench.fleet import split
from bench.procstats import ProcessSample, ProcessWatch, Root, process_name, sample_tree, summarise
from simulators.loadgen import LoadPlan, per_connection, planned_total

PY = "/usr/bin/python3"


@pytest.mark.parametrize(("cmdline", "exe", "name"), [
    ([PY, "-m", "semon", "part", "ingest"], "python3", "ingest"),
    ([PY, "-m", "semon", "part", "ingest-2"], "python3", "ingest-2"),
    ([PY, "/srv/.venv/bin/semon", "part", "rules"], "python3", "rules"),
    ([PY, "-m", "semon", "ingest"], "python3", "ingest"),
    ([PY, "-m", "semon", "part", "ingest", "--config", "/v/parts.json", "--index", "2"], "python3", "ingest-2"),
    ([PY, "-m", "semon", "part", "rules", "--config", "/v/parts.json"], "python3", "rules"),
    ([PY, "/usr/bin/supervisord", "-c", "/var/sup.conf"], "python3", "supervisord"),
    ([PY, "-m", "supervisor.supervisord", "-c", "/var/sup.conf"], "python3", "supervisord"),
    (["/usr/sbin/mosquitto", "-c", "/x/mosquitto.conf"], "mosquitto", "mosquitto"),
    # The nodes of `semon up --cluster`, by their directories.
    (["/usr/sbin/nats-server", "-c", "/v/stack/nats/nats-2/nats.conf"], "nats-server", "nats-2"),
    (["/usr/sbin/nats-server", "-p", "4222"], "nats-server", "nats-server"),
    (["postgres: semon semon 127.0.0.1(5000) idle"], "postgres", "postgres"),
    (["/usr/lib/postgresql/15/bin/postgres", "-D", "/x"], "postgres", "postgres"),
    (["/usr/bin/mosquitto_sub", "-t", "se/#"], "mosquitto_sub", "mosquitto_sub"),
    # A part named on the command line of something else is not a part.
    (["/bin/grep", "part", "ingest"], "grep", "grep"),
    ([], "", "?"),
])
def test_processes_are_named_by_what_they_run(cmdline: list[str], exe: str, name: str) -> None:
    assert process_name(cmdline, exe) == name


def _s(pid: int, name: str, cpu: float, rss_mb: float = 1.0, created: float = 100.0) -> ProcessSample:
    return ProcessSample(pid, name, created, int(rss_mb * 2**20), int(rss_mb * 2**19), cpu)


def test_cpu_counts_the_interval_and_memory_the_end() -> None:
    before = [_s(1, "semon-up", 10.0), _s(2, "postgres", 5.0), _s(3, "postgres", 1.0), _s(4, "gone", 1.0)]
    after = [_s(1, "semon-up", 12.5, rss_mb=200), _s(2, "postgres", 6.0), _s(3, "postgres", 1.5),
             _s(5, "postgres", 0.25),  # started in the interval: all of its time counts
             _s(6, "ingest", 3.0, created=200.0)]
    # pid 6 reused by a new process: its time is counted from its own start
    before.append(_s(6, "ingest", 50.0, created=100.0))
    out = summarise(before, after)
    assert list(out) == ["ingest", "postgres", "semon-up"]
    assert out["semon-up"] == {"rss_mb": 200.0, "pss_mb": 100.0, "cpu_s": 2.5, "processes": 1}
    assert out["postgres"]["cpu_s"] == 1.75 and out["postgres"]["processes"] == 3
    assert out["postgres"]["rss_mb"] == 3.0
    assert out["ingest"]["cpu_s"] == 3.0


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [
        subprocess.Popen(["sleep", "30"]),
        # A process whose command line says it is the "ingest-2" part, burning a little CPU first.
        subprocess.Popen([sys.executable, "-c", "import time\nt=time.process_time()\n"
                          "while time.process_time()-t<0.2: pass\ntime.sleep(30)", "-m", "semon", "part", "ingest-2"]),
    ]
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_a_walk_names_the_descendants_and_counts_their_time(children: list[subprocess.Popen[bytes]]) -> None:
    watch = ProcessWatch([Root(os.getpid(), "test", "t:")])
    watch.names[children[0].pid] = "t:the-sleeper"
    watch.start()
    time.sleep(0.6)
    out = watch.report()
    assert out["test"]["processes"] == 1 and out["test"]["rss_mb"] > 1
    assert out["t:the-sleeper"]["processes"] == 1
    assert out["t:ingest-2"]["processes"] == 1
    assert out["t:the-sleeper"]["cpu_s"] < 0.1
    pids = {s.pid for s in sample_tree([Root(os.getpid(), "test")])}
    assert {p.pid for p in children} <= pids


def test_a_root_that_is_gone_is_left_out() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert sample_tree([Root(proc.pid, "gone")]) == []


@given(st.integers(0, 100_000), st.integers(1, 30_000))
def test_a_fleet_is_split_within_the_limit(total: int, per_part: int) -> None:
    parts = split(total, per_part)
    assert [i for r in parts for i in r] == list(range(total))
    assert all(len(r) <= per_part for r in parts)
    assert len(parts) == max(1, -(-total // per_part))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@given(st.integers(1, 100_000), st.floats(0.1, 60), st.integers(1, 20))
def test_the_planned_total_is_what_the_connections_send(rate: int, duration: float, connections: int) -> None:
    plan = LoadPlan(rate, duration, connections, 100, "P-")
    assert planned_total(plan) == per_connection(plan) * connections
    assert planned_total(plan) <= rate * duration + 1e-6


def test_latency_counts_missed_and_duplicated_among_our_devices() -> None:
    sent = {"A": 10.0, "B": 10.0, "C": 11.0}
    arrivals = {"A": [10.1], "B": [10.3, 10.4], "X": [10.0, 10.2]}  # X: someone else's
    out = latency_figures(sent, arrivals)
    assert out["missed"] == 1 and out["duplicated"] == 1
    assert out["max_ms"] == pytest.approx(300.0)
    assert latency_figures({"A": 1.0}, {})["p99_ms"] is None


def test_rates_as_given_or_the_default() -> None:
    assert parse_rates([5000, 15000]) == (5000, 15000)
    assert parse_rates(None) == (10_000,)
    assert parse_rates(None, overload=True) == ()
