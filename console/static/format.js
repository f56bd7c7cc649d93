// Formatting of times, durations and numbers. No DOM, so node can test it.
//
// Dates and times are the register's (its time zone, SEMON_NOTICE_TIMEZONE, from GET
// /api/calendar), never the browser's: a desk PC set to UTC must show the same day and clock as
// the server's checks. Until the zone is known the browser's is used.
import { lang } from "./i18n.js";

const pad = (n) => String(n).padStart(2, "0");
const zone = { name: undefined };

// Use the IANA zone `name` for every date and time shown; false (and no change) when the
// browser does not know it.
export function setTimeZone(name) {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: name }).format(0);
  } catch {
    return false;
  }
  zone.name = name;
  return true;
}

export function timeZone() {
  return zone.name;
}

// The parts of the instant `ms` in the register's zone: { year, month, day, hour, minute, second } as strings.
function parts(ms) {
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: zone.name, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const out = {};
  for (const p of fmt.formatToParts(ms)) out[p.type] = p.value;
  return out;
}

// 75 → "01:15", 3725 → "1:02:05"; negative input is shown as its magnitude.
export function duration(seconds) {
  const s = Math.floor(Math.abs(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

export function parseTime(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

function locale() {
  return lang() === "en" ? "en-GB" : "zh-CN";
}

export function dateTime(iso) {
  const ms = parseTime(iso);
  if (ms === null) return "";
  return new Date(ms).toLocaleString(locale(), { hour12: false, timeZone: zone.name });
}

// "11-27 21:16:31": an alarm list needs no year.
export function shortDateTime(iso) {
  const ms = parseTime(iso);
  if (ms === null) return "";
  const p = parts(ms);
  return `${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

export function clock(iso) {
  const ms = parseTime(iso);
  if (ms === null) return "";
  return new Date(ms).toLocaleTimeString(locale(), { hour12: false, timeZone: zone.name });
}

// A calendar date as the API sends it ("2026-03-31"), shown as is: it has no time zone.
export function day(value) {
  return value ? String(value).slice(0, 10) : "";
}

// Whole days from `today` (YYYY-MM-DD) to `value` (YYYY-MM-DD); negative when past.
export function daysUntil(value, today) {
  const a = Date.parse(`${day(value)}T00:00:00Z`);
  const b = Date.parse(`${day(today)}T00:00:00Z`);
  return Math.round((a - b) / 86400000);
}

// The register's calendar date ("YYYY-MM-DD") at the instant `ms`.
export function isoDay(ms) {
  const p = parts(ms);
  return `${p.year}-${p.month}-${p.day}`;
}

// The date `n` days after `value` (YYYY-MM-DD): calendar arithmetic, no time zone involved.
export function addDays(value, n) {
  return new Date(Date.parse(`${day(value)}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);
}

export function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return (seconds / 60).toFixed(1);
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(2)}%`;
}
