"""The console's part of the OpenAPI document: the device card and the register's calendar. The
schemas they refer to are generated from ``console.api_models``."""

from __future__ import annotations

from typing import Any

from console.api_models import Calendar, CityMap, DeviceCard
from web.models import Error
from web.openapi import json_body


def console_paths() -> dict[str, Any]:
    """The console's JSON operations (OpenAPI path items)."""
    return {
        "/api/devices/{device_id}": {"get": {
            "operationId": "getDevice", "tags": ["console"], "summary": "The device card",
            "parameters": [{"name": "device_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": json_body(DeviceCard, "the card"),
                "400": json_body(Error, "bad input: the message says what is wrong"),
                "404": json_body(Error, "neither registered nor reporting"),
                "503": json_body(Error, "the database is unavailable; try again"),
            },
        }},
        "/api/calendar": {"get": {
            "operationId": "getCalendar", "tags": ["console"],
            "summary": "The register's today and time zone (the console's date defaults, limits and day counts)",
            "responses": {"200": json_body(Calendar, "the calendar")},
        }},
        "/api/map": {"get": {
            "operationId": "getCityMap", "tags": ["console"],
            "summary": "The open alarms and active incidents with their units' coordinates, counted per district",
            "responses": {
                "200": json_body(CityMap, "the map's markers and counts"),
                "503": json_body(Error, "the database is unavailable; try again"),
            },
        }},
    }
