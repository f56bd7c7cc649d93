// Rescue-incident logic for the board: which step comes next, how long the passengers have been
// trapped, which deadline counts now. Pure (no DOM), so node can test it.
import { parseTime } from "./format.js";

// Each step is named after the state it leads to (docs/alerts.md).
export const NEXT_STEP = {
  raised: "acknowledged", acknowledged: "dispatched", dispatched: "on_site", on_site: "released", released: "closed",
};
const FALSE_ALARM_FROM = new Set(["raised", "acknowledged", "dispatched", "on_site"]);
export const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };

export function nextStep(state) {
  return NEXT_STEP[state] ?? null;
}

export function canFalseAlarm(state) {
  return FALSE_ALARM_FROM.has(state);
}

// Since when the passengers are trapped (the alarm's raised_at, the condition's start in device
// time) and until when: the release, or the device seeing the car empty.
export function trapped(incident, alarm, nowMs) {
  const start = parseTime(alarm?.raised_at) ?? parseTime(incident?.raised_at);
  const end = parseTime(incident?.released_at) ?? parseTime(alarm?.cleared_at);
  if (start === null) return { seconds: 0, ended: end !== null };
  return { seconds: Math.max(0, ((end ?? nowMs) - start) / 1000), ended: end !== null };
}

// The deadline that matters in the incident's state:
//   ack      (raised):               acknowledge by ack_deadline
//   awaiting (acknowledged):         acknowledged, not yet dispatched
//   arrival  (dispatched):           on site by arrival_deadline
//   arrived  (on_site and later):    arrived at on_site_at
// `seconds` is what is left (negative once missed); `late` once missed or flagged by the server.
export function deadline(incident, nowMs) {
  const state = incident?.state;
  if (!incident || state === "raised") {
    const due = parseTime(incident?.ack_deadline);
    const seconds = due === null ? null : (due - nowMs) / 1000;
    return { kind: "ack", seconds, late: Boolean(incident?.ack_late) || (seconds !== null && seconds < 0) };
  }
  if (state === "acknowledged") return { kind: "awaiting", seconds: null, late: Boolean(incident.ack_late) };
  const due = parseTime(incident.arrival_deadline);
  if (state === "dispatched") {
    const seconds = due === null ? null : (due - nowMs) / 1000;
    return { kind: "arrival", seconds, late: Boolean(incident.arrival_late) || (seconds !== null && seconds < 0) };
  }
  const arrived = parseTime(incident.on_site_at);
  const late = Boolean(incident.arrival_late) || (arrived !== null && due !== null && arrived > due);
  return { kind: "arrived", seconds: null, late, at: incident.on_site_at };
}

// The board's entrapments: every active incident, and any open entrapment alarm that (still)
// has none. Unacknowledged first, then the longest trapped first.
export function entrapments(store) {
  const out = [];
  const covered = new Set();
  const devices = new Set(); // a device with an incident (a phone call, say) is not listed twice
  for (const incident of store.incidents.values()) {
    covered.add(incident.alarm_id);
    devices.add(incident.device_id);
    out.push({ key: `i${incident.id}`, incident, alarm: store.alarm(incident.alarm_id) });
  }
  for (const alarm of store.alarms.values()) {
    if (alarm.type === "entrapment" && !covered.has(alarm.id) && !devices.has(alarm.device_id)) {
      out.push({ key: `a${alarm.id}`, incident: null, alarm });
    }
  }
  const unacked = (e) => (!e.incident || e.incident.state === "raised" ? 0 : 1);
  const since = (e) => parseTime(e.alarm?.raised_at) ?? parseTime(e.incident?.raised_at) ?? 0;
  return out.sort((a, b) => unacked(a) - unacked(b) || since(a) - since(b));
}

// Every other open alarm: by severity, then newest first.
export function otherAlarms(store) {
  const rank = (a) => SEVERITY_RANK[a.severity] ?? 9;
  return [...store.alarms.values()]
    .filter((a) => a.type !== "entrapment")
    .sort((a, b) => rank(a) - rank(b) || (parseTime(b.raised_at) ?? 0) - (parseTime(a.raised_at) ?? 0));
}
