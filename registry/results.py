"""Inspection results in bulk: a file of the agency's inspections (CSV or XLSX, in any encoding an
office saves, English or Chinese headings), read with the register import's machinery
(``registry.io``: limits, encodings, line numbers; ``registry.io_rows``: cells), each good row
recorded as an inspection (``registry.store.record_inspection``), each bad one reported by line
and reason. An agency records only on its own units.

Columns (``RESULT_COLUMNS``; Chinese headings beside): registration_code 设备代码 (required),
schedule 检验项目 (default periodic), inspected_on 检验日期 (required), conclusion 检验结论 (as
``registry/conclusions.toml`` names them; or result), result 结果, kind 检验性质 (定期检验, 复检),
report_no 报告编号, inspector 检验员, next_stated 下次检验日期 (YYYY-MM), safety_grade 安全状况等级.
"""

from __future__ import annotations

import asyncio
import io
import logging
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg import AsyncConnection

from registry.conclusions import KIND_NAMES, judge
from registry.due import Category, DueError, Result, Rules
from registry.io import FileLimits, RegisterFormat, iter_csv, iter_xlsx
from registry.io_headings import heading_index
from registry.io_rows import CellError, Column, Problem, SourceRow, cell_text, parse_cell, records
from registry.store import inspection_too_early, record_inspection

log = logging.getLogger(__name__)

RESULT_COLUMNS: tuple[Column, ...] = (
    Column("registration_code", "code", "设备代码", "equipment", "registration_code", required=True),
    Column("schedule", "text", "检验项目: periodic, self_test, external, internal, hydrostatic, annual, "
           "installation, renovation, major_repair (or their Chinese names)", "equipment", "schedule"),
    Column("inspected_on", "date", "检验日期, YYYY-MM-DD", "equipment", "inspected_on", required=True),
    Column("conclusion", "text", "检验结论 as the category's rules name it", "equipment", "conclusion"),
    Column("result", "text", "pass, conditional or fail (where no conclusion is given)", "equipment", "result"),
    Column("kind", "text", "检验性质: 定期检验 (regular) or 复检 (reinspection)", "equipment", "kind"),
    Column("report_no", "text", "报告编号", "equipment", "report_no"),
    Column("inspector", "text", "检验员", "equipment", "inspector"),
    Column("next_stated", "month", "下次检验日期 the report states, YYYY-MM", "equipment", "next_stated"),
    Column("safety_grade", "int", "安全状况等级 1–5 (vessels, piping)", "equipment", "safety_grade", lo=1, hi=5),
)
RESULT_HEADINGS: Mapping[str, tuple[str, ...]] = {
    "registration_code": ("设备代码", "注册代码"), "schedule": ("检验项目", "检验类别"),
    "inspected_on": ("检验日期",), "conclusion": ("检验结论", "结论"), "result": ("结果",),
    "kind": ("检验性质",), "report_no": ("报告编号", "检验报告编号"), "inspector": ("检验员", "检验人员"),
    "next_stated": ("下次检验日期",), "safety_grade": ("安全状况等级",),
}
SCHEDULE_NAMES = {"定期检验": "periodic", "自行检测": "self_test", "外部检验": "external", "内部检验": "internal",
                  "耐压试验": "hydrostatic", "水(耐)压试验": "hydrostatic", "水压试验": "hydrostatic",
                  "年度检验": "annual", "安装监督检验": "installation", "改造监督检验": "renovation",
                  "重大修理监督检验": "major_repair"}
_BY_NAME = {c.name: c for c in RESULT_COLUMNS}
_SCHEDULES = {"".join(unicodedata.normalize("NFKC", k).split()).lower(): v for k, v in SCHEDULE_NAMES.items()}


def _fold(text: str) -> str:
    """A heading or name as compared: NFKC (full-width brackets as ASCII), no spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def _index() -> dict[str, str]:
    index = heading_index(tuple(_BY_NAME))
    for name, headings in RESULT_HEADINGS.items():
        for heading in headings:
            index[_fold(heading)] = name
    return index


_HEADINGS = _index()


@dataclass(frozen=True, slots=True)
class ResultRow:
    line: int
    registration_code: str
    schedule: str
    inspected_on: date
    conclusion: str | None
    result: Result | None
    kind: str
    report_no: str | None
    inspector: str | None
    next_stated: date | None
    safety_grade: int | None


@dataclass(frozen=True, slots=True)
class ResultsReport:
    stored: int  # new records
    replaced: int  # rows that corrected a record of the same unit, schedule, day and kind
    rejected: int
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]

    def as_json(self) -> dict[str, Any]:
        return {"stored": self.stored, "replaced": self.replaced, "rejected": self.rejected,
                "problems": [{"line": p.line, "reason": p.reason} for p in self.problems],
                "warnings": [{"line": p.line, "reason": p.reason} for p in self.warnings]}


def header_of(line: int, cells: Sequence[Any]) -> tuple[dict[str, int] | None, list[Problem]]:
    """Column name → position, or None with the problems that make the file unreadable."""
    index: dict[str, int] = {}
    unknown: list[str] = []
    for pos, cell in enumerate(cells):
        heading = cell_text(cell)
        if heading is None:
            continue
        name = _HEADINGS.get(_fold(heading))
        if name is None:
            unknown.append(heading)
        elif name in index:
            return None, [Problem(line, f"column {name} appears twice")]
        else:
            index[name] = pos
    missing = [c.name for c in RESULT_COLUMNS if c.required and c.name not in index]
    problems = [Problem(line, f"required column {m} ({RESULT_HEADINGS[m][0]}) is missing") for m in missing]
    if "conclusion" not in index and "result" not in index:
        problems.append(Problem(line, "required column conclusion (检验结论) is missing"))
    if problems:
        return None, problems
    warnings = [Problem(line, f"unknown columns ignored: {', '.join(unknown)}", warning=True)] if unknown else []
    return index, warnings


def parse_result(index: Mapping[str, int], line: int, cells: Sequence[Any]) -> ResultRow | list[str]:
    """One row, or its reasons."""
    values: dict[str, Any] = {}
    reasons: list[str] = []
    for name, pos in index.items():
        try:
            values[name] = parse_cell(_BY_NAME[name], cells[pos] if pos < len(cells) else None)
        except CellError as exc:
            reasons.append(str(exc))
    schedule = values.get("schedule") or "periodic"
    schedule = _SCHEDULES.get(_fold(schedule), schedule.lower())
    result: Result | None = None
    if values.get("result") is not None:
        try:
            result = Result(values["result"].lower())
        except ValueError:
            reasons.append(f"result {values['result']!r} is not one of pass, conditional, fail")
    if values.get("conclusion") is None and result is None and values.get("safety_grade") is None and not reasons:
        reasons.append("conclusion missing")
    if reasons:
        return reasons
    return ResultRow(line, values["registration_code"], schedule, values["inspected_on"], values.get("conclusion"),
                     result, values.get("kind") or "regular", values.get("report_no"), values.get("inspector"),
                     values.get("next_stated"), values.get("safety_grade"))


def read_results(source: Iterator[SourceRow | Problem]) -> Iterator[ResultRow | Problem]:
    """Good rows and problems (by line), in file order; a bad header ends the file."""
    for entry in records(source, header_of):
        if isinstance(entry, Problem):
            yield entry
            continue
        index, item = entry
        if item.problem is not None:
            yield Problem(item.line, item.problem)
            continue
        parsed = parse_result(index, item.line, item.cells)
        if isinstance(parsed, list):
            yield from (Problem(item.line, r) for r in parsed)
        else:
            yield parsed


def _source(data: bytes, format: RegisterFormat, limits: FileLimits) -> Iterator[SourceRow | Problem]:
    stream = io.BytesIO(data)
    yield from (iter_csv(stream, limits) if format == "csv" else iter_xlsx(stream, limits))


def _all(data: bytes, format: RegisterFormat, limits: FileLimits) -> list[ResultRow | Problem]:
    out: list[ResultRow | Problem] = []
    for count, item in enumerate(read_results(_source(data, format, limits)), 1):
        if count > limits.max_rows:
            out.append(Problem(None, f"more than {limits.max_rows:,} rows: split the file"))
            break
        out.append(item)
    return out


async def import_results(conn: AsyncConnection, data: bytes, format: RegisterFormat, *, today: date,
                         recorded_by: str, agency: str | None, rules: Rules,
                         limits: FileLimits | None = None) -> ResultsReport:
    """Record every good row of the file as an inspection; ``agency``: the only agency whose units
    the rows may name (an agency user's), and the agency recorded with them. A row on another's
    unit is refused as if the unit did not exist. Each row is its own savepoint in one
    transaction; the file is parsed off the event loop."""
    items = await asyncio.to_thread(_all, data, format, limits or FileLimits(max_rows=100_000))
    problems = [p for p in items if isinstance(p, Problem) and not p.warning]
    warnings = [p for p in items if isinstance(p, Problem) and p.warning]
    rows = [r for r in items if isinstance(r, ResultRow)]
    bad_lines = {p.line for p in problems}
    stored = replaced = 0
    first_line: dict[tuple[str, str, date, str], int] = {}
    async with conn.transaction():
        for row in rows:
            key = (row.registration_code, row.schedule, row.inspected_on, KIND_NAMES.get(row.kind.strip(),
                                                                                          row.kind.strip().lower()))
            if key in first_line:  # the file says two things of one inspection: neither silently wins
                problems.append(Problem(row.line, f"the same inspection as line {first_line[key]} (unit, schedule, "
                                                  "date and kind): give each inspection once"))
                bad_lines.add(row.line)
                continue
            first_line[key] = row.line
            outcome = await _record(conn, row, today, recorded_by, agency, rules)
            if isinstance(outcome, str):
                problems.append(Problem(row.line, outcome))
                bad_lines.add(row.line)
                continue
            if outcome["replaced"]:
                replaced += 1
                warnings.append(Problem(row.line, f"replaces the {row.inspected_on.isoformat()} {key[3]} inspection "
                                                  f"of {row.registration_code} ({row.schedule}) already recorded",
                                        warning=True))
            else:
                stored += 1
            warnings += [Problem(row.line, w, warning=True) for w in outcome["warnings"]]
    problems.sort(key=lambda p: p.line or 0)
    warnings.sort(key=lambda p: p.line or 0)
    log.info("inspection results: %d stored, %d replaced, %d rows refused", stored, replaced,
             len(bad_lines - {None}))
    return ResultsReport(stored, replaced, len(bad_lines - {None}), tuple(problems), tuple(warnings))


async def _record(conn: AsyncConnection, row: ResultRow, today: date, recorded_by: str, agency: str | None,
                  rules: Rules) -> str | dict[str, Any]:
    """The recorded inspection's state (``record_inspection``), or why the row is refused."""
    if row.inspected_on > today:
        return f"inspected_on {row.inspected_on.isoformat()} is in the future"
    cur = await conn.execute("""SELECT e.category, a.code, e.commissioned_on FROM equipment e
                                LEFT JOIN parties a ON a.id = e.agency_id WHERE e.registration_code = %s""",
                             (row.registration_code,))
    unit = await cur.fetchone()
    if unit is None or (agency is not None and unit[1] != agency):
        return f"equipment {row.registration_code} is not in the register"
    too_early = inspection_too_early(row.inspected_on, unit[2], row.schedule)
    if too_early is not None:
        return too_early
    try:
        judged = judge(Category(unit[0]), conclusion=row.conclusion, result=row.result, kind=row.kind,
                       safety_grade=row.safety_grade)
        async with conn.transaction():
            return await record_inspection(conn, row.registration_code, schedule=row.schedule,
                                           inspected_on=row.inspected_on, result=judged.result,
                                           agency=agency or unit[1], report_no=row.report_no,
                                           recorded_by=recorded_by, next_stated=row.next_stated, rules=rules,
                                           conclusion=judged.conclusion, kind=judged.kind, inspector=row.inspector,
                                           safety_grade=judged.safety_grade)
    except (DueError, psycopg.DataError, psycopg.IntegrityError) as exc:
        return str(exc)
