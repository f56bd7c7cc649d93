// The HTTP API as the console uses it: the session (login, me, logout), the CSRF header on every
// non-GET request, and the server's clock (countdowns must not trust the desk PC's clock).
//
// The register's calendar (GET /api/calendar): every date the console shows, defaults or counts is
// the register's (its time zone), never the desk PC's.
//
// Until the server has users (GET /api/me answers 404) the console runs in development mode:
// everyone may see everything, and request bodies name the actor themselves.
import { addDays, daysUntil, isoDay, setTimeZone } from "./format.js";
import { lang } from "./i18n.js";

const session = { user: null, csrf: null, devMode: false, clockOffsetMs: 0, calendar: null };
const DEV_ACTOR_KEY = "semon.devActor";
const DEV_USER = { username: "console", role: "admin", agency: null, display_name: "console" };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function currentUser() {
  return session.user;
}

export function devMode() {
  return session.devMode;
}

// Milliseconds on the server's clock.
export function now() {
  return Date.now() + session.clockOffsetMs;
}

// The register's time zone and today, from the server; the zone is then used for every date and
// time shown (format.js). Throws an ApiError when the server refuses or is away.
export async function loadCalendar() {
  const data = await get("/api/calendar");
  if (!setTimeZone(data.timezone)) console.warn(`semon: this browser does not know the time zone ${data.timezone}`);
  session.calendar = { today: data.today, at: now() };
  return data;
}

// The register's today (YYYY-MM-DD): the server's, moved on by each of the register's midnights
// since the server said it (a page left open overnight). Before loadCalendar: the day at now().
export function registerToday() {
  if (!session.calendar) return isoDay(now());
  const { today, at } = session.calendar;
  return addDays(today, daysUntil(isoDay(now()), isoDay(at)));
}

function learnClock(response, sentAt) {
  const server = Date.parse(response.headers.get("Date") ?? "");
  if (Number.isNaN(server)) return;
  const offset = server - (sentAt + Date.now()) / 2;
  // The Date header has whole seconds: correct only an offset that matters.
  session.clockOffsetMs = Math.abs(offset) > 3000 ? offset : 0;
}

// The console's language goes with every request, so the server's errors come in it (web.i18n).
const LANG_HEADER = "X-Semon-Lang";

async function send(method, path, body, contentType) {
  const headers = { Accept: "application/json", [LANG_HEADER]: lang() };
  if (body !== undefined) headers["Content-Type"] = contentType ?? "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const payload = body === undefined || contentType ? body : JSON.stringify(body);
  return fetch(path, { method, headers, credentials: "same-origin", body: payload });
}

async function decode(response) {
  const type = response.headers.get("Content-Type") ?? "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (response.ok) return data;
  const message = (data && data.error) || response.statusText || `HTTP ${response.status}`;
  throw new ApiError(response.status, message);
}

async function mentionsCsrf(response) {
  const text = await response.clone().text();
  return /csrf/i.test(text);
}

export async function request(method, path, body, contentType) {
  let response = await send(method, path, body, contentType);
  if (response.status === 403 && method !== "GET" && !session.devMode && (await mentionsCsrf(response))) {
    // The token was rotated (e.g. a login in another tab): refresh it and try once more.
    const fresh = await loadSession();
    if (fresh) response = await send(method, path, body, contentType);
  }
  if (response.status === 401 && !session.devMode && path !== "/api/login") {
    window.dispatchEvent(new CustomEvent("semon:unauthenticated"));
  }
  return decode(response);
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body ?? {});
// A file as the request's body (a File or Blob), with its content type.
export const postFile = (path, file, contentType) => request("POST", path, file, contentType || "application/octet-stream");

// Who the server thinks we are: the user, null when not logged in; throws when unreachable.
export async function loadSession() {
  const sentAt = Date.now();
  const response = await fetch("/api/me", { credentials: "same-origin",
    headers: { Accept: "application/json", [LANG_HEADER]: lang() } });
  learnClock(response, sentAt);
  if (response.status === 404) {
    session.devMode = true;
    session.user = { ...DEV_USER, username: devActor(), display_name: devActor() };
    session.csrf = null;
    return session.user;
  }
  if (response.status === 401) {
    session.user = null;
    return null;
  }
  const data = await decode(response);
  session.devMode = false;
  session.user = data.user;
  session.csrf = data.csrf_token;
  return session.user;
}

export async function login(username, password) {
  const data = await request("POST", "/api/login", { username, password });
  session.devMode = false;
  session.user = data.user;
  session.csrf = data.csrf_token;
  return data.user;
}

export async function logout() {
  try {
    await post("/api/logout");
  } finally {
    session.user = null;
    session.csrf = null;
  }
}

function devActor() {
  try {
    return globalThis.localStorage?.getItem(DEV_ACTOR_KEY) || DEV_USER.username;
  } catch {
    return DEV_USER.username;
  }
}

// Request bodies name the actor only in development mode; with sessions the server knows.
export function withActor(body) {
  return session.devMode ? { ...body, actor: session.user?.username ?? DEV_USER.username } : body;
}
