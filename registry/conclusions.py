"""Inspection conclusions (检验结论) and kinds per category, as the TSG rules name them: data in
``registry/conclusions.toml``, each category with its source; pure, no I/O past loading it.

An inspection is recorded with its conclusion as the report words it (合格, 基本符合要求, …);
``judge`` checks it against the unit's category and gives the ``Result`` the register's due dates
and fitness follow (pass, conditional, fail). A vessel or piping inspected with a safety grade
(安全状况等级) takes its conclusion from the grade.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from registry.due import Category, DueError, Result

CONCLUSIONS_FILE = Path(__file__).with_name("conclusions.toml")
KINDS = ("regular", "reinspection")  # 复检: after a failed inspection, once rectified
KIND_NAMES = {"定期检验": "regular", "首检": "regular", "定检": "regular", "复检": "reinspection"}


@dataclass(frozen=True, slots=True)
class Conclusion:
    name: str  # as the report words it
    en: str
    result: Result
    grades: tuple[int, ...] = ()  # the safety grades it covers, where the rules judge by grade


@dataclass(frozen=True, slots=True)
class CategoryConclusions:
    category: Category
    conclusions: tuple[Conclusion, ...]
    kinds: tuple[str, ...]
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"category": str(self.category), "source": self.source, "kinds": list(self.kinds),
                "conclusions": [{"name": c.name, "en": c.en, "result": str(c.result), "grades": list(c.grades)}
                                for c in self.conclusions]}


@dataclass(frozen=True, slots=True)
class Judged:
    """A conclusion checked against its category: what is stored with the inspection."""

    conclusion: str | None
    result: Result
    kind: str
    safety_grade: int | None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


@cache
def load(path: Path = CONCLUSIONS_FILE) -> Mapping[Category, CategoryConclusions]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[Category, CategoryConclusions] = {}
    for category in Category:
        entry = raw[str(category)]
        conclusions = tuple(Conclusion(c["name"], c["en"], Result(c["result"]), tuple(c.get("grades", ())))
                            for c in entry["conclusions"])
        kinds = tuple(entry["kinds"])
        if not set(kinds) <= set(KINDS):
            raise ValueError(f"{path}: {category}: kinds must be among {', '.join(KINDS)}")
        out[category] = CategoryConclusions(category, conclusions, kinds, entry["source"])
    return out


def judge(category: Category, *, conclusion: str | None = None, result: Result | None = None,
          kind: str = "regular", safety_grade: int | None = None,
          table: Mapping[Category, CategoryConclusions] | None = None) -> Judged:
    """The inspection's conclusion and result for a unit of ``category``. ``conclusion``: as the
    report words it (Chinese, or its English name); ``safety_grade``: where the category judges
    by grade, it gives the conclusion; ``result`` alone (the older form) is kept as given.
    DueError when the conclusion, the kind or the grade is not the category's, or when they
    disagree with each other or with ``result``."""
    rules = (table or load())[category]
    kind = KIND_NAMES.get(kind.strip(), kind.strip().lower())
    if kind not in rules.kinds:
        raise DueError(f"{category} has no {kind!r} inspection (it has {', '.join(rules.kinds)}; "
                       f"{rules.source})")
    graded = [c for c in rules.conclusions if c.grades]
    found: Conclusion | None = None
    if conclusion is not None:
        key = _fold(conclusion)
        found = next((c for c in rules.conclusions if key in (_fold(c.name), _fold(c.en))), None)
        if found is None:
            names = " / ".join(c.name for c in rules.conclusions)
            raise DueError(f"conclusion {conclusion!r} is not one of {category}'s: {names} ({rules.source})")
    if safety_grade is not None:
        if not graded:
            raise DueError(f"{category} is not judged by safety grade")
        by_grade = next((c for c in graded if safety_grade in c.grades), None)
        if by_grade is None:
            grades = sorted(g for c in graded for g in c.grades)
            raise DueError(f"safety grade {safety_grade} is not one of {grades[0]}–{grades[-1]} for {category}")
        if found is not None and found != by_grade:
            raise DueError(f"conclusion {found.name} does not go with safety grade {safety_grade} "
                           f"({by_grade.name}; {rules.source})")
        found = by_grade
    if found is None:
        if result is None:
            raise DueError("a conclusion (or a result) is required")
        return Judged(None, result, kind, None)
    if result is not None and result is not found.result:
        raise DueError(f"conclusion {found.name} is a {found.result}, not a {result}")
    return Judged(found.name, found.result, kind, safety_grade)
