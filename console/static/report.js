// The monthly 96333 report as a printable page (/bureau/report?month=2026-10, or ?since&last):
// the same figures as the XLSX (GET /api/reports/monthly), laid out for A4 (styles.css, @media
// print). Definitions: docs/reports.md.
import { get, registerToday } from "./api.js";
import { h, replace } from "./dom.js";
import { addDays, percent } from "./format.js";
import { lang, name, t } from "./i18n.js";
import { currentMonth, dayQuery, periodSearch, readPeriod } from "./period.js";

const table = (testid, head, rows) => h("table", { class: "data report-table", "data-testid": testid },
  h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
  h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { class: i ? "num" : "" }, c))))));
// Numbers right, names left: a ranked row's name is its second cell.
const rankedTable = (testid, head, rows) => {
  const el = table(testid, head, rows);
  for (const td of el.querySelectorAll("tbody td:nth-child(2)")) td.className = "name";
  return el;
};

const split = (testid, title, group, counts) => h("section", { class: "report-split" }, h("h3", {}, title),
  table(testid, [title, t("count")], Object.entries(counts).map(([k, n]) => [name(group, k), n])));

const ranked = (testid, title, rows) => h("section", { class: "report-top" }, h("h3", {}, title),
  rows.length ? rankedTable(testid, [t("rank"), t("name_col"), t("entrapments_n"), t("lifts"), t("entrapments_per_100_lifts")],
    rows.map((r, i) => [i + 1, r.name, r.entrapments, r.lifts, r.per_100_lifts.toFixed(2)]))
    : h("p", { class: "muted" }, t("none")));

export function render(r) {
  const per = (v, digits) => (v === null ? "–" : v.toFixed(digits));
  const figures = [
    [t("report_incidents"), r.incidents], [t("calls"), r.calls], [t("false_alarms"), r.false_alarms],
    [t("entrapments_n"), r.entrapments], [t("persons_released"), r.persons_released], [t("injuries"), r.injuries],
    [t("dispatched_n"), r.dispatched], [t("arrival_30min_rate"), percent(r.arrival_30min_rate_pct)],
    [t("response_rate"), percent(r.response_rate_pct)], [t("lifts_in_use"), r.lifts],
    [t("entrapments_per_lift"), per(r.entrapments_per_lift, 4)],
    [t("entrapments_per_100_lifts"), per(r.entrapments_per_100_lifts, 2)],
  ];
  return h("article", { class: "report", "data-testid": "report" },
    h("h1", {}, t("report_title")),
    h("p", { class: "report-period", "data-testid": "report-period" },
      t("report_period", { since: r.since, last: addDays(r.until, -1) }), ` · ${r.timezone}`),
    h("div", { class: "report-grid" },
      h("section", { class: "report-figures" }, h("h3", {}, t("figure")),
        table("report-figures", [t("figure"), t("value")], figures)),
      split("report-tiers", t("tiers"), "report_tier", r.tiers),
      split("report-causes", t("causes"), "cause_class", r.causes),
      split("report-places", t("places"), "place", r.places),
      h("section", { class: "report-split" }, h("h3", {}, t("slots", { zone: r.timezone })),
        table("report-slots", [t("slots", { zone: r.timezone }), t("count")], r.slots.map((s) => [s.slot, s.entrapments])))),
    ranked("report-top-units", t("top_units"), r.top_units),
    ranked("report-top-owners", t("top_owners"), r.top_owners));
}

export async function mount(root) {
  const { period, error } = readPeriod(location.search, currentMonth(registerToday()));
  const xlsx = `/api/reports/monthly?${dayQuery(period)}&format=xlsx&lang=${lang()}`;
  const tools = h("div", { class: "report-tools no-print" },
    h("a", { class: "button", href: `/bureau${periodSearch(period)}` }, "← ", t("nav_bureau")),
    h("button", { type: "button", class: "primary", "data-testid": "report-print", onclick: () => window.print() }, t("print")),
    h("a", { class: "button", href: xlsx, download: "", "data-testid": "report-xlsx" }, t("download_xlsx")));
  if (error) { // a refused period is said so, never replaced by another month's report
    return replace(root, tools, h("p", { class: "error", "data-testid": "period-error", role: "alert" },
      t("period_refused", { why: t(error) })));
  }
  replace(root, tools, h("p", {}, t("loading")));
  try {
    replace(root, tools, render(await get(`/api/reports/monthly?${dayQuery(period)}`)));
  } catch (err) {
    replace(root, tools, h("p", { class: "error" }, t("error", { msg: err.message })));
  }
}
