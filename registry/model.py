"""The register's records: parties and equipment, as imported, stored and served."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from registry.due import Category, Scheme


class Role(StrEnum):
    OWNER = "owner"  # 使用单位
    MAINTENANCE = "maintenance"  # 维保单位
    AGENCY = "agency"  # 检验机构
    BUREAU = "bureau"  # 市场监管局


class Area(StrEnum):
    """The area a unit stands in, which sets the maintenance unit's arrival limit (到场时限): the
    urban core, county seats included (30 minutes), or the rest (1 hour), as the 96333 rules of
    DB32/T 4130-2021 and DB37/T 3451-2018 set them; the limits themselves are settings."""

    URBAN = "urban"
    OTHER = "other"


class Place(StrEnum):
    """The kind of place a unit serves (使用场所), as the 96333 monthly reports group entrapments."""

    RESIDENTIAL = "residential"  # 住宅
    MALL = "mall"  # 商场
    HOSPITAL = "hospital"  # 医院
    SCHOOL = "school"  # 学校
    OFFICE = "office"  # 办公楼
    HOTEL = "hotel"  # 宾馆酒店
    TRANSPORT = "transport"  # 车站、机场、地铁
    PUBLIC = "public"  # 其他公众聚集场所
    INDUSTRIAL = "industrial"  # 厂房
    OTHER = "other"  # 其他


class Status(StrEnum):
    IN_USE = "in_use"
    STOPPED = "stopped"  # 停用: left out of the inspection rate, no notices
    SCRAPPED = "scrapped"  # 报废


@dataclass(frozen=True, slots=True)
class Party:
    code: str
    name: str
    role: Role
    contact: str | None = None
    phone: str | None = None
    email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    district_code: str | None = None
    # Duty contacts beyond ``contact``/``phone`` (a maintenance unit's rescue phones): (name, phone).
    contacts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Equipment:
    registration_code: str
    category: Category
    district_code: str
    type: str | None = None
    address: str | None = None
    owner: str | None = None  # party codes
    maintenance: str | None = None
    agency: str | None = None
    status: Status = Status.IN_USE
    commissioned_on: date | None = None
    rated: dict[str, Any] = field(default_factory=dict)
    interval_overrides: dict[str, int] = field(default_factory=dict)
    # The last inspection of each schedule, where known (an import carries them).
    last_inspected: dict[str, date] = field(default_factory=dict)
    use_registration_no: str | None = None  # 使用登记证编号: the certificate's own number, not the 设备代码
    # The next date the last inspection report of a schedule states (the last day of its month).
    stated_next: dict[str, date] = field(default_factory=dict)
    scheme: Scheme | None = None  # an elevator's own scheme; None: its region's (RegistrySettings)
    installed_on: date | None = None  # installation supervisory inspection (安装监督检验)
    renovated_on: date | None = None  # latest renovation supervisory inspection (改造)
    major_repair_on: date | None = None  # latest major repair supervisory inspection (重大修理)
    manufactured_on: date | None = None  # gas cylinders: periods and design life count from it
    stopped_on: date | None = None  # when the latest stop (停用) began
    resumed_on: date | None = None  # when the unit came back into use after it
    relocated_on: date | None = None  # boilers: the latest relocation (移装)
    rescue_code: str | None = None  # 救援识别码: the digits on the plate in the car
    area: Area | None = None  # sets the arrival limit
    place: Place | None = None  # 使用场所
    latitude: float | None = None  # WGS84 degrees; both or neither
    longitude: float | None = None
    # What the record gives: field names, and "rated.<key>" / "interval_overrides.<key>" for
    # those mappings' keys (an import: its file's columns); None: everything. A field it does not
    # give is left as stored.
    given: frozenset[str] | None = field(default=None, compare=False)

    def gave(self, name: str) -> bool:
        """Whether the record gives field ``name`` (of a mapping: any of its keys)."""
        return self.given is None or name in self.given or any(g.startswith(f"{name}.") for g in self.given)

    def given_keys(self, mapping: str) -> set[str]:
        """The keys of ``mapping`` (rated, interval_overrides) the record gives, empty ones included."""
        if self.given is None:
            return set(getattr(self, mapping))
        return {g.split(".", 1)[1] for g in self.given if g.startswith(f"{mapping}.")}
