"""The register on the HTTP API, in the same application as the alarms: equipment with its
schedules and inspections, recording an inspection, the inspection rate with its trend (JSON
and an SVG chart) and the notices with their delivery state.

An inspection agency's user sees only its own agency's equipment and notices, and records
inspections only on its own units: the role rules here (``ACCESS``) let agencies in, and
the handlers here, which know whose a unit is, do the scoping."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
from aiohttp import web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ValidationError

from registry.api_models import (
    ANSWERS,
    REQUESTS,
    AgencyParty,
    ConclusionList,
    EquipmentDetail,
    EquipmentFilterQuery,
    EquipmentList,
    EquipmentQuery,
    ExportQuery,
    InspectionBody,
    NoticeList,
    NoticeQuery,
    RateQuery,
    RateReport,
    RateTrend,
    RecordedInspection,
    ReportFileQuery,
    ResultsImport,
    ResultsQuery,
    SearchQuery,
    SearchResult,
    StoredReport,
    TrendQuery,
)
from registry.chart import trend_svg
from registry.conclusions import judge
from registry.conclusions import load as load_conclusions
from registry.due import Category, DueError, Rules, standing
from registry.io import export_register
from registry.listing import JOINS, EquipmentFilter, order_by, where
from registry.notices import WAITING, Delivery, waiting_reason
from registry.rate import TARGET_PERCENT, Formula, compute_rates, trend
from registry.reasons import MESSAGES as REASON_MESSAGES
from registry.reasons import localised
from registry.results import import_results
from registry.search import search_units
from registry.store import EARLIEST_INSPECTION, agency_exists, inspection_too_early, record_inspection
from semon.districts import XINING
from semon.settings import RegistrySettings
from web.app import Part, actor_of
from web.auth import current_user
from web.http import ApiError, query_of
from web.i18n import render, request_lang
from web.models import Error
from web.openapi import json_body, query_parameters, ref
from web.policy import AGENCY, BUREAU, OPERATOR, POST, READ, Rule, rule
from web.users import Role

DISTRICT_NAMES = {d.code: d.name for d in XINING}

# The register's error messages by key, in each language (web.i18n).
MESSAGES: dict[str, dict[str, str]] = {
    "registry.not_in_register": {"zh-CN": "登记册中没有设备 {code}", "en": "equipment {code} is not in the register"},
    "registry.not_yours": {"zh-CN": "检验机构只能查看本机构的设备",
                           "en": "an inspection agency sees only its own equipment"},
    "registry.own_only": {"zh-CN": "检验机构只能录入本机构的检验",
                          "en": "an inspection agency records its own inspections only"},
    "registry.not_json": {"zh-CN": "请求内容不是 JSON", "en": "body is not JSON"},
    "registry.inspection_in_future": {"zh-CN": "检验日期不能晚于今天", "en": "inspected_on is in the future"},
    "registry.inspection_too_early": {"zh-CN": "检验日期 {date} 早于设备投用日期或 1950 年（{since}）",
                                      "en": "inspected_on {date} is before the unit's commissioning or 1950 ({since})"},
    "registry.refused": {"zh-CN": "无法录入：{detail}", "en": "{detail}"},
    "registry.too_large": {"zh-CN": "文件超过 {limit} 字节", "en": "the file is larger than {limit} bytes"},
    "registry.empty_file": {"zh-CN": "文件为空", "en": "the file is empty"},
    "registry.results_type": {"zh-CN": "请以 CSV（text/csv）或 XLSX 上传结果文件，而不是 {type}",
                              "en": "send the file as text/csv or as an XLSX workbook, not {type}"},
    "registry.report_type": {"zh-CN": "检验报告须为 PDF、PNG 或 JPEG 文件，而不是 {type}",
                             "en": "a report is a PDF, PNG or JPEG file, not {type}"},
    "registry.report_content": {"zh-CN": "文件内容不是 {type}", "en": "the file is not a {type} file"},
    "registry.no_inspection": {"zh-CN": "没有编号为 {id} 的检验记录", "en": "no inspection {id}"},
    "registry.no_report": {"zh-CN": "检验记录 {id} 没有报告文件", "en": "inspection {id} has no report file"},
    "registry.no_agency": {"zh-CN": "没有检验机构 {code}", "en": "no inspection agency {code}"},
    "notice.no_webhook": {"zh-CN": "该接收方没有 Webhook，无法送达", "en": WAITING["notice.no_webhook"]},
    "notice.no_email": {"zh-CN": "该接收方没有电子邮箱，无法送达", "en": WAITING["notice.no_email"]},
    "notice.delivery_off": {"zh-CN": "未开启发送（未设置 SEMON_NOTICE_DELIVERY），通知待发送",
                            "en": WAITING["notice.delivery_off"]},
    "notice.no_smtp": {"zh-CN": "邮件发送未开启：未配置 SMTP 服务器（SEMON_SMTP_HOST）",
                       "en": WAITING["notice.no_smtp"]},
    **REASON_MESSAGES,
}

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class RegistryContext:
    pool: AsyncConnectionPool
    settings: RegistrySettings  # the register's calendar, its elevator schemes and its rate's formula
    rules: Rules  # the due dates' rules with those schemes (Rules.of(settings)), built once
    delivery: Delivery  # how notices go out: why a pending one waits

    @property
    def formula(self) -> Formula:
        return Formula(self.settings.rate_formula)


REGISTRY = web.AppKey("registry_api", RegistryContext)


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        detail = f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}"
        raise ApiError(400, detail, key="web.bad_input", params={"detail": detail}) from exc


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _pool(request: web.Request) -> AsyncConnectionPool:
    return request.app[REGISTRY].pool


def _today(request: web.Request) -> date:
    return request.app[REGISTRY].settings.today()  # the register's local date, not the UTC one


_NOT_YOURS = "an inspection agency sees only its own equipment"


def _not_in_register(code: str) -> str:
    """The one answer for a unit that does not exist and a unit an agency may not see, so that an
    agency cannot learn which registration codes exist."""
    return f"equipment {code[:64]} is not in the register"


def _own_agency(request: web.Request) -> str | None:
    """The agency a request is limited to: its user's, for an agency user; None for the others."""
    user = current_user(request)
    if user is None or user.role is not Role.AGENCY:
        return None
    assert user.agency is not None  # the users table requires it for role agency
    return user.agency


_EQUIPMENT_COLUMNS = """e.registration_code, e.category, e.type, e.address, e.district_code, e.status,
    e.commissioned_on, e.rated, e.interval_overrides, e.next_due, e.fit_for_use,
    o.code, o.name, m.code, m.name, m.phone, a.code, a.name, e.use_registration_no, e.exempt,
    e.rescue_code, e.area, e.place, e.latitude, e.longitude"""
_AGENCY_CODE = 17 - 1  # a.code's place in a row of _EQUIPMENT_COLUMNS
_EQUIPMENT_FROM = JOINS


def _equipment_json(row: tuple[Any, ...], today: date) -> dict[str, Any]:
    (code, category, type_, address, district, status, commissioned, rated, overrides, next_due, fit,
     owner_code, owner, maint_code, maint, maint_phone, agency_code, agency, use_no, exempt, rescue_code, area, place,
     latitude, longitude) = row
    return {
        "registration_code": code, "use_registration_no": use_no, "category": category, "type": type_,
        "address": address, "district_code": district, "district": DISTRICT_NAMES.get(district), "status": status,
        "commissioned_on": commissioned, "rated": rated, "interval_overrides": overrides, "next_due": next_due,
        "overdue": status == "in_use" and next_due is not None and next_due < today, "fit_for_use": fit,
        "exempt": exempt, "rescue_code": rescue_code, "area": area, "place": place, "latitude": latitude,
        "longitude": longitude,
        "standing": str(standing(status=status, fit_for_use=fit, next_due_date=next_due, today=today,
                                 exempt=exempt)),
        "owner": {"code": owner_code, "name": owner} if owner_code else None,
        "maintenance_unit": {"code": maint_code, "name": maint, "phone": maint_phone} if maint_code else None,
        "agency": {"code": agency_code, "name": agency} if agency_code else None,
    }


def _filter_of(request: web.Request, q: EquipmentFilterQuery) -> EquipmentFilter:
    """The query's filter, an agency user's narrowed to its own units (403 for another's)."""
    own = _own_agency(request)
    if own is not None:
        if q.agency not in (None, own):
            raise ApiError(403, _NOT_YOURS, key="registry.not_yours")
        q = q.model_copy(update={"agency": own})
    return EquipmentFilter(q=q.q, category=str(q.category) if q.category else None, district=q.district,
                           agency=q.agency, status=q.status, overdue=q.overdue, due_from=q.due_from,
                           due_before=q.due_before, due_until=q.due_until)


async def _list_equipment(request: web.Request) -> web.Response:
    q = _parse(EquipmentQuery, query_of(request))
    today = _today(request)
    clause, params = where(_filter_of(request, q), today)
    async with _pool(request).connection() as conn:
        cur = await conn.execute(f"SELECT count(*) {JOINS} WHERE {clause}", params)
        counted = await cur.fetchone()
        cur = await conn.execute(f"SELECT {_EQUIPMENT_COLUMNS} {JOINS} WHERE {clause} "
                                 f"ORDER BY {order_by(q.sort, q.desc)} LIMIT %s OFFSET %s",
                                 [*params, q.limit, q.offset])
        rows = await cur.fetchall()
    return _json({"equipment": [_equipment_json(r, today) for r in rows], "total": counted[0] if counted else 0,
                  "limit": q.limit, "offset": q.offset})


async def _export(request: web.Request) -> web.StreamResponse:
    """The whole filtered list as XLSX (or CSV) in the import's layout; in Chinese headings and
    values for zh-CN. Written to a temporary file off the event loop, then streamed."""
    q = _parse(ExportQuery, query_of(request))
    lang = q.lang or request_lang(request)
    today = _today(request)
    clause, params = where(_filter_of(request, q), today)
    context = request.app[REGISTRY]
    with tempfile.TemporaryFile() as spool:
        count = await export_register(context.pool, spool, q.format, where=(clause, params),
                                      order=order_by(q.sort, q.desc), chinese=lang == "zh-CN",
                                      table=context.rules.table)
        size = await asyncio.to_thread(spool.seek, 0, os.SEEK_END)
        await asyncio.to_thread(spool.seek, 0)
        kind = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if q.format == "xlsx"
                else "text/csv; charset=utf-8")
        name = f"register-{today.isoformat()}.{q.format}"
        shown = f"设备清单-{name}" if lang == "zh-CN" else name  # the user's language, as the headings
        response = web.StreamResponse(headers={
            "Content-Type": kind, "Content-Length": str(size), "X-Total-Count": str(count),
            "Content-Disposition": f'attachment; filename="{name}"; filename*=UTF-8\'\'{quote(shown)}'})
        await response.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, 256 * 1024):
            await response.write(chunk)
        await response.write_eof()
    return response


async def _get_equipment(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    async with _pool(request).connection() as conn:
        cur = await conn.execute(f"SELECT {_EQUIPMENT_COLUMNS} {_EQUIPMENT_FROM} WHERE e.registration_code = %s",
                                 (code,))
        row = await cur.fetchone()
        own = _own_agency(request)
        if row is None or (own is not None and row[_AGENCY_CODE] != own):
            raise ApiError(404, _not_in_register(code), key="registry.not_in_register", params={"code": code[:64]})
        cur = await conn.execute(
            """SELECT schedule, interval_months, last_inspected, next_due, stated_next, basis FROM equipment_schedules
               WHERE registration_code = %s AND owed ORDER BY schedule""", (code,))
        schedules = [{"schedule": s, "interval_months": m, "last_inspected": last, "next_due": due,
                      "stated_next": stated, "basis": basis}
                     for s, m, last, due, stated, basis in await cur.fetchall()]
        cur = await conn.execute(
            """SELECT i.id, i.conclusion, i.kind, i.inspector, i.safety_grade, r.filename, r.content_type, r.size,
                      r.uploaded_by, r.uploaded_at,
                      i.schedule, i.inspected_on, i.result, a.code, a.name, i.report_no, i.recorded_by, i.recorded_at,
                      i.next_stated
               FROM inspections i LEFT JOIN parties a ON a.id = i.agency_id
               LEFT JOIN inspection_reports r ON r.inspection_id = i.id
               WHERE i.registration_code = %s ORDER BY i.inspected_on DESC, i.id DESC""", (code,))
        inspections = [{"id": id_, "conclusion": conclusion, "kind": kind, "inspector": inspector,
                        "safety_grade": grade,
                        "report": {"filename": fn, "content_type": ct, "size": size, "uploaded_by": ub,
                                   "uploaded_at": ua} if fn else None,
                        "schedule": s, "inspected_on": d, "result": r, "agency": ac, "agency_name": an,
                        "report_no": no, "recorded_by": by, "recorded_at": at,
                        "next_stated": f"{ns:%Y-%m}" if ns else None}
                       for (id_, conclusion, kind, inspector, grade, fn, ct, size, ub, ua,
                            s, d, r, ac, an, no, by, at, ns) in await cur.fetchall()]
    return _json({**_equipment_json(row, _today(request)), "schedules": schedules, "inspections": inspections})


async def _post_inspection(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    try:
        raw = await request.json(loads=orjson.loads)
    except ValueError as exc:
        raise ApiError(400, "body is not JSON", key="registry.not_json") from exc
    body = _parse(InspectionBody, raw)
    if body.inspected_on > _today(request):
        raise ApiError(400, "inspected_on is in the future", key="registry.inspection_in_future")
    own = _own_agency(request)
    if own is not None:
        if body.agency not in (None, own):
            raise ApiError(403, "an inspection agency records its own inspections only", key="registry.own_only")
        body = body.model_copy(update={"agency": own})
    async with _pool(request).connection() as conn, conn.transaction():
        if own is not None:
            await _check_own_unit(conn, code, own)
        try:
            cur = await conn.execute("SELECT category, commissioned_on FROM equipment WHERE registration_code = %s",
                                     (code,))
            unit = await cur.fetchone()
            if unit is None:
                raise ApiError(404, _not_in_register(code), key="registry.not_in_register",
                               params={"code": code[:64]})
            too_early = inspection_too_early(body.inspected_on, unit[1], body.schedule)
            if too_early is not None:
                raise ApiError(400, too_early, key="registry.inspection_too_early",
                               params={"date": body.inspected_on.isoformat(),
                                       "since": (unit[1] or EARLIEST_INSPECTION).isoformat()})
            judged = judge(Category(unit[0]), conclusion=body.conclusion, result=body.result, kind=body.kind,
                           safety_grade=body.safety_grade)
            state = await record_inspection(conn, code, schedule=body.schedule, inspected_on=body.inspected_on,
                                            result=judged.result, agency=body.agency, report_no=body.report_no,
                                            recorded_by=actor_of(request, body.actor), next_stated=body.next_stated,
                                            rules=request.app[REGISTRY].rules, conclusion=judged.conclusion,
                                            kind=judged.kind, inspector=body.inspector,
                                            safety_grade=judged.safety_grade)
        except DueError as exc:
            detail = localised(str(exc), request_lang(request), MESSAGES)
            raise ApiError(404 if "no equipment" in str(exc) else 400, str(exc), key="registry.refused",
                           params={"detail": detail}) from exc
    state["warnings"] = [localised(w, request_lang(request), MESSAGES) for w in state["warnings"]]
    return _json(state, 201)


async def _check_own_unit(conn: AsyncConnection, code: str, agency: str) -> None:
    """Inside the recording transaction, with the unit locked: it cannot change hands meanwhile."""
    cur = await conn.execute("""SELECT a.code FROM equipment e LEFT JOIN parties a ON a.id = e.agency_id
                                WHERE e.registration_code = %s FOR UPDATE OF e""", (code,))
    row = await cur.fetchone()
    if row is None or row[0] != agency:
        # Another's unit: the same answer as no unit.
        raise ApiError(404, _not_in_register(code), key="registry.not_in_register", params={"code": code[:64]})


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The request's body, refused with 413 past ``limit`` bytes (read in chunks, never whole)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the file is larger than {limit:,} bytes", key="registry.too_large",
                       params={"limit": f"{limit:,}"})
    parts: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the file is larger than {limit:,} bytes", key="registry.too_large",
                           params={"limit": f"{limit:,}"})
        parts.append(chunk)
    if not size:
        raise ApiError(400, "the file is empty", key="registry.empty_file")
    return b"".join(parts)


_RESULTS_TYPES = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


async def _import_results(request: web.Request) -> web.Response:
    """A file of inspection results (CSV or XLSX, as the body): every good row recorded, every
    bad one reported by line (``registry.results``)."""
    q = _parse(ResultsQuery, query_of(request))
    if request.content_type not in _RESULTS_TYPES:
        raise ApiError(415, f"send the file as text/csv or as an XLSX workbook, not {request.content_type[:60]}",
                       key="registry.results_type", params={"type": request.content_type[:60]})
    context = request.app[REGISTRY]
    data = await _read_limited(request, context.settings.results_max_bytes)
    async with _pool(request).connection() as conn:
        report = await import_results(conn, data, q.format, today=_today(request),
                                      recorded_by=actor_of(request, None if current_user(request) else "console"),
                                      agency=_own_agency(request), rules=context.rules)
    answer = report.as_json()
    lang = request_lang(request)  # each row's reason in the user's language (registry.reasons)
    for group in ("problems", "warnings"):
        for problem in answer[group]:
            problem["reason"] = localised(problem["reason"], lang, MESSAGES)
    return _json(answer)


# What a report's file must start with, by its content type (the body is checked, not the header alone).
_MAGIC = {"application/pdf": (b"%PDF-",), "image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",)}


_EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def _safe_filename(name: str, kind: str, inspection_id: int) -> str:
    """The name a report is stored and served under: the given name's stem, without any path,
    quotes or control characters (at most 120 characters; ``report-<id>`` when none is left),
    and the extension of the content type its first bytes were checked as, whatever the given
    name ends in (a PNG called photo.pdf is kept as photo.png; a PDF called x.html as x.pdf)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    stem = kept.rsplit(".", 1)[0].strip(" .") if "." in kept else kept
    return f"{stem[:120] or f'report-{inspection_id}'}{_EXTENSIONS[kind]}"


async def _inspection_unit(conn: AsyncConnection, inspection_id: int, own: str | None) -> str:
    """The unit of an inspection the user may see (404 otherwise, the same for another's)."""
    cur = await conn.execute("""SELECT e.registration_code, a.code FROM inspections i
                                JOIN equipment e ON e.registration_code = i.registration_code
                                LEFT JOIN parties a ON a.id = e.agency_id WHERE i.id = %s""", (inspection_id,))
    row = await cur.fetchone()
    if row is None or (own is not None and row[1] != own):
        raise ApiError(404, f"no inspection {inspection_id}", key="registry.no_inspection",
                       params={"id": inspection_id})
    return str(row[0])


def _inspection_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, f"no inspection {raw[:20]}", key="registry.no_inspection", params={"id": raw[:20]})
    return int(raw)


async def _put_report(request: web.Request) -> web.Response:
    """The inspection's report file (PDF, PNG or JPEG; its Content-Type and first bytes must
    agree), at most ``report_max_bytes``, kept under the given name's stem with the checked type's
    extension (``_safe_filename``); a second upload replaces the first."""
    inspection_id = _inspection_id(request)
    q = _parse(ReportFileQuery, query_of(request))
    kind = request.content_type
    if kind not in _MAGIC:
        raise ApiError(415, f"a report is a PDF, PNG or JPEG file, not {kind[:60]}", key="registry.report_type",
                       params={"type": kind[:60]})
    data = await _read_limited(request, request.app[REGISTRY].settings.report_max_bytes)
    if not data.startswith(_MAGIC[kind]):
        raise ApiError(415, f"the file is not a {kind} file", key="registry.report_content", params={"type": kind})
    user = current_user(request)
    filename = _safe_filename(q.filename, kind, inspection_id)
    async with _pool(request).connection() as conn, conn.transaction():
        await _inspection_unit(conn, inspection_id, _own_agency(request))
        await conn.execute(
            """INSERT INTO inspection_reports (inspection_id, filename, content_type, size, sha256, data, uploaded_by)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (inspection_id) DO UPDATE SET filename = excluded.filename,
                 content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
                 data = excluded.data, uploaded_by = excluded.uploaded_by, uploaded_at = now()""",
            (inspection_id, filename, kind, len(data), hashlib.sha256(data).hexdigest(), data,
             user.username if user else None))
    return _json({"inspection_id": inspection_id, "filename": filename, "size": len(data)}, 201)


async def _get_report(request: web.Request) -> web.Response:
    inspection_id = _inspection_id(request)
    async with _pool(request).connection() as conn:
        await _inspection_unit(conn, inspection_id, _own_agency(request))
        cur = await conn.execute("SELECT filename, content_type, data FROM inspection_reports WHERE inspection_id = %s",
                                 (inspection_id,))
        row = await cur.fetchone()
    if row is None:
        raise ApiError(404, f"inspection {inspection_id} has no report file", key="registry.no_report",
                       params={"id": inspection_id})
    filename, kind, data = row
    ascii_name = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "._-" else "_" for ch in filename)
    return web.Response(body=bytes(data), headers={
        "Content-Type": kind, "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(filename)}'})


async def _conclusions(request: web.Request) -> web.Response:
    del request
    return _json({"categories": [c.as_json() for c in load_conclusions().values()]})


async def _agency(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    own = _own_agency(request)
    async with _pool(request).connection() as conn:
        cur = await conn.execute(
            "SELECT code, name, email, webhook_url FROM parties WHERE code = %s AND role = 'agency'", (code,))
        row = await cur.fetchone()
    if row is None or (own is not None and own != code):
        raise ApiError(404, f"no inspection agency {code[:64]}", key="registry.no_agency", params={"code": code[:64]})
    return _json({"code": row[0], "name": row[1], "email": row[2], "webhook": row[3] is not None})


async def _rate(request: web.Request) -> web.Response:
    q = _parse(RateQuery, query_of(request))
    day = q.day or _today(request)
    formula = request.app[REGISTRY].formula
    async with _pool(request).connection() as conn:
        rows = await compute_rates(conn, day, formula)
        out = [r.as_json() for r in rows if q.by is None or r.dimension == q.by]
        agencies = await _party_names(conn, [r["key"] for r in out if r["dimension"] == "agency"])
    for row in out:
        if row["dimension"] == "district":
            row["name"] = DISTRICT_NAMES.get(row["key"])
        elif row["dimension"] == "agency":
            row["name"] = agencies.get(row["key"])
    return _json({"date": day, "formula": formula, "target": TARGET_PERCENT, "rates": out})


async def _party_names(conn: AsyncConnection, codes: list[str]) -> dict[str, str]:
    """The names of the parties with these codes (an agency's row shows its name, not its code)."""
    if not codes:
        return {}
    cur = await conn.execute("SELECT code, name FROM parties WHERE code = ANY(%s)", (codes,))
    return {str(code): str(name) for code, name in await cur.fetchall()}


async def _trend_series(request: web.Request) -> tuple[TrendQuery, dict[str, list[tuple[date, float]]]]:
    q = _parse(TrendQuery, query_of(request))
    today = _today(request)
    since, last = today - timedelta(days=q.days), today
    if q.since is not None and q.until is not None:  # a reporting period: its days [since, until)
        since, last = q.since, q.until - timedelta(days=1)
    async with _pool(request).connection() as conn:
        return q, await trend(conn, q.by, since, last, request.app[REGISTRY].formula)


async def _trend(request: web.Request) -> web.Response:
    q, series = await _trend_series(request)
    return _json({"by": q.by, "formula": request.app[REGISTRY].formula, "target": TARGET_PERCENT,
                  "series": {k: [[d, round(v, 2)] for d, v in points] for k, points in series.items()}})


async def _trend_svg(request: web.Request) -> web.Response:
    q, series = await _trend_series(request)
    svg = trend_svg(series, title=f"定检率 inspection rate by {q.by}", labels=DISTRICT_NAMES)
    return web.Response(text=svg, content_type="image/svg+xml")


async def _notices(request: web.Request) -> web.Response:
    q = _parse(NoticeQuery, query_of(request))
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    for clause, value in (("n.state = %s", q.state), ("n.kind = %s", q.kind),
                          ("n.registration_code = %s", q.registration_code)):
        if value is not None:
            where.append(clause)
            params.append(value)
    own = _own_agency(request)
    if own is not None:  # sent to the agency, or about its equipment
        where.append("(p.code = %s OR ea.code = %s)")
        params += [own, own]
    joins = """FROM notices n JOIN parties p ON p.id = n.recipient_id
                LEFT JOIN equipment e ON e.registration_code = n.registration_code
                LEFT JOIN parties ea ON ea.id = e.agency_id"""
    async with _pool(request).connection() as conn:
        cur = await conn.execute(f"SELECT count(*) {joins} WHERE {' AND '.join(where)}", params)
        counted = await cur.fetchone()
        cur = await conn.execute(
            f"""SELECT n.id, n.key, n.kind, n.registration_code, n.schedule, n.due_date, p.code, p.name, n.channel,
                       n.state, n.attempts, n.last_error, n.created_at, n.delivered_at, n.next_attempt_at,
                       p.email, p.webhook_url
                {joins} WHERE {' AND '.join(where)}
                ORDER BY n.created_at DESC, n.id DESC LIMIT %s OFFSET %s""", [*params, q.limit, q.offset])
        names = ("id", "key", "kind", "registration_code", "schedule", "due_date", "recipient", "recipient_name",
                 "channel", "state", "attempts", "last_error", "created_at", "delivered_at", "next_attempt_at")
        records = await cur.fetchall()
    delivery = request.app[REGISTRY].delivery
    lang = request_lang(request)
    rows = []
    for record in records:
        row = dict(zip(names, record[:len(names)], strict=True))
        why = waiting_reason(delivery, state=row["state"], channel=row["channel"], email=record[-2],
                             webhook_url=record[-1])
        if own is not None and row["recipient"] != own and why in ("notice.no_webhook", "notice.no_email"):
            why = None  # another party's channels are theirs
        row["waiting"] = None if why is None else render(MESSAGES, why, {}, lang, WAITING[why])
        rows.append(row)
    if own is not None:  # about its equipment, but to someone else: how that delivery fared is theirs
        for row in rows:
            if row["recipient"] != own:
                row["last_error"] = None
    return _json({"notices": rows, "total": counted[0] if counted else 0, "limit": q.limit, "offset": q.offset})


# Who may use the register's routes: the operator's device card, the agencies' own units
# (scoped by the handlers here), the bureau's overview.
ACCESS: tuple[Rule, ...] = (
    rule(READ, "/api/registry/equipment/**", OPERATOR, AGENCY, BUREAU),
    rule(READ, "/api/registry/export", AGENCY, BUREAU),
    rule(POST, "/api/registry/equipment/{code}/inspections", AGENCY),
    rule(READ, "/api/registry/rate/**", OPERATOR, AGENCY, BUREAU),
    rule(READ, "/api/registry/notices/**", AGENCY, BUREAU),
    rule(READ, "/api/registry/search", OPERATOR, AGENCY, BUREAU),
    rule(POST, "/api/registry/inspections/import", AGENCY),
    rule(POST, "/api/registry/inspections/{id}/report", AGENCY),
    rule(READ, "/api/registry/inspections/{id}/report", AGENCY, BUREAU),
    rule(READ, "/api/registry/conclusions", OPERATOR, AGENCY, BUREAU),
    rule(READ, "/api/registry/agencies/{code}", AGENCY, BUREAU),
)


def registry_part(pool: AsyncConnectionPool, settings: RegistrySettings, delivery: Delivery | None = None) -> Part:
    """The register's routes for the shell (``web.app.create_app``); the pool is the caller's,
    ``settings`` the register's section (its calendar: the "today" of due dates and checks, the
    upload limits); ``delivery``: how notices go out (the notices' and SMTP sections, as the
    composition root reads them), so the notice list says why a notice waits."""

    def add_routes(app: web.Application) -> None:
        app[REGISTRY] = RegistryContext(pool, settings, Rules.of(settings), delivery or Delivery())
        app.router.add_get("/api/registry/equipment", _list_equipment)
        app.router.add_get("/api/registry/export", _export)
        app.router.add_get("/api/registry/equipment/{code}", _get_equipment)
        app.router.add_post("/api/registry/equipment/{code}/inspections", _post_inspection)
        app.router.add_get("/api/registry/rate", _rate)
        app.router.add_get("/api/registry/rate/trend", _trend)
        app.router.add_get("/api/registry/rate/trend.svg", _trend_svg)
        app.router.add_get("/api/registry/notices", _notices)
        app.router.add_get("/api/registry/search", _search)
        app.router.add_post("/api/registry/inspections/import", _import_results)
        app.router.add_post("/api/registry/inspections/{id}/report", _put_report)
        app.router.add_get("/api/registry/inspections/{id}/report", _get_report)
        app.router.add_get("/api/registry/conclusions", _conclusions)
        app.router.add_get("/api/registry/agencies/{code}", _agency)

    return Part("registry", add_routes, ACCESS, paths=registry_paths(), requests=REQUESTS, answers=ANSWERS,
                agency_exists=agency_exists, messages=MESSAGES)


async def _search(request: web.Request) -> web.Response:
    """A unit by what a caller reads or says (``registry.search``); an agency finds only its own."""
    q = _parse(SearchQuery, query_of(request))
    async with _pool(request).connection() as conn:
        found = await search_units(conn, q.q, limit=q.limit, agency=_own_agency(request),
                                   category=None if q.category is None else str(q.category))
    return _json(found)


def registry_paths() -> dict[str, Any]:
    """The register's operations (OpenAPI path items)."""
    errors = {"400": json_body(Error, "bad input: the message says what is wrong"),
              "404": json_body(Error, "not found"),
              "503": json_body(Error, "the database is unavailable; try again")}
    code = [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}]
    report_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    return {
        "/api/registry/equipment": {"get": {"operationId": "listEquipment", "tags": ["register"],
                                            "summary": "Registered equipment, soonest due first",
                                            "parameters": query_parameters(EquipmentQuery),
                                            "responses": {"200": json_body(EquipmentList, "the units"), **errors}}},
        "/api/registry/equipment/{code}": {"get": {"operationId": "getEquipment", "tags": ["register"],
                                                   "summary": "One unit with its schedules and inspections",
                                                   "parameters": code,
                                                   "responses": {"200": json_body(EquipmentDetail, "the unit"),
                                                                 **errors}}},
        "/api/registry/equipment/{code}/inspections": {"post": {
            "operationId": "recordInspection", "tags": ["register"], "summary": "Record an inspection",
            "parameters": code,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": ref(InspectionBody)}}},
            "responses": {"201": json_body(RecordedInspection, "recorded"), **errors}}},
        "/api/registry/rate": {"get": {"operationId": "inspectionRate", "tags": ["register"],
                                       "summary": "定检率 by city, category, district and agency",
                                       "parameters": query_parameters(RateQuery),
                                       "responses": {"200": json_body(RateReport, "the rates"), **errors}}},
        "/api/registry/rate/trend": {"get": {"operationId": "inspectionRateTrend", "tags": ["register"],
                                             "summary": "Daily snapshots of the rate",
                                             "parameters": query_parameters(TrendQuery),
                                             "responses": {"200": json_body(RateTrend, "the trend"), **errors}}},
        "/api/registry/rate/trend.svg": {"get": {
            "operationId": "inspectionRateChart", "tags": ["register"], "summary": "The trend as an SVG chart",
            "parameters": query_parameters(TrendQuery),
            "responses": {"200": {"description": "SVG", "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                          **errors}}},
        "/api/registry/search": {"get": {"operationId": "searchRegister", "tags": ["register"],
                                         "summary": "Find a unit by rescue code (救援识别码), registration code "
                                                    "(设备代码), registration certificate number or address text",
                                         "parameters": query_parameters(SearchQuery),
                                         "responses": {"200": json_body(SearchResult, "the units, best first"),
                                                       **errors}}},
        "/api/registry/export": {"get": {
            "operationId": "exportEquipment", "tags": ["register"],
            "summary": "The whole filtered list as XLSX or CSV, in the import's layout (Chinese for zh-CN)",
            "parameters": query_parameters(ExportQuery),
            "responses": {"200": {"description": "the file, as an attachment; X-Total-Count: its rows", "content": {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}}}}, **errors}}},
        "/api/registry/inspections/import": {"post": {
            "operationId": "importInspectionResults", "tags": ["register"],
            "summary": "Record a file of inspection results (CSV in any office encoding, or XLSX)",
            "parameters": query_parameters(ResultsQuery),
            "requestBody": {"required": True, "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}}}},
            "responses": {"200": json_body(ResultsImport, "what was stored, and each bad row's line and reason"),
                          "413": json_body(Error, "the file is too large"),
                          "415": json_body(Error, "neither CSV nor XLSX"), **errors}}},
        "/api/registry/inspections/{id}/report": {
            "post": {"operationId": "uploadInspectionReport", "tags": ["register"],
                     "summary": "The inspection's report file (PDF, PNG or JPEG)",
                     "parameters": [*report_id, *query_parameters(ReportFileQuery)],
                     "requestBody": {"required": True, "content": {
                         kind: {"schema": {"type": "string", "format": "binary"}} for kind in _MAGIC}},
                     "responses": {"201": json_body(StoredReport, "stored (a second upload replaces the first)"),
                                   "413": json_body(Error, "the file is too large"),
                                   "415": json_body(Error, "not a PDF, PNG or JPEG file"), **errors}},
            "get": {"operationId": "getInspectionReport", "tags": ["register"],
                    "summary": "The inspection's report file, as an attachment", "parameters": report_id,
                    "responses": {"200": {"description": "the file", "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}} for kind in _MAGIC}}, **errors}}},
        "/api/registry/conclusions": {"get": {
            "operationId": "listConclusions", "tags": ["register"],
            "summary": "Inspection conclusions and kinds per category, as the TSG rules name them",
            "responses": {"200": json_body(ConclusionList, "by category, with the source")}}},
        "/api/registry/agencies/{code}": {"get": {
            "operationId": "getAgency", "tags": ["register"], "summary": "An inspection agency (an agency: its own)",
            "parameters": code,
            "responses": {"200": json_body(AgencyParty, "the agency"), **errors}}},
        "/api/registry/notices": {"get": {"operationId": "listNotices", "tags": ["register"],
                                          "summary": "Due and overdue notices with their delivery state",
                                          "parameters": query_parameters(NoticeQuery),
                                          "responses": {"200": json_body(NoticeList, "the notices"), **errors}}},
    }
