"""Input every HTTP route shares: text PostgreSQL can store, and dates and times only as ISO 8601.

- ``text_refusal`` says why a string cannot reach PostgreSQL: U+0000 (text and jsonb cannot hold
  it) or a lone surrogate (not encodable as UTF-8). ``request_text_refusal`` applies it to a
  request's path parameters, query string (names and values) and JSON body (keys and strings, at
  any depth; any body but a file upload, whatever its declared type, since the handlers parse
  JSON whatever it says), so that one check before the handlers covers every route: the answer
  is a 400 with the place and the reason, never a database error.
- ``IsoDate``, ``IsoTime`` and ``IsoMonth`` are pydantic types that take only ISO 8601 text
  (``YYYY-MM-DD``; a date-time with its UTC offset; ``YYYY-MM``, a reporting month), never a
  number (pydantic would read ``0`` as 1970-01-01), within years 1900-2999, so date arithmetic
  near the ends cannot overflow.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema

MIN_YEAR, MAX_YEAR = 1900, 2999
_SURROGATE = re.compile("[\ud800-\udfff]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                       r"([Zz]|[+-][0-9]{2}:?[0-9]{2})")
_SPACED_OFFSET = re.compile(r" ([0-9]{2}(:?[0-9]{2})?)$")
_MAX_DEPTH = 64


def text_refusal(value: str) -> str | None:
    """Why PostgreSQL cannot store ``value`` as text, or None when it can."""
    if "\x00" in value:
        return "contains U+0000 (NUL), which text cannot hold"
    if _SURROGATE.search(value):
        return "contains an unpaired surrogate, which is not UTF-8"
    return None


def _walk(value: Any, where: str, depth: int = 0) -> str | None:
    if depth > _MAX_DEPTH:
        return None  # the model that validates the body refuses such nesting with its own reason
    if isinstance(value, str):
        why = text_refusal(value)
        return f"{where or 'body'}: {why}" if why else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            why = text_refusal(str(key))
            if why:
                return f"{where or 'body'}: a key {why}"
            found = _walk(item, here, depth + 1)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _walk(item, f"{where}[{i}]", depth + 1)
            if found:
                return found
    return None


def _streamed(content_type: str) -> bool:
    """Uploads a handler reads as a stream (files): not read here, their handler checks them."""
    return content_type.startswith("multipart/") or content_type in _FILE_TYPES


_FILE_TYPES = frozenset({"text/csv", "application/xml", "text/xml",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         "application/pdf", "image/png", "image/jpeg"})


async def request_text_refusal(request: web.Request) -> str | None:
    """The first place in ``request`` holding text PostgreSQL refuses, with the reason; None if
    there is none. A body that is not JSON is left to the handler, which says so."""
    for name, value in request.match_info.items():
        why = text_refusal(value)
        if why:
            return f"{name}: {why}"
    for name, value in request.rel_url.query.items():
        why = text_refusal(name) or text_refusal(value)
        if why:
            return f"{name[:64]!r}: {why}" if text_refusal(name) else f"{name}: {why}"
    if request.body_exists and not _streamed(request.content_type):
        raw = await request.read()  # aiohttp keeps it: the handler reads the same bytes
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return _walk(body, "")
    return None


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("a date is YYYY-MM-DD")
    return value


def _iso_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        value = _SPACED_OFFSET.sub(r"+\1", value)  # an unencoded '+08:00' in a query string is ' 08:00'
    if not isinstance(value, str) or not _ISO_TIME.fullmatch(value):
        raise ValueError("a time is ISO 8601 with its UTC offset, e.g. 2026-01-01T08:00:00+08:00")
    return value


def _year_range(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def _iso_month(value: Any) -> Any:
    match = _ISO_MONTH.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("a month is YYYY-MM (01-12)")
    if not MIN_YEAR <= int(match[1]) <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


IsoMonth = Annotated[str, BeforeValidator(_iso_month),
                     WithJsonSchema({"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"})]
IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_year_range),
                    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})]
IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_time), AfterValidator(_year_range),
                    WithJsonSchema({"type": "string", "format": "date-time"})]
