"""The bureau's reporting period (console/static/period.js), run in node on a UTC machine: a
month's days, a range's last day inclusive on screen and exclusive in the API, a malformed or
reversed period falling back to the register's month, and a register day's first instant in
the register's zone (Beijing's midnight is 16:00 UTC the day before)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE = shutil.which("node")
STATIC_DIR = Path(__file__).resolve().parents[2] / "console" / "static"

_PERIOD = r"""
import assert from "node:assert/strict";
import { currentMonth, dayQuery, dayStart, instantQuery, isDay, monthBounds, periodFrom, periodSearch, readPeriod }
  from "./period.js";
import { setTimeZone } from "./format.js";

assert.deepEqual(monthBounds("2026-10"), { since: "2026-10-01", until: "2026-11-01" });
assert.deepEqual(monthBounds("2026-12"), { since: "2026-12-01", until: "2027-01-01" });
assert.deepEqual(monthBounds("2028-02"), { since: "2028-02-01", until: "2028-03-01" });

const today = "2026-12-01";
assert.deepEqual(periodFrom("?month=2026-10", today), { kind: "month", month: "2026-10", since: "2026-10-01",
  until: "2026-11-01" });
assert.deepEqual(periodFrom("?since=2026-10-01&last=2026-10-01", today), { kind: "range", since: "2026-10-01",
  until: "2026-10-02" });  // one day: its last day inclusive, until exclusive
for (const bad of ["", "?month=2026-13", "?month=26-10", "?since=2026-10-05&last=2026-10-01", "?since=2026-10-01",
                   "?since=yesterday&last=today"]) {
  assert.deepEqual(periodFrom(bad, today), { kind: "month", month: "2026-12", since: "2026-12-01",
    until: "2027-01-01" }, bad);
}
// Refused, each with its reason, never rolled over (11-31 is not December 1st) nor guessed.
const october = periodFrom("?month=2026-10", today);
for (const [bad, why] of [["?month=abc", "period_bad_month"], ["?month=9999-12", "period_bad_month"],
                          ["?month=0001-01", "period_bad_month"], ["?month=3000-01", "period_bad_month"],
                          ["?month=", "period_bad_month"], ["?since=2026-11-01&last=2026-11-31", "period_bad_day"],
                          ["?since=2026-02-29&last=2026-03-01", "period_bad_day"],
                          ["?since=1899-12-31&last=1900-01-01", "period_bad_day"],
                          ["?since=2026-12-05&last=2026-11-01", "period_reversed"],
                          ["?since=2026-11-01", "period_incomplete"],
                          ["?since=&last=2026-11-01", "period_incomplete"]]) {
  assert.deepEqual(readPeriod(bad, october), { period: october, error: why }, bad);
}
assert.deepEqual(readPeriod("", october), { period: october, error: null });
assert.deepEqual(readPeriod("?month=2999-12", null).period, { kind: "month", month: "2999-12", since: "2999-12-01",
  until: "3000-01-01" });
assert.deepEqual(readPeriod("?since=2028-02-29&last=2028-02-29", null).period, { kind: "range", since: "2028-02-29",
  until: "2028-03-01" });
assert.equal(isDay("2026-11-30"), true);
assert.equal(isDay("2026-11-31"), false);
assert.deepEqual(currentMonth("2026-11-30"), { kind: "month", month: "2026-11", since: "2026-11-01",
  until: "2026-12-01" });
const range = periodFrom("?since=2026-10-01&last=2026-10-15", today);
assert.equal(periodSearch(range, { wall: "1" }), "?since=2026-10-01&last=2026-10-15&wall=1");
assert.deepEqual(periodFrom(periodSearch(range), today), range);
assert.equal(periodSearch(periodFrom("?month=2026-10", today), { wall: null }), "?month=2026-10");
assert.equal(dayQuery(range), "since=2026-10-01&until=2026-10-16");

assert.equal(dayStart("2026-10-01", "Asia/Shanghai"), "2026-09-30T16:00:00.000Z");
assert.equal(dayStart("2026-11-01", "America/New_York"), "2026-11-01T04:00:00.000Z");  // the day summer time ends
assert.equal(dayStart("2026-03-08", "America/New_York"), "2026-03-08T05:00:00.000Z");  // and the day it starts
assert.equal(dayStart("2026-10-01", "UTC"), "2026-10-01T00:00:00.000Z");
setTimeZone("Asia/Shanghai");
assert.equal(instantQuery(periodFrom("?month=2026-10", today)),
  "since=2026-09-30T16%3A00%3A00.000Z&until=2026-10-31T16%3A00%3A00.000Z");
console.log("ok");
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_reporting_period_in_node() -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", _PERIOD], cwd=STATIC_DIR, capture_output=True,
                          text=True, timeout=30, check=False, env={"PATH": os.environ["PATH"], "TZ": "UTC"})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
