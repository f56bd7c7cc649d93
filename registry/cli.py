"""``semon registry …``: import, export, the inspection rate, notices. Against
``SEMON_DATABASE_URL``, or the database of a running ``semon up``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg

from registry.chart import trend_svg
from registry.due import Rules
from registry.rate import TARGET_PERCENT, Formula, compute_rates, snapshot_rates, trend
from semon.db import apply_migrations
from semon.db.pool import open_pool
from semon.settings import Settings


def _format(path: Path, given: str | None) -> Literal["csv", "xlsx"]:
    fmt = given or path.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        raise SystemExit(f"semon registry: cannot tell the format of {path} (use --format csv|xlsx)")
    return "xlsx" if fmt == "xlsx" else "csv"


async def import_file(url: str, args: argparse.Namespace, settings: Settings) -> int:
    from registry.io import import_register

    path = Path(args.file)
    await apply_migrations(url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        report = await import_register(conn, path, _format(path, args.format), today=settings.registry.today(),
                                       rules=Rules.of(settings.registry))
    for problem in (*report.problems, *report.warnings):
        print(str(problem), file=sys.stderr)
    print(json.dumps({"stored": report.stored, "inserted": report.inserted, "updated": report.updated,
                      "unchanged": report.unchanged, "rejected": report.rejected,
                      "problems_not_listed": report.omitted}))
    return 1 if report.rejected or report.problems else 0  # a file problem stores nothing more


async def export_file(url: str, args: argparse.Namespace) -> int:
    from registry.io import export_register

    path = Path(args.file)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        count = await export_register(conn, path, _format(path, args.format), chinese=args.lang == "zh-CN")
    print(json.dumps({"exported": count, "file": str(path)}))
    return 0


async def rate(url: str, args: argparse.Namespace, settings: Settings) -> int:
    day = date.fromisoformat(args.date) if args.date else settings.registry.today()
    formula = Formula(settings.registry.rate_formula)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        rows = await (snapshot_rates(conn, day, formula) if args.snapshot else compute_rates(conn, day, formula))
        await conn.commit()
        if args.chart:
            series = await trend(conn, args.by or "district", date.fromordinal(day.toordinal() - args.days), day,
                                 formula)
            svg = trend_svg(series, title=f"定检率 by {args.by or 'district'}")
            await asyncio.to_thread(Path(args.chart).write_text, svg, encoding="utf-8")
    for row in rows:
        if args.by is None or row.dimension in (args.by, "city"):
            print(json.dumps(row.as_json(), ensure_ascii=False))
    return 0


async def notices(url: str, args: argparse.Namespace, settings: Settings) -> int:
    from registry.notices import scan_notices
    from registry.outbox import deliver_due

    day = date.fromisoformat(args.date) if args.date else settings.registry.today()
    result: dict[str, Any] = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        result["created"] = await scan_notices(conn, day, months_before=settings.notices.months_before,
                                               repeat_days=settings.notices.overdue_repeat_days)
        await conn.commit()
    if args.deliver:
        async with open_pool(url, min_size=1, max_size=4, name="semon-notices") as pool:
            result["delivered"] = await deliver_due(pool, settings.notices, settings.smtp, datetime.now(UTC))
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT state, count(*) FROM notices GROUP BY state ORDER BY state")
        result["by_state"] = {str(s): int(n) for s, n in await cur.fetchall()}
    print(json.dumps(result))
    return 0


async def reschedule(url: str, args: argparse.Namespace, settings: Settings) -> int:
    """Compute every unit's due dates by the rules and the scheme settings now in force. The
    services do it by themselves when these change; this does it now, even when they did not."""
    from registry.store import reschedule_if_changed

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DELETE FROM registry_rules")  # whatever was recorded: compute them all
        count = await reschedule_if_changed(conn, Rules.of(settings.registry))
    print(json.dumps({"rescheduled": count}))
    return 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    reg: argparse.ArgumentParser = sub.add_parser(
        "registry", help="the equipment register: import, export, inspection rate, notices")
    reg_sub = reg.add_subparsers(dest="registry", required=True)
    imp = reg_sub.add_parser("import", help="import a CSV or XLSX register; every bad row is reported by line")
    imp.add_argument("file")
    imp.add_argument("--format", choices=("csv", "xlsx"))
    exp = reg_sub.add_parser("export", help="export the register as CSV or XLSX")
    exp.add_argument("file")
    exp.add_argument("--format", choices=("csv", "xlsx"))
    exp.add_argument("--lang", choices=("en", "zh-CN"), default="en",
                     help="zh-CN: Chinese headings and values (设备代码, 电梯, 在用), read back by the import")
    rt = reg_sub.add_parser("rate", help=f"the inspection rate (定检率) against the {TARGET_PERCENT:.0f}%% target, "
                                         "by SEMON_REGISTRY_RATE_FORMULA (not_overdue, passed_over_due)")
    rt.add_argument("--date", help="YYYY-MM-DD (default: today in SEMON_NOTICE_TIMEZONE)")
    rt.add_argument("--by", choices=("category", "district", "agency"))
    rt.add_argument("--snapshot", action="store_true", help="keep it as the day's snapshot (the trend)")
    rt.add_argument("--chart", help="write the trend by --by (default district) as an SVG file")
    rt.add_argument("--days", type=int, default=90, help="days of trend in the chart")
    reg_sub.add_parser("reschedule", help="compute every unit's due dates again by the rules and the elevator "
                       "schemes now set (SEMON_REGISTRY_ELEVATOR_SCHEME*); the services do it when these change")
    nt = reg_sub.add_parser("notices", help="scan for due and overdue notices; --deliver sends them")
    nt.add_argument("--date", help="YYYY-MM-DD (default: today in SEMON_NOTICE_TIMEZONE)")
    nt.add_argument("--deliver", action="store_true")
    return reg
