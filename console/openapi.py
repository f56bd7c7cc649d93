"""The device card and the register's calendar in the OpenAPI document (added to ``/api/openapi.json`` on mounting)."""

from __future__ import annotations

from typing import Any


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_TEXT = _nullable({"type": "string"})
_DATE = _nullable({"type": "string", "format": "date"})
_TIME = _nullable({"type": "string", "format": "date-time"})


def _party(*extra: str) -> dict[str, Any]:
    props = {"code": {"type": "string"}, "name": {"type": "string"}} | {name: _TEXT for name in extra}
    return _nullable({"type": "object", "properties": props})


def device_card_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "device_id": {"type": "string"}, "registration_code": {"type": "string", "description": "设备代码"},
        "kind": _nullable({"type": "string", "enum": ["elevator", "boiler"]}),
        "registered": {"type": "boolean", "description": "in the equipment register"},
        "reporting": {"type": "boolean", "description": "the ingester has heard from it (device_state)"},
        "category": _TEXT, "type": _TEXT, "address": _TEXT, "district_code": _TEXT,
        "district": {**_TEXT, "description": "the district's Chinese name"},
        "status": _nullable({"type": "string", "enum": ["in_use", "stopped", "scrapped"]}),
        "commissioned_on": _DATE, "owner": _party(), "maintenance_unit": _party("phone", "contact"),
        "agency": _party(), "fit_for_use": _nullable({"type": "boolean"}),
        "last_inspected": {**_DATE, "description": "the newest last inspection of its schedules"},
        "next_due": {**_DATE, "description": "the earliest due date of its schedules"},
        "overdue": {"type": "boolean"},
        "last_inspection": _nullable({"type": "object", "description": "the newest recorded inspection",
                                      "properties": {"schedule": {"type": "string"}, "inspected_on": _DATE,
                                                     "result": {"type": "string"}, "report_no": _TEXT}}),
        "schedules": {"type": "array", "items": {"type": "object", "properties": {
            "schedule": {"type": "string"}, "interval_months": {"type": "integer"}, "last_inspected": _DATE,
            "next_due": _DATE}}},
        "online": _nullable({"type": "boolean"}), "last_seen": _TIME, "last_telemetry_at": _TIME,
        "telemetry": _nullable({"type": "object", "description": "the latest telemetry frame"}),
        "last_event_at": _TIME, "last_event_code": _nullable({"type": "integer"}), "status_changed_at": _TIME,
        "open_alarms": {"type": "array", "items": {"$ref": "#/components/schemas/Alarm"}},
    }
    return {"type": "object", "properties": props, "required": list(props),
            "description": "One device as the console shows it: register, latest state and open alarms."}


def device_paths() -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {"/api/devices/{device_id}": {"get": {
        "operationId": "getDevice", "tags": ["console"], "summary": "The device card",
        "parameters": [{"name": "device_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "the card",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeviceCard"}}}},
            "400": {"description": "bad input: the message says what is wrong", **error},
            "404": {"description": "neither registered nor reporting", **error},
            "503": {"description": "the database is unavailable; try again", **error},
        },
    }}}


def calendar_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["today", "timezone"], "additionalProperties": False,
            "description": "The register's calendar: every \"today\" of semon (due, overdue, the checks on "
                           "inspection dates) is the local date in this zone.",
            "properties": {
                "today": {"type": "string", "format": "date", "description": "the register's local date"},
                "timezone": {"type": "string", "description": "IANA name (SEMON_NOTICE_TIMEZONE)",
                             "examples": ["Asia/Shanghai"]}}}


def calendar_path() -> dict[str, Any]:
    return {"/api/calendar": {"get": {
        "operationId": "getCalendar", "tags": ["console"],
        "summary": "The register's today and time zone (the console's date defaults, limits and day counts)",
        "responses": {
            "200": {"description": "the calendar",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Calendar"}}}},
        },
    }}}
