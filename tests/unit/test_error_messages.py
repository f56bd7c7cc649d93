"""Errors in the user's language (web.i18n): every message key the code raises has its Chinese and
English text in the catalogues, both with the same parameters; the incidents' errors read in
English exactly as their messages (so the catalogue cannot drift from them) and in Chinese
without a word of the English."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from alerts.incidents import (
    IncidentNotFound,
    IncidentOpen,
    IncidentState,
    Step,
    StepRequest,
    plan_step,
    with_updates,
)
from alerts.messages import MESSAGES as ALERTS_MESSAGES
from alerts.monthly_report import month_period, period_bounds
from registry.api import MESSAGES as REGISTRY_MESSAGES
from tests.unit.test_incidents import FORBIDDEN_PAIRS, SETTINGS, T0, incident, request
from web.i18n import MESSAGES, KeyedError, render
from web.users import Role, check_new_password, check_role_agency, normalise_username

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = {**MESSAGES, **ALERTS_MESSAGES, **REGISTRY_MESSAGES}
# A key as the code writes it: "alerts.incident_not_found", "web.no_user", ...
_KEY = re.compile(r"""["']((?:alerts|web|registry|notice)\.[a-z_]+)["']""")


def _keys_in_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in ("alerts", "web", "registry"):
        for path in (ROOT / package).rglob("*.py"):
            for key in _KEY.findall(path.read_text(encoding="utf-8")):
                found.setdefault(key, str(path.relative_to(ROOT)))
    return found


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_the_code_raises_has_both_texts_with_the_same_parameters() -> None:
    used = _keys_in_code()
    assert len(used) > 50  # the scan finds them (the alerts', the users', the register's, the shell's)
    for key, where in used.items():
        assert key in CATALOGUE, f"{key} ({where}) has no texts"
    for key, texts in CATALOGUE.items():
        assert set(texts) == {"zh-CN", "en"} and all(texts.values()), key
        assert _fields(texts["zh-CN"]) == _fields(texts["en"]), key


def _raised(make: Callable[[], object]) -> KeyedError:
    with pytest.raises(KeyedError) as err:
        make()
    return err.value


def _step(state: IncidentState, step: StepRequest, **changes: object) -> Callable[[], object]:
    return lambda: plan_step(with_updates(incident(state), changes), step, T0 + timedelta(seconds=30), SETTINGS)


S = IncidentState
ERRORS: list[Callable[[], object]] = [
    *(_step(state, request(step)) for state, step in FORBIDDEN_PAIRS),
    _step(S.RAISED, StepRequest(Step.COMMENT, "operator-1")),
    _step(S.RAISED, request(Step.ACKNOWLEDGED, actor="  ")),
    _step(S.ACKNOWLEDGED, request(Step.DISPATCHED, tier=5)),
    _step(S.ACKNOWLEDGED, request(Step.DISPATCHED, contact=None)),
    _step(S.ACKNOWLEDGED, request(Step.ON_SITE, maintenance_unit="某维保公司")),
    _step(S.ACKNOWLEDGED, request(Step.FALSE_ALARM, tier=2)),
    _step(S.RELEASED, request(Step.CLOSED, injuries=None, cause_class=None)),
    _step(S.RELEASED, request(Step.CLOSED, persons_released=-1)),
    _step(S.ACKNOWLEDGED, request(Step.FALSE_ALARM, injuries=0)),
    _step(S.DISPATCHED, request(Step.DISPATCHED, tier=1), tier=2),
    lambda: (_ for _ in ()).throw(IncidentNotFound(99999)),
    lambda: (_ for _ in ()).throw(IncidentOpen("31106301022015000311", 5)),
    lambda: month_period("2026-13"),
    lambda: period_bounds(date(2026, 3, 2), date(2026, 3, 1), "Asia/Shanghai"),
    lambda: normalise_username("a b"),
    lambda: check_new_password("short"),
    lambda: check_new_password(" " * 8),
    lambda: check_new_password("abababab"),
    lambda: check_role_agency(Role.AGENCY, None),
    lambda: check_role_agency(Role.BUREAU, "XNTJS"),
]


@pytest.mark.parametrize("make", ERRORS)
def test_an_error_reads_as_its_message_in_english_and_wholly_in_chinese(make: Callable[[], object]) -> None:
    exc = _raised(make)
    assert exc.key is not None and exc.key in CATALOGUE, exc
    assert render(CATALOGUE, exc.key, exc.params, "en", "(fallback)") == str(exc)
    chinese = render(CATALOGUE, exc.key, exc.params, "zh-CN", "(fallback)")
    assert chinese != "(fallback)" and "{" not in chinese
    # No English word left in it (a device code, a number or a quoted value may stay).
    assert not re.search(r"\b(?!YYYY\b)[A-Za-z_]{3,}\b", re.sub(r"'[^']*'", "", chinese)), chinese
