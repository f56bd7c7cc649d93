// The inspection agency's desk: its overdue equipment, what falls due in the next 60 days, its
// notices with their delivery state, and a form to record an inspection. The server scopes the
// lists to the logged-in agency; an admin may filter by agency code.
import { currentUser, devMode, get, post, registerToday, withActor } from "./api.js";
import { h, replace } from "./dom.js";
import { addDays, dateTime, day, daysUntil } from "./format.js";
import { keysOf, name, t } from "./i18n.js";

const DUE_WITHIN_DAYS = 60;
const LIMIT = 500;

export function mount(root) {
  const user = currentUser();
  const mayFilter = devMode() || user?.role === "admin";
  const overdue = h("div", { "data-testid": "overdue-list" });
  const due = h("div", { "data-testid": "due-list" });
  const notices = h("div", { "data-testid": "notice-list" });
  const agencyFilter = h("input", { placeholder: t("agency_code"), "aria-label": t("filter_agency"),
    "data-testid": "agency-filter" });
  const form = inspectionForm(user, () => refresh());

  async function refresh() {
    const today = registerToday();
    const until = addDays(today, DUE_WITHIN_DAYS);
    const agency = mayFilter && agencyFilter.value.trim() ? `&agency=${encodeURIComponent(agencyFilter.value.trim())}` : "";
    await Promise.all([
      fill(overdue, `/api/registry/equipment?overdue=true&limit=${LIMIT}${agency}`, (d) => equipmentTable(d.equipment, today, form)),
      fill(due, `/api/registry/equipment?status=in_use&overdue=false&due_before=${until}&limit=${LIMIT}${agency}`,
        (d) => equipmentTable(d.equipment, today, form)),
      fill(notices, `/api/registry/notices?limit=${LIMIT}`, (d) => noticeTable(d.notices)),
    ]);
  }

  replace(root,
    h("h2", {}, t("agency_title"), user?.agency ? ` · ${user.agency}` : ""),
    mayFilter ? h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); refresh(); } },
      agencyFilter, h("button", { type: "submit" }, t("refresh"))) : null,
    h("div", { class: "agency" },
      h("div", {},
        h("section", {}, h("h3", { class: "late" }, t("overdue_list")), h("div", { class: "scroll" }, overdue)),
        h("section", {}, h("h3", {}, t("due_list")), h("div", { class: "scroll" }, due))),
      h("section", { class: "card sticky" }, h("h3", {}, t("record_inspection")), form.el)),
    h("section", {}, h("h3", {}, t("notices")), h("div", { class: "scroll" }, notices)));
  refresh();
}

async function fill(el, path, render) {
  replace(el, h("p", { class: "muted" }, t("loading")));
  try {
    replace(el, render(await get(path)));
  } catch (err) {
    replace(el, h("p", { class: "error" }, t("error", { msg: err.message })));
  }
}

function equipmentTable(rows, today, form) {
  if (!rows.length) return h("p", { class: "muted" }, t("no_equipment"));
  const head = [t("registration_code"), t("category"), t("address"), t("district"), t("next_due"), "", ""];
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, head.map((label) => h("th", {}, label)))),
    h("tbody", {}, rows.map((e) => {
      const days = daysUntil(e.next_due, today);
      return h("tr", { "data-testid": "equipment-row", "data-code": e.registration_code, class: e.overdue ? "late" : "" },
        h("td", {}, h("code", {}, e.registration_code)),
        h("td", {}, name("category", e.category)),
        h("td", {}, e.address ?? ""),
        h("td", {}, name("district", e.district_code)),
        h("td", {}, day(e.next_due)),
        h("td", {}, days < 0 ? t("days_overdue", { n: -days }) : t("days_left", { n: days }),
          e.fit_for_use ? "" : h("span", { class: "badge warn" }, t("fit_for_use"), " ", t("no"))),
        h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => form.select(e) }, t("record_this"))));
    })));
}

function noticeTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, t("no_notices"));
  const head = [t("kind"), t("registration_code"), t("schedule"), t("due_date"), t("recipient"), t("channel"),
    t("status"), t("attempts"), t("created_at"), t("delivered_at")];
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, head.map((label) => h("th", {}, label)))),
    h("tbody", {}, rows.map((n) => h("tr", { "data-testid": "notice-row", "data-state": n.state },
      h("td", {}, name("notice_kind", n.kind)),
      h("td", {}, h("code", {}, n.registration_code)),
      h("td", {}, name("schedule", n.schedule)),
      h("td", {}, day(n.due_date)),
      h("td", {}, n.recipient_name ?? n.recipient),
      h("td", {}, name("channel", n.channel)),
      h("td", { title: n.last_error ?? "" }, h("span", { class: `badge notice-${n.state}` }, name("notice_state", n.state)),
        n.last_error ? h("div", { class: "error small" }, n.last_error) : null),
      h("td", {}, n.attempts),
      h("td", {}, dateTime(n.created_at)),
      h("td", {}, dateTime(n.delivered_at))))));
}

function inspectionForm(user, onRecorded) {
  const today = registerToday();
  const select = (field, group, values) => h("select", { name: field, "data-testid": `inspection-${field}` },
    values.map((v) => h("option", { value: v }, name(group, v))));
  const code = h("input", { name: "code", required: true, maxlength: 64, "data-testid": "inspection-code" });
  const schedule = select("schedule", "schedule", keysOf("schedule"));
  const inspectedOn = h("input", { type: "date", name: "inspected_on", required: true, value: today, max: today,
    "data-testid": "inspection-date" });
  // A page left open past the register's midnight: today becomes pickable.
  inspectedOn.addEventListener("focus", () => { inspectedOn.max = registerToday(); });
  const result = select("result", "result", keysOf("result"));
  const reportNo = h("input", { name: "report_no", maxlength: 64, "data-testid": "inspection-report" });
  const agency = h("input", { name: "agency", value: user?.agency ?? "", "data-testid": "inspection-agency" });
  const message = h("p", { role: "status", "data-testid": "inspection-message" });
  const label = (text, input) => h("label", {}, h("span", {}, text), input);
  const el = h("form", { class: "stacked", "data-testid": "inspection-form" },
    label(t("registration_code"), code), label(t("schedule"), schedule), label(t("inspected_on"), inspectedOn),
    label(t("result"), result), label(t("report_no"), reportNo), label(t("agency_code"), agency),
    h("button", { type: "submit", class: "primary" }, t("submit")), message);
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { schedule: schedule.value, inspected_on: inspectedOn.value, result: result.value };
    if (reportNo.value.trim()) body.report_no = reportNo.value.trim();
    if (agency.value.trim()) body.agency = agency.value.trim();
    message.className = "";
    try {
      const state = await post(`/api/registry/equipment/${encodeURIComponent(code.value.trim())}/inspections`,
        withActor(body));
      message.textContent = t("recorded", { date: day(state.next_due) || "–" });
      onRecorded();
    } catch (err) {
      message.className = "error";
      message.textContent = t("error", { msg: err.message });
    }
  });
  return {
    el,
    async select(equipment) {
      code.value = equipment.registration_code;
      if (equipment.agency?.code && !agency.value) agency.value = equipment.agency.code;
      message.textContent = "";
      code.scrollIntoView({ block: "center" });
      reportNo.focus();
      // Offer the unit's own schedules (a boiler has three), the soonest due first.
      try {
        const detail = await get(`/api/registry/equipment/${encodeURIComponent(equipment.registration_code)}`);
        const soonest = [...detail.schedules].sort((a, b) => String(a.next_due).localeCompare(String(b.next_due)));
        if (soonest.length) {
          replace(schedule, soonest.map((s) => h("option", { value: s.schedule }, name("schedule", s.schedule))));
        }
      } catch {
        // keep every schedule on offer; the server says which one fits
      }
    },
  };
}
