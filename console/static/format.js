// Formatting of times, durations and numbers. Pure (no DOM), so node can test it.
import { lang } from "./i18n.js";

const pad = (n) => String(n).padStart(2, "0");

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
  return new Date(ms).toLocaleString(locale(), { hour12: false });
}

// "11-27 21:16:31": an alarm list needs no year.
export function shortDateTime(iso) {
  const ms = parseTime(iso);
  if (ms === null) return "";
  const d = new Date(ms);
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(iso) {
  const ms = parseTime(iso);
  if (ms === null) return "";
  return new Date(ms).toLocaleTimeString(locale(), { hour12: false });
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

export function isoDay(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return (seconds / 60).toFixed(1);
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(2)}%`;
}
