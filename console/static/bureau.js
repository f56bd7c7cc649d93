// The bureau's view of the city: the live alarm load, rescue KPIs by district and maintenance
// unit, the inspection rate against the target with its trend, and equipment running with an
// expired inspection.
import { get } from "./api.js";
import { loadCard, showDeviceCard } from "./device-card.js";
import { coalesce, h, replace } from "./dom.js";
import { dateTime, day, minutes, percent } from "./format.js";
import { SEVERITY_RANK } from "./incident.js";
import { name, t } from "./i18n.js";
import { followLive } from "./follow.js";
import { LiveStore } from "./live.js";
import "./inspection-alarms.js"; // the register's alarms, a list of their own

const EXPIRED = "inspection_expired_running";
const KPI_REFRESH_MS = 60000;
const RATE_REFRESH_MS = 300000;
const BAR_FROM = 80; // rates live between 90 and 100: a bar from 0 would hide every difference

function barPercent(rate) {
  return Math.max(0, Math.min(100, ((rate - BAR_FROM) / (100 - BAR_FROM)) * 100));
}

export function mount(root, ctx) {
  const store = new LiveStore();
  const load = h("div", { "data-testid": "alarm-load" });
  const kpiDistrict = h("div", { "data-testid": "kpi-district" });
  const kpiUnit = h("div", { "data-testid": "kpi-unit" });
  const rates = h("div", { "data-testid": "inspection-rate" });
  const expired = h("div", { "data-testid": "expired-running" });
  const rateTitle = h("h2", {}, t("inspection_rate", { target: 96 }));
  replace(root,
    h("h2", {}, t("alarm_load")), load,
    h("h2", {}, t("rescue_kpis")),
    h("div", { class: "columns" },
      h("section", {}, h("h3", {}, t("kpi_by_district")), kpiDistrict),
      h("section", {}, h("h3", {}, t("kpi_by_unit")), kpiUnit)),
    rateTitle, rates,
    h("h3", {}, t("trend")),
    h("img", { class: "trend", alt: t("trend"), "data-testid": "rate-trend",
      src: "/api/registry/rate/trend.svg?by=district&days=90" }),
    h("h2", {}, t("expired_running")), expired);

  store.onChange(coalesce(() => {
    replace(load, loadView(store));
    renderExpired(expired, store);
  }));
  followLive(store, root, ctx);

  const kpis = () => Promise.all([
    fill(kpiDistrict, "/api/kpis/rescue?by=district",
      (d) => kpiTable(d.rows, (k) => (k === null ? t("unknown") : name("district", k)))),
    fill(kpiUnit, "/api/kpis/rescue?by=maintenance_unit",
      (d) => kpiTable(d.rows, (k) => k ?? t("not_dispatched"))),
  ]);
  const rate = () => fill(rates, "/api/registry/rate", (d) => {
    rateTitle.textContent = t("inspection_rate", { target: d.target });
    return rateView(d);
  });
  kpis();
  rate();
  setInterval(kpis, KPI_REFRESH_MS);
  setInterval(rate, RATE_REFRESH_MS);
}

async function fill(el, path, render) {
  try {
    replace(el, render(await get(path)));
  } catch (err) {
    replace(el, h("p", { class: "error" }, t("error", { msg: err.message })));
  }
}

function countBy(alarms, key) {
  const counts = new Map();
  for (const a of alarms) counts.set(a[key], (counts.get(a[key]) ?? 0) + 1);
  return counts;
}

function loadView(store) {
  const alarms = [...store.alarms.values()];
  const bySeverity = countBy(alarms, "severity");
  const byType = [...countBy(alarms, "type")].sort((a, b) => b[1] - a[1]);
  return h("div", { class: "load" },
    h("div", { class: "tiles" },
      h("div", { class: "tile", "data-testid": "load-total" }, h("span", {}, t("total_open")), h("strong", {}, alarms.length)),
      Object.keys(SEVERITY_RANK).map((s) => h("div", { class: `tile sev-${s}`, "data-testid": `load-${s}` },
        h("span", {}, name("severity", s)), h("strong", {}, bySeverity.get(s) ?? 0)))),
    byType.length ? h("table", { class: "data compact", "data-testid": "load-by-type" },
      h("tbody", {}, byType.map(([type, n]) => h("tr", { "data-type": type },
        h("td", {}, name("alarm_type", type)), h("td", { class: "num" }, n))))) : null);
}

function kpiTable(rows, label) {
  if (!rows.length) return h("p", { class: "muted" }, t("none"));
  const head = [" ", t("incidents"), t("false_alarms"), `${t("response")} ${t("mean")}/${t("median")}`,
    `${t("arrival")} ${t("mean")}/${t("median")}`, `${t("rescue")} ${t("mean")}/${t("median")}`,
    t("late_acks"), t("late_arrivals"), t("escalations")];
  const pair = (mean, median) => `${minutes(mean)} / ${minutes(median)}`;
  return h("table", { class: "data" },
    h("caption", {}, t("in_minutes")),
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-key": r.key ?? "" },
      h("td", {}, label(r.key)),
      h("td", { class: "num" }, r.incidents), h("td", { class: "num" }, r.false_alarms),
      h("td", { class: "num" }, pair(r.response_mean_s, r.response_median_s)),
      h("td", { class: "num" }, pair(r.arrival_mean_s, r.arrival_median_s)),
      h("td", { class: "num" }, pair(r.rescue_mean_s, r.rescue_median_s)),
      h("td", { class: `num ${r.late_acks ? "late" : ""}` }, r.late_acks),
      h("td", { class: `num ${r.late_arrivals ? "late" : ""}` }, r.late_arrivals),
      h("td", { class: "num" }, r.escalations)))));
}

function rateView(data) {
  const of = (dimension) => data.rates.filter((r) => r.dimension === dimension);
  const city = of("city")[0];
  return h("div", {},
    city ? h("p", { class: `headline ${city.meets_target ? "ok" : "late"}`, "data-testid": "city-rate" },
      `${t("city_rate")} ${percent(city.rate)}`) : null,
    h("div", { class: "columns" },
      h("section", {}, h("h3", {}, t("rate_by_district")),
        rateTable(of("district"), (k) => name("district", k), data.target, "rate-district")),
      h("section", {}, h("h3", {}, t("rate_by_category")),
        rateTable(of("category"), (k) => name("category", k), data.target, "rate-category"))));
}

function rateTable(rows, label, target, testid) {
  const head = [" ", t("in_use"), t("overdue"), t("rate")];
  return h("table", { class: "data", "data-testid": testid },
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-key": r.key, class: r.meets_target ? "" : "below" },
      h("td", {}, label(r.key)),
      h("td", { class: "num" }, r.in_use), h("td", { class: "num" }, r.overdue),
      h("td", { class: "rate-cell", title: r.meets_target ? t("meets_target") : t("below_target") },
        h("div", { class: "bar" },
          h("div", { class: "fill", style: `width:${barPercent(r.rate ?? 0)}%` }),
          h("div", { class: "target", style: `left:${barPercent(target)}%` })),
        h("span", { class: r.meets_target ? "ok" : "late" }, percent(r.rate)))))));
}

function renderExpired(el, store) {
  const alarms = [...store.alarms.values()].filter((a) => a.type === EXPIRED);
  if (!alarms.length) return replace(el, h("p", { class: "muted" }, t("no_expired_running")));
  const head = [t("registration_code"), t("address"), t("district"), t("owner"), t("agency"), t("next_due"),
    t("raised_at")];
  const body = h("tbody");
  for (const alarm of alarms) {
    const cells = { address: h("td"), owner: h("td"), agency: h("td"), due: h("td", { class: "late" }) };
    body.append(h("tr", { "data-testid": "expired-row", "data-device-id": alarm.device_id,
      onclick: () => showDeviceCard(alarm.device_id) },
    h("td", {}, h("code", {}, alarm.device_id)), cells.address, h("td", {}, name("district", alarm.district_code)),
    cells.owner, cells.agency, cells.due, h("td", {}, dateTime(alarm.raised_at))));
    loadCard(alarm.device_id).then((card) => {
      cells.address.textContent = card.address ?? "";
      cells.owner.textContent = card.owner?.name ?? "";
      cells.agency.textContent = card.agency?.name ?? "";
      cells.due.textContent = day(card.next_due);
    }, () => {});
  }
  replace(el, h("table", { class: "data" }, h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))), body));
}
