"""The inspection rate's two formulas, by hand, and the setting that picks one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from registry.rate import Formula, RateRow, rate_percent
from semon.settings import RegistrySettings


@pytest.mark.parametrize(("in_use", "overdue", "expected"), [
    (1000, 40, 96.0),  # the 2025 target exactly
    (200, 21, 89.5),
    (8, 1, 87.5),
    (3, 0, 100.0),
    (3, 3, 0.0),
])
def test_not_overdue_is_one_minus_overdue_over_in_use(in_use: int, overdue: int, expected: float) -> None:
    assert rate_percent(Formula.NOT_OVERDUE, in_use=in_use, overdue=overdue) == pytest.approx(expected)


@pytest.mark.parametrize(("due", "passed", "expected"), [
    (6, 3, 50.0),
    (25, 24, 96.0),
    (8, 7, 87.5),
    (4, 0, 0.0),
])
def test_passed_over_due_is_passed_over_due(due: int, passed: int, expected: float) -> None:
    # in_use and overdue play no part in it.
    assert rate_percent(Formula.PASSED_OVER_DUE, in_use=1, overdue=1, due=due, passed=passed) == pytest.approx(
        expected)


def test_no_rate_without_a_denominator() -> None:
    assert rate_percent(Formula.NOT_OVERDUE, in_use=0, overdue=0) is None
    assert rate_percent(Formula.PASSED_OVER_DUE, in_use=10, overdue=0, due=0, passed=0) is None
    # A snapshot kept under the other formula has no due or passed: no point under this one.
    assert rate_percent(Formula.PASSED_OVER_DUE, in_use=10, overdue=0) is None


def test_a_row_reports_every_figure_and_its_formula() -> None:
    row = RateRow("district", "630102", in_use=10, overdue=3, no_due_date=1, exempt=1)
    assert row.as_json() == {"dimension": "district", "key": "630102", "formula": "not_overdue", "in_use": 10,
                             "overdue": 3, "no_due_date": 1, "exempt": 1, "due": None, "passed": None,
                             "rate": 70.0, "meets_target": False}
    passed = RateRow("city", "all", 10, 3, 1, 1, Formula.PASSED_OVER_DUE, due=25, passed=24)
    assert passed.as_json()["rate"] == 96.0 and passed.as_json()["meets_target"]
    assert passed.as_json()["formula"] == "passed_over_due"
    assert RateRow("agency", "none", 3, 1).as_json()["rate"] == 66.67  # two decimals


def test_the_formula_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RegistrySettings().rate_formula == "not_overdue"
    monkeypatch.setenv("SEMON_REGISTRY_RATE_FORMULA", "passed_over_due")
    assert Formula(RegistrySettings().rate_formula) is Formula.PASSED_OVER_DUE
    monkeypatch.setenv("SEMON_REGISTRY_RATE_FORMULA", "passed")
    with pytest.raises(ValidationError, match="rate_formula"):
        RegistrySettings()
