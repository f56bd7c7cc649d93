"""The desks' pure logic in the console (console/static/desk-logic.js, notify.js's choice), run in
node: which alarms a desk lists, what is shelved, what calls for the operator, what deserves a
desktop notification, and the board's one entry per trapped car (incident.js)."""

from __future__ import annotations

from tests.node import needs_node, run_module

_LOGIC = """
import assert from "node:assert/strict";
import { deskAlarms, isCalling, isShelved } from "./desk-logic.js";
import { entrapments } from "./incident.js";
import { LiveStore } from "./live.js";

const at = (s) => new Date(Date.UTC(2026, 0, 1, 8, 0, s)).toISOString();
const now = Date.parse(at(100));
const alarm = (id, type, desk, extra = {}) => ({ id, type, desk, state: "open", severity: "minor", sounds: false,
  endangers: false, device_id: `d${id}`, district_code: "630102", raised_at: at(id), acknowledged_at: null,
  shelved_until: null, shelved_reason: null, ...extra });

const alarms = [
  alarm(1, "entrapment", "96333", { severity: "critical", sounds: true, endangers: true }),
  alarm(2, "door_close_fault", "96333"),
  alarm(3, "unintended_car_movement", "96333", { severity: "critical", sounds: true, endangers: true }),
  alarm(4, "over_pressure", "boiler", { severity: "critical", sounds: true }),
  alarm(5, "offline", "iot", { severity: "warning" }),
  alarm(6, "floor_position_lost", "96333", { shelved_until: at(160), shelved_reason: "门机更换中" }),
  alarm(7, "main_power_lost", "96333", { shelved_until: at(50), acknowledged_at: at(40) }),  // shelving over
  alarm(8, "inspection_expired_running", "inspection", { severity: "major" }),
  alarm(9, "overspeed", "96333", { state: "cleared" }),
];
const board = deskAlarms(alarms, { desk: "96333", nowMs: now });
// Entrapments have cards; endangering first; the shelved apart; the cleared not at all.
assert.deepEqual(board.listed.map((a) => a.id), [3, 7, 2]);
assert.deepEqual(board.shelved.map((a) => a.id), [6]);
assert.deepEqual(deskAlarms(alarms, { desk: "boiler", nowMs: now }).listed.map((a) => a.id), [4]);
assert.deepEqual(deskAlarms(alarms, { desk: "iot", nowMs: now }).listed.map((a) => a.id), [5]);
// Filters: state, type, text (also in the shelving reason), district; a hidden device.
const only = (filter, hide) => deskAlarms(alarms, { desk: "96333", nowMs: now, filter, hide }).listed.map((a) => a.id);
assert.deepEqual(only({ state: "acknowledged" }), [7]);
assert.deepEqual(only({ state: "unacknowledged" }), [3, 2]);
assert.deepEqual(only({ type: "door_close_fault" }), [2]);
assert.deepEqual(only({ text: "D3" }), [3]);
assert.deepEqual(only({ district: "630121" }), []);
assert.deepEqual(only({}, (a) => a.device_id === "d3"), [7, 2]);
const byReason = deskAlarms(alarms, { desk: "96333", nowMs: now, filter: { text: "门机" } });
assert.deepEqual(byReason.shelved.map((a) => a.id), [6]);
// Shelving ends by itself; calling = sounds, neither acknowledged nor shelved.
assert.ok(isShelved(alarms[5], now) && !isShelved(alarms[5], Date.parse(at(161))));
assert.ok(isCalling(alarms[2], now));
assert.ok(!isCalling({ ...alarms[2], acknowledged_at: at(99) }, now));
assert.ok(!isCalling({ ...alarms[2], shelved_until: at(200) }, now));
assert.ok(!isCalling(alarms[1], now));  // a minor fault never sounds

// A trapped car is one entry: its incident (phone-reported, no alarm yet) covers its alarm.
const store = new LiveStore();
store.applySnapshot({ alarms: [alarm(20, "entrapment", "96333")], incidents: [{ id: 5, alarm_id: null,
  device_id: "d20", state: "raised", active: true, raised_at: at(1), updated_at: at(1) }] });
assert.deepEqual(entrapments(store).map((e) => e.key), ["i5"]);
console.log("ok");
"""


@needs_node
def test_desk_logic_in_node() -> None:
    run_module(_LOGIC)
