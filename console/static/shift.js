// The shift view (/board/shift): today's incidents, open and over; the history searched with
// filters (date range, state, district, source, cause class, text); the handover summary for the
// next shift (GET /api/incidents/handover?since=). A row opens the incident's record and timeline
// in the side panel. Today is the register's (its time zone), never the desk PC's.
//
// The open incidents come from the live stream; today's list is read again whenever an incident
// changes (at most every few seconds), so a closed incident moves from "open" to "over" by itself.
import { get, now, registerToday } from "./api.js";
import { coalesce, h, replace } from "./dom.js";
import { addDays, shortDateTime, timeZone } from "./format.js";
import { keysOf, name, t } from "./i18n.js";
import { CAUSE_CLASSES, tierOf } from "./incident.js";
import { followLive } from "./follow.js";
import { LiveStore } from "./live.js";
import { showIncident } from "./timeline.js";

const PAGE = 100;
const TODAY_LIMIT = 1000;
const RELOAD_GAP_MS = 3000;
const STATES = ["raised", "acknowledged", "dispatched", "responded", "on_site", "released", "closed", "false_alarm"];
const SOURCES = ["device", "phone"];
const SHIFT_CHANGES = ["08:00", "20:00"]; // the centre's two 12-hour shifts

// Where the running shift began: the latest shift change at or before the register's now.
export function shiftStart(today, nowTime) {
  const started = SHIFT_CHANGES.filter((at) => at <= nowTime);
  return started.length ? { day: today, time: started.at(-1) } : { day: addDays(today, -1), time: SHIFT_CHANGES.at(-1) };
}

// The offset of the register's zone from UTC at the instant `ms`, in milliseconds.
function zoneOffsetMs(ms) {
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: timeZone(), year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const p = {};
  for (const part of fmt.formatToParts(ms)) p[part.type] = Number(part.value);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

// The instant (ISO 8601, UTC) of the register's wall time `time` (HH:MM) on `day` (YYYY-MM-DD);
// by default the day's start.
export function dayStart(day, time = "00:00") {
  const wall = Date.parse(`${day}T${time}:00Z`);
  let at = wall - zoneOffsetMs(wall);
  at = wall - zoneOffsetMs(at); // across a change of offset, the offset at the answer counts
  return new Date(at).toISOString();
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, String(v));
  return q.toString();
}

const cell = (value, attrs = {}) => h("td", attrs, value ?? "");

function incidentRow(i) {
  return h("tr", { "data-testid": "shift-row", "data-incident-id": i.id, "data-state": i.state,
    "data-source": i.source ?? "device", onclick: () => showIncident(i.id) },
  cell(`#${i.id}`),
  cell(shortDateTime(i.raised_at)),
  cell(name("incident_source", i.source ?? "device")),
  cell([i.rescue_code, i.device_id].filter(Boolean).join(" · ")),
  cell(name("district", i.district_code)),
  cell(h("span", { class: `badge state-${i.state}` }, name("incident_state", i.state))),
  cell(name("tier", tierOf(i))),
  cell(i.rescuer ?? i.maintenance_unit),
  cell(i.cause_class ? name("cause_class", i.cause_class) : ""),
  cell(i.persons_released, { class: "num" }),
  cell(shortDateTime(i.closed_at)));
}

function incidentTable(testid, rows) {
  const heads = [t("id"), t("raised_at"), t("source"), t("device"), t("district"), t("incident_state"), t("tier"),
    t("rescuer"), t("rec_cause_class"), t("rec_persons_released"), t("closed_at")];
  return h("table", { class: "shift-table", "data-testid": testid },
    h("thead", {}, h("tr", {}, heads.map((label) => h("th", {}, label)))),
    h("tbody", {}, rows.length ? rows.map(incidentRow) : h("tr", {}, h("td", { colspan: heads.length, class: "muted" },
      t("no_incidents")))));
}

function select(testid, label, values, group) {
  return h("label", {}, h("span", {}, label), h("select", { name: testid, "data-testid": `filter-${testid}` },
    h("option", { value: "" }, t("all")), values.map((v) => h("option", { value: v }, group ? name(group, v) : v))));
}

// A compact list for the handover's narrow column: when, what, where it stands, who is on it.
function compactTable(testid, incidents) {
  return h("table", { class: "shift-table compact", "data-testid": testid },
    h("thead", {}, h("tr", {}, [t("id"), t("raised_at"), t("device"), t("incident_state"), t("tier"), t("rescuer")]
      .map((label) => h("th", {}, label)))),
    h("tbody", {}, incidents.length ? incidents.map((i) => h("tr", { "data-testid": "shift-row", "data-incident-id": i.id,
      "data-state": i.state, onclick: () => showIncident(i.id) },
    cell(`#${i.id}`), cell(shortDateTime(i.raised_at)), cell(i.rescue_code || i.device_id),
    cell(h("span", { class: `badge state-${i.state}` }, name("incident_state", i.state))), cell(name("tier", tierOf(i))),
    cell(i.rescuer ?? i.maintenance_unit))) : h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("no_incidents")))));
}

const tile = (key, value, late = false) => h("div", { class: `tile${late && value ? " sev-critical" : ""}`,
  "data-testid": `handover-${key}` }, h("span", {}, t(`handover_${key}`)), h("strong", {}, value));

// The handover (GET /api/incidents/handover): counts, what stays open, what closed, the escalations.
function renderHandover(data) {
  const open = data.open ?? [];
  const closed = data.closed ?? [];
  const escalations = data.escalations ?? [];
  return [
    h("div", { class: "tiles" }, tile("open", open.length), tile("closed", closed.length),
      tile("late_acks", data.late_acks ?? 0, true), tile("late_responses", data.late_responses ?? 0, true),
      tile("late_arrivals", data.late_arrivals ?? 0, true), tile("escalations", escalations.length, true)),
    h("p", { class: "muted", "data-testid": "handover-by-state" }, Object.entries(data.by_state ?? {})
      .map(([state, n]) => `${name("incident_state", state)} ${n}`).join(" · ")),
    h("h4", {}, t("handover_open_list")), compactTable("handover-open", open),
    h("h4", {}, t("handover_closed_list")), compactTable("handover-closed", closed),
    escalations.length ? [h("h4", {}, t("handover_escalations")), h("ul", { class: "handover-escalations" },
      escalations.map((e) => h("li", { onclick: () => showIncident(e.incident_id) },
        `${shortDateTime(e.at)} #${e.incident_id} ${e.device_id} ${name("tier", e.from_tier)} → ${name("tier", e.to_tier)}`,
        e.reason ? ` (${name("escalation_reason", e.reason)})` : "")))] : null,
  ];
}

export function mount(root, ctx) {
  const store = new LiveStore();
  const today = registerToday();
  const openBox = h("div", { "data-testid": "shift-open" });
  const overBox = h("div", { "data-testid": "shift-over" });
  const openTitle = h("h3", {});
  const overTitle = h("h3", {});
  const todayError = h("p", { class: "error", role: "status" });
  let todayIncidents = [];

  const at = now();
  const shift = shiftStart(today, new Date(at + zoneOffsetMs(at)).toISOString().slice(11, 16));
  const handoverSince = h("input", { type: "date", "data-testid": "handover-since", value: shift.day, max: today });
  const handoverTime = h("input", { type: "time", "data-testid": "handover-time", value: shift.time });
  const handoverBox = h("div", { "data-testid": "handover" });
  const handoverButton = h("button", { type: "button", "data-testid": "handover-refresh" }, t("refresh"));

  const form = h("form", { class: "filters shift-filters", "data-testid": "history-filters" },
    h("label", {}, h("span", {}, t("date_from")), h("input", { type: "date", name: "from", "data-testid": "filter-from",
      value: addDays(today, -6), max: today })),
    h("label", {}, h("span", {}, t("date_to")), h("input", { type: "date", name: "to", "data-testid": "filter-to",
      value: today, max: today })),
    select("state", t("incident_state"), STATES, "incident_state"),
    select("district", t("district"), keysOf("district"), "district"),
    select("source", t("source"), SOURCES, "incident_source"),
    select("cause_class", t("rec_cause_class"), CAUSE_CLASSES, "cause_class"),
    h("label", { class: "grow" }, h("span", {}, t("search_text")), h("input", { type: "search", name: "q",
      "data-testid": "filter-q", maxlength: 200 })),
    h("button", { type: "submit", class: "primary", "data-testid": "history-search" }, t("search")));
  const historyBox = h("div", { "data-testid": "history" });
  const historyCount = h("p", { class: "muted", "data-testid": "history-count" });
  const moreButton = h("button", { type: "button", "data-testid": "history-more", hidden: true }, t("more"));
  let history = { rows: [], params: null };

  replace(root, h("div", { class: "shift" },
    h("section", { class: "shift-today" }, h("h2", {}, t("shift_today"), " ", h("span", { class: "muted" }, today)),
      todayError, openTitle, openBox, overTitle, overBox),
    h("section", { class: "shift-handover card" }, h("h2", {}, t("handover")),
      h("div", { class: "filters" }, h("label", {}, h("span", {}, t("handover_since")), handoverSince, handoverTime),
        handoverButton),
      handoverBox),
    h("section", { class: "shift-history" }, h("h2", {}, t("shift_history")), form, historyCount, historyBox, moreButton)));

  function renderToday() {
    const byId = new Map(todayIncidents.map((i) => [i.id, i]));
    for (const i of store.incidents.values()) byId.set(i.id, i); // the stream's are newer
    const all = [...byId.values()].sort((a, b) => Date.parse(b.raised_at) - Date.parse(a.raised_at));
    const open = all.filter((i) => i.active !== false && !["closed", "false_alarm"].includes(i.state));
    const over = all.filter((i) => !open.includes(i));
    openTitle.textContent = t("shift_open", { n: open.length });
    overTitle.textContent = t("shift_closed", { n: over.length });
    replace(openBox, incidentTable("shift-open-table", open));
    replace(overBox, incidentTable("shift-over-table", over));
  }

  async function loadToday() {
    try {
      const data = await get(`/api/incidents?${query({ since: dayStart(registerToday()), limit: TODAY_LIMIT })}`);
      todayIncidents = data.incidents ?? [];
      todayError.textContent = "";
    } catch (err) {
      todayError.textContent = t("error", { msg: err.message });
    }
    renderToday();
  }

  async function loadHandover() {
    const since = dayStart(handoverSince.value || shift.day, handoverTime.value || shift.time);
    replace(handoverBox, t("loading"));
    try {
      replace(handoverBox, renderHandover(await get(`/api/incidents/handover?${query({ since })}`)));
    } catch (err) {
      replace(handoverBox, h("p", { class: "error" }, t("error", { msg: err.message })));
    }
  }

  function historyParams() {
    const f = new FormData(form);
    const from = f.get("from");
    const to = f.get("to");
    return { since: from ? dayStart(from) : "", until: to ? dayStart(addDays(to, 1)) : "", state: f.get("state"),
      district: f.get("district"), source: f.get("source"), cause_class: f.get("cause_class"), q: String(f.get("q")).trim() };
  }

  async function loadHistory(more = false) {
    const f = new FormData(form);
    if (!more && f.get("from") && f.get("to") && f.get("from") > f.get("to")) {
      // Reversed: say so rather than search something else.
      historyCount.textContent = t("date_range_reversed");
      historyCount.classList.add("error");
      return;
    }
    historyCount.classList.remove("error");
    const params = more ? history.params : historyParams();
    const offset = more ? history.rows.length : 0;
    historyCount.textContent = t("loading");
    let data;
    try {
      data = await get(`/api/incidents?${query({ ...params, limit: PAGE, offset })}`);
    } catch (err) {
      historyCount.textContent = t("error", { msg: err.message });
      return;
    }
    const rows = data.incidents ?? [];
    history = { rows: more ? [...history.rows, ...rows] : rows, params };
    historyCount.textContent = t("result_count", { n: data.total ?? history.rows.length });
    moreButton.hidden = rows.length < PAGE;
    replace(historyBox, incidentTable("history-table", history.rows));
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    loadHistory();
  });
  moreButton.addEventListener("click", () => loadHistory(true));
  handoverButton.addEventListener("click", loadHandover);
  handoverSince.addEventListener("change", loadHandover);
  handoverTime.addEventListener("change", loadHandover);

  // An incident changed: show the stream's version now, read today's list again soon after.
  let reloadAt = 0;
  let reloadTimer = null;
  let seen = null; // the incidents' versions last shown: the city's other alarms change nothing here
  store.onChange(coalesce(() => {
    const versions = [...store.incidents.values()].map((i) => `${i.id}@${i.updated_at}`).join(",");
    if (versions === seen) return;
    seen = versions;
    renderToday();
    if (reloadTimer) return;
    const wait = Math.max(0, reloadAt + RELOAD_GAP_MS - Date.now());
    reloadTimer = setTimeout(() => {
      reloadTimer = null;
      reloadAt = Date.now();
      loadToday();
    }, wait);
  }));
  followLive(store, root, ctx);
  loadToday();
  loadHandover();
  loadHistory();
}
