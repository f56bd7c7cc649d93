"""The ``semon`` command."""

from __future__ import annotations

import argparse
import sys

from semon.runner import configure_logging, run
from semon.settings import Settings


def _ingest(settings: Settings, _: argparse.Namespace) -> int:
    from ingest.service import Ingester

    if not settings.mqtt_url or not settings.database_url:
        print("semon ingest needs SEMON_MQTT_URL and SEMON_DATABASE_URL (or use `semon up`)", file=sys.stderr)
        return 2
    ingester = Ingester(settings, settings.mqtt_url, settings.database_url)
    run(ingester.run)
    return 0


def _up(settings: Settings, _: argparse.Namespace) -> int:
    from semon.up import run_up

    run(lambda: run_up(settings))
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from semon.db import apply_migrations

    if not settings.database_url:
        print("semon migrate needs SEMON_DATABASE_URL", file=sys.stderr)
        return 2
    applied = run(lambda: apply_migrations(settings.database_url or ""))
    print("applied:", ", ".join(applied or []) or "nothing (up to date)")
    return 0


def _bench_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from ingest.bench import BenchOptions, run_bench

    options = BenchOptions(rate=args.rate, duration=args.duration, connections=args.connections,
                           devices=args.devices, drain_timeout=args.drain_timeout)
    run(lambda: run_bench(settings, options))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semon", description="Special-equipment monitoring backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the whole system; starts a private broker and database if none is set"
                   ).set_defaults(func=_up)
    sub.add_parser("ingest", help="run the MQTT → TimescaleDB ingester").set_defaults(func=_ingest)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)

    bench = sub.add_parser("bench", help="benchmarks; each prints a final JSON line")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    b_ingest = bench_sub.add_parser("ingest", help="offered MQTT load against the ingester")
    b_ingest.add_argument("--rate", type=int, default=20_000, help="offered messages per second")
    b_ingest.add_argument("--duration", type=float, default=30, help="seconds of load")
    b_ingest.add_argument("--connections", type=int, default=0, help="publishing connections (0: auto)")
    b_ingest.add_argument("--devices", type=int, default=10_000, help="simulated devices")
    b_ingest.add_argument("--drain-timeout", type=float, default=60, help="seconds to wait for the tail")
    b_ingest.set_defaults(func=_bench_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    settings = Settings()
    code: int = args.func(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
