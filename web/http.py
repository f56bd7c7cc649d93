"""HTTP plumbing shared by the API's modules (alerts, auth): JSON answers, the ``ApiError`` the
error middleware turns into ``{"error": "..."}``, and reading validated bodies and queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from web.i18n import KeyedError

_Model = TypeVar("_Model", bound=BaseModel)


class ApiError(KeyedError):
    """An error answer: ``message`` in English; ``key`` and ``params`` name it in the parts'
    catalogues (``web.i18n``), so the user reads it in their language."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, *,
                 key: str | None = None, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, key=key, params=params)
        self.status = status
        self.message = message
        self.headers = headers


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   code: str | None = None) -> web.Response:
    """``{"error": message}``, with ``"code"`` (the message's key, ``web.i18n``) when it has one."""
    response = json_response({"error": message} if code is None else {"error": message, "code": code}, status)
    if headers:
        response.headers.update(headers)
    return response


def explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        if err["type"] == "json_invalid":
            return "body is not valid JSON"
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


async def read_body(request: web.Request, model: type[_Model]) -> _Model:
    raw = await request.read()
    if not raw:
        raise ApiError(400, "a JSON body is required", key="web.json_required")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(400, explain(exc), key="web.bad_input", params={"detail": explain(exc)}) from None


def query_of(request: web.Request) -> dict[str, str]:
    """The query's parameters, each once: a parameter given twice (``category=elevator&category=boiler``)
    is a 400 naming it, never silently its first value."""
    repeated = sorted({key for key in request.query if len(request.query.getall(key)) > 1})
    if repeated:
        why = f"query parameter {', '.join(k[:40] for k in repeated)} given more than once: give each once"
        raise ApiError(400, why, key="web.bad_input", params={"detail": why})
    return dict(request.query)


def read_query(request: web.Request, model: type[_Model]) -> _Model:
    try:
        return model.model_validate(query_of(request))
    except ValidationError as exc:
        raise ApiError(400, explain(exc), key="web.bad_input", params={"detail": explain(exc)}) from None
