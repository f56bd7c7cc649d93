"""The register's lists as the agency's and the bureau's desks ask for them: text search, filters
(district, category, agency, status, due window, overdue), sorting and paging, as SQL over
``equipment e`` joined to its owner ``o``, maintenance unit ``m`` and agency ``a``: pure, no I/O.
The same filter drives the list (``GET /api/registry/equipment``, with its total) and the export
(``GET /api/registry/export``), so an export holds exactly the rows the list counted.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

SortKey = Literal["next_due", "registration_code", "category", "district", "address", "status", "owner", "agency"]
SORT_KEYS: tuple[SortKey, ...] = ("next_due", "registration_code", "category", "district", "address", "status",
                                  "owner", "agency")
_SORT_SQL: dict[str, str] = {
    "next_due": "e.next_due", "registration_code": "e.registration_code", "category": "e.category",
    "district": "e.district_code", "address": "e.address", "status": "e.status", "owner": "o.name",
    "agency": "a.name",
}
JOINS = """FROM equipment e LEFT JOIN parties o ON o.id = e.owner_id
    LEFT JOIN parties m ON m.id = e.maintenance_id LEFT JOIN parties a ON a.id = e.agency_id"""


@dataclass(frozen=True, slots=True)
class EquipmentFilter:
    """Which units: each given field narrows the list. ``q`` matches part of the 设备代码, the
    使用登记证编号, the 救援识别码, the address or the owner's name (case-insensitive, NFKC-normalised);
    ``due_from`` ≤ next due < ``due_before`` (exclusive) and next due ≤ ``due_until`` (inclusive: "due
    within 30 days" is ``due_until`` = today + 30, the unit due on day 30 included);
    ``overdue``: in use and past due on ``today``."""

    q: str | None = None
    category: str | None = None
    district: str | None = None
    agency: str | None = None  # party code
    status: str | None = None
    overdue: bool | None = None
    due_from: date | None = None
    due_before: date | None = None
    due_until: date | None = None


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where(f: EquipmentFilter, today: date) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) and its parameters."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for clause, value in (("e.category = %s", f.category), ("e.district_code = %s", f.district),
                          ("a.code = %s", f.agency), ("e.status = %s", f.status),
                          ("e.next_due >= %s", f.due_from), ("e.next_due < %s", f.due_before),
                          ("e.next_due <= %s", f.due_until)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if f.overdue is not None:
        clauses.append("(e.status = 'in_use' AND e.next_due < %s)" if f.overdue
                       else "NOT (e.status = 'in_use' AND coalesce(e.next_due < %s, false))")
        params.append(today)
    text = unicodedata.normalize("NFKC", f.q).strip() if f.q is not None else ""
    if text:  # NFKC as the register search: full-width digits and letters match their ASCII
        pattern = _like(text)
        clauses.append("(e.registration_code ILIKE %s OR e.use_registration_no ILIKE %s OR e.rescue_code ILIKE %s "
                       "OR e.address ILIKE %s OR o.name ILIKE %s)")
        params += [pattern] * 5
    return " AND ".join(clauses), params


def order_by(sort: SortKey = "next_due", descending: bool = False) -> str:
    """ORDER BY (without the keyword): the key, empty values last, then the 设备代码 so that
    pages do not overlap."""
    direction = "DESC" if descending else "ASC"
    key = _SORT_SQL[sort]
    tie = "" if sort == "registration_code" else f", e.registration_code {direction}"
    return f"{key} {direction} NULLS LAST{tie}"
