"""The ``semon`` command."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from semon.limits import raise_open_files_limit
from semon.runner import configure_logging, run
from semon.settings import Settings, SettingsProblem, load_settings

if TYPE_CHECKING:
    from simulators.core import Output
    from simulators.service import SimulationOptions


def _service_urls(settings: Settings, command: str) -> tuple[str, str] | None:
    """A service run alone needs both addresses configured (``semon up`` starts its own)."""
    if not settings.mqtt.url or not settings.database_url:
        print(f"semon {command} needs SEMON_MQTT_URL and SEMON_DATABASE_URL (or use `semon up`)", file=sys.stderr)
        return None
    return settings.mqtt.url, settings.database_url


def _ingest(settings: Settings, _: argparse.Namespace) -> int:
    from assembly.parts import new_ingester

    if (urls := _service_urls(settings, "ingest")) is None:
        return 2
    run(new_ingester(settings, *urls).run)
    return 0


def _alerts(settings: Settings, _: argparse.Namespace) -> int:
    from assembly.alerts_service import AlertsService
    from semon.heap import with_frozen_heap

    if (urls := _service_urls(settings, "alerts")) is None:
        return 2
    service = AlertsService(settings, *urls)
    run(lambda: with_frozen_heap(service.run, settings.backoff.backoff()))
    return 0


def _database(settings: Settings, command: str) -> str | None:
    from semon.running import configured_or_running

    url = configured_or_running(settings, "database_url")
    if not url:
        print(f"semon {command} needs SEMON_DATABASE_URL or a running `semon up`", file=sys.stderr)
    return url


def _up(settings: Settings, _: argparse.Namespace) -> int:
    from assembly.up import run_up

    run(lambda: run_up(settings))
    return 0


def _part(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from assembly.parts import run_part

    run(lambda: run_part(args.name, Path(args.config), args.index))
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
    from bench.ingest import BenchOptions, run_bench

    options = BenchOptions(rate=args.rate, duration=args.duration, connections=args.connections,
                           devices=args.devices, drain_timeout=args.drain_timeout, rounds=args.rounds,
                           c_pipe=not args.no_c_pipe)
    run(lambda: run_bench(settings, options))
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from semon.running import configured_or_running
    from simulators.core import Periods
    from simulators.scenario import ScenarioError, load_scenario
    from simulators.service import Simulation, SimulationOptions, SimulationReport

    options = SimulationOptions(
        elevators=args.elevators, boilers=args.boilers, seed=args.seed, speed=args.speed,
        scenario=Path(args.scenario) if args.scenario else None, duration=args.duration,
        fault_interval_s=args.fault_interval, periods=Periods(args.idle_period, args.active_period),
    )
    if not (options.elevators or options.boilers or options.scenario):
        print("semon simulate: nothing to simulate (give --elevators, --boilers or --scenario)", file=sys.stderr)
        return 2
    if args.dry_run:
        return _dry_run(options)
    if options.scenario is not None:
        try:
            load_scenario(options.scenario).build(0)  # refuse a bad file before connecting anything
        except ScenarioError as exc:
            print(f"semon simulate: {exc}", file=sys.stderr)
            return 2
    mqtt_url = configured_or_running(settings, "mqtt_url")
    if not mqtt_url:
        print("semon simulate needs a broker: set SEMON_MQTT_URL or start `semon up`", file=sys.stderr)
        return 2
    async def simulate() -> SimulationReport:
        return await Simulation(mqtt_url, options, tls=settings.mqtt).run()

    try:
        report = run(simulate)
    except ScenarioError as exc:
        print(f"semon simulate: {exc}", file=sys.stderr)
        return 2
    if report is not None:
        print(json.dumps(report.as_dict(), ensure_ascii=False), flush=True)
        return 1 if report.as_dict()["expected_alarms_match"] is False else 0
    return 0


def _dry_run(options: SimulationOptions) -> int:
    """Print what the scenario's devices would publish, as JSON lines, without a broker."""
    import time

    from simulators.scenario import ScenarioError, load_scenario

    if options.scenario is None:
        print("semon simulate --dry-run needs --scenario", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(options.scenario)
        output = scenario.verify(options.origin_ms or int(time.time() * 1000))
    except ScenarioError as exc:
        print(f"semon simulate: {exc}", file=sys.stderr)
        return 1
    try:
        _print_lines(output)
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        sys.stderr.close()
    return 0


def _print_lines(output: list[Output]) -> None:
    import orjson

    from simulators.core import Cause, Frame, LinkChange

    for o in output:
        if isinstance(o, Frame):
            line = {"t": round(o.t, 3), "topic": o.topic, "payload": o.payload}
        elif isinstance(o, LinkChange):
            line = {"t": round(o.t, 3), "device": o.device_id, "link": str(o.event)}
        else:
            assert isinstance(o, Cause)
            line = {"t": round(o.t, 3), "device": o.device_id, "alarm": str(o.alarm)}
        sys.stdout.buffer.write(orjson.dumps(line) + b"\n")


def _bench_fleet(settings: Settings, args: argparse.Namespace) -> int:
    from bench.fleet import FleetBenchOptions, run_fleet_against_running, run_fleet_bench

    options = FleetBenchOptions(devices=args.devices, duration=args.duration, hour=args.hour, seed=args.seed,
                                running=args.running, per_process=args.per_process,
                                edge_brokers=args.edge_brokers)
    if not options.running:
        run(lambda: run_fleet_bench(options))
        return 0
    try:
        run(lambda: run_fleet_against_running(settings, options))
    except RuntimeError as exc:
        print(f"semon bench fleet: {exc}", file=sys.stderr)
        return 2
    return 0


def _bench_alerts(settings: Settings, args: argparse.Namespace) -> int:
    from bench.alerts import AlertsBenchOptions, BenchError, parse_rates, run_alerts_bench

    options = AlertsBenchOptions(rates=parse_rates(args.rate, overload=args.overload), duration=args.duration,
                                 entrapments=args.entrapments, drain_timeout=args.drain_timeout, overload=args.overload,
                                 probe_rate=args.probe_rate, probe_duration=args.probe_duration)
    try:
        run(lambda: run_alerts_bench(settings, options))
    except BenchError as exc:
        print(f"semon bench alerts: {exc}", file=sys.stderr)
        return 2
    return 0


def _registry(settings: Settings, args: argparse.Namespace) -> int:
    from registry import cli as registry_cli

    if (url := _database(settings, "registry")) is None:
        return 2
    commands = {
        "import": lambda: registry_cli.import_file(url, args, settings),
        "export": lambda: registry_cli.export_file(url, args),
        "rate": lambda: registry_cli.rate(url, args, settings),
        "notices": lambda: registry_cli.notices(url, args, settings),
        "reschedule": lambda: registry_cli.reschedule(url, args, settings),
    }
    code = run(commands[args.registry])
    return code if code is not None else 1


def _users(settings: Settings, args: argparse.Namespace) -> int:
    from web import users_cli
    from web.users import UserError

    if (url := _database(settings, "users")) is None:
        return 2
    if args.users == "list":
        code = run(lambda: users_cli.print_users(url))
    elif args.users in ("disable", "enable"):
        code = run(lambda: users_cli.activate(url, args, args.users == "enable"))
    else:
        try:
            password = users_cli.read_password(args)  # at the terminal, before the event loop runs
        except UserError as exc:
            print(f"semon users {args.users}: {exc}", file=sys.stderr)
            return 2
        if args.users == "add":
            from registry.store import agency_exists

            code = run(lambda: users_cli.add_user(url, args, password, agency_exists=agency_exists))
        else:
            code = run(lambda: users_cli.new_password(url, args, password))
    return code if code is not None else 1


def _bench_registry(settings: Settings, args: argparse.Namespace) -> int:
    from bench.registry import run_registry_bench

    run(lambda: run_registry_bench(args.units))
    return 0


def _bench_metrics(settings: Settings, args: argparse.Namespace) -> int:
    from bench.metrics import run_metrics_bench

    run_metrics_bench(args.updates)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semon", description="Special-equipment monitoring backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the whole system; starts a private broker and database if none is set"
                   ).set_defaults(func=_up)
    sub.add_parser("ingest", help="run the MQTT → TimescaleDB ingester").set_defaults(func=_ingest)
    sub.add_parser("alerts", help="run the rules engine, incident deadlines and the HTTP API"
                   ).set_defaults(func=_alerts)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    from assembly.parts import PART_NAMES

    part = sub.add_parser("part", help="one part of `semon up` (started by it, not by hand)")
    part.add_argument("name", choices=PART_NAMES)
    part.add_argument("--config", required=True, help="the parts' configuration file `semon up` wrote (0600)")
    part.add_argument("--index", type=int, default=1, help="which ingest process (1-based)")
    part.set_defaults(func=_part)

    from registry.cli import add_parser as add_registry_parser

    add_registry_parser(sub).set_defaults(func=_registry)

    from web.users_cli import add_parser as add_users_parser

    add_users_parser(sub).set_defaults(func=_users)
    sim = sub.add_parser("simulate", help="simulated elevators and boilers, each with its own MQTT connection")
    sim.add_argument("--elevators", type=int, default=0, help="elevators of the simulated city")
    sim.add_argument("--boilers", type=int, default=0, help="boilers of the simulated city")
    sim.add_argument("--scenario", help="a scenario file, or the name of a bundled one (simulators/scenarios)")
    sim.add_argument("--seed", type=int, help="the same seed gives the same frames (default: the scenario's, or 1)")
    sim.add_argument("--speed", type=float, default=1.0, help="simulation seconds per second (time compression)")
    sim.add_argument("--duration", type=float, help="simulation seconds to run (default: the scenario's, or for ever)")
    sim.add_argument("--fault-interval", type=float, default=0.0,
                     help="mean seconds between random faults in the city (0: none)")
    sim.add_argument("--idle-period", type=float, default=5.0, help="telemetry period while idle, seconds")
    sim.add_argument("--active-period", type=float, default=1.0, help="telemetry period while running, seconds")
    sim.add_argument("--dry-run", action="store_true",
                     help="print the scenario's frames and alarms as JSON lines, without a broker")
    sim.set_defaults(func=_simulate)

    bench = sub.add_parser("bench", help="benchmarks; each prints a final JSON line")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    b_ingest = bench_sub.add_parser("ingest", help="offered MQTT load against the ingester")
    b_ingest.add_argument("--rate", type=int, default=20_000, help="offered messages per second")
    b_ingest.add_argument("--duration", type=float, default=30, help="seconds of load")
    b_ingest.add_argument("--connections", type=int, default=0, help="publishing connections (0: auto)")
    b_ingest.add_argument("--devices", type=int, default=10_000, help="simulated devices")
    b_ingest.add_argument("--drain-timeout", type=float, default=60,
                          help="seconds without a message stored before the rest counts as lost")
    b_ingest.add_argument("--rounds", type=int, default=2,
                          help="rounds of a semon run and a C pipe run, the order alternating")
    b_ingest.add_argument("--no-c-pipe", action="store_true", help="no mosquitto_sub | psql run beside semon's")
    b_ingest.set_defaults(func=_bench_ingest)
    b_alerts = bench_sub.add_parser("alerts", help="entrapment publish to live-stream alarm, under load; "
                                    "against the running `semon up`, else one started with its city")
    b_alerts.add_argument("--rate", type=int, action="append",
                          help="background telemetry messages per second; several: one JSON line each (default 10000)")
    b_alerts.add_argument("--duration", type=float, default=30, help="seconds of load per run")
    b_alerts.add_argument("--entrapments", type=int, default=200, help="entrapments injected over each run")
    b_alerts.add_argument("--drain-timeout", type=float, default=15,
                          help="seconds to wait for the last alarms after the load")
    b_alerts.add_argument("--overload", action="store_true",
                          help="measure the ingest capacity, then offer twice it; latency and backlog drain")
    b_alerts.add_argument("--probe-rate", type=int, default=40_000,
                          help="offered rate of the ingest capacity probe (well above the capacity)")
    b_alerts.add_argument("--probe-duration", type=float, default=10, help="seconds of the capacity probe")
    b_alerts.set_defaults(func=_bench_alerts)
    b_registry = bench_sub.add_parser("registry", help="daily due/overdue scan and inspection rate over a register")
    b_registry.add_argument("--units", type=int, default=1_000_000, help="registered units")
    b_registry.set_defaults(func=_bench_registry)
    b_metrics = bench_sub.add_parser("metrics", help="the cost of one metric update (counter, lag histogram)")
    b_metrics.add_argument("--updates", type=int, default=200_000, help="updates timed per figure")
    b_metrics.set_defaults(func=_bench_metrics)
    b_fleet = bench_sub.add_parser("fleet", help="a simulated city fleet, one connection each: on a private broker, "
                                    "or --running against `semon up` (memory)")
    b_fleet.add_argument("--devices", type=int, default=5000, help="simulated devices (10%% boilers)")
    b_fleet.add_argument("--duration", type=float, default=60, help="seconds to run")
    b_fleet.add_argument("--hour", type=int, default=8, choices=range(24), metavar="0-23",
                         help="local hour the run starts at (traffic follows the time of day)")
    b_fleet.add_argument("--seed", type=int, default=1)
    b_fleet.add_argument("--running", action="store_true",
                         help="connect the devices to the running `semon up`; print the RSS of its processes")
    b_fleet.add_argument("--per-process", type=int, default=0,
                         help="with --running: devices per simulator process (0: as the open-files limit allows)")
    b_fleet.add_argument("--edge-brokers", action="store_true",
                         help="with --running: through edge brokers bridged into the system's, even where "
                              "its broker could take every connection")
    b_fleet.set_defaults(func=_bench_fleet)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    raise_open_files_limit()  # connections are descriptors; the servers `semon up` starts inherit it
    try:
        settings = load_settings()
    except SettingsProblem as exc:
        print(f"semon: settings refused:\n{exc}", file=sys.stderr)
        return 2
    code: int = args.func(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
