"""Import and export of the register as CSV or XLSX (the layout: ``registry.io_rows.COLUMNS``).

The import stores every good row and reports every bad one by line and reason; a bad row
never stops the good ones. Rows are upserted, so importing the same file twice, or a file the
export wrote, changes nothing. Files are read as a stream, a batch of rows per transaction,
and the blocking file work runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import logging
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from os import PathLike
from typing import IO, Any, Literal
from xml.etree.ElementTree import ParseError

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from registry.due import Category, DueError, IntervalTable, Rules, default_table
from registry.io_encoding import Encoding, delimiter_of, detect_encoding
from registry.io_headings import chinese_heading
from registry.io_rows import (
    COLUMNS,
    Cell,
    PartyRef,
    Problem,
    RegisterRow,
    Rejected,
    SourceRow,
    ZhNames,
    csv_text,
    read_rows,
    row_cells,
    zh_names,
)
from registry.model import Equipment, Role, Status
from registry.store import party_ids, upsert_equipment
from semon.today import register_today

log = logging.getLogger(__name__)

RegisterFormat = Literal["csv", "xlsx"]
Source = str | PathLike[str] | bytes
Target = str | PathLike[str] | IO[bytes]

# Errors that condemn one row, not the import: the batch is retried row by row to find it.
_ROW_ERRORS = (DueError, psycopg.DataError, psycopg.IntegrityError)

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileLimits:
    """What an import file may be. Checked before parsing where the file says it (its size, the
    XLSX's zip directory, the number of shared strings), and while reading (rows, CSV lines). A
    file past a limit is one file problem naming the limit; rows stored before it stay stored.
    The defaults hold a city's register (some 20,000 units) many times over."""

    max_file_bytes: int = 64 * _MIB  # the file as given, CSV or XLSX (compressed)
    max_rows: int = 500_000  # records, the header and blank rows included
    max_line_bytes: int = _MIB  # one CSV line
    max_members: int = 1_000  # entries in the XLSX's zip
    max_member_bytes: int = 256 * _MIB  # one entry, uncompressed (a sheet's XML)
    max_total_bytes: int = 512 * _MIB  # all entries, uncompressed
    max_ratio: float = 100.0  # uncompressed / compressed, of an entry above ratio_floor_bytes
    ratio_floor_bytes: int = _MIB
    max_shared_strings: int = 1_000_000  # the workbook's table of texts, all held in memory
    max_shared_strings_bytes: int = 64 * _MIB


class FileProblem(ValueError):
    """The file as a whole cannot be read; the message is the reason."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # rows not stored
    problems: tuple[Problem, ...] = ()  # why, by line; file-level ones have no line
    warnings: tuple[Problem, ...] = ()  # stored anyway (unknown columns, a type without an interval)
    omitted: int = 0  # problems past the cap: counted, not listed

    @property
    def stored(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass(slots=True)
class _Tally:
    max_problems: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    omitted: int = 0

    def add(self, item: Rejected | Problem) -> None:
        if isinstance(item, Rejected):
            self.rejected += 1
            for problem in item.problems:
                self.add(problem)
            return
        listed = self.warnings if item.warning else self.problems
        if len(listed) < self.max_problems:  # a garbage file must not fill memory with reasons
            listed.append(item)
        else:
            self.omitted += 1

    def report(self) -> ImportReport:
        # In file order: a batch's rows are parsed before the database refuses some of them.
        return ImportReport(self.inserted, self.updated, self.unchanged, self.rejected, _by_line(self.problems),
                            _by_line(self.warnings), self.omitted)


def _by_line(problems: list[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted(problems, key=lambda p: p.line or 0))


async def import_register(conn_or_pool: AsyncConnection | AsyncConnectionPool, path_or_bytes: Source,
                          format: RegisterFormat, *, rules: Rules | None = None, today: date | None = None,
                          batch_size: int = 1000, max_problems: int = 10_000,
                          limits: FileLimits | None = None) -> ImportReport:
    """Store every good row of the file (upsert), report every bad one. Each batch of
    ``batch_size`` rows is one transaction; ``today`` (default: the register's today, see
    ``semon.today``) bounds the last-inspection dates; ``rules``: the due dates' rules and the
    elevator schemes by region (``RegistrySettings``). A file that cannot be read, or is past
    ``limits``, is a file problem (``Problem`` with no line) in the report, never an exception;
    only an unreadable path (OSError) and a database failure raise."""
    if format not in ("csv", "xlsx"):
        raise ValueError(f"format must be 'csv' or 'xlsx', not {format!r}")
    limits = limits or FileLimits()
    if isinstance(conn_or_pool, AsyncConnectionPool):
        async with conn_or_pool.connection() as conn:
            return await _import(conn, path_or_bytes, format, rules or Rules(), today, batch_size,
                                 max_problems, limits)
    return await _import(conn_or_pool, path_or_bytes, format, rules or Rules(), today, batch_size,
                         max_problems, limits)


async def _import(conn: AsyncConnection, source: Source, format: RegisterFormat, rules: Rules,
                  today: date | None, batch_size: int, max_problems: int, limits: FileLimits) -> ImportReport:
    tally = _Tally(max_problems)
    today = today or register_today()
    items = read_rows(_source_rows(source, format, limits), rules=rules, today=today)
    try:
        done = False
        while not done:
            rows, others, done = await asyncio.to_thread(_take, items, batch_size)
            for other in others:
                tally.add(other)
            if rows:
                await _store_batch(conn, rows, rules, today, tally)
    finally:
        # Closes the file or workbook. After a cancellation the generator may still be running in
        # its thread (ValueError): it closes when collected.
        with contextlib.suppress(ValueError):
            await asyncio.to_thread(items.close)
    report = tally.report()
    unreadable = [p.reason for p in report.problems if p.line is None]
    log.info("register import: %d inserted, %d updated, %d unchanged, %d rejected%s", report.inserted,
             report.updated, report.unchanged, report.rejected, f"; file: {unreadable[0]}" if unreadable else "")
    return report


def _source_rows(source: Source, format: RegisterFormat, limits: FileLimits) -> Iterator[SourceRow | Problem]:
    with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as stream:
        rows = iter_csv(stream, limits) if format == "csv" else iter_xlsx(stream, limits)
        for count, item in enumerate(rows, 1):
            if count > limits.max_rows:
                yield Problem(None, f"more than {limits.max_rows:,} rows: split the file (the rows before "
                                    "were read)")
                return
            yield item


def _take(items: Iterator[RegisterRow | Rejected | Problem],
          n: int) -> tuple[list[RegisterRow], list[Rejected | Problem], bool]:
    """The next batch: up to ``n`` records, good or bad; True when the file is done."""
    rows: list[RegisterRow] = []
    others: list[Rejected | Problem] = []
    for item in items:
        if isinstance(item, RegisterRow):
            rows.append(item)
        else:
            others.append(item)
        if len(rows) + len(others) >= n:
            return rows, others, False
    return rows, others, True


# --- reading files -----------------------------------------------------------------------------

def iter_csv(stream: IO[bytes], limits: FileLimits | None = None) -> Iterator[SourceRow | Problem]:
    """Records of a delimited text file, each with the line it starts on; a quoted newline
    continues the record. The encoding is told by ``registry.io_encoding.detect_encoding``
    (UTF-8 with or without Excel's BOM, GB18030/GBK as Excel saves "CSV" on a Chinese system,
    UTF-16 as it saves "Unicode Text"), the delimiter by the header line (comma, tab or
    semicolon). A line that does not decode, or is longer than ``limits.max_line_bytes``,
    spoils only its record, which comes with the reason instead of being read. A file over
    ``limits.max_file_bytes`` is one file problem."""
    limits = limits or FileLimits()
    size = _size(stream)
    if size > limits.max_file_bytes:
        yield Problem(None, f"the file is {_mib(size)}, more than the {_mib(limits.max_file_bytes)} allowed: "
                            "split it")
        return
    here = stream.tell()
    sample = stream.read(_SAMPLE_BYTES)
    stream.seek(here)
    if len(sample) == _SAMPLE_BYTES and b"\n" in sample:
        sample = sample[:sample.rindex(b"\n") + 1]  # whole lines: no character cut in two
    encoding = detect_encoding(sample, complete=len(sample) >= size - here)
    stream.seek(here + encoding.bom)
    if encoding.why != "utf-8":
        log.info("register import: reading a %s file (%s)", encoding.label, encoding.why)
    undecodable: set[int] = set()
    too_long: set[int] = set()
    decoded = _text_lines(stream, encoding, limits, undecodable, too_long)
    first = next(decoded, None)
    if first is None:
        return
    reader = csv.reader(itertools.chain((first,), decoded), strict=True, delimiter=delimiter_of(first))
    end = 0
    while True:
        try:
            cells: Sequence[Cell] = next(reader)
            problem = None
        except StopIteration:
            return
        except csv.Error as exc:
            cells, problem = [], f"not valid CSV ({exc}): check the quotes"
        start_line, end = end + 1, reader.line_num
        spanned = range(start_line, end + 1)
        if any(n in too_long for n in spanned):
            too_long.difference_update(spanned)
            cells, problem = [], f"a line longer than {_mib(limits.max_line_bytes)}: not read"
        elif any(n in undecodable for n in spanned):
            undecodable.difference_update(spanned)
            cells, problem = [], (f"not {encoding.label} text, the encoding of the file's start: save the whole "
                                  "file in one encoding (in Excel, 'CSV UTF-8')")
        yield SourceRow(start_line, cells, problem)


_SAMPLE_BYTES = _MIB  # what the encoding is told from


def _text_lines(stream: IO[bytes], encoding: Encoding, limits: FileLimits, undecodable: set[int],
                too_long: set[int]) -> Iterator[str]:
    """The file's lines as text, numbered from 1 into ``undecodable`` and ``too_long`` when they
    cannot be read (each such line is given as an empty one, to keep the numbering)."""
    number = 0
    if not encoding.line_safe:  # UTF-16/32: a newline byte is half a character; decode as a stream
        text = io.TextIOWrapper(stream, encoding=encoding.name, errors="replace", newline="")
        try:
            while line := text.readline(limits.max_line_bytes + 1):
                number += 1
                if len(line) > limits.max_line_bytes and not line.endswith("\n"):
                    too_long.add(number)
                    while (tail := text.readline(limits.max_line_bytes)) and not tail.endswith("\n"):
                        pass
                    yield "\n"
                elif "\ufffd" in line:
                    undecodable.add(number)
                    yield "\n"
                else:
                    yield line
        finally:
            text.detach()  # the caller's stream stays open
        return
    while raw := stream.readline(limits.max_line_bytes + 1):
        number += 1
        if len(raw) > limits.max_line_bytes and not raw.endswith(b"\n"):
            too_long.add(number)
            while (rest := stream.readline(limits.max_line_bytes)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the line without holding it
            yield "\n"
            continue
        try:
            yield raw.decode(encoding.name)
        except UnicodeDecodeError:
            undecodable.add(number)
            yield "\n"


def _size(stream: IO[bytes]) -> int:
    here = stream.tell()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return size


def _mib(n: float) -> str:
    return f"{n / _MIB:.1f} MiB"


# What a malformed or hostile workbook raises from the zip, the inflater or the XML parser
# (defusedxml refuses entity declarations and external references with a ValueError).
_XLSX_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ParseError, ValueError, KeyError, TypeError,
                IndexError, AttributeError, NotImplementedError, RuntimeError)
_SHARED_STRINGS = "xl/sharedStrings.xml"


def iter_xlsx(source: IO[bytes], limits: FileLimits | None = None) -> Iterator[SourceRow | Problem]:
    """Rows of the sheet named ``register``, or of the first sheet, numbered as Excel shows them.

    Before anything is parsed the zip directory is checked against ``limits`` (the file's size,
    the number of entries, each entry's uncompressed size and compression ratio, the total) and
    the shared strings are counted; XML is parsed with defusedxml (no DTDs, entities or external
    references). Whatever is wrong with the file ends the reading with one file problem."""
    import openpyxl  # heavy; only an XLSX import needs it

    limits = limits or FileLimits()
    if not openpyxl.DEFUSEDXML:  # openpyxl picks defusedxml up when it is installed
        yield Problem(None, "XLSX import is off: defusedxml is not installed")
        return
    try:
        check_xlsx(source, limits)
        source.seek(0)
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except FileProblem as exc:
        yield Problem(None, str(exc))
        return
    except _XLSX_ERRORS as exc:
        yield Problem(None, f"not an XLSX workbook ({_why(exc)})")
        return
    try:
        try:
            if not book.worksheets:
                yield Problem(None, "the workbook has no worksheet")
                return
            sheet = book["register"] if "register" in book.sheetnames else book.worksheets[0]
            sheet.reset_dimensions()  # some writers record wrong dimensions; read what is there
            rows = enumerate(sheet.iter_rows(min_row=1, values_only=True), 1)
        except _XLSX_ERRORS as exc:
            yield Problem(None, f"the workbook is damaged or not a plain XLSX ({_why(exc)})")
            return
        while True:
            try:
                number, values = next(rows)
            except StopIteration:
                return
            except _XLSX_ERRORS as exc:
                yield Problem(None, f"the workbook is damaged or not a plain XLSX ({_why(exc)}); rows after the "
                                    "last one reported were not read")
                return
            yield SourceRow(number, values)
    finally:
        book.close()


def _why(exc: BaseException) -> str:
    """The first cause (openpyxl wraps the parser's error in a ValueError of its own)."""
    for _ in range(8):
        cause = exc.__cause__ or exc.__context__
        if cause is None:
            break
        exc = cause
    return f"{type(exc).__name__}: {str(exc)[:160]}"


def check_xlsx(stream: IO[bytes], limits: FileLimits) -> None:
    """Raise FileProblem when the workbook is past ``limits``, from its zip directory and a
    streamed count of its shared strings (nothing is expanded into memory)."""
    size = _size(stream)
    if size > limits.max_file_bytes:
        raise FileProblem(f"the file is {_mib(size)}, more than the {_mib(limits.max_file_bytes)} allowed: split it")
    with zipfile.ZipFile(stream) as archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise FileProblem(f"the workbook has {len(members):,} parts, more than {limits.max_members:,}: "
                              "not a plain register")
        total = 0
        for info in members:
            total += info.file_size
            if info.file_size > limits.max_member_bytes:
                raise FileProblem(f"part {info.filename[:80]!r} unpacks to {_mib(info.file_size)}, more than "
                                  f"{_mib(limits.max_member_bytes)}")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
                raise FileProblem(f"part {info.filename[:80]!r} unpacks {ratio:,.0f} times its packed size "
                                  f"(more than {limits.max_ratio:,.0f}): a zip bomb, not a register")
        if total > limits.max_total_bytes:
            raise FileProblem(f"the workbook unpacks to {_mib(total)}, more than {_mib(limits.max_total_bytes)}")
        names = {info.filename for info in members}
        if _SHARED_STRINGS in names:
            info = archive.getinfo(_SHARED_STRINGS)
            if info.file_size > limits.max_shared_strings_bytes:
                raise FileProblem(f"the workbook's shared strings unpack to {_mib(info.file_size)}, more than "
                                  f"{_mib(limits.max_shared_strings_bytes)}")
            with archive.open(info) as xml:
                count = _count_shared_strings(xml, limits.max_shared_strings)
            if count > limits.max_shared_strings:
                raise FileProblem(f"the workbook holds more than {limits.max_shared_strings:,} distinct texts "
                                  "(shared strings): split the file")


def _count_shared_strings(xml: IO[bytes], most: int) -> int:
    """How many ``<si>`` the shared-strings part has, up to ``most`` + 1 (then it stops reading)."""
    from defusedxml.ElementTree import iterparse

    count = 0
    root = None
    for event, node in iterparse(xml, events=("start", "end")):
        if root is None:
            root = node
        elif event == "end" and (node.tag.endswith("}si") or node.tag == "si"):
            count += 1
            if count > most:
                break
            root.clear()  # keep nothing of what was counted
    return count


# --- storing a batch ---------------------------------------------------------------------------

async def _store_batch(conn: AsyncConnection, rows: list[RegisterRow], rules: Rules, today: date,
                       tally: _Tally) -> None:
    try:
        # Pipeline mode: the upserts' statements go out without waiting for each reply.
        async with conn.pipeline(), conn.transaction():
            outcome = await _write_batch(conn, rows, rules, today, isolate=False)
    except _ROW_ERRORS as exc:
        # Rare (the rows were checked): find the culprit with a savepoint per row.
        log.info("register import: a batch failed (%s); retrying row by row", str(exc)[:200])
        async with conn.transaction():
            outcome = await _write_batch(conn, rows, rules, today, isolate=True)
    inserted, updated, unchanged, rejected = outcome
    tally.inserted += inserted
    tally.updated += updated
    tally.unchanged += unchanged
    for item in rejected:
        tally.add(item)


async def _write_batch(conn: AsyncConnection, rows: list[RegisterRow], rules: Rules, today: date, *,
                       isolate: bool) -> tuple[int, int, int, list[Rejected]]:
    before = await _fingerprints(conn, [r.equipment.registration_code for r in rows], lock=True)
    rows, rejected, ids = await _resolve_parties(conn, rows)
    written: list[str] = []
    for row in rows:
        if not isolate:
            await upsert_equipment(conn, row.equipment, rules=rules, parties=ids, today=today)
        else:
            try:
                async with conn.transaction():
                    await upsert_equipment(conn, row.equipment, rules=rules, parties=ids, today=today)
            except _ROW_ERRORS as exc:
                rejected.append(Rejected(row.line, (Problem(row.line, _reason(exc)),)))
                continue
        written.append(row.equipment.registration_code)
    after = await _fingerprints(conn, written, lock=False)
    same = [code for code in written if code in before and before[code][1] == after[code][1]]
    if same:
        # The store stamps updated_at on every upsert; a row that did not change keeps its stamp.
        await conn.execute(
            """UPDATE equipment e SET updated_at = v.t FROM unnest(%s::text[], %s::timestamptz[]) AS v(code, t)
               WHERE e.registration_code = v.code""", (same, [before[code][0] for code in same]))
    inserted = sum(code not in before for code in written)
    return inserted, len(written) - inserted - len(same), len(same), rejected


# A constraint a row can break that the row's own checks cannot see: another unit's value.
_CONSTRAINT_REASONS = {"equipment_rescue_code": "rescue_code is another unit's: a 救援识别码 names one lift"}


def _reason(exc: Exception) -> str:
    if isinstance(exc, psycopg.Error) and exc.diag.constraint_name in _CONSTRAINT_REASONS:
        return f"not stored: {_CONSTRAINT_REASONS[exc.diag.constraint_name]}"
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return f"not stored: {exc.diag.message_primary}"
    return f"not stored: {exc}"


async def _fingerprints(conn: AsyncConnection, codes: list[str], *, lock: bool) -> dict[str, tuple[Any, str]]:
    """updated_at and a digest of everything else about each piece of equipment and its schedules."""
    if not codes:
        return {}
    cur = await conn.execute(
        f"""SELECT e.registration_code, e.updated_at,
                   md5((to_jsonb(e) - 'updated_at')::text || coalesce(
                       (SELECT jsonb_agg(to_jsonb(s) ORDER BY s.schedule)::text FROM equipment_schedules s
                        WHERE s.registration_code = e.registration_code), ''))
            FROM equipment e WHERE e.registration_code = ANY(%s) {"FOR UPDATE OF e" if lock else ""}""",
        (codes,))
    return {str(code): (stamp, str(digest)) for code, stamp, digest in await cur.fetchall()}


async def _resolve_parties(conn: AsyncConnection, rows: list[RegisterRow],
                           ) -> tuple[list[RegisterRow], list[Rejected], dict[str, int]]:
    """Upsert the parties the rows name; reject a row naming a party registered in another role,
    or a new party nobody names. Empty details leave the stored ones as they are."""
    codes = list({ref.code for row in rows for ref in row.parties})
    cur = await conn.execute("SELECT code, role, name FROM parties WHERE code = ANY(%s)", (codes,))
    known: dict[str, tuple[str, str]] = {str(c): (str(r), str(n)) for c, r, n in await cur.fetchall()}
    rejected: list[Rejected] = []
    rows = _keep(rows, rejected, lambda ref: (
        f"{ref.role}_code {ref.code!r} is registered as {known[ref.code][0]}, not {ref.role}"
        if ref.code in known and known[ref.code][0] != ref.role else None))
    named = {ref.code for row in rows for ref in row.parties if ref.name is not None}
    rows = _keep(rows, rejected, lambda ref: (
        f"{ref.role}_code {ref.code!r} is not registered and {ref.role}_name is empty"
        if ref.code not in known and ref.code not in named else None))
    merged: dict[str, PartyRef] = {}
    for ref in (ref for row in rows for ref in row.parties):
        merged[ref.code] = _merge(merged.get(ref.code), ref)
    params = []
    for ref in merged.values():
        name = ref.name or (known[ref.code][1] if ref.code in known else None)
        # Nameless and unknown (its naming row was rejected): the store refuses the row that needs it.
        if name is not None and (ref.name or ref.phone or ref.email or ref.webhook_url or ref.contacts is not None):
            contacts = None if ref.contacts is None else Jsonb([{"name": n, "phone": p} for n, p in ref.contacts])
            params.append((ref.code, name, str(ref.role), ref.phone, ref.email, ref.webhook_url, contacts))
    if params:
        async with conn.cursor() as cur:
            await cur.executemany(
                """INSERT INTO parties (code, name, role, phone, email, webhook_url, contacts)
                   VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, '[]'::jsonb))
                   ON CONFLICT (code) DO UPDATE SET name = excluded.name,
                     phone = coalesce(excluded.phone, parties.phone), email = coalesce(excluded.email, parties.email),
                     webhook_url = coalesce(excluded.webhook_url, parties.webhook_url),
                     contacts = CASE WHEN %s::jsonb IS NULL THEN parties.contacts ELSE excluded.contacts END
                   WHERE (parties.name, parties.phone, parties.email, parties.webhook_url, parties.contacts)
                     IS DISTINCT FROM
                     (excluded.name, coalesce(excluded.phone, parties.phone), coalesce(excluded.email, parties.email),
                      coalesce(excluded.webhook_url, parties.webhook_url),
                      CASE WHEN %s::jsonb IS NULL THEN parties.contacts ELSE excluded.contacts END)""",
                [(*p, p[-1], p[-1]) for p in params])
    return rows, rejected, await party_ids(conn, set(merged))


def _keep(rows: list[RegisterRow], rejected: list[Rejected],
          check: Callable[[PartyRef], str | None]) -> list[RegisterRow]:
    """The rows whose parties all pass ``check``; the others go to ``rejected`` with the reasons."""
    kept: list[RegisterRow] = []
    for row in rows:
        reasons = [r for r in map(check, row.parties) if r is not None]
        if reasons:
            rejected.append(Rejected(row.line, tuple(Problem(row.line, r) for r in reasons)))
        else:
            kept.append(row)
    return kept


def _merge(a: PartyRef | None, b: PartyRef) -> PartyRef:
    if a is None:
        return b
    return PartyRef(a.role, a.code, a.name or b.name, a.phone or b.phone, a.email or b.email,
                    a.webhook_url or b.webhook_url, a.contacts if a.contacts is not None else b.contacts)


# --- export ------------------------------------------------------------------------------------

_PARTY_FIELDS = ("code", "name", "phone", "email", "webhook_url", "contacts")
_FACT_FIELDS = ("scheme", "installed_on", "renovated_on", "major_repair_on", "manufactured_on", "stopped_on",
                "resumed_on", "relocated_on", "rescue_code", "area", "place", "latitude", "longitude")
_EXPORT_SQL = f"""
SELECT e.registration_code, e.category, e.type, e.address, e.district_code, e.status, e.commissioned_on, e.rated,
       e.interval_overrides, e.next_due, e.fit_for_use, e.use_registration_no,
       {", ".join(f"{p}.{f}" for p in "oma" for f in _PARTY_FIELDS)},
       {", ".join(f"e.{f}" for f in _FACT_FIELDS)},
       (SELECT coalesce(jsonb_object_agg(s.schedule, jsonb_build_array(s.last_inspected, s.next_due, s.stated_next)),
                        '{{}}')
        FROM equipment_schedules s WHERE s.registration_code = e.registration_code AND s.owed)
FROM equipment e LEFT JOIN parties o ON o.id = e.owner_id LEFT JOIN parties m ON m.id = e.maintenance_id
     LEFT JOIN parties a ON a.id = e.agency_id"""

# Which units an export holds: a WHERE clause over e, o, m, a (registry.listing.where) and its parameters.
Where = tuple[str, Sequence[Any]]


async def export_register(conn_or_pool: AsyncConnection | AsyncConnectionPool, out: Target,
                          format: RegisterFormat, *, batch_size: int = 1000, where: Where = ("TRUE", ()),
                          order: str = "e.registration_code", chinese: bool = False,
                          table: IntervalTable | None = None) -> int:
    """Write the units ``where`` selects (all by default), in ``order``, in the import's layout,
    with each schedule's next due date and the unit's fitness as export-only columns; return the
    number of rows. ``chinese``: the zh-CN headings and coded values (电梯, 在用, 塔式起重机;
    ``registry.io_headings``, the types' names from ``table``), which the import reads back as
    the same register. CSV is UTF-8 with a BOM, so Excel shows Chinese correctly."""
    if format not in ("csv", "xlsx"):
        raise ValueError(f"format must be 'csv' or 'xlsx', not {format!r}")
    names = zh_names(table or default_table()) if chinese else None
    if isinstance(conn_or_pool, AsyncConnectionPool):
        async with conn_or_pool.connection() as conn:
            return await _export(conn, out, format, batch_size, where, order, names)
    return await _export(conn_or_pool, out, format, batch_size, where, order, names)


async def _export(conn: AsyncConnection, out: Target, format: RegisterFormat, batch_size: int, where: Where,
                  order: str, names: ZhNames | None) -> int:
    header = [chinese_heading(c.name) if names else c.name for c in COLUMNS]
    writer: _CsvWriter | _XlsxWriter = await asyncio.to_thread(
        _CsvWriter if format == "csv" else _XlsxWriter, out, header)
    count = 0
    try:
        async with conn.transaction(), conn.cursor(name="register_export") as cur:  # a server-side cursor
            await cur.execute(f"{_EXPORT_SQL} WHERE {where[0]} ORDER BY {order}", where[1])
            while records := await cur.fetchmany(batch_size):
                cells = [_export_cells(r) for r in records]
                await asyncio.to_thread(writer.write, [names.row(c) for c in cells] if names else cells)
                count += len(records)
    finally:
        await asyncio.to_thread(writer.close)
    log.info("register export: %d rows (%s)", count, format)
    return count


def _export_cells(record: Sequence[Any]) -> list[Cell]:
    code, category, type_, address, district, status, commissioned, rated, overrides, due, fit, use_no = record[:12]
    parties: list[PartyRef] = []
    for i, role in enumerate((Role.OWNER, Role.MAINTENANCE, Role.AGENCY)):
        values = record[12 + i * len(_PARTY_FIELDS):12 + (i + 1) * len(_PARTY_FIELDS)]
        if values[0] is not None:
            party, name, phone, email, webhook_url, contacts = values
            parties.append(PartyRef(role, party, name, phone, email, webhook_url,
                                    tuple((c["name"], c["phone"]) for c in contacts or ())))
    schedules: dict[str, list[str | None]] = record[-1]
    facts = dict(zip(_FACT_FIELDS, record[-1 - len(_FACT_FIELDS):-1], strict=True))
    equipment = Equipment(
        code, Category(category), district, type=type_, address=address, status=Status(status),
        commissioned_on=commissioned, rated=rated, interval_overrides=overrides,
        last_inspected={s: date.fromisoformat(v[0]) for s, v in schedules.items() if v[0]},
        stated_next={s: date.fromisoformat(v[2]) for s, v in schedules.items() if v[2]},
        use_registration_no=use_no, **facts)
    extra: dict[str, Cell] = {"next_due": due, "fit_for_use": fit}
    extra |= {f"next_{s}": date.fromisoformat(v[1]) if v[1] else None for s, v in schedules.items()}
    return row_cells(equipment, parties, extra)


class _CsvWriter:
    def __init__(self, out: Target, header: list[str]) -> None:
        self._owned = isinstance(out, str | PathLike)
        stream = open(out, "wb") if isinstance(out, str | PathLike) else out  # noqa: SIM115
        # utf-8-sig writes the BOM Excel needs to read UTF-8.
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow(header)

    def write(self, rows: list[list[Cell]]) -> None:
        self._csv.writerows([csv_text(cell) for cell in row] for row in rows)

    def close(self) -> None:
        self._text.flush()
        if self._owned:
            self._text.close()
        else:
            self._text.detach()  # the caller's stream stays open


class _XlsxWriter:
    def __init__(self, out: Target, names: list[str]) -> None:
        import openpyxl  # heavy; only an XLSX export needs it
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self._out = out
        self._cell = WriteOnlyCell
        self._book = openpyxl.Workbook(write_only=True)  # streams rows to a temporary file
        self._sheet = self._book.create_sheet("register")
        self._sheet.freeze_panes = "A2"
        header = []
        for name in names:
            cell = WriteOnlyCell(self._sheet, value=name)
            cell.font = Font(bold=True)
            header.append(cell)
        self._sheet.append(header)

    def write(self, rows: list[list[Cell]]) -> None:
        for row in rows:
            self._sheet.append([self._typed(cell) for cell in row])

    def _typed(self, cell: Cell) -> Any:
        if isinstance(cell, str) and cell.startswith("="):
            text = self._cell(self._sheet, value=cell)
            text.data_type = "s"  # text, never a formula
            return text
        return cell

    def close(self) -> None:
        self._book.save(self._out)
