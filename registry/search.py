"""Finding a unit in the register from what a caller reads or says (the 96333 desk's 新建接警):
the rescue identification code on the plate in the car (救援识别码), the 设备代码 or 注册代码
(``registration_code``), the 使用登记证编号, or the address as text.

Exact matches of a code come first (rescue code, then registration code, then registration
certificate number), then codes that begin with what was typed, then addresses containing every word of it
(split on spaces, in any order);
in use before stopped, scrapped last. ``category`` (the 96333 desk sends ``elevator``, which
holds escalators and moving walks too): that category's units first, the others after. The
text is normalised first (NFKC: full-width digits and
letters typed on a Chinese keyboard become ASCII; spaces around it are dropped); ``%`` and ``_``
are taken literally.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from psycopg import AsyncConnection

MAX_SEARCH = 50  # units in one answer


def normalise(text: str) -> str:
    """What is searched for: NFKC (full-width to ASCII), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_MATCHED = ("rescue_code", "registration_code", "use_registration_no", "code_prefix", "address")

_SEARCH_SQL = """
SELECT e.registration_code, e.rescue_code, e.use_registration_no, e.category, e.address, e.district_code,
       e.status, e.area, e.place,
       m.code, m.name, m.phone, m.contact, m.contacts, o.code, o.name, o.phone, o.contact, o.contacts,
       CASE WHEN e.rescue_code = %(q)s THEN 0
            WHEN e.registration_code = %(q)s THEN 1
            WHEN e.use_registration_no = %(q)s THEN 2
            WHEN e.registration_code LIKE %(prefix)s OR e.rescue_code LIKE %(prefix)s THEN 3
            ELSE 4 END AS rank
FROM equipment e LEFT JOIN parties m ON m.id = e.maintenance_id LEFT JOIN parties o ON o.id = e.owner_id
     LEFT JOIN parties a ON a.id = e.agency_id
WHERE (e.rescue_code = %(q)s OR e.registration_code = %(q)s OR e.use_registration_no = %(q)s
       OR e.registration_code LIKE %(prefix)s OR e.rescue_code LIKE %(prefix)s OR e.address ILIKE ALL(%(words)s))
  AND (%(agency)s::text IS NULL OR a.code = %(agency)s)
ORDER BY CASE WHEN %(category)s::text IS NULL OR e.category = %(category)s THEN 0 ELSE 1 END,
         rank, CASE e.status WHEN 'in_use' THEN 0 WHEN 'stopped' THEN 1 ELSE 2 END, e.registration_code
LIMIT %(limit)s"""


def _party(code: str | None, name: str | None, phone: str | None, contact: str | None,
           contacts: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if not code:
        return None
    duty = [{"name": c.get("name"), "phone": c.get("phone")} for c in contacts or [] if isinstance(c, dict)]
    if not duty and (contact or phone):  # a register without duty contacts: its one contact stands in
        duty = [{"name": contact, "phone": phone}]
    return {"code": code, "name": name, "phone": phone, "contacts": duty}


async def search_units(conn: AsyncConnection[Any], text: str, *, limit: int = 10,
                       agency: str | None = None, category: str | None = None) -> dict[str, Any]:
    """The units ``text`` finds (``registry.api_models.SearchResult``'s JSON), at most ``limit``; ``agency``: only
    that inspection agency's units (an agency user sees only its own); ``category``: its units first."""
    q = normalise(text)
    if not q:
        return {"q": q, "units": []}
    # Address text: every word typed, in any order ("西大街 151" finds "西大街151号").
    words = ["%" + _like(word) + "%" for word in q.split()]
    cur = await conn.execute(_SEARCH_SQL, {"q": q, "prefix": _like(q) + "%", "words": words,
                                           "agency": agency, "category": category,
                                           "limit": min(limit, MAX_SEARCH)})
    units = []
    for (code, rescue, use_no, unit_category, address, district, status, area, place, m_code, m_name, m_phone,
         m_contact, m_contacts, o_code, o_name, o_phone, o_contact, o_contacts, rank) in await cur.fetchall():
        units.append({"registration_code": code, "rescue_code": rescue, "use_registration_no": use_no,
                      "category": unit_category, "address": address, "district_code": district, "status": status,
                      "area": area, "place": place, "matched": _MATCHED[rank],
                      "maintenance_unit": _party(m_code, m_name, m_phone, m_contact, m_contacts),
                      "owner": _party(o_code, o_name, o_phone, o_contact, o_contacts)})
    return {"q": q, "units": units}
