"""The alerts' part of the OpenAPI document: their operations (alarms, incidents, KPIs, the
health check, the live stream) and the schemas of what they answer, which mirror the ``as_json``
of Alarm, Incident, IncidentStep and RescueKpis (the tests check them against real responses).
Request bodies and query parameters come from the pydantic models that validate them
(``alerts.api_models``)."""

from __future__ import annotations

from typing import Any

from alerts.api_models import AlarmQuery, CommentBody, IncidentQuery, KpiQuery, StepBody
from alerts.incidents import IncidentState, Step
from alerts.model import Severity, Source
from web.openapi import ERRORS, NOT_FOUND, json_body, model_schemas, nullable, query_parameters, ref

_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = nullable(_TIME)
_TEXT_OR_NULL = nullable({"type": "string"})
_SECONDS_OR_NULL = nullable({"type": "number", "description": "seconds"})
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties)}
    if description:
        schema["description"] = description
    return schema


def alerts_schemas() -> dict[str, dict[str, Any]]:
    """The schemas the alerts' operations refer to."""
    incident = {
        "id": {"type": "integer"}, "alarm_id": {"type": "integer"}, "device_id": {"type": "string"},
        "district_code": _TEXT_OR_NULL, "state": ref("IncidentState"), "raised_at": _TIME,
        "acknowledged_at": _TIME_OR_NULL, "dispatched_at": _TIME_OR_NULL, "on_site_at": _TIME_OR_NULL,
        "released_at": _TIME_OR_NULL, "closed_at": _TIME_OR_NULL, "maintenance_unit": _TEXT_OR_NULL,
        "maintenance_contact": _TEXT_OR_NULL, "ack_deadline": _TIME, "arrival_deadline": _TIME_OR_NULL,
        "ack_late": {"type": "boolean"}, "arrival_late": {"type": "boolean"}, "escalated_at": _TIME_OR_NULL,
        "second_tier": _TEXT_OR_NULL, "cause": _TEXT_OR_NULL, "updated_at": _TIME,
        "active": {"type": "boolean", "description": "neither closed nor a false alarm"},
    }
    kpi_rows = {
        "key": nullable({"type": "string", "description": "district code or maintenance unit"}),
        "incidents": {"type": "integer"}, "false_alarms": {"type": "integer"},
        "response_mean_s": _SECONDS_OR_NULL, "response_median_s": _SECONDS_OR_NULL,
        "arrival_mean_s": _SECONDS_OR_NULL, "arrival_median_s": _SECONDS_OR_NULL,
        "rescue_mean_s": _SECONDS_OR_NULL, "rescue_median_s": _SECONDS_OR_NULL,
        "late_acks": {"type": "integer"}, "late_arrivals": {"type": "integer"}, "escalations": {"type": "integer"},
    }
    return {
        **model_schemas([StepBody, CommentBody, AlarmQuery, IncidentQuery, KpiQuery]),
        "Health": _object({"ok": {"type": "boolean"}, "database": {"type": "boolean"},
                           "live_subscribers": {"type": "integer"}}),
        "Severity": {"type": "string", "enum": [str(s) for s in Severity]},
        "Source": {"type": "string", "enum": [str(s) for s in Source]},
        "IncidentState": {"type": "string", "enum": [str(s) for s in IncidentState]},
        "StepName": {"type": "string", "enum": [str(s) for s in Step]},
        "Alarm": _object({
            "id": {"type": "integer"}, "device_id": {"type": "string"},
            "kind": {"type": "string", "enum": ["elevator", "boiler"]}, "type": ref("AlarmType"),
            "severity": ref("Severity"), "source": ref("Source"),
            "state": {"type": "string", "enum": ["open", "cleared"]},
            "raised_at": {**_TIME, "description": "device time the condition began"},
            "raised_seen_at": {**_TIME, "description": "when the engine raised it"},
            "cleared_at": _TIME_OR_NULL, "clear_reason": _TEXT_OR_NULL, "district_code": _TEXT_OR_NULL,
            "details": {"type": "object"},
        }),
        "AlarmList": _object({"alarms": {"type": "array", "items": ref("Alarm")}}),
        "Incident": _object(incident, "A rescue incident; raised_at is when the centre received the alarm."),
        "IncidentList": _object({"incidents": {"type": "array", "items": ref("Incident")}}),
        "Step": _object({
            "id": {"type": "integer"}, "incident_id": {"type": "integer"}, "step": ref("StepName"),
            "actor": {"type": "string"}, "at": _TIME, "comment": _TEXT_OR_NULL, "details": {"type": "object"},
        }, "One entry of an incident's history: who did what, and when."),
        "IncidentDetail": {"allOf": [ref("Incident"), _object(
            {"steps": {"type": "array", "items": ref("Step"), "description": "in the order they were taken"}})]},
        "RescueKpis": _object(kpi_rows, "Response = acknowledged - raised; arrival = on_site - dispatched; "
                                        "rescue = released - on_site."),
        "KpiReport": _object({
            "by": ref("KpiGrouping"), "since": _TIME, "until": _TIME,
            "rows": {"type": "array", "items": ref("RescueKpis")},
        }),
        "LiveSnapshot": _object({
            "topic": {"const": "snapshot"},
            "alarms": {"type": "array", "items": ref("Alarm"), "description": "every open alarm"},
            "incidents": {"type": "array", "items": ref("Incident"), "description": "every active incident"},
        }),
        "LiveChange": {"oneOf": [
            _object({"topic": {"const": "alarm"}, "op": {"type": "string", "examples": ["raised", "cleared"]},
                     "alarm": ref("Alarm")}),
            {"type": "object", "required": ["topic", "op", "incident"],
             "properties": {"topic": {"const": "incident"}, "op": ref("StepName"), "incident": ref("Incident"),
                            "step": {**ref("Step"), "description": "the step that made the change"}}},
        ]},
    }




def alerts_paths() -> dict[str, Any]:
    """The alerts' operations (OpenAPI path items)."""
    return {
        "/healthz": {"get": {
            "operationId": "healthz", "summary": "Liveness and database reachability",
            "responses": {"200": json_body("Health", "serving"),
                          "503": json_body("Health", "the database is unavailable")},
        }},
        "/api/alarms": {"get": {
            "operationId": "listAlarms", "summary": "Alarms, newest first", "tags": ["alarms"],
            "parameters": query_parameters(AlarmQuery),
            "responses": {"200": json_body("AlarmList", "the alarms"), **ERRORS},
        }},
        "/api/alarms/{id}": {"get": {
            "operationId": "getAlarm", "summary": "One alarm", "tags": ["alarms"], "parameters": _ID,
            "responses": {"200": json_body("Alarm", "the alarm"), **NOT_FOUND, **ERRORS},
        }},
        "/api/incidents": {"get": {
            "operationId": "listIncidents", "summary": "Rescue incidents, newest first", "tags": ["incidents"],
            "parameters": query_parameters(IncidentQuery),
            "responses": {"200": json_body("IncidentList", "the incidents"), **ERRORS},
        }},
        "/api/incidents/{id}": {"get": {
            "operationId": "getIncident", "summary": "One incident with its steps", "tags": ["incidents"],
            "parameters": _ID,
            "responses": {"200": json_body("IncidentDetail", "the incident"), **NOT_FOUND, **ERRORS},
        }},
        "/api/incidents/{id}/steps": {"post": {
            "operationId": "stepIncident", "tags": ["incidents"],
            "summary": "Take the next step: acknowledged, dispatched (maintenance_unit and contact required), "
                       "on_site, released, closed; or false_alarm before release. Closing clears the alarm.",
            "parameters": _ID,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("StepBody")}}},
            "responses": {
                "200": json_body("IncidentDetail", "the incident after the step"), **NOT_FOUND, **ERRORS,
                "409": json_body("Error", "the step does not follow from the incident's current state"),
            },
        }},
        "/api/incidents/{id}/comments": {"post": {
            "operationId": "commentIncident", "summary": "Add a comment to an incident in any state",
            "tags": ["incidents"], "parameters": _ID,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("CommentBody")}}},
            "responses": {"201": json_body("Step", "the recorded comment"), **NOT_FOUND, **ERRORS},
        }},
        "/api/kpis/rescue": {"get": {
            "operationId": "rescueKpis", "tags": ["kpis"],
            "summary": "Rescue KPIs per district or maintenance unit over incidents raised in [since, until) "
                       "(default: the last 30 days)",
            "parameters": query_parameters(KpiQuery),
            "responses": {"200": json_body("KpiReport", "one row per group"), **ERRORS},
        }},
        "/api/live": {"get": {
            "operationId": "live", "tags": ["live"], "summary": "Live stream (WebSocket)",
            "description": "Upgrade to a WebSocket. The server sends JSON text: first a LiveSnapshot, then every "
                           "LiveChange in order. A change may repeat what the snapshot already shows: apply changes "
                           "as upserts by id. A client too slow to keep up is closed with code 4008 "
                           "(\"too slow; reconnect to resync\"): reconnect and take the new snapshot.",
            "responses": {
                "101": {"description": "switching to the WebSocket protocol; messages: LiveSnapshot, then LiveChange",
                        "content": {"application/json": {"schema": {"oneOf": [ref("LiveSnapshot"),
                                                                              ref("LiveChange")]}}}},
                "400": json_body("Error", "not a WebSocket upgrade request"),
            },
        }},
    }
