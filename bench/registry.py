"""``semon bench registry``: the daily due/overdue scan and the inspection-rate computation
over a register of a million units, on a private PostgreSQL with TimescaleDB.

Loading the register and its first scan (which catches up with every notice already due) are
preparation; ``seconds`` is the daily work: the next day's notice scan, then the rate by city,
category, district and agency, and its snapshot.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

from bench.procstats import ProcessWatch, Root
from registry.demo import demo_units, load_units
from registry.notices import scan_notices
from registry.rate import snapshot_rates
from semon.db import apply_migrations
from semon.stack import PostgresServer
from semon.today import register_today


async def run_registry_bench(units: int, today: date | None = None) -> dict[str, object]:
    today = today or register_today()
    root = Path(tempfile.mkdtemp(prefix="semon-bench-registry-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    server = PostgresServer(root / "postgres", durable=False)
    watch = ProcessWatch([Root(os.getpid(), "bench")])
    await server.start()
    try:
        url = server.url_for("semon")
        await apply_migrations(url)
        async with await psycopg.AsyncConnection.connect(url) as conn:
            t0 = time.monotonic()
            loaded = await load_units(conn, demo_units(units, today=today), today=today)
            await conn.commit()
            await conn.execute("ANALYZE")
            load_s = time.monotonic() - t0

            # The register's first scan catches up with every notice already due: a one-off. The
            # daily work is the next day's scan, which adds that day's notices and the weekly repeats.
            t_first = time.monotonic()
            first = await scan_notices(conn, today - timedelta(days=1))
            await conn.commit()
            first_s = time.monotonic() - t_first
            watch.start()  # the benchmark's process and its PostgreSQL, over the daily work
            t1 = time.monotonic()
            notices = await scan_notices(conn, today)
            t2 = time.monotonic()
            rates = await snapshot_rates(conn, today)
            await conn.commit()
            t3 = time.monotonic()
            processes = watch.report()
    finally:
        await server.stop()
        shutil.rmtree(root, ignore_errors=True)
    city = next(r for r in rates if r.dimension == "city")
    result: dict[str, object] = {
        "units": loaded,
        "seconds": round(t3 - t1, 2),
        "scan_seconds": round(t2 - t1, 2),
        "rate_seconds": round(t3 - t2, 2),
        "notices_created": notices,
        "first_scan_seconds": round(first_s, 1),
        "first_scan_notices": first,
        "city_rate": round(city.rate or 0.0, 2),
        "load_seconds": round(load_s, 1),
        "processes": processes,
    }
    print(f"{loaded} units loaded in {load_s:.0f} s (not timed)", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return result
