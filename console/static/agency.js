// The inspection agency's desk: its equipment, searched, filtered (district, category, status,
// due window), sorted, counted and paged, and exported whole as XLSX with the same filters; a
// file of inspection results uploaded from the page; its notices with their delivery state (and
// why they wait); a form to record one inspection with its conclusion as the TSG rules name it
// for the unit's category, the inspector and the report's file. The server scopes every list to
// the logged-in agency; an admin may filter by agency code.
import { currentUser, devMode, get, post, postFile, registerToday, withActor } from "./api.js";
import { h, replace } from "./dom.js";
import { addDays, dateTime, day, daysUntil } from "./format.js";
import { keysOf, lang, name, t } from "./i18n.js";

const PAGE_SIZES = [50, 100, 200, 500];
const WINDOWS = ["overdue", "due30", "due60", "due90", "all"];
const SORTS = ["next_due", "registration_code", "district", "category", "address", "status", "owner"];
const NOTICE_LIMIT = 100;

export function mount(root) {
  const user = currentUser();
  const mayFilter = devMode() || user?.role === "admin";
  const state = { offset: 0, asked: 0, noticeOffset: 0 };
  const list = h("div", { "data-testid": "equipment-list" });
  const count = h("span", { class: "muted", "data-testid": "list-count" });
  const notices = h("div", { "data-testid": "notice-list" });
  const noticeCount = h("span", { class: "muted", "data-testid": "notice-count" });
  const noticePrev = h("button", { type: "button", class: "secondary", "data-testid": "notice-prev",
    onclick: () => { state.noticeOffset = Math.max(0, state.noticeOffset - NOTICE_LIMIT); loadNotices(); } },
  t("prev_page"));
  const noticeNext = h("button", { type: "button", class: "secondary", "data-testid": "notice-next",
    onclick: () => { state.noticeOffset += NOTICE_LIMIT; loadNotices(); } }, t("next_page"));
  const title = h("span", { "data-testid": "agency-name" }, user?.agency ?? "");
  const form = inspectionForm(user, () => refresh());

  const select = (testid, label, options) => h("select", { "data-testid": testid, "aria-label": label },
    options.map(([value, text]) => h("option", { value }, text)));
  const q = h("input", { type: "search", placeholder: t("search_equipment"), "aria-label": t("search_equipment"),
    "data-testid": "filter-q", maxlength: 100 });
  const district = select("filter-district", t("district"),
    [["", t("all_districts")], ...keysOf("district").map((d) => [d, name("district", d)])]);
  const category = select("filter-category", t("category"),
    [["", t("all_categories")], ...keysOf("category").map((c) => [c, name("category", c)])]);
  const status = select("filter-status", t("status"),
    [["", t("all_statuses")], ...keysOf("equipment_status").map((s) => [s, name("equipment_status", s)])]);
  const dueWindow = select("filter-window", t("due_window"), WINDOWS.map((w) => [w, t(`window_${w}`)]));
  const sort = select("filter-sort", t("sort_by"), SORTS.map((s) => [s, t(`sort_${s}`)]));
  const desc = h("input", { type: "checkbox", "data-testid": "filter-desc" });
  const size = select("filter-size", t("page_size"), PAGE_SIZES.map((n) => [String(n), t("per_page", { n })]));
  size.value = "100";
  const agencyFilter = h("input", { placeholder: t("agency_code"), "aria-label": t("filter_agency"),
    "data-testid": "agency-filter" });
  const prev = h("button", { type: "button", class: "secondary", "data-testid": "page-prev",
    onclick: () => { state.offset = Math.max(0, state.offset - Number(size.value)); loadList(); } }, t("prev_page"));
  const next = h("button", { type: "button", class: "secondary", "data-testid": "page-next",
    onclick: () => { state.offset += Number(size.value); loadList(); } }, t("next_page"));
  const exportLink = h("a", { class: "button", "data-testid": "export-xlsx", download: "" }, t("export_xlsx"));

  // The filters as query parameters, the same for the list and its export.
  function filters() {
    const today = registerToday();
    const params = new URLSearchParams();
    if (q.value.trim()) params.set("q", q.value.trim());
    for (const [key, el] of [["district", district], ["category", category], ["status", status]]) {
      if (el.value) params.set(key, el.value);
    }
    if (dueWindow.value === "overdue") params.set("overdue", "true");
    else if (dueWindow.value !== "all") {
      params.set("overdue", "false");
      // Within N days: due on day N too (due_until is inclusive).
      params.set("due_until", addDays(today, Number(dueWindow.value.slice(3))));
      if (!status.value) params.set("status", "in_use");
    }
    params.set("sort", sort.value);
    if (desc.checked) params.set("desc", "true");
    if (mayFilter && agencyFilter.value.trim()) params.set("agency", agencyFilter.value.trim());
    return params;
  }

  async function loadList() {
    const params = filters();
    const query = params.toString();
    exportLink.href = `/api/registry/export?${query}&format=xlsx&lang=${encodeURIComponent(lang())}`;
    params.set("limit", size.value);
    params.set("offset", String(state.offset));
    const today = registerToday();
    const asked = ++state.asked; // filters changed quickly: only the latest answer is shown
    replace(list, h("p", { class: "muted" }, t("loading")));
    try {
      const data = await get(`/api/registry/equipment?${params}`);
      if (asked !== state.asked) return;
      list.dataset.query = query; // what the rows shown were asked with
      count.textContent = pageCount("list_count", data, data.equipment.length);
      count.dataset.total = String(data.total);
      prev.disabled = data.offset === 0;
      next.disabled = data.offset + data.equipment.length >= data.total;
      replace(list, equipmentTable(data.equipment, today, form));
    } catch (err) {
      if (asked !== state.asked) return;
      count.textContent = "";
      replace(list, h("p", { class: "error" }, t("error", { msg: err.message })));
    }
  }

  // The notices, a page at a time, counted: never cut silently.
  async function loadNotices() {
    await fill(notices, `/api/registry/notices?limit=${NOTICE_LIMIT}&offset=${state.noticeOffset}`, (d) => {
      noticeCount.textContent = pageCount("notice_count", d, d.notices.length);
      noticeCount.dataset.total = String(d.total);
      noticePrev.disabled = d.offset === 0;
      noticeNext.disabled = d.offset + d.notices.length >= d.total;
      return noticeTable(d.notices);
    });
  }

  async function refresh() {
    await Promise.all([loadList(), loadNotices()]);
  }

  const research = () => { state.offset = 0; loadList(); };
  for (const el of [district, category, status, dueWindow, sort, desc, size]) el.addEventListener("change", research);
  const filterForm = h("form", { class: "filters", "data-testid": "equipment-filters",
    onsubmit: (e) => { e.preventDefault(); research(); } },
  q, district, category, status, dueWindow, sort, h("label", { class: "inline" }, desc, t("descending")), size,
  mayFilter ? agencyFilter : null, h("button", { type: "submit" }, t("search")));

  replace(root,
    h("h2", {}, t("agency_title"), user?.agency ? [" · ", title] : ""),
    h("div", { class: "agency" },
      h("div", {},
        h("section", {},
          h("h3", {}, t("equipment_list")), filterForm,
          h("div", { class: "list-bar" }, count, h("span", { class: "grow" }), prev, next, exportLink),
          h("div", { class: "scroll tall" }, list)),
        h("section", {}, h("h3", {}, t("upload_results")), resultsUpload(() => refresh()))),
      h("section", { class: "card sticky" }, h("h3", {}, t("record_inspection")), form.el)),
    h("section", {}, h("h3", {}, t("notices")),
      h("div", { class: "list-bar" }, noticeCount, h("span", { class: "grow" }), noticePrev, noticeNext),
      h("div", { class: "scroll" }, notices)));
  if (user?.agency) {
    get(`/api/registry/agencies/${encodeURIComponent(user.agency)}`)
      .then((agency) => { title.textContent = agency.name; title.title = agency.code; })
      .catch(() => {}); // the code stays as the heading
  }
  refresh();
}

// "11–20 of 35", or "nothing found" for an empty answer (never "0–0 of 0").
function pageCount(key, data, shown) {
  if (!data.total) return t("list_empty");
  return t(key, { from: data.offset + 1, to: data.offset + shown, total: data.total });
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
  const head = [t("registration_code"), t("category"), t("address"), t("district"), t("next_due"), "", t("owner"), ""];
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, head.map((label) => h("th", {}, label)))),
    h("tbody", {}, rows.map((e) => {
      const days = e.next_due ? daysUntil(e.next_due, today) : null;
      const standing = days === null ? "" : days < 0 ? t("days_overdue", { n: -days }) : t("days_left", { n: days });
      return h("tr", { "data-testid": "equipment-row", "data-code": e.registration_code, class: e.overdue ? "late" : "" },
        h("td", {}, h("code", {}, e.registration_code)),
        h("td", {}, name("category", e.category)),
        h("td", {}, e.address ?? ""),
        h("td", {}, name("district", e.district_code)),
        h("td", {}, day(e.next_due)),
        h("td", {}, e.status === "in_use" ? standing : name("equipment_status", e.status),
          e.fit_for_use ? "" : h("span", { class: "badge warn" }, t("fit_for_use"), " ", t("no"))),
        h("td", {}, e.owner?.name ?? ""),
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
      h("td", { title: n.last_error ?? n.waiting ?? "" },
        h("span", { class: `badge notice-${n.state}` }, name("notice_state", n.state)),
        n.waiting ? h("div", { class: "muted small", "data-testid": "notice-waiting" }, n.waiting) : null,
        n.last_error ? h("div", { class: "error small" }, n.last_error) : null),
      h("td", {}, n.attempts),
      h("td", {}, dateTime(n.created_at)),
      h("td", {}, dateTime(n.delivered_at))))));
}

// A file of inspection results (CSV in any office encoding, or XLSX): every good row stored,
// every bad one listed by line and reason.
function resultsUpload(onStored) {
  const file = h("input", { type: "file", accept: ".csv,.txt,.xlsx", "data-testid": "upload-file",
    "aria-label": t("upload_file") });
  const outcome = h("div", { "data-testid": "upload-result", role: "status" });
  const button = h("button", { type: "submit", class: "primary", "data-testid": "upload-submit" }, t("upload"));
  const el = h("form", { class: "filters upload", "data-testid": "upload-form" }, file, button,
    h("a", { href: "#", "data-testid": "upload-template", onclick: (e) => { e.preventDefault(); template(); } },
      t("upload_template")));
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    const xlsx = /\.xlsx$/i.test(chosen.name);
    button.disabled = true;
    replace(outcome, h("p", { class: "muted" }, t("loading")));
    try {
      const report = await postFile(`/api/registry/inspections/import?format=${xlsx ? "xlsx" : "csv"}`, chosen,
        xlsx ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv");
      replace(outcome, uploadReport(report));
      if (report.stored) onStored();
    } catch (err) {
      replace(outcome, h("p", { class: "error" }, t("error", { msg: err.message })));
    } finally {
      button.disabled = false;
    }
  });
  return h("div", { class: "card" }, h("p", { class: "muted small" }, t("upload_hint")), el, outcome);
}

function uploadReport(report) {
  const problems = [...report.problems, ...report.warnings];
  return h("div", {},
    h("p", { class: report.rejected ? "warn" : "ok", "data-testid": "upload-summary" },
      report.replaced ? t("upload_done_replaced", report) : t("upload_done", report)),
    problems.length ? h("table", { class: "data compact" },
      h("thead", {}, h("tr", {}, h("th", {}, t("line")), h("th", {}, t("reason")))),
      h("tbody", {}, problems.map((p) => h("tr", { "data-testid": "upload-problem", "data-line": p.line ?? "" },
        h("td", {}, p.line ?? t("whole_file")), h("td", {}, p.reason))))) : null);
}

// A CSV with the results file's Chinese headings, for the agency to fill in.
function template() {
  const header = "设备代码,检验项目,检验日期,检验结论,检验性质,报告编号,检验员,下次检验日期,安全状况等级\r\n";
  const blob = new Blob(["\ufeff" + header], { type: "text/csv;charset=utf-8" });
  const link = h("a", { href: URL.createObjectURL(blob), download: "inspection-results.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

let conclusionTable = null;
async function conclusionsOf(category) {
  conclusionTable ??= get("/api/registry/conclusions").then((d) =>
    Object.fromEntries(d.categories.map((c) => [c.category, c])));
  return (await conclusionTable)[category] ?? null;
}

const REPORT_TYPES = { pdf: "application/pdf", png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg" };

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
  // Until the unit's category is known: the plain results; then its conclusions as TSG names them.
  const conclusion = h("select", { name: "conclusion", "data-testid": "inspection-conclusion" });
  const kind = h("select", { name: "kind", "data-testid": "inspection-kind" });
  const grade = h("select", { name: "safety_grade", "data-testid": "inspection-grade" },
    h("option", { value: "" }, "–"), [1, 2, 3, 4, 5].map((g) => h("option", { value: String(g) }, String(g))));
  const gradeLabel = h("label", { hidden: true });
  const source = h("p", { class: "muted small", "data-testid": "inspection-source" });
  const inspector = h("input", { name: "inspector", maxlength: 64, "data-testid": "inspection-inspector" });
  const reportNo = h("input", { name: "report_no", maxlength: 64, "data-testid": "inspection-report" });
  const reportFile = h("input", { type: "file", accept: ".pdf,.png,.jpg,.jpeg", "data-testid": "inspection-file" });
  const agency = h("input", { name: "agency", value: user?.agency ?? "", "data-testid": "inspection-agency" });
  const message = h("p", { role: "status", "data-testid": "inspection-message" });
  const history = h("div", { "data-testid": "inspection-history" });
  const label = (text, input) => h("label", {}, h("span", {}, text), input);
  replace(gradeLabel, h("span", {}, t("safety_grade")), grade);

  function offerResults() {
    replace(conclusion, keysOf("result").map((r) => h("option", { value: `result:${r}` }, name("result", r))));
    replace(kind, h("option", { value: "regular" }, name("inspection_kind", "regular")));
    gradeLabel.hidden = true;
    source.textContent = "";
  }
  async function offerConclusions(category) {
    const rules = await conclusionsOf(category).catch(() => null);
    if (!rules) return offerResults();
    const zh = lang() !== "en";
    replace(conclusion, rules.conclusions.map((c) => h("option", { value: `conclusion:${c.name}` },
      zh ? c.name : `${c.name} (${c.en})`)));
    replace(kind, rules.kinds.map((k) => h("option", { value: k }, name("inspection_kind", k))));
    gradeLabel.hidden = !rules.conclusions.some((c) => c.grades.length);
    grade.value = "";
    source.textContent = rules.source;
  }
  offerResults();

  const el = h("form", { class: "stacked", "data-testid": "inspection-form" },
    label(t("registration_code"), code), label(t("schedule"), schedule), label(t("inspected_on"), inspectedOn),
    label(t("conclusion"), conclusion), label(t("inspection_kind"), kind), gradeLabel, source,
    label(t("inspector"), inspector), label(t("report_no"), reportNo), label(t("report_file"), reportFile),
    label(t("agency_code"), agency),
    h("button", { type: "submit", class: "primary" }, t("submit")), message, history);
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const [how, value] = conclusion.value.split(/:(.*)/s);
    const body = { schedule: schedule.value, inspected_on: inspectedOn.value, kind: kind.value };
    if (how === "result") body.result = value;
    else body.conclusion = value;
    if (!gradeLabel.hidden && grade.value) {
      body.safety_grade = Number(grade.value);
      delete body.conclusion; // the grade gives it
    }
    if (inspector.value.trim()) body.inspector = inspector.value.trim();
    if (reportNo.value.trim()) body.report_no = reportNo.value.trim();
    if (agency.value.trim()) body.agency = agency.value.trim();
    message.className = "";
    delete message.dataset.reportRefused;
    try {
      const unit = code.value.trim();
      const state = await post(`/api/registry/equipment/${encodeURIComponent(unit)}/inspections`, withActor(body));
      let text = t(state.replaced ? "recorded_replaced" : "recorded", { date: day(state.next_due) || "–" });
      for (const warning of state.warnings ?? []) text += ` · ${warning}`;
      const chosen = reportFile.files?.[0];
      if (chosen) {
        const type = REPORT_TYPES[chosen.name.split(".").pop().toLowerCase()] ?? chosen.type;
        try {
          await postFile(`/api/registry/inspections/${state.inspection_id}/report?filename=${encodeURIComponent(chosen.name)}`,
            chosen, type);
          text += ` · ${t("report_uploaded")}`;
          reportFile.value = "";
        } catch (err) {
          // The inspection stands; only its file was refused: say so plainly, and how to retry.
          message.className = "error";
          message.dataset.reportRefused = "true";
          text = `${text} · ${t("report_refused", { msg: err.message })}`;
        }
      }
      message.textContent = text;
      onRecorded();
      showHistory(unit);
    } catch (err) {
      message.className = "error";
      message.textContent = t("error", { msg: err.message });
    }
  });

  async function showHistory(unit) {
    try {
      const detail = await get(`/api/registry/equipment/${encodeURIComponent(unit)}`);
      replace(history, detail.inspections.length ? h("table", { class: "data compact" },
        h("tbody", {}, detail.inspections.slice(0, 5).map((i) => h("tr", { "data-testid": "history-row" },
          h("td", {}, day(i.inspected_on)),
          h("td", {}, i.conclusion ?? name("result", i.result), i.kind === "reinspection" ? ` (${name("inspection_kind", i.kind)})` : ""),
          h("td", {}, i.inspector ?? ""),
          h("td", {}, i.report ? h("a", { href: `/api/registry/inspections/${i.id}/report`, "data-testid": "report-link" },
            t("report_file")) : ""))))) : "");
    } catch {
      replace(history); // the unit is not the agency's or not known: the form says why on submit
    }
  }

  return {
    el,
    async select(equipment) {
      code.value = equipment.registration_code;
      if (equipment.agency?.code && !agency.value) agency.value = equipment.agency.code;
      message.textContent = "";
      code.scrollIntoView({ block: "center" });
      reportNo.focus();
      await offerConclusions(equipment.category);
      showHistory(equipment.registration_code);
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
