"""The 96333 desk's pure logic in the console (console/static/incident.js, shift.js's day start),
run in node: the workflow with "responded", the response limit, the tiers, the close record
every field of which is asked for, the timeline's order and kinds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STATIC_DIR = Path(__file__).resolve().parents[2] / "console" / "static"
NODE = shutil.which("node")

_LOGIC = r"""
import assert from "node:assert/strict";
import { canFalseAlarm, canNoAnswer, canRedispatch, closeRecord, deadline, entrapments, nextStep, rescuerOf,
  responseDeadline, tierOf, timeline } from "./incident.js";
import { LiveStore } from "./live.js";

const at = (s) => new Date(Date.UTC(2026, 0, 1, 8, 0, s)).toISOString();
const incident = (state, extra = {}) => ({ id: 7, alarm_id: null, device_id: "d1", state, source: "phone",
  active: !["closed", "false_alarm"].includes(state), raised_at: at(0), ack_deadline: at(60), updated_at: at(1),
  response_deadline: null, responded_at: null, arrival_deadline: null, ack_late: false, arrival_late: false,
  response_late: false, tier: 1, ...extra });

// raised → acknowledged → dispatched → responded → on_site → released → closed
const order = ["raised", "acknowledged", "dispatched", "responded", "on_site", "released", "closed"];
assert.deepEqual(order.map(nextStep), [...order.slice(1), null]);
assert.deepEqual(order.map(canRedispatch), [false, false, true, true, false, false, false]);
assert.deepEqual(order.map(canFalseAlarm), [true, true, true, true, true, false, false]);
assert.deepEqual(order.map(canNoAnswer), [false, true, true, true, false, false, false]);
assert.deepEqual([undefined, null, 1, 2, 3, "3", 4].map((tier) => tierOf({ tier })), [1, 1, 1, 2, 3, 3, 1]);

// The response limit: counting down after dispatch, late once missed or flagged, done at "responded".
const now = Date.parse(at(100));
assert.equal(responseDeadline(incident("acknowledged"), now), null);
const dispatched = incident("dispatched", { response_deadline: at(130), arrival_deadline: at(1900) });
assert.deepEqual(responseDeadline(dispatched, now), { seconds: 30, done: false, at: null, late: false });
assert.equal(responseDeadline({ ...dispatched, response_deadline: at(90) }, now).late, true);
assert.equal(responseDeadline({ ...dispatched, response_late: true }, now).late, true);
const responded = incident("responded", { response_deadline: at(130), responded_at: at(95),
  arrival_deadline: at(1900) });
assert.deepEqual(responseDeadline(responded, now), { seconds: null, done: true, at: at(95), late: false });
assert.equal(responseDeadline({ ...responded, responded_at: at(140) }, now).late, true);
// After an escalation the next tier is "dispatched" again: its own countdown, whatever responded before.
const escalated = { ...responded, state: "dispatched", tier: 2, response_deadline: at(400), response_late: true,
  response_missed: false };
assert.deepEqual(responseDeadline(escalated, now), { seconds: 300, done: false, at: null, late: false });
assert.equal(deadline({ ...escalated, arrival_late: true, arrival_missed: false }, now).late, false);
// The arrival countdown runs through "responded" too.
assert.deepEqual(deadline(responded, now), { kind: "arrival", seconds: 1800, late: false });

// The close record: every field asked for; counts are whole and not negative; yes/no chosen.
const full = { persons_released: "2", injuries: "0", cause_class: "external", self_release: "no",
  callback_confirmed: "yes" };
assert.deepEqual(closeRecord(full), { body: { persons_released: 2, injuries: 0, cause_class: "external",
  self_release: false, callback_confirmed: true } });
assert.deepEqual(closeRecord({}).missing.sort(),
  ["callback_confirmed", "cause_class", "injuries", "persons_released", "self_release"]);
// Wrong is not missing: -1, 1.5, text and more injured than released are invalid; blank is missing.
for (const bad of ["-1", "1.5", "x", "1e3", "?"]) {
  assert.deepEqual(closeRecord({ ...full, injuries: bad }), { missing: [], invalid: ["injuries"] });
}
assert.deepEqual(closeRecord({ ...full, injuries: " " }), { missing: ["injuries"], invalid: [] });
assert.deepEqual(closeRecord({ ...full, persons_released: "1", injuries: "5" }),
  { missing: [], invalid: ["injuries"] });
assert.equal(closeRecord({ ...full, persons_released: "2", injuries: "2" }).body.injuries, 2);
assert.deepEqual(closeRecord({ ...full, cause_class: "weather" }).invalid, ["cause_class"]);

// The rescuer's phone is the current tier's own: a second-tier station without one never shows the
// maintenance unit's contact.
const station = incident("dispatched", { tier: 2, rescuer: "市级二级救援队", rescuer_contact: null,
  maintenance_unit: "甲维保", maintenance_contact: "王工 13800000000" });
assert.deepEqual(rescuerOf(station), { who: "市级二级救援队", contact: null, noPhone: true });
assert.deepEqual(rescuerOf({ ...station, rescuer_contact: "0971-8100001" }),
  { who: "市级二级救援队", contact: "0971-8100001", noPhone: false });
assert.deepEqual(rescuerOf(incident("acknowledged", { maintenance_unit: "甲维保", maintenance_contact: "王工 138" })),
  { who: "甲维保", contact: "王工 138", noPhone: false });

// The timeline: by time then id; the system's steps and comments told apart from the operators'.
const steps = [
  { id: 3, step: "comment", actor: "op", at: at(20) },
  { id: 2, step: "escalated", actor: "system", at: at(10),
    details: { from_tier: 1, to_tier: 2, reason: "no_response" } },
  { id: 1, step: "raised", actor: "op", at: at(0) },
  { id: 4, step: "dispatched", actor: "op", at: at(10) },
];
assert.deepEqual(timeline(steps).map((s) => [s.id, s.kind]),
  [[1, "operator"], [2, "system"], [4, "operator"], [3, "comment"]]);
assert.equal(timeline([{ id: 1, step: "raised", actor: "system", at: at(0) }])[0].kind, "system");

// A phone incident (no alarm) is on the board once, with the stream's latest step for its timeline.
const store = new LiveStore();
store.apply({ topic: "incident", op: "raised", incident: incident("raised"), step: { id: 9, step: "raised" } });
assert.deepEqual(entrapments(store).map((e) => [e.key, e.alarm]), [["i7", null]]);
assert.equal(store.lastSteps.get(7).id, 9);
store.applySnapshot({ alarms: [], incidents: [incident("raised")] });
assert.equal(store.lastSteps.size, 0);  // a snapshot tells no steps: the card reads them again
console.log("ok");
"""

_DAY_START = r"""
import assert from "node:assert/strict";
import { setTimeZone } from "./format.js";
import { dayStart, shiftStart } from "./shift.js";

setTimeZone("Asia/Shanghai");
assert.equal(dayStart("2026-03-01"), "2026-02-28T16:00:00.000Z");
setTimeZone("America/New_York");  // the day a change of offset happens on
assert.equal(dayStart("2026-03-08"), "2026-03-08T05:00:00.000Z");
assert.equal(dayStart("2026-03-09"), "2026-03-09T04:00:00.000Z");
assert.equal(dayStart("2026-03-09", "08:00"), "2026-03-09T12:00:00.000Z");
// The running shift began at the latest 08:00 or 20:00 before now, yesterday's 20:00 before 08:00.
assert.deepEqual(shiftStart("2026-03-09", "07:59"), { day: "2026-03-08", time: "20:00" });
assert.deepEqual(shiftStart("2026-03-09", "08:00"), { day: "2026-03-09", time: "08:00" });
assert.deepEqual(shiftStart("2026-03-09", "23:10"), { day: "2026-03-09", time: "20:00" });
console.log("ok");
"""

_SOUND = r"""
import assert from "node:assert/strict";

// A page without a browser: storage, a document that takes listeners, an audio context that runs.
const listeners = [];
const saved = new Map();
globalThis.localStorage = { getItem: (k) => saved.get(k) ?? null, setItem: (k, v) => saved.set(k, v) };
globalThis.document = { addEventListener: (type, fn) => listeners.push([type, fn]) };
class Context {
  constructor() { this.state = "suspended"; this.currentTime = 0; }
  async resume() { this.state = "running"; this.onstatechange?.(); }
  async suspend() { this.state = "suspended"; this.onstatechange?.(); }
  createOscillator() { return { frequency: {}, connect: (x) => x, start() {}, stop() {} }; }
  createGain() { return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect: (x) => x }; }
}
globalThis.window = { AudioContext: Context };
const { Beeper } = await import("./sound.js");
const click = async () => {
  for (const [type, fn] of listeners) if (type === "pointerdown") fn({ target: { closest: () => null } });
  await new Promise((resolve) => setTimeout(resolve, 0));
};

// Never chosen: a click while something alerts turns it on (the browser's gesture).
const all = [];
let beeper = new Beeper();
all.push(beeper);
beeper.setAlerting(true);
await click();
assert.equal(beeper.state, "on");
// Turned off by the operator: it stays off, whatever is clicked while it alerts, and is remembered.
beeper.disable();
assert.equal(beeper.state, "muted");
await click();
assert.equal(beeper.state, "muted");
assert.equal(saved.get("semon.sound"), "off");
listeners.length = 0;
beeper = new Beeper(); // a reload
all.push(beeper);
beeper.setAlerting(true);
await click();
assert.equal(beeper.state, "muted");
// Turned on again by the operator: remembered, and a reload's first click re-arms it.
await beeper.enable();
assert.equal(saved.get("semon.sound"), "on");
listeners.length = 0;
beeper = new Beeper();
await click();
assert.equal(beeper.state, "on");
for (const b of all) b.setAlerting(false); // their repeating beeps would keep node running
console.log("ok");
"""


def _run(script: str) -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", script], cwd=STATIC_DIR, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_desks_incident_logic_in_node() -> None:
    _run(_LOGIC)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_registers_day_starts_at_its_own_midnight_in_node() -> None:
    _run(_DAY_START)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_sound_turned_off_stays_off_until_the_operator_turns_it_on_in_node() -> None:
    _run(_SOUND)
