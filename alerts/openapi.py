"""The OpenAPI 3.1 document of the alerts API, served at ``/api/openapi.json``.

With auth on, every operation says how it is secured (the ``semon_session`` cookie; on POSTs
also the ``X-CSRF-Token`` header) and which roles may call it (``x-roles``), both derived from
the role policy itself (``alerts.policy``), so the document cannot promise what the server refuses.

Request bodies and query parameters come from the pydantic models that validate them
(``alerts.api_models``); the response schemas mirror the ``as_json`` of Alarm, Incident,
IncidentStep and RescueKpis, which the tests check against real responses.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from alerts.api_models import AlarmQuery, CommentBody, IncidentQuery, KpiQuery, LoginBody, NewUserBody, StepBody
from alerts.incidents import IncidentState, Step
from alerts.model import Severity, Source
from alerts.policy import allowed, is_public, needs_csrf
from alerts.users import Role

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF.format(model=name)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = _nullable(_TIME)
_TEXT_OR_NULL = _nullable({"type": "string"})
_SECONDS_OR_NULL = _nullable({"type": "number", "description": "seconds"})


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties)}
    if description:
        schema["description"] = description
    return schema


def _response_schemas() -> dict[str, dict[str, Any]]:
    incident = {
        "id": {"type": "integer"}, "alarm_id": {"type": "integer"}, "device_id": {"type": "string"},
        "district_code": _TEXT_OR_NULL, "state": _ref("IncidentState"), "raised_at": _TIME,
        "acknowledged_at": _TIME_OR_NULL, "dispatched_at": _TIME_OR_NULL, "on_site_at": _TIME_OR_NULL,
        "released_at": _TIME_OR_NULL, "closed_at": _TIME_OR_NULL, "maintenance_unit": _TEXT_OR_NULL,
        "maintenance_contact": _TEXT_OR_NULL, "ack_deadline": _TIME, "arrival_deadline": _TIME_OR_NULL,
        "ack_late": {"type": "boolean"}, "arrival_late": {"type": "boolean"}, "escalated_at": _TIME_OR_NULL,
        "second_tier": _TEXT_OR_NULL, "cause": _TEXT_OR_NULL, "updated_at": _TIME,
        "active": {"type": "boolean", "description": "neither closed nor a false alarm"},
    }
    kpi_rows = {
        "key": _nullable({"type": "string", "description": "district code or maintenance unit"}),
        "incidents": {"type": "integer"}, "false_alarms": {"type": "integer"},
        "response_mean_s": _SECONDS_OR_NULL, "response_median_s": _SECONDS_OR_NULL,
        "arrival_mean_s": _SECONDS_OR_NULL, "arrival_median_s": _SECONDS_OR_NULL,
        "rescue_mean_s": _SECONDS_OR_NULL, "rescue_median_s": _SECONDS_OR_NULL,
        "late_acks": {"type": "integer"}, "late_arrivals": {"type": "integer"}, "escalations": {"type": "integer"},
    }
    session_user = {"username": {"type": "string"}, "role": _ref("Role"),
                    "agency": _nullable({"type": "string", "description": "the agency's party code (role agency)"}),
                    "display_name": {"type": "string"}}
    return {
        "Error": _object({"error": {"type": "string"}}),
        "SessionUser": _object(session_user, "Who is logged in."),
        "Session": _object({"user": _ref("SessionUser"), "csrf_token": {
            "type": "string", "description": "send it back in the X-CSRF-Token header on every POST"}}),
        "UserInfo": _object({**session_user, "id": {"type": "integer"}, "active": {"type": "boolean"},
                             "created_at": _TIME}),
        "UserList": _object({"users": {"type": "array", "items": _ref("UserInfo")}}),
        "CreatedUser": _object({"user": _ref("UserInfo")}),
        "Health": _object({"ok": {"type": "boolean"}, "database": {"type": "boolean"},
                           "live_subscribers": {"type": "integer"}}),
        "Severity": {"type": "string", "enum": [str(s) for s in Severity]},
        "Source": {"type": "string", "enum": [str(s) for s in Source]},
        "IncidentState": {"type": "string", "enum": [str(s) for s in IncidentState]},
        "StepName": {"type": "string", "enum": [str(s) for s in Step]},
        "Alarm": _object({
            "id": {"type": "integer"}, "device_id": {"type": "string"},
            "kind": {"type": "string", "enum": ["elevator", "boiler"]}, "type": _ref("AlarmType"),
            "severity": _ref("Severity"), "source": _ref("Source"),
            "state": {"type": "string", "enum": ["open", "cleared"]},
            "raised_at": {**_TIME, "description": "device time the condition began"},
            "raised_seen_at": {**_TIME, "description": "when the engine raised it"},
            "cleared_at": _TIME_OR_NULL, "clear_reason": _TEXT_OR_NULL, "district_code": _TEXT_OR_NULL,
            "details": {"type": "object"},
        }),
        "AlarmList": _object({"alarms": {"type": "array", "items": _ref("Alarm")}}),
        "Incident": _object(incident, "A rescue incident; raised_at is when the centre received the alarm."),
        "IncidentList": _object({"incidents": {"type": "array", "items": _ref("Incident")}}),
        "Step": _object({
            "id": {"type": "integer"}, "incident_id": {"type": "integer"}, "step": _ref("StepName"),
            "actor": {"type": "string"}, "at": _TIME, "comment": _TEXT_OR_NULL, "details": {"type": "object"},
        }, "One entry of an incident's history: who did what, and when."),
        "IncidentDetail": {"allOf": [_ref("Incident"), _object(
            {"steps": {"type": "array", "items": _ref("Step"), "description": "in the order they were taken"}})]},
        "RescueKpis": _object(kpi_rows, "Response = acknowledged - raised; arrival = on_site - dispatched; "
                                        "rescue = released - on_site."),
        "KpiReport": _object({
            "by": _ref("KpiGrouping"), "since": _TIME, "until": _TIME,
            "rows": {"type": "array", "items": _ref("RescueKpis")},
        }),
        "LiveSnapshot": _object({
            "topic": {"const": "snapshot"},
            "alarms": {"type": "array", "items": _ref("Alarm"), "description": "every open alarm"},
            "incidents": {"type": "array", "items": _ref("Incident"), "description": "every active incident"},
        }),
        "LiveChange": {"oneOf": [
            _object({"topic": {"const": "alarm"}, "op": {"type": "string", "examples": ["raised", "cleared"]},
                     "alarm": _ref("Alarm")}),
            {"type": "object", "required": ["topic", "op", "incident"],
             "properties": {"topic": {"const": "incident"}, "op": _ref("StepName"), "incident": _ref("Incident"),
                            "step": {**_ref("Step"), "description": "the step that made the change"}}},
        ]},
    }


def model_schemas(models: list[type[BaseModel]]) -> dict[str, dict[str, Any]]:
    """Component schemas for these pydantic models and every schema they refer to (enums,
    nested models), their references pointing into ``#/components/schemas``: merge them all
    into the document's components, or a reference will not resolve."""
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas: dict[str, dict[str, Any]] = top.get("$defs", {})
    return schemas


def merge_schemas(document: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> None:
    """Add ``schemas`` to the document's components; ValueError if a name is taken by another schema."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        if name in components and components[name] != schema:
            raise ValueError(f"two different schemas named {name} in the OpenAPI document")
        components[name] = schema


def _model_schemas() -> dict[str, dict[str, Any]]:
    return model_schemas([StepBody, CommentBody, AlarmQuery, IncidentQuery, KpiQuery, LoginBody, NewUserBody])


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI query parameters (absent, never null, in a query string);
    their references point into the components (add ``model_schemas([model])`` there)."""
    schema = model.model_json_schema(ref_template=_REF, by_alias=True)
    parameters = []
    for name, field_schema in schema["properties"].items():
        prop = dict(field_schema)
        variants = [v for v in prop.pop("anyOf", []) if v != {"type": "null"}]
        if variants:
            prop.update(variants[0])
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        parameters.append({"name": name, "in": "query", "required": False, "schema": prop})
    return parameters


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_ERRORS = {
    "400": _json("Error", "bad input: the message says what is wrong"),
    "503": _json("Error", "the database is unavailable; try again"),
}
_NOT_FOUND = {"404": _json("Error", "no such item")}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]


_SECURITY_SCHEMES = {
    "session": {"type": "apiKey", "in": "cookie", "name": "semon_session",
                "description": "set by POST /api/login (HttpOnly, SameSite=Strict)"},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
             "description": "the session's csrf_token (from POST /api/login or GET /api/me), on every POST"},
}
_REFUSALS = {
    "401": _json("Error", "no session: log in first (pages get an HTML page instead)"),
    "403": _json("Error", "the role may not do this, or the CSRF token is missing or wrong"),
}


def secure_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """Mark each operation with how it is secured and who may call it, from the policy."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            verb = method.upper()
            if is_public(verb, path):
                operation["security"] = []
                continue
            operation["security"] = [{"session": [], "csrf": []} if needs_csrf(verb) else {"session": []}]
            operation["x-roles"] = [str(role) for role in Role if allowed(role, verb, path)]
            operation["responses"] = {**operation["responses"], **_REFUSALS}
    return paths


def _auth_paths() -> dict[str, Any]:
    return {
        "/api/login": {"post": {
            "operationId": "login", "tags": ["auth"],
            "summary": "Log in: sets the semon_session cookie and returns the CSRF token for later POSTs",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("LoginBody")}}},
            "responses": {"200": _json("Session", "logged in"), "400": _json("Error", "bad input"),
                          "401": _json("Error", "wrong username or password"),
                          "415": _json("Error", "the body must be application/json"),
                          "429": _json("Error", "throttled: too many failed logins for this username from this "
                                                 "address, or too many logins from this address; see Retry-After"),
                          "503": _json("Error", "too many logins waiting at once; see Retry-After")},
        }},
        "/api/logout": {"post": {
            "operationId": "logout", "tags": ["auth"], "summary": "End the session and clear the cookie",
            "responses": {"204": {"description": "logged out"}},
        }},
        "/api/me": {"get": {
            "operationId": "me", "tags": ["auth"], "summary": "Who is logged in, and the session's CSRF token",
            "responses": {"200": _json("Session", "the session")},
        }},
        "/api/users": {
            "get": {"operationId": "listUsers", "tags": ["auth"], "summary": "Every user",
                    "responses": {"200": _json("UserList", "the users")}},
            "post": {"operationId": "createUser", "tags": ["auth"], "summary": "Create a user",
                     "requestBody": {"required": True,
                                     "content": {"application/json": {"schema": _ref("NewUserBody")}}},
                     "responses": {"201": _json("CreatedUser", "created"), **_ERRORS,
                                   "409": _json("Error", "the username is taken")}},
        },
    }


def openapi_document(*, auth: bool = True) -> dict[str, Any]:
    schemas = {**_model_schemas(), **_response_schemas()}
    paths: dict[str, Any] = {
        "/healthz": {"get": {
            "operationId": "healthz", "summary": "Liveness and database reachability",
            "responses": {"200": _json("Health", "serving"), "503": _json("Health", "the database is unavailable")},
        }},
        "/api/alarms": {"get": {
            "operationId": "listAlarms", "summary": "Alarms, newest first", "tags": ["alarms"],
            "parameters": query_parameters(AlarmQuery),
            "responses": {"200": _json("AlarmList", "the alarms"), **_ERRORS},
        }},
        "/api/alarms/{id}": {"get": {
            "operationId": "getAlarm", "summary": "One alarm", "tags": ["alarms"], "parameters": _ID,
            "responses": {"200": _json("Alarm", "the alarm"), **_NOT_FOUND, **_ERRORS},
        }},
        "/api/incidents": {"get": {
            "operationId": "listIncidents", "summary": "Rescue incidents, newest first", "tags": ["incidents"],
            "parameters": query_parameters(IncidentQuery),
            "responses": {"200": _json("IncidentList", "the incidents"), **_ERRORS},
        }},
        "/api/incidents/{id}": {"get": {
            "operationId": "getIncident", "summary": "One incident with its steps", "tags": ["incidents"],
            "parameters": _ID,
            "responses": {"200": _json("IncidentDetail", "the incident"), **_NOT_FOUND, **_ERRORS},
        }},
        "/api/incidents/{id}/steps": {"post": {
            "operationId": "stepIncident", "tags": ["incidents"],
            "summary": "Take the next step: acknowledged, dispatched (maintenance_unit and contact required), "
                       "on_site, released, closed; or false_alarm before release. Closing clears the alarm.",
            "parameters": _ID,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("StepBody")}}},
            "responses": {
                "200": _json("IncidentDetail", "the incident after the step"), **_NOT_FOUND, **_ERRORS,
                "409": _json("Error", "the step does not follow from the incident's current state"),
            },
        }},
        "/api/incidents/{id}/comments": {"post": {
            "operationId": "commentIncident", "summary": "Add a comment to an incident in any state",
            "tags": ["incidents"], "parameters": _ID,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CommentBody")}}},
            "responses": {"201": _json("Step", "the recorded comment"), **_NOT_FOUND, **_ERRORS},
        }},
        "/api/kpis/rescue": {"get": {
            "operationId": "rescueKpis", "tags": ["kpis"],
            "summary": "Rescue KPIs per district or maintenance unit over incidents raised in [since, until) "
                       "(default: the last 30 days)",
            "parameters": query_parameters(KpiQuery),
            "responses": {"200": _json("KpiReport", "one row per group"), **_ERRORS},
        }},
        "/api/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document",
            "responses": {"200": {"description": "the OpenAPI document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
        "/api/live": {"get": {
            "operationId": "live", "tags": ["live"], "summary": "Live stream (WebSocket)",
            "description": "Upgrade to a WebSocket. The server sends JSON text: first a LiveSnapshot, then every "
                           "LiveChange in order. A change may repeat what the snapshot already shows: apply changes "
                           "as upserts by id. A client too slow to keep up is closed with code 4008 "
                           "(\"too slow; reconnect to resync\"): reconnect and take the new snapshot.",
            "responses": {
                "101": {"description": "switching to the WebSocket protocol; messages: LiveSnapshot, then LiveChange",
                        "content": {"application/json": {"schema": {"oneOf": [_ref("LiveSnapshot"),
                                                                              _ref("LiveChange")]}}}},
                "400": _json("Error", "not a WebSocket upgrade request"),
            },
        }},
    }
    components: dict[str, Any] = {"schemas": schemas}
    if auth:
        paths.update(_auth_paths())
    for operations in paths.values():  # text PostgreSQL refuses is a 400 on every route (alerts.inputs)
        for operation in operations.values():
            operation["responses"].setdefault("400", _json("Error", "bad input: the message says what is wrong"))
    if auth:
        secure_paths(paths)
        components["securitySchemes"] = _SECURITY_SCHEMES
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "semon alerts API",
            "version": "1",
            "description": "Alarms, rescue incidents of the elevator emergency centre (96333), rescue KPIs "
                           "and the live stream. Errors are JSON objects {\"error\": \"...\"}. "
                           "Log in with POST /api/login; x-roles lists the roles allowed per operation.",
        },
        "paths": paths,
        "components": components,
        **({"security": [{"session": []}]} if auth else {}),
    }
