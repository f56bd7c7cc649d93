// The desks' pure logic (no DOM; node tests it): which alarms a desk lists, which are shelved,
// which call for the operator.
import { parseTime } from "./format.js";
import { SEVERITY_RANK } from "./incident.js";

export function isShelved(alarm, nowMs) {
  const until = parseTime(alarm.shelved_until);
  return until !== null && until > nowMs;
}

// Whether an alarm still calls for the operator: it sounds, and nobody acknowledged or shelved it.
export function isCalling(alarm, nowMs) {
  return Boolean(alarm.sounds) && !alarm.acknowledged_at && !isShelved(alarm, nowMs);
}

// The alarms a desk lists, split into the list and the shelved; pure, so node can test it.
// filter: {type, district, state: "" | "unacknowledged" | "acknowledged", text}; nameOf(alarm) is
// the text searched besides the device id and the shelving reason.
export function deskAlarms(alarms, { desk, filter = {}, hide = () => false, nowMs, nameOf = (a) => a.type }) {
  const text = (filter.text ?? "").trim().toLowerCase();
  const rank = (a) => (a.endangers ? 0 : 1) * 10 + (SEVERITY_RANK[a.severity] ?? 9);
  const wanted = alarms.filter((a) => a.desk === desk && a.type !== "entrapment" && a.state === "open" && !hide(a)
    && (!filter.type || a.type === filter.type)
    && (!filter.district || a.district_code === filter.district)
    && (filter.state !== "unacknowledged" || !a.acknowledged_at)
    && (filter.state !== "acknowledged" || a.acknowledged_at)
    && (!text || [a.device_id, nameOf(a), a.shelved_reason ?? ""].some((s) => s.toLowerCase().includes(text))));
  wanted.sort((a, b) => rank(a) - rank(b) || (parseTime(b.raised_at) ?? 0) - (parseTime(a.raised_at) ?? 0));
  return { listed: wanted.filter((a) => !isShelved(a, nowMs)), shelved: wanted.filter((a) => isShelved(a, nowMs)) };
}
