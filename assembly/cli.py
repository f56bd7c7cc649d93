"""The ``semon`` command."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from semon.limits import raise_open_files_limit
from semon.runner import configure_logging, run
from semon.settings import Settings, SettingsProblem, load_settings

if TYPE_CHECKING:
    from simulators.core import Output
    from simulators.service import SimulationOptions


def _service_urls(settings: Settings, command: str) -> tuple[str, str] | None:
    """A service run alone needs both addresses configured (``semon up`` starts its own): the
    broker's, or in cluster mode the cluster's (SEMON_CLUSTER_NATS_URLS), and the database's."""
    if not (settings.mqtt.url or settings.cluster.enabled) or not settings.database_url:
        print(f"semon {command} needs SEMON_MQTT_URL (or SEMON_CLUSTER_NATS_URLS) and SEMON_DATABASE_URL "
              "(or use `semon up`)", file=sys.stderr)
        return None
    return settings.mqtt.url or "", settings.database_url


def _checked(settings: Settings, command: str, *, serves_api: bool, client_id: str) -> bool:
    """A service's ports, checked before it starts (``assembly.startup``): a problem is one line
    naming its setting. The broker and the database it waits out, as ever."""
    from assembly.startup import StartupProblem, check_service, one_line

    try:
        run(lambda: check_service(settings, serves_api=serves_api, client_id=client_id))
    except StartupProblem as exc:
        print(f"semon {command}: {one_line(exc, 500)}", file=sys.stderr)
        return False
    return True


def _ingest(settings: Settings, _: argparse.Namespace) -> int:
    from assembly.parts import new_ingester

    if (urls := _service_urls(settings, "ingest")) is None:
        return 2
    if not _checked(settings, "ingest", serves_api=False, client_id=settings.ingest.client_id):
        return 1
    run(new_ingester(settings, *urls).run)
    return 0


def _alerts(settings: Settings, _: argparse.Namespace) -> int:
    from assembly.alerts_service import AlertsService
    from semon.heap import with_frozen_heap

    if (urls := _service_urls(settings, "alerts")) is None:
        return 2
    if not _checked(settings, "alerts", serves_api=True, client_id=settings.rules.client_id):
        return 1
    service = AlertsService(settings, *urls)
    run(lambda: with_frozen_heap(service.run, settings.backoff.backoff()))
    return 0


def _database(settings: Settings, command: str) -> str | None:
    from semon.running import configured_or_running

    url = configured_or_running(settings, "database_url")
    if not url:
        print(f"semon {command} needs SEMON_DATABASE_URL or a running `semon up`", file=sys.stderr)
    return url


def _nodes(value: str) -> int:
    try:
        nodes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of nodes: {value!r}") from None
    if not 1 <= nodes <= 9:
        raise argparse.ArgumentTypeError(f"1 to 9 on this machine, not {nodes}")
    return nodes


def _worker_counts(value: str) -> tuple[int, ...]:
    """``--workers 1,2,3`` of the cluster benchmarks: one run each."""
    try:
        counts = tuple(_nodes(v) for v in value.split(",") if v.strip())
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"ingest workers: {exc}") from None
    if not counts:
        raise argparse.ArgumentTypeError("no number of workers given")
    return counts


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", type=_nodes, nargs="?", const=3, default=0, metavar="N",
                        help="against a fresh `semon up --cluster N` (N default 3) per --workers value, "
                             "the load spread over its nodes; one final JSON line with a result per W")
    parser.add_argument("--workers", type=_worker_counts, default=(1, 2, 3), metavar="W[,W...]",
                        help="with --cluster: the ingest workers of each run (default 1,2,3)")


def _up(settings: Settings, args: argparse.Namespace) -> int:
    from assembly.part_manager import PartError
    from assembly.startup import StartupProblem, one_line
    from assembly.up import run_up
    from semon.stack.process import StackError

    try:
        run(lambda: run_up(settings, demo=args.demo, cluster=args.cluster, workers=args.workers))
    except (StartupProblem, StackError, PartError) as exc:
        print(f"semon up: {one_line(exc, 500)}", file=sys.stderr)
        return 1
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
    from bench.ingest import BenchOptions, ClusterBenchOptions, run_bench, run_cluster_bench

    if args.cluster:
        cluster = ClusterBenchOptions(workers=args.workers, nodes=args.cluster, duration=args.duration,
                                      rate=args.rate or 0, connections=args.connections, devices=args.devices,
                                      drain_timeout=args.drain_timeout)
        run(lambda: run_cluster_bench(cluster))
        return 0
    options = BenchOptions(rate=args.rate or 20_000, duration=args.duration, connections=args.connections,
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
    from bench.alerts import AlertsBenchOptions, BenchError, parse_rates, run_alerts_bench, run_alerts_cluster_bench

    options = AlertsBenchOptions(rates=parse_rates(args.rate, overload=args.overload), duration=args.duration,
                                 entrapments=args.entrapments, drain_timeout=args.drain_timeout, overload=args.overload,
                                 probe_rate=args.probe_rate, probe_duration=args.probe_duration)
    try:
        if args.cluster:
            run(lambda: run_alerts_cluster_bench(options, args.workers, args.cluster))
        else:
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


_UP_HELP = """\
Run the whole system: the ingester, the rules engine, the HTTP API with the console, the
register's jobs (incident deadlines, notices, rate snapshots), each in a process of its own
under supervisord, and the metrics with /healthz. It prints where everything is, the console's
address last; Ctrl-C stops everything.

With neither SEMON_MQTT_URL nor SEMON_DATABASE_URL set it is a demonstration: a private
Mosquitto and PostgreSQL with TimescaleDB under SEMON_DATA_DIR/stack (system binaries, bin/setup
installs them), a generated register, a simulated city and demo users (password shown once).

With SEMON_MQTT_URL and SEMON_DATABASE_URL set (either alone: a private server stands in for the
other) it is an installation: it checks that both answer, applies the migrations
and runs against them, with no generated data, no simulated city and no demo users (--demo adds
them); on a fresh database create the first administrator with `semon users add NAME --role admin`.
The sample environment file deploy/systemd/semon.env.example lists every setting.

Needs: SEMON_API_PORT (8080) and SEMON_METRICS_PORT (9464) free on SEMON_API_HOST and
SEMON_METRICS_HOST (127.0.0.1), SEMON_DATA_DIR (var) writable; a start-up problem is one line
naming the setting to change, and exit status 1 (2 for a refused setting).

examples:
  semon up                                   # the demo on this machine, console on :8080
  SEMON_API_HOST=0.0.0.0 SEMON_API_PORT=8081 semon up
  set -a; . /etc/semon/semon.env; set +a; semon up   # an installation against real services
"""

_INGEST_HELP = """\
Run the MQTT -> TimescaleDB ingester alone (one process; several share a subscription with
SEMON_INGEST_SHARE_GROUP). It subscribes to se/+/+/+, validates and stores every message and
acknowledges it only once committed; it applies the database migrations at start.

Needs: SEMON_MQTT_URL (the ingester's broker account, named after SEMON_INGEST_CLIENT_ID where
the broker binds client ids to accounts) and SEMON_DATABASE_URL. Serves /metrics and /healthz on
SEMON_METRICS_HOST:SEMON_METRICS_PORT (127.0.0.1:9464); a taken port is one line naming its
setting (exit status 1). It waits out a broker or database that is away.

examples:
  SEMON_MQTT_URL=mqtt://semon-ingest-1:PASSWORD@127.0.0.1:1883 \\
  SEMON_DATABASE_URL=postgresql://semon:PASSWORD@127.0.0.1:5432/semon semon ingest
  systemctl enable --now semon-ingest        # deploy/systemd/semon-ingest.service
"""

_ALERTS_HELP = """\
Run the rules engine, the incident deadlines, the register's jobs and the HTTP API with the
console and its live stream, in one process (`semon up` runs them as separate parts). Run one:
the engine needs each device's messages in order.

Needs: SEMON_MQTT_URL (the rules engine's account, named after SEMON_RULES_CLIENT_ID, and
SEMON_RULES_EVENTS_MQTT_URL for its event session where accounts are bound to client ids) and
SEMON_DATABASE_URL. Serves the console and the API on http://SEMON_API_HOST:SEMON_API_PORT/
(127.0.0.1:8080) and metrics on SEMON_METRICS_PORT; a taken port is one line naming its setting
(exit status 1). Behind a reverse proxy see docs/deploy-https.md.

examples:
  SEMON_MQTT_URL=mqtt://semon-rules-1:PASSWORD@127.0.0.1:1883 \\
  SEMON_DATABASE_URL=postgresql://semon:PASSWORD@127.0.0.1:5432/semon semon alerts
  systemctl enable --now semon-alerts        # deploy/systemd/semon-alerts.service
"""

_MIGRATE_HELP = """\
Apply the database migrations (semon/db/migrations) that the database has not had yet, and
print which; nothing else starts. Idempotent: the services and `semon up` apply them too.

Needs: SEMON_DATABASE_URL, an account that may create tables and the TimescaleDB extension
(installed for the server: deploy/install-timescaledb.sh).

examples:
  SEMON_DATABASE_URL=postgresql://semon:PASSWORD@db.example:5432/semon semon migrate
"""


def _add_service_parsers(sub: Any) -> None:
    """``up``, ``ingest``, ``alerts`` and ``migrate``: what each starts and needs, with examples."""
    def add(name: str, summary: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, help=summary, description=text, formatter_class=argparse.RawDescriptionHelpFormatter)
        return parser

    up = add("up", "run the whole system (a demo on a private broker and database unless both URLs are set)",
             _UP_HELP)
    up.add_argument("--demo", action="store_true",
                    help="with configured services too: a generated register, the simulated city and demo users")
    up.add_argument("--cluster", type=_nodes, default=0, metavar="N",
                    help="cluster mode (docs/scale.md): devices on an N-node NATS cluster with JetStream on "
                         "127.0.0.1, N ingest workers and N rules engines sharing its partitioned stream")
    up.add_argument("--workers", type=_nodes, default=0, metavar="W",
                    help="with --cluster: W ingest workers (default: one per node)")
    up.set_defaults(func=_up)
    add("ingest", "run the MQTT -> TimescaleDB ingester (needs SEMON_MQTT_URL, SEMON_DATABASE_URL)",
        _INGEST_HELP).set_defaults(func=_ingest)
    add("alerts", "run the rules engine, incident deadlines and the HTTP API with the console "
        "(needs SEMON_MQTT_URL, SEMON_DATABASE_URL)", _ALERTS_HELP).set_defaults(func=_alerts)
    add("migrate", "apply database migrations (needs SEMON_DATABASE_URL)", _MIGRATE_HELP).set_defaults(func=_migrate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semon", description="Special-equipment monitoring backend")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_service_parsers(sub)
    from assembly.parts import PART_NAMES

    part = sub.add_parser("part", help="one part of `semon up` (started by it, not by hand)")
    part.add_argument("name", choices=PART_NAMES)
    part.add_argument("--config", required=True, help="the parts' configuration file `semon up` wrote (0600)")
    part.add_argument("--index", type=int, default=1, help="which ingest or rules process (1-based)")
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
    b_ingest.add_argument("--rate", type=int, default=None,
                          help="offered messages per second (default 20000; with --cluster: as fast as it takes them)")
    b_ingest.add_argument("--duration", type=float, default=30, help="seconds of load")
    b_ingest.add_argument("--connections", type=int, default=0, help="publishing connections (0: auto)")
    b_ingest.add_argument("--devices", type=int, default=10_000, help="simulated devices")
    b_ingest.add_argument("--drain-timeout", type=float, default=60,
                          help="seconds without a message stored before the rest counts as lost")
    b_ingest.add_argument("--rounds", type=int, default=2,
                          help="rounds of a semon run and a C pipe run, the order alternating")
    b_ingest.add_argument("--no-c-pipe", action="store_true", help="no mosquitto_sub | psql run beside semon's")
    _cluster_options(b_ingest)
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
    _cluster_options(b_alerts)
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
        for line in str(exc).splitlines():  # one line per setting, each naming its variable
            print(f"semon {args.command}: setting refused: {line}", file=sys.stderr)
        return 2
    code: int = args.func(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
