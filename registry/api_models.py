"""What the register's HTTP API accepts (query strings and the inspection body, validated with
pydantic) and what it answers (equipment, a recorded inspection, the rate and its trend, the
notices). The answers mirror the JSON the handlers of ``registry.api`` write; the OpenAPI
document takes its schemas from these models, and the API's tests validate real answers
against them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from registry.conclusions import KIND_NAMES
from registry.due import Category, Result, Standing, end_of_month
from registry.search import MAX_SEARCH
from web.inputs import IsoDate
from web.models import Answer


def _year_month(value: Any) -> dt.date:
    """``YYYY-MM``: the month's last day (the registration record holds the next date so)."""
    if isinstance(value, str) and len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit():
        year, month = int(value[:4]), int(value[5:])
        if 1900 <= year <= 2200 and 1 <= month <= 12:
            return end_of_month(dt.date(year, month, 1))
    raise ValueError("a year and month is YYYY-MM")


YearMonth = Annotated[dt.date, BeforeValidator(_year_month),
                      WithJsonSchema({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"})]

Dimension = Literal["city", "category", "district", "agency"]
FormulaName = Literal["not_overdue", "passed_over_due"]
UnitStatus = Literal["in_use", "stopped", "scrapped"]
# [date, rate in percent]. Its schema says "two items, each a date or a number" rather than
# prefixItems, which the OpenAPI tools we test with do not take in a response schema.
TrendPoint = Annotated[tuple[dt.date, float], WithJsonSchema({
    "type": "array", "minItems": 2, "maxItems": 2, "description": "[date, rate in percent]",
    "items": {"anyOf": [{"type": "string", "format": "date"}, {"type": "number"}]}})]


SortKey = Literal["next_due", "registration_code", "category", "district", "address", "status", "owner", "agency"]
Lang = Literal["zh-CN", "en"]


class EquipmentFilterQuery(BaseModel):
    """The filters of the list and of its export (``registry.listing.EquipmentFilter``)."""

    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, max_length=100, description="part of the 设备代码, 使用登记证编号, address "
                          "or owner's name")
    category: Category | None = None
    district: str | None = Field(default=None, pattern=r"^\d{6}$", description="administrative division code, "
                                 "6 digits")
    agency: str | None = Field(default=None, max_length=64)  # party code
    status: UnitStatus | None = None
    overdue: bool | None = None  # in use and past its next due date
    due_from: IsoDate | None = Field(default=None, description="next due on or after this day")
    due_before: IsoDate | None = Field(default=None, description="next due before this day (exclusive)")
    due_until: IsoDate | None = Field(default=None, description="next due on or before this day (inclusive): "
                                      "due within 30 days is due_until = today + 30")
    sort: SortKey = "next_due"
    desc: bool = False

    @model_validator(mode="after")
    def _window(self) -> EquipmentFilterQuery:
        start = self.due_from
        if start is not None and self.due_before is not None and self.due_before <= start:
            raise ValueError(f"due_before {self.due_before} is not after due_from {start}: the window is empty")
        if start is not None and self.due_until is not None and self.due_until < start:
            raise ValueError(f"due_until {self.due_until} is before due_from {start}: the window is inverted")
        return self


class EquipmentQuery(EquipmentFilterQuery):
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class ExportQuery(EquipmentFilterQuery):
    format: Literal["xlsx", "csv"] = "xlsx"
    lang: Lang | None = Field(default=None, description="headings and values in Chinese for zh-CN (default: the "
                              "request's X-Semon-Lang or Accept-Language)")


def _kind_alias(value: Any) -> Any:
    """An inspection kind by its Chinese name too, as the results file gives it (``KIND_NAMES``)."""
    return KIND_NAMES.get(value.strip(), value.strip()) if isinstance(value, str) else value


class InspectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: str = Field(default="periodic", description="the schedule it counts for (periodic, self_test, "
                          "external, internal, hydrostatic, annual), or a supervisory inspection: installation, "
                          "renovation (restarts an elevator's count), major_repair (TSG T7001-2023)")
    inspected_on: IsoDate
    result: Result | None = Field(default=None, description="pass, conditional or fail; or give the conclusion")
    conclusion: str | None = Field(default=None, max_length=32, description="检验结论 as the category's rules "
                                   "name it (GET /api/registry/conclusions): 合格, 不合格, 符合要求, 基本符合要求 …")
    kind: Annotated[Literal["regular", "reinspection"], BeforeValidator(_kind_alias)] = Field(
        default="regular", description="regular (定期检验, 定检, 首检) or reinspection (复检): the Chinese names too")
    inspector: str | None = Field(default=None, min_length=1, max_length=64, description="检验员")
    safety_grade: int | None = Field(default=None, ge=1, le=5, description="安全状况等级 (vessels, piping): gives "
                                     "the conclusion and becomes the unit's grade")
    agency: str | None = None
    report_no: str | None = Field(default=None, max_length=64)
    next_stated: YearMonth | None = Field(default=None, description="the next inspection the report states, "
                                          "YYYY-MM: the due date from then on")
    actor: str | None = Field(default=None, min_length=1, max_length=64,
                              description="only without a session (auth off); otherwise the logged-in user")


class RateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: Dimension | None = None
    day: IsoDate | None = Field(default=None, alias="date")


class TrendQuery(BaseModel):
    """The last ``days`` days up to today, or the register's days [since, until) (a reporting
    period; both or neither)."""

    model_config = ConfigDict(extra="forbid")
    by: Dimension = "district"
    days: int = Field(default=90, ge=1, le=3660)
    since: IsoDate | None = None
    until: IsoDate | None = None

    @model_validator(mode="after")
    def _period(self) -> TrendQuery:
        if (self.since is None) != (self.until is None):
            raise ValueError("give since and until together")
        if self.since is not None and self.until is not None:
            if self.since >= self.until:
                raise ValueError("since must be before until")
            if (self.until - self.since).days > 3660:
                raise ValueError("a period of at most 3660 days")
        return self


class NoticeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["pending", "delivered", "failed", "cancelled"] | None = None
    kind: Literal["due", "overdue"] | None = None
    registration_code: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


# What the register's routes answer


class Party(Answer):
    """An owner or an inspection agency."""

    code: str
    name: str


class MaintenanceParty(Party):
    """A maintenance unit (维保单位)."""

    phone: str | None


class Equipment(Answer):
    """One registered unit."""

    registration_code: str = Field(description="设备代码, 注册代码, or the device's own id")
    use_registration_no: str | None = Field(description="使用登记证编号: the registration certificate's number")
    category: Category
    type: str | None
    address: str | None
    district_code: str = Field(description="the district it stands in, as the register holds it")
    district: str | None = Field(description="the district's Chinese name")
    status: UnitStatus
    commissioned_on: dt.date | None
    rated: dict[str, Any] = Field(description="rated figures: floors, rated_speed_mps, rated_pressure_mpa, …")
    interval_overrides: dict[str, Any] = Field(description="months per schedule, where the unit's differ")
    next_due: dt.date | None = Field(description="the earliest due date of its schedules")
    overdue: bool = Field(description="in use and past its next due date")
    fit_for_use: bool
    exempt: bool = Field(description="owes no periodic inspection (simple pressure vessel, or by design)")
    standing: Standing
    rescue_code: str | None = Field(description="救援识别码: the code on the plate in the car")
    area: Literal["urban", "other"] | None = Field(description="the area that sets the rescue arrival limit")
    place: str | None = Field(description="使用场所 (registry.model.Place)")
    latitude: float | None = Field(description="WGS84 degrees")
    longitude: float | None = Field(description="WGS84 degrees")
    owner: Party | None
    maintenance_unit: MaintenanceParty | None
    agency: Party | None


class EquipmentList(Answer):
    equipment: list[Equipment]
    total: int = Field(description="units matching the filters, of which this page is a part")
    limit: int
    offset: int


class Schedule(Answer):
    schedule: str
    interval_months: int
    last_inspected: dt.date | None
    next_due: dt.date | None
    stated_next: dt.date | None = Field(description="the date the last report states (its month's last day)")
    basis: str | None = Field(description="the rule that sets next_due")


class ReportFile(Answer):
    """The report's file, served at /api/registry/inspections/{id}/report."""

    filename: str
    content_type: Literal["application/pdf", "image/png", "image/jpeg"]
    size: int
    uploaded_by: str | None
    uploaded_at: dt.datetime


class Inspection(Answer):
    """A recorded inspection."""

    id: int
    conclusion: str | None = Field(description="检验结论 as the report words it")
    kind: Literal["regular", "reinspection"]
    inspector: str | None = Field(description="检验员")
    safety_grade: int | None
    report: ReportFile | None
    schedule: str
    inspected_on: dt.date
    result: Result
    agency: str | None = Field(description="the agency's party code")
    agency_name: str | None
    report_no: str | None
    recorded_by: str | None
    recorded_at: dt.datetime
    next_stated: str | None = Field(description="the next inspection the report states, YYYY-MM")


class EquipmentDetail(Equipment):
    """One unit with its schedules and inspections (newest first)."""

    schedules: list[Schedule]
    inspections: list[Inspection]


class RecordedInspection(Answer):
    """The unit's standing after an inspection was recorded."""

    registration_code: str
    next_due: dt.date | None
    fit_for_use: bool
    inspection_id: int
    replaced: bool = Field(description="true: a record of the same kind on the same day existed and this one "
                           "corrects it (the same id); false: a new record")
    warnings: list[str] = Field(default_factory=list, description="stored, but worth a look (e.g. a 复检 with no "
                                "earlier failure)")


class Problem(Answer):
    line: int | None = Field(description="as an editor shows it, the header being line 1; null: the whole file")
    reason: str


class ResultsImport(Answer):
    """What a file of inspection results did."""

    stored: int = Field(description="new records")
    replaced: int = Field(description="rows that corrected a record of the same unit, schedule, day and kind")
    rejected: int = Field(description="rows not stored")
    problems: list[Problem]
    warnings: list[Problem]


class StoredReport(Answer):
    """A report's file, stored."""

    inspection_id: int
    filename: str = Field(description="as kept: its own name's stem, without any path, and the extension of "
                          "its checked type (.pdf, .png, .jpg)")
    size: int


class ResultsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "xlsx"]


class ReportFileQuery(BaseModel):
    """The name a report file is stored and served under."""

    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=200)


class ConclusionEntry(Answer):
    name: str
    en: str
    result: Result
    grades: list[int]


class CategoryConclusions(Answer):
    category: Category
    source: str
    kinds: list[Literal["regular", "reinspection"]]
    conclusions: list[ConclusionEntry]


class ConclusionList(Answer):
    categories: list[CategoryConclusions]


class AgencyParty(Answer):
    """An inspection agency as its desk shows it."""

    code: str
    name: str
    email: str | None
    webhook: bool = Field(description="it has a webhook for notices")


class Rate(Answer):
    """定检率 of one group under the register's formula (``formula``): ``not_overdue``,
    (1 − overdue / in use) × 100; or ``passed_over_due``, passed / due × 100 (docs/registry.md)."""

    dimension: Dimension
    key: str = Field(description="the category, district code or agency code ('none': no agency); 'all'")
    formula: FormulaName
    in_use: int = Field(description="in use and not exempt (stopped and scrapped units left out)")
    overdue: int = Field(description="in use with a next due date before the day")
    no_due_date: int = Field(description="in use with no due date at all: in in_use, not overdue")
    exempt: int = Field(description="in use and exempt from periodic inspection: left out of in_use")
    due: int | None = Field(description="passed_over_due: overdue, or statutorily inspected this year")
    passed: int | None = Field(description="passed_over_due: of those due, the latest inspection passed, not overdue")
    rate: float | None = Field(description="percent, 2 decimals; null with nothing to divide by")
    meets_target: bool
    name: str | None = Field(default=None, description="the district's Chinese name, or the agency's name; "
                                                   "only on district and agency rows")


class RateReport(Answer):
    day: dt.date = Field(alias="date")
    formula: FormulaName
    target: float = Field(description="percent")
    rates: list[Rate]


class RateTrend(Answer):
    by: Dimension
    formula: FormulaName = Field(description="the days kept under another formula, where it cannot be "
                                             "computed from them, have no point")
    target: float = Field(description="percent")
    series: dict[str, list[TrendPoint]] = Field(description="per key, its points by date")


class Notice(Answer):
    """A notice with its delivery state."""

    id: int
    key: str
    kind: Literal["due", "overdue"]
    registration_code: str
    schedule: str
    due_date: dt.date
    recipient: str = Field(description="the recipient's party code")
    recipient_name: str
    channel: Literal["webhook", "email"]
    state: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    last_error: str | None = Field(description="null to an agency for another's delivery")
    waiting: str | None = Field(description="why a pending notice waits: delivery off, no SMTP host, no webhook "
                                "or e-mail for the party (registry.notices.waiting_reason); null otherwise")
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    next_attempt_at: dt.datetime


class NoticeList(Answer):
    notices: list[Notice]
    total: int = Field(description="the notices matching, however many are on this page")
    limit: int
    offset: int


# The register search (registry/search.py: the 96333 desk's 新建接警)


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field(min_length=1, max_length=200, description="rescue code, registration code, registration "
                                                              "certificate number, or address text")
    limit: int = Field(default=10, ge=1, le=MAX_SEARCH)
    category: Category | None = Field(default=None, description="this category's units first (the 96333 desk: "
                                                                 "elevator, escalators and moving walks included)")


class FoundContact(Answer):
    """A duty contact (name and phone; the party's one contact and phone when it lists none)."""

    name: str | None
    phone: str | None


class FoundParty(Answer):
    code: str
    name: str
    phone: str | None
    contacts: list[FoundContact] = Field(description="duty contacts")


class FoundUnit(Answer):
    """A unit the search found, with what the desk needs to open an incident on it."""

    registration_code: str
    rescue_code: str | None = Field(description="救援识别码")
    use_registration_no: str | None = Field(description="使用登记证编号")
    category: str
    address: str | None
    district_code: str
    status: str
    area: str | None = Field(description="urban | other: the arrival limit's area")
    place: str | None = Field(description="使用场所 class")
    matched: str = Field(description="what matched: rescue_code, registration_code, use_registration_no, "
                                     "code_prefix or address")
    maintenance_unit: FoundParty | None
    owner: FoundParty | None


class SearchResult(Answer):
    q: str = Field(description="the text searched for, normalised")
    units: list[FoundUnit]


REQUESTS: tuple[type[BaseModel], ...] = (InspectionBody, EquipmentQuery, ExportQuery, RateQuery, TrendQuery,
                                         NoticeQuery, ResultsQuery, ReportFileQuery, SearchQuery)
ANSWERS: tuple[type[BaseModel], ...] = (EquipmentList, EquipmentDetail, RecordedInspection, RateReport, RateTrend,
                                        NoticeList, ResultsImport, ConclusionList, AgencyParty, StoredReport,
                                        SearchResult)
