// Rescue-incident logic for the board: which step comes next, how long the passengers have been
// trapped, which deadline counts now. Pure (no DOM), so node can test it.
import { parseTime } from "./format.js";

// Each step is named after the state it leads to (docs/alerts.md). "responded": the maintenance
// unit confirmed it is on its way (DB32/T 4130-2021's 响应).
export const NEXT_STEP = {
  raised: "acknowledged", acknowledged: "dispatched", dispatched: "responded", responded: "on_site",
  on_site: "released", released: "closed",
};
const FALSE_ALARM_FROM = new Set(["raised", "acknowledged", "dispatched", "responded", "on_site"]);
// Re-dispatch and the next tier belong to a rescue under way, before the arrival; "no answer" also
// to the calls before the first dispatch.
const REDISPATCH_FROM = new Set(["dispatched", "responded"]);
const NO_ANSWER_FROM = new Set(["acknowledged", "dispatched", "responded"]);
// Three-level rescue: 1 the contracted maintenance unit, 2 the nearest 网格救援站, 3 the fire brigade.
export const TIERS = [1, 2, 3];
// The close record's cause classes (the centres' monthly reports): 人为, 外部/停电, 门系统, 控制系统, 其他.
export const CAUSE_CLASSES = ["human", "external", "door_system", "control_system", "other"];
// Steps the system records (deadline watch, alarm links), shown apart from the operators' own.
export const SYSTEM_STEPS = new Set(["ack_overdue", "response_overdue", "arrival_overdue", "escalated",
  "alarm_cleared", "alarm_linked"]);
export const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };

export function nextStep(state) {
  return NEXT_STEP[state] ?? null;
}

export function canFalseAlarm(state) {
  return FALSE_ALARM_FROM.has(state);
}

export function canRedispatch(state) {
  return REDISPATCH_FROM.has(state);
}

export function canNoAnswer(state) {
  return NO_ANSWER_FROM.has(state);
}

// The current dispatch missed its arrival (arrival_missed; older servers: arrival_late, which
// stays set after an escalation gave the next tier fresh deadlines).
const arrivalMissed = (incident) => Boolean(incident.arrival_missed ?? incident.arrival_late);

// The tier an incident is at (1 until dispatched elsewhere or escalated).
export function tierOf(incident) {
  const tier = Number(incident?.tier);
  return TIERS.includes(tier) ? tier : 1;
}

// Who the card names as sent, and their phone: the rescuer the current tier sent with that tier's
// own contact, never another tier's (a station without a phone must not show the maintenance
// unit's); before any dispatch the contracted maintenance unit and its contact. { who, contact,
// noPhone }: noPhone when someone is named but no phone is known for them.
export function rescuerOf(incident) {
  if (!incident) return { who: null, contact: null, noPhone: false };
  const sent = incident.rescuer ?? null;
  const who = sent ?? incident.maintenance_unit ?? null;
  const contact = (sent !== null ? incident.rescuer_contact : incident.maintenance_contact) ?? null;
  return { who, contact, noPhone: who !== null && !contact };
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
//   arrival  (dispatched, responded): on site by arrival_deadline
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
  if (state === "dispatched" || state === "responded") {
    const seconds = due === null ? null : (due - nowMs) / 1000;
    return { kind: "arrival", seconds, late: arrivalMissed(incident) || (seconds !== null && seconds < 0) };
  }
  const arrived = parseTime(incident.on_site_at);
  const late = Boolean(incident.arrival_late) || (arrived !== null && due !== null && arrived > due);
  return { kind: "arrived", seconds: null, late, at: incident.on_site_at };
}

// The rescuer's confirmation (响应时限): between a dispatch and "responded". null before dispatch;
// { seconds, late, done, at } after (done once it responded, at its time). Every dispatch (a
// re-dispatch, the next tier) starts it again: in "dispatched" the current rescuer has not responded.
export function responseDeadline(incident, nowMs) {
  if (!incident) return null;
  const due = parseTime(incident.response_deadline);
  const missed = Boolean(incident.response_missed ?? incident.response_late);
  if (incident.state === "dispatched") {
    const seconds = due === null ? null : (due - nowMs) / 1000;
    return { seconds, done: false, at: null, late: missed || (seconds !== null && seconds < 0) };
  }
  const at = parseTime(incident.responded_at);
  if (at === null || !["responded", "on_site", "released", "closed"].includes(incident.state)) return null;
  return { seconds: null, done: true, at: incident.responded_at, late: missed || (due !== null && at > due) };
}

// The close record from the form's raw values (strings, "" when not chosen): { body } to send with
// the "closed" step, or { missing: [field names], invalid: [field names] }: a field left empty is
// missing, one filled wrongly (−1, 1.5, more injured than released) invalid. Every field is asked for
// (issue 15). Injuries count the trapped persons hurt, all of whom are released by the close
// (self-released ones included), so injuries ≤ persons released (the server checks the same).
export function closeRecord(raw) {
  const missing = [];
  const invalid = [];
  const count = (key) => {
    const text = String(raw[key] ?? "").trim();
    const n = Number(text);
    if (text === "") missing.push(key);
    else if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) invalid.push(key);
    return n;
  };
  const yesNo = (key) => {
    if (raw[key] !== "yes" && raw[key] !== "no") missing.push(key);
    return raw[key] === "yes";
  };
  const body = { persons_released: count("persons_released"), injuries: count("injuries") };
  if (!invalid.length && !missing.includes("injuries") && !missing.includes("persons_released")
    && body.injuries > body.persons_released) invalid.push("injuries");
  if (!raw.cause_class) missing.push("cause_class");
  else if (!CAUSE_CLASSES.includes(raw.cause_class)) invalid.push("cause_class");
  body.cause_class = raw.cause_class;
  body.self_release = yesNo("self_release");
  body.callback_confirmed = yesNo("callback_confirmed");
  return missing.length || invalid.length ? { missing, invalid } : { body };
}

// An incident's history in the order it happened (by time, then id), each marked as the system's,
// a comment, or an operator's step.
export function timeline(steps) {
  return [...(steps ?? [])]
    .sort((a, b) => (parseTime(a.at) ?? 0) - (parseTime(b.at) ?? 0) || a.id - b.id)
    .map((s) => ({ ...s, kind: s.step === "comment" ? "comment" : SYSTEM_STEPS.has(s.step) || s.actor === "system"
      ? "system" : "operator" }));
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
