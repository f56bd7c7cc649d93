"""Throughput of N ingest processes on one shared subscription, against one on a plain one.

    python -m bench.ingest_shared --ingesters 1 2 --rate 30000 --duration 20

For each N: a private broker and database (the ``semon up`` stack), N ``semon ingest``
processes (N > 1: ``SEMON_INGEST_SHARE_GROUP`` set, a client id each), and ``semon bench
ingest``'s load and counting against them. One JSON line per N, the bench's figures (lag from
the first ingester's metrics) plus the ingesters' CPU seconds per stored message. The stacks
are made one after the other in the same run, so the figures compare on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from bench.ingest import BenchOptions, _wait_metrics, run_bench
from semon.settings import MetricsSettings, MqttSettings, Settings
from semon.stack import LocalStack, free_port


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(ingesters: int, options: BenchOptions) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="semon-share-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    try:
        async with LocalStack(root) as stack:
            return await _with_ingesters(stack, root, ingesters, options)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _with_ingesters(stack: LocalStack, root: Path, ingesters: int, options: BenchOptions) -> dict[str, object]:
    group = f"ingest-{secrets.token_hex(8)}" if ingesters > 1 else ""
    ports: list[int] = []
    while len(ports) < ingesters:  # distinct, and none the stack took meanwhile
        port = free_port()
        if port not in ports and port not in (stack.mosquitto.port, stack.postgres.port):
            ports.append(port)
    procs: list[asyncio.subprocess.Process] = []
    try:
        for i, port in enumerate(ports):
            env = {**os.environ, "SEMON_MQTT_URL": stack.ingest_mqtt_url,
                   "SEMON_DATABASE_URL": stack.database_url, "SEMON_METRICS_PORT": str(port),
                   "SEMON_INGEST_SHARE_GROUP": group, "SEMON_INGEST_CLIENT_ID": f"semon-ingest-{i + 1}",
                   "SEMON_LOG_LEVEL": "WARNING"}
            procs.append(await asyncio.create_subprocess_exec(sys.executable, "-m", "semon", "ingest", env=env))
        for port in ports:
            await _wait_metrics(f"http://127.0.0.1:{port}/metrics")
        settings = Settings(mqtt=MqttSettings(url=stack.mqtt_url), database_url=stack.database_url,
                            metrics=MetricsSettings(host="127.0.0.1", port=ports[0]), data_dir=root / "var")
        cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
        figures = await run_bench(settings, options)
        cpu = sum(_cpu_seconds(p.pid) for p in procs) - cpu_before
        return {**figures, "ingesters": ingesters,
                "ingest_cpu_us_per_message": round(cpu / max(figures["stored"], 1) * 1e6, 1)}
    finally:  # before the stack stops: they would only retry a broker that is gone
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingesters", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate", type=int, default=30_000)
    parser.add_argument("--duration", type=float, default=20)
    args = parser.parse_args()
    for n in args.ingesters:
        result = asyncio.run(measure(n, BenchOptions(args.rate, args.duration)))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
