"""The register's rules at their edges: a worse grade, piping of unknown class, cylinder type
names (pure: no database).

Each test states the rule and the hand computation it checks."""

from __future__ import annotations

import io
from datetime import date

from registry.due import Category, Facts, plan
from registry.io import iter_csv
from registry.io_rows import RegisterRow, read_rows

TODAY = date(2026, 11, 30)


def _periodic(facts: Facts) -> tuple[int, date | None]:
    p = next(s for s in plan(facts).schedules if s.name == "periodic")
    return p.months, p.due


def test_industrial_piping_of_unknown_class_is_not_given_nine_years() -> None:
    # TSG D7005-2018: GC1/GC2 at most 6 years, GC3 at most 9. A pipe whose class the register does
    # not know, safety grade 1, last inspected 2023-01-01: at most 72 months, due 2029-01-01 (the
    # category's own default), not 108 months (2032-01-01, GC3's limit) taken from the grade.
    facts = Facts(Category.PRESSURE_PIPING, None, {"safety_grade": 1}, commissioned_on=date(2018, 1, 1),
                  last={"periodic": date(2023, 1, 1)})
    months, due = _periodic(facts)
    assert months <= 72 and due is not None and due <= date(2029, 1, 1), (months, due)


def test_a_worse_safety_grade_is_never_given_a_longer_interval() -> None:
    # TSG 21-2016 (非金属压力容器): grade 4 not to be used. Grade 5 is worse still (the import
    # accepts safety_grade 1-5 for every vessel), yet it gets 36 months and the unit stays fit.
    # The same for a road tanker (grade 4: 0, grade 5: 60 months) and industrial piping (grade 4:
    # 0, grade 5: 72 months).
    for category, type_ in ((Category.PRESSURE_VESSEL, "non_metallic"), (Category.PRESSURE_VESSEL, "road_tanker"),
                            (Category.PRESSURE_PIPING, "GC2")):
        g4 = _periodic(Facts(category, type_, {"safety_grade": 4}, commissioned_on=date(2024, 1, 1)))[0]
        g5 = _periodic(Facts(category, type_, {"safety_grade": 5}, commissioned_on=date(2024, 1, 1)))[0]
        assert g4 == 0
        assert g5 == 0, f"{category} {type_}: grade 5 gets {g5} months where grade 4 may not be used"


def _one_row(csv_text: str) -> RegisterRow:
    rows = [r for r in read_rows(iter_csv(io.BytesIO(csv_text.encode())), today=TODAY) if isinstance(r, RegisterRow)]
    assert len(rows) == 1
    return rows[0]


def test_a_gas_cylinders_chinese_type_name_gives_its_design_life() -> None:
    # docs/registry.md lists 焊接气瓶 → welded_steel (8-year design life, TSG 23-2021). An LPG
    # cylinder made 2018-12-20 is scrapped on 2026-12-20. Imported with the documented Chinese
    # name (or "Welded_Steel"), the type is kept as given, no design_life schedule exists and
    # no warning is given: the cylinder never reaches the end of its life in the register.
    for name in ("焊接气瓶", "Welded_Steel"):
        row = _one_row("registration_code,category,type,district_code,gas,manufactured_on\n"
                       f"G-1,气瓶,{name},630102,lpg,2018-12-20\n")
        e = row.equipment
        facts = Facts(e.category, e.type, e.rated, manufactured_on=e.manufactured_on)
        life = [s for s in plan(facts).schedules if s.name == "design_life"]
        assert e.type == "welded_steel", e.type
        assert life and life[0].due == date(2026, 12, 20)
