"""The monthly 96333 report: a small hand-made month whose every figure is computed by hand in
the comments, the period's edges in Beijing time on a UTC machine, the top ten, and properties
over generated months."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.monthly_report import IncidentRow, LiftRow, ReportError, month_period, report


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


MIN = timedelta(minutes=1)
NOW = utc("2026-12-01T00:00:00")  # the report is made after the month
# The register: 8 elevators in use.
#   unit A (甲维保): L1, L2, L3, L4   unit B (乙维保): L5, L6   no unit: L7   unit C (丙维保): L8
#   owner O1: L1, L2   O2: L3, L4, L5   O3: L6, L7   O4: L8
LIFTS = [LiftRow("L1", "甲维保", "O1"), LiftRow("L2", "甲维保", "O1"), LiftRow("L3", "甲维保", "O2"),
         LiftRow("L4", "甲维保", "O2"), LiftRow("L5", "乙维保", "O2"), LiftRow("L6", "乙维保", "O3"),
         LiftRow("L7", None, "O3"), LiftRow("L8", "丙维保", "O4")]

T1 = utc("2026-09-30T16:30:00")  # 2026-10-01 00:30 Beijing: in October, though September in UTC
T2 = utc("2026-10-05T22:10:00")  # 10-06 06:10 Beijing
T4 = utc("2026-10-15T19:59:00")  # 10-16 03:59 Beijing
T5 = utc("2026-10-20T04:00:00")  # 10-20 12:00 Beijing
MONTH = [
    # 1: a call, closed; dispatched +2 min, responded in time, on site 20 min after dispatch
    IncidentRow(1, "L1", "phone", "closed", T1, dispatched_at=T1 + 2 * MIN, responded_at=T1 + 4 * MIN,
                on_site_at=T1 + 22 * MIN, tier=1, persons_released=2, injuries=0, cause_class="door_system",
                self_release=False, place="residential"),
    # 2: from the device, closed; response late, on site 35 min after dispatch, escalated to tier 2
    IncidentRow(2, "L1", "device", "closed", T2, dispatched_at=T2 + MIN, responded_at=T2 + 9 * MIN,
                response_late=True, on_site_at=T2 + 36 * MIN, tier=2, persons_released=1, injuries=1,
                cause_class="control_system", self_release=False, place="residential"),
    # 3: a call that was a false alarm (09:00 Beijing)
    IncidentRow(3, "L3", "phone", "false_alarm", utc("2026-10-10T01:00:00"), place="residential"),
    # 4: from the device, released, not closed: no response recorded, on site exactly 30 min after dispatch
    IncidentRow(4, "L5", "device", "released", T4, dispatched_at=T4 + MIN, on_site_at=T4 + 31 * MIN, tier=3,
                place="mall"),
    # 5: a call, closed; responded in time, but the passengers released themselves (no arrival);
    #    the register had no place for the unit
    IncidentRow(5, "L6", "phone", "closed", T5, dispatched_at=T5 + MIN, responded_at=T5 + 3 * MIN, tier=1,
                persons_released=1, injuries=0, cause_class="human", self_release=True),
    # 6: 2026-11-01 07:30 Beijing (still October 31 in UTC): November's, left out
    IncidentRow(6, "L9", "device", "acknowledged", utc("2026-10-31T23:30:00")),
    # 7: 2026-10-31 23:59 Beijing: October's last minute; raised, never dispatched
    IncidentRow(7, "L2", "device", "raised", utc("2026-10-31T15:59:00"), place="residential"),
    # 8: 2026-09-30 23:59 Beijing: September's, left out
    IncidentRow(8, "L1", "device", "closed", utc("2026-09-30T15:59:00"), dispatched_at=utc("2026-09-30T16:00:00"),
                tier=1, persons_released=5),
]


def test_a_hand_made_month() -> None:
    since, until = month_period("2026-10")
    r = report(MONTH, LIFTS, since=since, until=until, now=NOW, tz="Asia/Shanghai", slot_hours=2)
    assert (r.since, r.until) == (date(2026, 10, 1), date(2026, 11, 1))
    assert r.incidents == 6  # 1, 2, 3, 4, 5, 7 (6 is November's, 8 September's in Beijing)
    assert r.calls == 3  # phone: 1, 3, 5
    assert r.false_alarms == 1  # 3
    assert r.entrapments == 5  # 1, 2, 4, 5, 7
    assert r.persons_released == 4  # 2 + 1 + 0 (4: not recorded) + 1 + 0 (7)
    assert r.injuries == 1  # 2
    assert r.dispatched == 4  # 1, 2, 4, 5
    # Response decided (recorded, or late): 1, 2, 5 (4 has neither); in time: 1 and 5
    assert (r.response_counted, r.responded_in_time) == (3, 2)
    assert r.response_rate_pct == 66.67  # 2 / 3, two decimals
    # Arrival counted (on site, or 30 min past dispatch by NOW): 1, 2, 4, 5 (5's passengers left
    # by themselves, no rescuer arrived); within 30 min: 1 (20 min), 4 (exactly 30); 2 took 35
    assert (r.arrival_counted, r.arrived_30min) == (4, 2)
    assert r.arrival_30min_rate_pct == pytest.approx(50.0)  # 2 / 4
    assert r.tiers == {"1": 2, "2": 1, "3": 1, "none": 1}  # 1, 5 | 2 | 4 | 7 never dispatched
    assert r.causes == {"human": 1, "external": 0, "door_system": 1, "control_system": 1, "other": 0,
                        "unrecorded": 2}  # 5 | – | 1 | 2 | – | 4 and 7 not closed
    assert r.places == {"residential": 3, "mall": 1, "hospital": 0, "school": 0, "office": 0, "hotel": 0,
                        "transport": 0, "public": 0, "industrial": 0, "other": 0,
                        "unknown": 1}  # 1, 2, 7 | 4 | 5 without a place
    slots = dict(r.slots)
    assert len(r.slots) == 12 and r.slots[0][0] == "00:00–02:00" and r.slots[-1][0] == "22:00–24:00"
    assert slots["00:00–02:00"] == 1  # 1 at 00:30 Beijing (16:30 UTC the day before)
    assert slots["02:00–04:00"] == 1  # 4 at 03:59
    assert slots["06:00–08:00"] == 1  # 2 at 06:10
    assert slots["12:00–14:00"] == 1  # 5 at 12:00
    assert slots["22:00–24:00"] == 1  # 7 at 23:59
    assert sum(slots.values()) == 5  # the false alarm (09:00) is no entrapment
    assert r.lifts == 8
    assert r.entrapments_per_lift == pytest.approx(5 / 8)  # 困人率 0.625
    assert r.entrapments_per_100_lifts == pytest.approx(62.5)
    # units: A has 1, 2, 7 (L1, L1, L2) on 4 lifts = 75 per 100; B has 4, 5 (L5, L6) on 2 = 100;
    # C none (not listed); L7 has no unit
    assert [(u.name, u.entrapments, u.lifts, round(u.per_100_lifts, 2)) for u in r.top_units] == [
        ("乙维保", 2, 2, 100.0), ("甲维保", 3, 4, 75.0)]
    # owners: O1 has 1, 2, 7 on L1, L2 = 150; O3 has 5 on L6, L7 = 50; O2 has 4 on L3, L4, L5 = 33.33
    assert [(o.name, o.entrapments, o.lifts, round(o.per_100_lifts, 2)) for o in r.top_owners] == [
        ("O1", 3, 2, 150.0), ("O3", 1, 2, 50.0), ("O2", 1, 3, 33.33)]
    out = r.as_json()
    assert out["arrival_30min_rate_pct"] == 50.0 and out["response_rate_pct"] == 66.67
    assert out["entrapments_per_lift"] == 0.625 and out["entrapments_per_100_lifts"] == 62.5


def test_beijing_night_hours_on_a_utc_machine() -> None:
    """00:00–08:00 Beijing is 16:00–24:00 UTC of the day before: each hour lands in its own slot."""
    rows = [IncidentRow(i, "L1", "device", "raised", utc("2026-10-09T16:00:00") + timedelta(hours=i, minutes=5))
            for i in range(8)]
    r = report(rows, LIFTS, since=date(2026, 10, 10), until=date(2026, 10, 11), now=NOW, slot_hours=1)
    counts = dict(r.slots)
    assert [counts[f"{h:02d}:00–{h + 1:02d}:00"] for h in range(8)] == [1] * 8
    assert sum(counts.values()) == 8 and r.entrapments == 8


def test_top_ten_and_ties() -> None:
    """Twelve units, one lift each and one entrapment each but the last two: ten listed, ties by
    entrapments and then by name."""
    lifts = [LiftRow(f"L{i}", f"U{i:02d}", None) for i in range(12)] + [LiftRow("X", "U00", None)]
    rows = [IncidentRow(i, f"L{i}", "device", "raised", utc("2026-10-02T00:00:00")) for i in range(10)]
    rows.append(IncidentRow(99, "X", "device", "raised", utc("2026-10-02T00:00:00")))
    r = report(rows, lifts, since=date(2026, 10, 1), until=date(2026, 11, 1), now=NOW)
    names = [u.name for u in r.top_units]
    assert len(names) == 10  # U10, U11 had none
    assert names[0] == "U00"  # 2 entrapments on 2 lifts: 100 per 100, as the others, but more of them
    assert names[1:] == [f"U{i:02d}" for i in range(1, 10)]
    assert r.top_owners == []


def test_no_lifts_no_rate_and_bad_periods() -> None:
    r = report([], [], since=date(2026, 10, 1), until=date(2026, 11, 1), now=NOW)
    assert r.entrapments_per_lift is None and r.arrival_30min_rate_pct is None and r.response_rate_pct is None
    with pytest.raises(ReportError):
        report([], [], since=date(2026, 10, 1), until=date(2026, 10, 1), now=NOW)
    with pytest.raises(ReportError):
        report([], [], since=date(2026, 10, 1), until=date(2026, 11, 1), now=NOW, slot_hours=5)
    with pytest.raises(ReportError):
        month_period("2026-13")
    assert month_period("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    assert month_period("2028-02") == (date(2028, 2, 1), date(2028, 3, 1))
    assert month_period("2999-12") == (date(2999, 12, 1), date(3000, 1, 1))
    for outside in ("9999-12", "0001-01", "1899-12", "3000-01"):  # years 1900-2999, as every period
        with pytest.raises(ReportError, match="1900 and 2999"):
            month_period(outside)


_rows = st.lists(st.builds(
    IncidentRow, id=st.integers(0, 10**6), device_id=st.sampled_from(["L1", "L5", "L7", "nowhere"]),
    source=st.sampled_from(["device", "phone"]),
    state=st.sampled_from(["raised", "dispatched", "released", "closed", "false_alarm"]),
    raised_at=st.datetimes(min_value=datetime(2026, 9, 25), max_value=datetime(2026, 11, 5), timezones=st.just(UTC)),
    dispatched_at=st.none() | st.datetimes(min_value=datetime(2026, 9, 25), max_value=datetime(2026, 11, 6),
                                           timezones=st.just(UTC)),
    responded_at=st.none() | st.just(datetime(2026, 10, 1, tzinfo=UTC)),
    response_late=st.booleans(), tier=st.none() | st.integers(1, 3),
    persons_released=st.none() | st.integers(0, 20), self_release=st.none() | st.booleans(),
    on_site_at=st.none() | st.datetimes(min_value=datetime(2026, 9, 25), max_value=datetime(2026, 11, 6),
                                        timezones=st.just(UTC)),
    cause_class=st.none() | st.sampled_from(["human", "external", "weird"]),
    place=st.none() | st.sampled_from(["mall", "residential", "elsewhere"])), max_size=40)


@given(_rows)
def test_every_split_adds_up(rows: list[IncidentRow]) -> None:
    r = report(rows, LIFTS, since=date(2026, 10, 1), until=date(2026, 11, 1), now=NOW)
    assert r.entrapments + r.false_alarms == r.incidents
    assert r.calls <= r.incidents
    for split in (r.tiers, r.causes, r.places, dict(r.slots)):
        assert sum(split.values()) == r.entrapments
    assert r.arrived_30min <= r.arrival_counted <= r.dispatched <= r.entrapments
    assert r.responded_in_time <= r.response_counted <= r.incidents
    for pct in (r.arrival_30min_rate_pct, r.response_rate_pct):
        assert pct is None or 0 <= pct <= 100
    assert sum(u.entrapments for u in r.top_units) <= r.entrapments
    assert r.entrapments_per_lift == pytest.approx(r.entrapments / 8)


def test_the_workbook_in_chinese() -> None:
    """The XLSX (alerts.report_xlsx) as a Chinese office reads it: the hand-made month's figures
    under their Chinese names, its splits and its top ten."""
    from io import BytesIO

    from openpyxl import load_workbook

    from alerts.report_xlsx import report_xlsx

    since, until = month_period("2026-10")
    r = report(MONTH, LIFTS, since=since, until=until, now=NOW)
    book = load_workbook(BytesIO(report_xlsx(r, "zh-CN")))
    assert book.sheetnames == ["月报", "前十名"]
    cells = {row[0]: row[1] for row in book["月报"].iter_rows(values_only=True) if row and row[0]}
    assert book["月报"]["A2"].value == "统计期间：2026-10-01 至 2026-10-31"  # the last day inclusive, as the page
    assert cells["接警总数"] == 6 and cells["每百台困人"] == 62.5
    assert cells["困人事件"] == 5 and cells["电话接警"] == 3 and cells["解救人数"] == 4
    assert cells["30 分钟到场率"] == 50.0 and cells["响应率"] == 66.67  # percent cells: 66.67%
    assert cells["困人率（次/台）"] == 0.625 and cells["门系统"] == 1 and cells["住宅"] == 3
    assert cells["00:00–02:00"] == 1 and cells["二级 网格救援站"] == 1 and cells["时段分布（Asia/Shanghai）"] == "次数"
    top = [row for row in book["前十名"].iter_rows(values_only=True) if row and isinstance(row[0], int)]
    assert top[0][1:] == ("乙维保", 2, 2, 100.0) and top[2][1:] == ("O1", 3, 2, 150.0)


def test_one_rounding_of_rates() -> None:
    """rate_pct: two decimals, half up on the exact fraction (1/32 = 3.125 % → 3.13, where a
    float's round() would give 3.12), None for nothing to count."""
    from alerts.monthly_report import rate_pct

    assert rate_pct(1, 3) == 33.33 and rate_pct(2, 3) == 66.67 and rate_pct(1, 32) == 3.13
    assert rate_pct(0, 5) == 0.0 and rate_pct(5, 5) == 100.0 and rate_pct(0, 0) is None


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_workbook_and_the_page_use_the_same_words() -> None:
    """Every label of the workbook (alerts.report_xlsx) is the printable page's word for it
    (console/static/i18n.js: t(key), name(group, key)), in both languages: 接警总数 on both."""
    from alerts.report_xlsx import LABELS, NAMES

    script = """
import { name, setLang, t } from "./i18n.js";
const [labels, names] = JSON.parse(process.argv[1]);
const wrong = [];
for (const [lang, words] of Object.entries(labels)) {
  setLang(lang);
  for (const [key, word] of Object.entries(words)) if (t(key) !== word) wrong.push([lang, key, word, t(key)]);
  for (const [group, pairs] of Object.entries(names)) {
    for (const [key, pair] of Object.entries(pairs)) {
      const word = pair[lang === "en" ? 1 : 0];
      if (name(group, key) !== word) wrong.push([lang, group, key, word, name(group, key)]);
    }
  }
}
console.log(JSON.stringify(wrong));
"""
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, "--input-type=module", "-e", script, json.dumps([LABELS, NAMES])],
                          cwd=Path(__file__).resolve().parents[2] / "console" / "static", capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert LABELS["zh-CN"]["report_incidents"] == "接警总数"
