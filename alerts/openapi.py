"""The alerts' part of the OpenAPI document: their operations (alarms, incidents, KPIs, the
health check, the live stream). Every schema they refer to is generated from the models of
``alerts.api_models``: the bodies and queries they validate, and what they answer."""

from __future__ import annotations

from typing import Any

from alerts.api_models import Alarm as AlarmAnswer
from alerts.api_models import (
    AlarmActBody,
    AlarmList,
    AlarmQuery,
    AlarmTypes,
    CauseList,
    CommentBody,
    Handover,
    HandoverQuery,
    Health,
    IncidentDetail,
    IncidentList,
    IncidentQuery,
    IncidentStep,
    KpiQuery,
    KpiReport,
    LiveChange,
    LiveSnapshot,
    MonthlyReport,
    PhoneReportBody,
    ReportQuery,
    ShelveBody,
    StepBody,
)
from web.models import Error
from web.openapi import ERRORS, NOT_FOUND, json_body, query_parameters, ref

_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]


def _alarm_act(operation: str, summary: str, body: type[AlarmActBody] | type[ShelveBody]) -> dict[str, Any]:
    return {"post": {
        "operationId": operation, "summary": summary, "tags": ["alarms"], "parameters": _ID,
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(body)}}},
        "responses": {
            "200": json_body(AlarmAnswer, "the alarm after it"), **NOT_FOUND, **ERRORS,
            "409": json_body(Error, "the alarm is cleared already"),
        },
        "description": "400 for an entrapment: it is worked through its rescue incident, never acknowledged "
                       "or shelved as an alarm. The change is pushed on the live stream.",
    }}


def alerts_paths() -> dict[str, Any]:
    """The alerts' operations (OpenAPI path items)."""
    return {
        "/healthz": {"get": {
            "operationId": "healthz", "summary": "Liveness and database reachability",
            "responses": {"200": json_body(Health, "serving"),
                          "503": json_body(Health, "the database is unavailable")},
        }},
        "/api/alarms": {"get": {
            "operationId": "listAlarms", "summary": "Alarms, newest first", "tags": ["alarms"],
            "parameters": query_parameters(AlarmQuery),
            "responses": {"200": json_body(AlarmList, "the alarms"), **ERRORS},
        }},
        "/api/alarms/types": {"get": {
            "operationId": "alarmTypes", "summary": "Each alarm type's desk, severity and sound", "tags": ["alarms"],
            "responses": {"200": json_body(AlarmTypes, "one entry per type"), **ERRORS},
        }},
        "/api/alarms/{id}": {"get": {
            "operationId": "getAlarm", "summary": "One alarm", "tags": ["alarms"], "parameters": _ID,
            "responses": {"200": json_body(AlarmAnswer, "the alarm"), **NOT_FOUND, **ERRORS},
        }},
        "/api/alarms/{id}/acknowledge": _alarm_act(
            "acknowledgeAlarm", "Acknowledge an open alarm (once; again answers it unchanged)", AlarmActBody),
        "/api/alarms/{id}/shelve": _alarm_act(
            "shelveAlarm", "Shelve an open alarm for `minutes` with a reason; it is shown again when the time ends",
            ShelveBody),
        "/api/alarms/{id}/unshelve": _alarm_act(
            "unshelveAlarm", "End an alarm's shelving now (a no-op when it is not shelved)", AlarmActBody),
        "/api/incidents": {
            "get": {
                "operationId": "listIncidents", "tags": ["incidents"],
                "summary": "Rescue incidents, newest first: filters, text search (q), a page (limit, offset) and "
                           "the total the filters select",
                "parameters": query_parameters(IncidentQuery),
                "responses": {"200": json_body(IncidentList, "the incidents"), **ERRORS},
            },
            "post": {
                "operationId": "reportIncident", "tags": ["incidents"],
                "summary": "Open an incident reported by phone (新建接警), without any alarm; opened acknowledged",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": ref(PhoneReportBody)}}},
                "responses": {
                    "201": json_body(IncidentDetail, "the incident with its steps"), **ERRORS,
                    "409": json_body(Error, "the unit has an open incident already (its id in the message)"),
                },
            },
        },
        "/api/incidents/causes": {"get": {
            "operationId": "incidentCauses", "tags": ["incidents"],
            "summary": "The cause classes closing asks for, with their labels in zh-CN and en",
            "responses": {"200": json_body(CauseList, "the cause classes"), **ERRORS},
        }},
        "/api/incidents/handover": {"get": {
            "operationId": "incidentHandover", "tags": ["incidents"],
            "summary": "A shift's handover over [since, until) (default the last 12 hours): open incidents, those "
                       "closed in the shift, counts by state, late acknowledgements, responses and arrivals, "
                       "escalations",
            "parameters": query_parameters(HandoverQuery),
            "responses": {"200": json_body(Handover, "the handover"), **ERRORS},
        }},
        "/api/incidents/{id}": {"get": {
            "operationId": "getIncident", "summary": "One incident with its steps", "tags": ["incidents"],
            "parameters": _ID,
            "responses": {"200": json_body(IncidentDetail, "the incident"), **NOT_FOUND, **ERRORS},
        }},
        "/api/incidents/{id}/steps": {"post": {
            "operationId": "stepIncident", "tags": ["incidents"],
            "summary": "Take the next step: acknowledged, dispatched {tier, maintenance_unit, contact} (again from "
                       "dispatched or responded: a re-dispatch or the next tier), responded, no_answer (a note), "
                       "on_site, released, closed {persons_released, injuries, cause_class, self_release, "
                       "callback_confirmed} (all required); or false_alarm before release. Closing clears the "
                       "alarm.",
            "parameters": _ID,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(StepBody)}}},
            "responses": {
                "200": json_body(IncidentDetail, "the incident after the step"), **NOT_FOUND, **ERRORS,
                "409": json_body(Error, "the step does not follow from the incident's current state"),
            },
        }},
        "/api/incidents/{id}/comments": {"post": {
            "operationId": "commentIncident", "summary": "Add a comment to an incident in any state",
            "tags": ["incidents"], "parameters": _ID,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(CommentBody)}}},
            "responses": {"201": json_body(IncidentStep, "the recorded comment"), **NOT_FOUND, **ERRORS},
        }},
        "/api/kpis/rescue": {"get": {
            "operationId": "rescueKpis", "tags": ["kpis"],
            "summary": "Rescue KPIs per district or maintenance unit over incidents raised in [since, until) "
                       "(default: the last 30 days)",
            "parameters": query_parameters(KpiQuery),
            "responses": {"200": json_body(KpiReport, "one row per group"), **ERRORS},
        }},
        "/api/reports/monthly": {"get": {
            "operationId": "monthlyReport", "tags": ["kpis"],
            "summary": "The monthly 96333 report over a calendar month or the register's local days [since, until), "
                       "as JSON or (format=xlsx) an XLSX workbook (docs/reports.md)",
            "parameters": query_parameters(ReportQuery),
            "responses": {"200": {"description": "the report",
                                  "content": {"application/json": {"schema": ref(MonthlyReport)},
                                              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                                                  {"schema": {"type": "string", "format": "binary"}}}},
                          **ERRORS},
        }},
        "/api/live": {"get": {
            "operationId": "live", "tags": ["live"], "summary": "Live stream (WebSocket)",
            "description": "Upgrade to a WebSocket. The server sends JSON text: first a LiveSnapshot, then every "
                           "LiveChange in order. A change may repeat what the snapshot already shows: apply changes "
                           "as upserts by id. A client too slow to keep up is closed with code 4008 "
                           "(\"too slow; reconnect to resync\"): reconnect and take the new snapshot.",
            "responses": {
                "101": {"description": "switching to the WebSocket protocol; messages: LiveSnapshot, then LiveChange",
                        "content": {"application/json": {"schema": {"oneOf": [ref(LiveSnapshot),
                                                                              ref(LiveChange)]}}}},
                "400": json_body(Error, "not a WebSocket upgrade request"),
            },
        }},
    }
