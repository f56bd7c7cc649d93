// The bureau's view of the city: over a reporting period (a calendar month or a range of the
// register's days), the period's counts from the monthly 96333 report, the rescue KPIs by
// district and maintenance unit and the inspection rate's trend; live, the alarm load and the
// equipment running with an expired inspection, split by reason; today's inspection rate by
// district, category and agency, each row drilling down to its overdue units.
//
// ?wall=1 (or the wall button) is the large-screen layout: big numbers, no scrolling, refreshed
// from the live stream.
import { get, registerToday } from "./api.js";
import { loadCard, showDeviceCard } from "./device-card.js";
import { coalesce, h, replace } from "./dom.js";
import { addDays, dateTime, day, daysUntil, minutes, percent } from "./format.js";
import { SEVERITY_RANK } from "./incident.js";
import { lang, name, t } from "./i18n.js";
import { followLive } from "./follow.js";
import { LiveStore } from "./live.js";
import { currentMonth, dayQuery, instantQuery, periodSearch, readPeriod } from "./period.js";

const EXPIRED = "inspection_expired_running";
const REASONS = ["stopped", "unfit", "overdue"]; // most serious first, as the rules name them
const KPI_REFRESH_MS = 60000;
const LIVE_REFRESH_MS = 15000; // at most this often after the live stream reports incident changes
const RATE_REFRESH_MS = 300000;
const DRILL_LIMIT = 500;
const BAR_FROM = 80; // rates live between 90 and 100: a bar from 0 would hide every difference

function barPercent(rate) {
  return Math.max(0, Math.min(100, ((rate - BAR_FROM) / (100 - BAR_FROM)) * 100));
}

export function mount(root, ctx) {
  const wall = new URLSearchParams(location.search).get("wall") === "1";
  document.body.classList.toggle("wall", wall);
  const today = registerToday();
  // A refused period in the address (malformed, impossible, out of years, reversed) is said so;
  // the page shows the current month meanwhile.
  const asked = readPeriod(location.search, currentMonth(today));
  let period = asked.period;
  const periodError = h("p", { class: "error period-error", "data-testid": "period-error", role: "alert", hidden: true });
  const refuse = (key) => {
    periodError.hidden = !key;
    periodError.textContent = key ? `${t("period_refused", { why: t(key) })} · ${t("period_showing",
      { since: period.since, last: addDays(period.until, -1) })}` : "";
  };
  refuse(asked.error);

  const store = new LiveStore();
  const counts = h("div", { "data-testid": "period-counts" });
  const load = h("div", { "data-testid": "alarm-load" });
  const kpiDistrict = h("div", { "data-testid": "kpi-district" });
  const kpiUnit = h("div", { "data-testid": "kpi-unit" });
  const rates = h("div", { "data-testid": "inspection-rate" });
  const drill = h("section", { class: "drill", "data-testid": "drill-down", hidden: true });
  const expired = h("div", { "data-testid": "expired-running" });
  const rateTitle = h("h2", {}, t("inspection_rate", { target: 96 }), " ", h("span", { class: "muted small" },
    t("rate_today", { date: today })));
  const trend = h("img", { class: "trend", alt: t("trend_period"), "data-testid": "rate-trend", hidden: true });
  const trendEmpty = h("p", { class: "muted", "data-testid": "trend-empty", hidden: true }, t("trend_no_data"));
  const periodLabel = h("span", { class: "period-label", "data-testid": "period-label" });
  const reportLink = h("a", { class: "button", "data-testid": "report-link" }, t("open_report"));
  const xlsxLink = h("a", { class: "button", "data-testid": "report-xlsx", download: "" }, t("download_xlsx"));
  const updated = h("span", { class: "muted small", "data-testid": "updated" });

  const picker = periodPicker(period, refuse, (next) => {
    period = next;
    history.replaceState(null, "", periodSearch(period, { wall: wall ? "1" : null }));
    refreshPeriod();
  });
  const wallButton = h("a", { class: "button", "data-testid": "wall-toggle",
    href: wall ? location.pathname + periodSearch(period) : location.pathname + periodSearch(period, { wall: "1" }),
    onclick: (e) => { // the period picked so far goes along
      e.preventDefault();
      location.assign(location.pathname + periodSearch(period, { wall: wall ? null : "1" }));
    } }, wall ? t("wall_off") : t("wall_on"));

  replace(root,
    h("div", { class: "period-bar" }, picker, periodLabel, h("span", { class: "spacer" }), reportLink, xlsxLink,
      wallButton, updated, periodError),
    h("section", { class: "b-counts" }, h("h2", {}, t("counts")), counts),
    h("section", { class: "b-load" }, h("h2", {}, t("alarm_load")), load),
    h("section", { class: "b-kpis" }, h("h2", {}, t("rescue_kpis_period")),
      h("h3", {}, t("kpi_by_district")), kpiDistrict,
      h("h3", { class: "b-unit" }, t("kpi_by_unit")), h("div", { class: "b-unit" }, kpiUnit)),
    h("section", { class: "b-rate" }, rateTitle, rates, drill),
    h("section", { class: "b-trend" }, h("h3", {}, t("trend_period")), trend, trendEmpty),
    h("section", { class: "b-expired" }, h("h2", {}, t("expired_running")), expired));

  const cards = new Map(); // device id → its register card (the expired list's reasons and columns)
  const renderLive = coalesce(() => {
    replace(load, loadView(store));
    renderExpired(expired, store, cards, renderLive);
  });
  let incidentsSeen = "";
  let liveTimer = null;
  store.onChange(() => {
    renderLive();
    // The period's figures move with the incidents: refreshed when the stream reports a change.
    const seen = [...store.incidents.values()].map((i) => `${i.id}:${i.state}`).join();
    if (seen === incidentsSeen) return;
    const first = incidentsSeen === "";
    incidentsSeen = seen;
    if (first || liveTimer) return;
    liveTimer = setTimeout(() => { liveTimer = null; refreshPeriod(); }, LIVE_REFRESH_MS);
  });
  followLive(store, root, ctx);

  function refreshPeriod() {
    const last = addDays(period.until, -1);
    periodLabel.textContent = `${period.since} – ${last}`;
    reportLink.href = `/bureau/report${periodSearch(period)}`;
    xlsxLink.href = `/api/reports/monthly?${dayQuery(period)}&format=xlsx&lang=${lang()}`;
    showTrend(trend, trendEmpty, period, today);
    updated.textContent = t("updated_at", { time: dateTime(new Date().toISOString()) });
    return Promise.all([
      fill(counts, `/api/reports/monthly?${dayQuery(period)}`, countsView),
      fill(kpiDistrict, `/api/kpis/rescue?by=district&${instantQuery(period)}`,
        (d) => kpiTable(d.rows, (k) => (k === null ? t("unknown") : name("district", k)))),
      fill(kpiUnit, `/api/kpis/rescue?by=maintenance_unit&${instantQuery(period)}`,
        (d) => kpiTable(d.rows, (k) => k ?? t("not_dispatched"))),
    ]);
  }
  const drillTo = (dimension, key, label) => showOverdue(drill, dimension, key, label, today);
  const rate = () => fill(rates, "/api/registry/rate", (d) => {
    replace(rateTitle, t("inspection_rate", { target: d.target }), " ",
      h("span", { class: "muted small" }, t("rate_today", { date: day(d.date) })));
    return rateView(d, drillTo);
  });
  refreshPeriod();
  rate();
  setInterval(refreshPeriod, KPI_REFRESH_MS);
  setInterval(rate, RATE_REFRESH_MS);
}

// The inspection rate's daily snapshots of the period, up to today (a period in the future has
// none): the chart, or "no data for this period" when none was kept.
async function showTrend(img, empty, period, today) {
  const end = period.until > addDays(today, 1) ? addDays(today, 1) : period.until;
  const query = `by=district&${dayQuery({ since: period.since, until: end })}`;
  let points = 0;
  if (period.since < end) {
    try {
      const data = await get(`/api/registry/rate/trend?${query}`);
      points = Object.values(data.series).reduce((n, days) => n + days.length, 0);
    } catch (err) {
      img.hidden = true;
      empty.hidden = false;
      empty.textContent = t("error", { msg: err.message });
      return;
    }
  }
  empty.textContent = t("trend_no_data");
  empty.hidden = points > 0;
  img.hidden = points === 0;
  if (points) img.src = `/api/registry/rate/trend.svg?${query}`;
}

function periodPicker(initial, refuse, onApply) {
  const kind = h("select", { "data-testid": "period-kind" },
    h("option", { value: "month" }, t("period_month")), h("option", { value: "range" }, t("period_range")));
  kind.value = initial.kind;
  const month = h("input", { type: "month", "data-testid": "period-month", value: initial.month ?? initial.since.slice(0, 7) });
  const from = h("input", { type: "date", "data-testid": "period-since", value: initial.since });
  const to = h("input", { type: "date", "data-testid": "period-last", value: addDays(initial.until, -1) });
  const range = h("span", { class: "range" }, t("period_from"), " ", from, " ", t("period_to"), " ", to);
  const show = () => {
    month.hidden = kind.value !== "month";
    range.hidden = kind.value !== "range";
  };
  kind.addEventListener("change", show);
  show();
  const form = h("form", { class: "period", "data-testid": "period-form", onsubmit: (e) => {
    e.preventDefault();
    const search = kind.value === "month" ? `?month=${month.value}` : `?since=${from.value}&last=${to.value}`;
    const next = readPeriod(search, null); // refused: said so, and the period shown stays
    refuse(next.error ?? (next.period ? null : "period_incomplete"));
    if (next.period) onApply(next.period);
  } }, h("label", {}, t("period"), " ", kind), " ", month, range, " ",
  h("button", { type: "submit", class: "primary", "data-testid": "period-apply" }, t("apply")));
  return form;
}

async function fill(el, path, render) {
  try {
    replace(el, render(await get(path)));
  } catch (err) {
    replace(el, h("p", { class: "error" }, t("error", { msg: err.message })));
  }
}

function tile(label, value, testid, extra = "") {
  return h("div", { class: `tile ${extra}`, "data-testid": testid }, h("span", {}, label), h("strong", {}, value));
}

function countsView(r) {
  const per100 = r.entrapments_per_100_lifts;
  return h("div", { class: "tiles big" },
    tile(t("calls"), r.calls, "count-calls"),
    tile(t("entrapments_n"), r.entrapments, "count-entrapments"),
    tile(t("persons_released"), r.persons_released, "count-released"),
    tile(t("arrival_30min_rate"), percent(r.arrival_30min_rate_pct), "count-arrival"),
    tile(t("response_rate"), percent(r.response_rate_pct), "count-response"),
    tile(t("entrapments_per_100_lifts"), per100 === null ? "–" : per100.toFixed(2), "count-per-100"));
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
    t("response_rate"), t("arrival_30min_rate"), t("late_acks"), t("late_arrivals"), t("escalations")];
  const pair = (mean, median) => `${minutes(mean)} / ${minutes(median)}`;
  return h("table", { class: "data kpi" },
    h("caption", {}, t("in_minutes")),
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-key": r.key ?? "" },
      h("td", {}, label(r.key)),
      h("td", { class: "num" }, r.incidents), h("td", { class: "num" }, r.false_alarms),
      h("td", { class: "num" }, pair(r.response_mean_s, r.response_median_s)),
      h("td", { class: "num" }, pair(r.arrival_mean_s, r.arrival_median_s)),
      h("td", { class: "num" }, pair(r.rescue_mean_s, r.rescue_median_s)),
      h("td", { class: "num" }, percent(r.response_rate_pct ?? null)),
      h("td", { class: "num" }, percent(r.arrival_30min_rate_pct ?? null)),
      h("td", { class: `num ${r.late_acks ? "late" : ""}` }, r.late_acks),
      h("td", { class: `num ${r.late_arrivals ? "late" : ""}` }, r.late_arrivals),
      h("td", { class: "num" }, r.escalations)))));
}

function rateView(data, drillTo) {
  const of = (dimension) => data.rates.filter((r) => r.dimension === dimension);
  const city = of("city")[0];
  const agencyLabel = (k) => (k === "none" ? t("no_agency") : of("agency").find((r) => r.key === k)?.name ?? k);
  return h("div", {},
    city ? h("p", { class: `headline ${city.meets_target ? "ok" : "late"}`, "data-testid": "city-rate" },
      `${t("city_rate")} ${percent(city.rate)}`) : null,
    h("p", { class: "muted small b-hint" }, t("drill_hint")),
    h("div", { class: "columns three" },
      h("section", {}, h("h3", {}, t("rate_by_district")),
        rateTable(of("district"), (k) => name("district", k), data.target, "rate-district",
          (k, label) => drillTo("district", k, label))),
      h("section", {}, h("h3", {}, t("rate_by_category")),
        rateTable(of("category"), (k) => name("category", k), data.target, "rate-category",
          (k, label) => drillTo("category", k, label))),
      h("section", { class: "b-agency" }, h("h3", {}, t("rate_by_agency")),
        rateTable(of("agency"), agencyLabel, data.target, "rate-agency",
          (k, label) => (k === "none" ? null : drillTo("agency", k, label))))));
}

function rateTable(rows, label, target, testid, onPick) {
  const head = [" ", t("in_use"), t("overdue"), t("rate")];
  return h("table", { class: "data rates", "data-testid": testid },
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-key": r.key, class: `${r.meets_target ? "" : "below"} ${r.overdue ? "pick" : ""}`,
      onclick: r.overdue ? () => onPick(r.key, label(r.key)) : null },
    h("td", {}, label(r.key)),
    h("td", { class: "num" }, r.in_use), h("td", { class: "num" }, r.overdue),
    h("td", { class: "rate-cell", title: r.meets_target ? t("meets_target") : t("below_target") },
      h("div", { class: "bar" },
        h("div", { class: "fill", style: `width:${barPercent(r.rate ?? 0)}%` }),
        h("div", { class: "target", style: `left:${barPercent(target)}%` })),
      h("span", { class: r.meets_target ? "ok" : "late" }, percent(r.rate)))))));
}

// The overdue units of one district, category or agency: the register's list, each linked to its card.
async function showOverdue(el, dimension, key, label, today) {
  el.hidden = false;
  replace(el, h("p", {}, t("loading")));
  try {
    const data = await get(`/api/registry/equipment?overdue=true&${dimension}=${encodeURIComponent(key)}&limit=${DRILL_LIMIT}`);
    const units = data.equipment;
    const head = [t("registration_code"), t("category"), t("address"), t("district"), t("owner"), t("agency"),
      t("next_due"), t("overdue")];
    replace(el,
      h("h3", { "data-testid": "drill-title" }, t("overdue_units", { what: label, n: units.length }),
        " ", h("button", { type: "button", class: "link", onclick: () => { el.hidden = true; } }, t("close"))),
      units.length >= DRILL_LIMIT ? h("p", { class: "muted" }, t("more_rows", { n: DRILL_LIMIT })) : null,
      h("div", { class: "scroll" }, h("table", { class: "data", "data-testid": "drill-table" },
        h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
        h("tbody", {}, units.map((u) => h("tr", { "data-testid": "drill-row", "data-code": u.registration_code },
          h("td", {}, h("a", { href: `#device-${u.registration_code}`, "data-testid": "drill-card",
            onclick: (e) => { e.preventDefault(); showDeviceCard(u.registration_code); } },
          h("code", {}, u.registration_code))),
          h("td", {}, name("category", u.category)), h("td", {}, u.address ?? ""),
          h("td", {}, name("district", u.district_code)), h("td", {}, u.owner?.name ?? ""),
          h("td", {}, u.agency?.name ?? ""), h("td", { class: "late" }, day(u.next_due)),
          h("td", { class: "num late" }, t("days_overdue", { n: -daysUntil(u.next_due, today) }))))))));
    el.scrollIntoView({ block: "nearest" });
  } catch (err) {
    replace(el, h("p", { class: "error" }, t("error", { msg: err.message })));
  }
}

// Why a unit runs with an expired inspection: what the alarm says (the register's reasons when it
// was raised), else what its card says now.
function reasonOf(alarm, card) {
  const said = alarm.details?.reasons?.[0];
  if (REASONS.includes(said)) return said;
  if (!card) return null;
  if (card.status === "stopped") return "stopped";
  if (card.fit_for_use === false) return "unfit";
  return "overdue";
}

let expiredFilter = "all";

function renderExpired(el, store, cards, rerender) {
  const alarms = [...store.alarms.values()].filter((a) => a.type === EXPIRED);
  const reasons = new Map(alarms.map((a) => [a.device_id, reasonOf(a, cards.get(a.device_id))]));
  const counts = Object.fromEntries(REASONS.map((r) => [r, 0]));
  for (const r of reasons.values()) if (r) counts[r] += 1;
  const tiles = h("div", { class: "tiles reasons", "data-testid": "expired-reasons" },
    [["all", alarms.length], ...REASONS.map((r) => [r, counts[r]])].map(([r, n]) =>
      h("button", { type: "button", class: `tile ${expiredFilter === r ? "picked" : ""}`, "data-testid": `expired-${r}`,
        onclick: () => { expiredFilter = r; rerender(); } },
      h("span", {}, r === "all" ? t("expired_all") : name("expired_reason", r)), h("strong", {}, n))));
  if (!alarms.length) return replace(el, tiles, h("p", { class: "muted" }, t("no_expired_running")));
  const shown = alarms.filter((a) => expiredFilter === "all" || reasons.get(a.device_id) === expiredFilter);
  const head = [t("registration_code"), t("expired_reason"), t("address"), t("district"), t("owner"), t("agency"),
    t("next_due"), t("raised_at")];
  const body = h("tbody");
  for (const alarm of shown) {
    const reason = reasons.get(alarm.device_id);
    const card = cards.get(alarm.device_id);
    body.append(h("tr", { "data-testid": "expired-row", "data-device-id": alarm.device_id, "data-reason": reason ?? "",
      onclick: () => showDeviceCard(alarm.device_id) },
    h("td", {}, h("code", {}, alarm.device_id)),
    h("td", { class: reason === "overdue" ? "" : "late" }, reason ? name("expired_reason", reason) : "…"),
    h("td", {}, card?.address ?? ""), h("td", {}, name("district", alarm.district_code)),
    h("td", {}, card?.owner?.name ?? ""), h("td", {}, card?.agency?.name ?? ""),
    h("td", { class: reason === "overdue" ? "late" : "" }, day(card?.next_due)), h("td", {}, dateTime(alarm.raised_at))));
    if (!cards.has(alarm.device_id)) {
      cards.set(alarm.device_id, null); // asked once; the answer re-renders
      loadCard(alarm.device_id).then((c) => { cards.set(alarm.device_id, c); rerender(); }, () => {});
    }
  }
  replace(el, tiles, h("table", { class: "data", "data-testid": "expired-table" },
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))), body));
}
