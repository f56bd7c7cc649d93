// The bureau's reporting period: a calendar month or a free range of the register's days, kept
// in the page's address (?month=2026-10, or ?since=2026-10-01&until=2026-10-15 with the last
// day inclusive on screen and `until` exclusive in the API, as the server's reports take it).
// Pure functions first (node can test them), then the picker.
import { addDays, timeZone } from "./format.js";

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

// "2026-10" → { since: "2026-10-01", until: "2026-11-01" }.
export function monthBounds(month) {
  const [y, m] = month.split("-").map(Number);
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, "0")}`;
  return { since: `${month}-01`, until: `${next}-01` };
}

const MIN_YEAR = 1900; // every period's years, as the server takes them (web/inputs.py)
const MAX_YEAR = 2999;

const inYears = (value) => { const y = Number(value.slice(0, 4)); return y >= MIN_YEAR && y <= MAX_YEAR; };

// A real day of the calendar: 2026-11-31 is not one (Date would roll it over to December 1st).
export function isDay(value) {
  if (typeof value !== "string" || !DAY.test(value) || !inYears(value)) return false;
  const at = Date.parse(`${value}T00:00:00Z`);
  return Number.isFinite(at) && new Date(at).toISOString().slice(0, 10) === value;
}

export function currentMonth(today) {
  const month = today.slice(0, 7);
  return { kind: "month", month, ...monthBounds(month) };
}

// The period in `search` (?month=YYYY-MM, or ?since=YYYY-MM-DD&last=YYYY-MM-DD, the last day
// inclusive): { period, error }. None given: `fallback`, no error. A malformed, impossible,
// out-of-years (1900-2999) or reversed one is refused, never rolled over or guessed: `fallback`
// again, with `error` the i18n key of the reason (the page shows it).
export function readPeriod(search, fallback) {
  const q = new URLSearchParams(search);
  const month = q.get("month");
  const since = q.get("since");
  const last = q.get("last");
  if (month !== null) {
    if (!MONTH.test(month) || !inYears(month)) return { period: fallback, error: "period_bad_month" };
    return { period: { kind: "month", month, ...monthBounds(month) }, error: null };
  }
  if (since === null && last === null) return { period: fallback, error: null };
  if (!since || !last) return { period: fallback, error: "period_incomplete" };
  if (!isDay(since) || !isDay(last)) return { period: fallback, error: "period_bad_day" };
  if (since > last) return { period: fallback, error: "period_reversed" };
  return { period: { kind: "range", since, until: addDays(last, 1) }, error: null };
}

// The period in the address, else (none, or a refused one) the register's current month.
// { kind, month?, since, until } with `until` exclusive.
export function periodFrom(search, today) {
  return readPeriod(search, currentMonth(today)).period;
}

// The address's query for a period (the wall flag kept), for history.replaceState and links.
export function periodSearch(period, extra = {}) {
  const q = new URLSearchParams();
  if (period.kind === "month") q.set("month", period.month);
  else {
    q.set("since", period.since);
    q.set("last", addDays(period.until, -1));
  }
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined) q.set(k, v);
  return `?${q}`;
}

// The instant the register's day `value` (YYYY-MM-DD) begins, as ISO text with its offset (Z):
// the KPIs' windows are instants, the period days of the register's zone, not the browser's.
export function dayStart(value, zone = timeZone()) {
  const guess = Date.parse(`${value}T00:00:00Z`);
  let at = guess;
  for (let i = 0; i < 2; i++) { // twice: a zone whose offset changes that day
    const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    const p = Object.fromEntries(fmt.formatToParts(at).map((x) => [x.type, x.value]));
    const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
    at = guess - (wall - at);
  }
  return new Date(at).toISOString();
}

// The period's query for the APIs that take days (?since=…&until=…, until exclusive).
export function dayQuery(period) {
  return `since=${period.since}&until=${period.until}`;
}

// The period's query for the APIs that take instants (the rescue KPIs).
export function instantQuery(period) {
  return `since=${encodeURIComponent(dayStart(period.since))}&until=${encodeURIComponent(dayStart(period.until))}`;
}
