"""What the console's API answers: the device card, the register's calendar and the city map, mirroring the
JSON ``console.api`` writes. The OpenAPI document takes its schemas from these models, and the
API's tests validate real answers against them.

The card's open alarms are the alerts' ``Alarm`` schema, named rather than imported: the console
imports no other domain package, and the application that serves the card serves the alarms."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from web.models import Answer
from web.openapi import ref

OpenAlarms = Annotated[list[dict[str, Any]], WithJsonSchema({"type": "array", "items": ref("Alarm")})]


class CardParty(Answer):
    code: str
    name: str


class Contact(Answer):
    name: str
    phone: str


class CardOwner(CardParty):
    phone: str | None
    contacts: list[Contact] = Field(description="duty contacts beyond its phone")


class CardMaintenanceUnit(CardParty):
    phone: str | None
    contact: str | None
    contacts: list[Contact] = Field(description="duty contacts beyond its phone (the rescue engineers on call)")


class CardInspection(Answer):
    """The newest recorded inspection."""

    schedule: str
    inspected_on: dt.date
    result: str
    report_no: str | None


class CardSchedule(Answer):
    schedule: str
    interval_months: int
    last_inspected: dt.date | None
    next_due: dt.date | None


class DeviceCard(Answer):
    """One device as the console shows it: register, latest state and open alarms."""

    device_id: str
    registration_code: str = Field(description="设备代码")
    kind: Literal["elevator", "boiler"] | None
    registered: bool = Field(description="in the equipment register")
    reporting: bool = Field(description="the ingester has heard from it (device_state)")
    category: str | None
    type: str | None
    address: str | None
    district_code: str | None = Field(description="the district it stands in, from the register (null: not "
                                      "registered)")
    district: str | None = Field(description="the district's Chinese name")
    use_registration_no: str | None = Field(description="使用登记证编号, from the register")
    status: Literal["in_use", "stopped", "scrapped"] | None
    commissioned_on: dt.date | None
    rescue_code: str | None = Field(description="救援识别码: the code on the plate in the car")
    area: Literal["urban", "other"] | None = Field(description="the area that sets the arrival limit: urban (the "
                                                    "urban core, county seats included) or other")
    place: str | None = Field(description="使用场所: residential, mall, hospital, school, office, hotel, transport, "
                              "public, industrial, other")
    latitude: float | None = Field(description="WGS84 degrees")
    longitude: float | None = Field(description="WGS84 degrees")
    owner: CardOwner | None
    maintenance_unit: CardMaintenanceUnit | None
    agency: CardParty | None
    fit_for_use: bool | None
    last_inspected: dt.date | None = Field(description="the newest last inspection of its schedules")
    next_due: dt.date | None = Field(description="the earliest due date of its schedules")
    overdue: bool
    last_inspection: CardInspection | None
    schedules: list[CardSchedule]
    online: bool | None
    last_seen: dt.datetime | None
    last_telemetry_at: dt.datetime | None
    telemetry: dict[str, Any] | None = Field(description="the latest telemetry frame")
    last_event_at: dt.datetime | None
    last_event_code: int | None
    status_changed_at: dt.datetime | None
    open_alarms: OpenAlarms


class Calendar(Answer):
    """The register's calendar: every "today" of semon (due, overdue, the checks on inspection
    dates) is the local date in this zone."""

    today: dt.date = Field(description="the register's local date")
    timezone: str = Field(description="IANA name (SEMON_NOTICE_TIMEZONE)", examples=["Asia/Shanghai"])


class MapAlarm(Answer):
    """An open alarm on the city map."""

    id: int
    device_id: str
    type: str
    severity: str
    district_code: str | None = Field(description="the district the alarm counts in (the register's)")
    raised_at: dt.datetime
    latitude: float | None = Field(description="WGS84 degrees, from the register; null: not placed")
    longitude: float | None = Field(description="WGS84 degrees, from the register; null: not placed")


class MapIncident(Answer):
    """An active rescue incident on the city map."""

    id: int
    device_id: str
    alarm_id: int | None
    state: str
    district_code: str | None
    raised_at: dt.datetime
    latitude: float | None = Field(description="WGS84 degrees, from the register; null: not placed")
    longitude: float | None = Field(description="WGS84 degrees, from the register; null: not placed")


class MapDistrict(Answer):
    code: str | None = Field(description="GB/T 2260 division code; null: outside the city's districts")
    alarms: int = Field(description="open alarms")
    incidents: int = Field(description="active incidents")


class CityMap(Answer):
    """The open alarms and active incidents of the city with their units' coordinates, and their
    count per district (every district of the city, zeros included)."""

    alarms: list[MapAlarm]
    incidents: list[MapIncident]
    districts: list[MapDistrict]
    unlocated: int = Field(description="markers whose unit the register does not place")


ANSWERS: tuple[type[BaseModel], ...] = (DeviceCard, Calendar, CityMap)
