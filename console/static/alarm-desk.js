// One desk's alarm list (the board's 96333 line, the boiler desk, the IoT view): filters (type,
// district, state, text), the open alarms by severity with those that endanger people
// highlighted, and for an operator Acknowledge / Shelve (minutes and a reason) / Unshelve. A shelved
// alarm leaves the list for the "shelved" section and comes back by itself when its time ends.
// Entrapments are never listed here: they have their cards. The desks' table is the server's
// (alerts/desks.py), carried in each alarm's JSON (desk, sounds, endangers).
import { ApiError, get, post, withActor } from "./api.js";
import { showDeviceCard } from "./device-card.js";
import { h, replace } from "./dom.js";
import { clock, parseTime, shortDateTime } from "./format.js";
import { deskAlarms, isCalling } from "./desk-logic.js";
import { keysOf, name, t } from "./i18n.js";

const MAX_ROWS = 500; // a city-wide outage can open thousands of offline alarms
export const SHELVE_MINUTES = [15, 30, 60, 120, 240, 480, 1440];
const STATES = ["", "unacknowledged", "acknowledged"];

export class AlarmDesk {
  // desk: "96333" | "boiler" | "iot"; canAct: may acknowledge and shelve; beeper: sounds while a
  // sounding alarm calls; hide(alarm): left out (the board: an entrapment's device, on its card).
  constructor({ desk, store, now, canAct, beeper = null, hide = () => false }) {
    Object.assign(this, { desk, store, now, canAct, beeper, hide });
    this.filter = { type: "", district: "", state: "", text: "" };
    this.deskTypes = [];
    alarmTypes().then((types) => {
      this.deskTypes = types.filter((x) => x.desk === desk).map((x) => x.type);
      this.render();
    }, (err) => console.warn("semon: alarm types not loaded", err));
    this.expiry = null;
    this.shelving = null; // the alarm the shelve form is for
    const select = (key, label, options) => h("select", {
      "data-testid": `desk-filter-${key}`, "aria-label": label,
      onchange: (e) => { this.filter[key] = e.target.value; this.render(); },
    }, h("option", { value: "" }, label), options.map(([value, text]) => h("option", { value }, text)));
    this.typeSelect = select("type", t("all_types"), []);
    const filters = h("div", { class: "desk-filters", "data-testid": "desk-filters" },
      this.typeSelect,
      select("district", t("all_districts"), keysOf("district").map((d) => [d, name("district", d)])),
      select("state", t("all_states"), STATES.slice(1).map((s) => [s, t(`alarm_${s}`)])),
      h("input", { type: "search", "data-testid": "desk-filter-text", "aria-label": t("search_alarms"),
        placeholder: t("search_alarms"), oninput: (e) => { this.filter.text = e.target.value; this.render(); } }));
    this.rows = h("tbody");
    this.shelvedRows = h("tbody");
    this.empty = h("p", { class: "muted", "data-testid": "desk-empty" }, t("no_alarms"));
    this.more = h("p", { class: "muted", hidden: true });
    this.count = h("span", { class: "desk-count", "data-testid": "desk-count" });
    this.shelvedCount = h("span", { class: "desk-count", "data-testid": "shelved-count" });
    this.error = h("div", { class: "error", role: "status", "data-testid": "desk-error" });
    this.form = this.shelveForm();
    const head = (...labels) => h("thead", {}, h("tr", {}, labels.map((label) => h("th", {}, label))));
    this.shelvedSection = h("details", { class: "shelved", "data-testid": "shelved-section", open: true },
      h("summary", {}, t("shelved_alarms"), " ", this.shelvedCount),
      h("table", { class: "alarm-table", "data-testid": "shelved-list" },
        head(t("severity"), t("type"), t("device"), t("shelved_until"), t("shelved_reason"), ""),
        this.shelvedRows));
    this.el = h("div", { class: "alarm-desk", "data-testid": "alarm-desk", "data-desk": desk },
      h("div", { class: "desk-head" }, filters, this.count), this.form, this.error,
      h("div", { class: "desk-scroll" }, h("table", { class: "alarm-table", "data-testid": "alarm-list" },
        head(t("severity"), t("type"), `${t("device")} · ${t("district")}`, t("raised_at"), t("alarm_handling")),
        this.rows)),
      this.empty, this.more, this.shelvedSection);
  }

  render() {
    const nowMs = this.now();
    const all = [...this.store.alarms.values()];
    this.fillTypes(all);
    const { listed, shelved } = deskAlarms(all, { desk: this.desk, filter: this.filter, hide: this.hide, nowMs,
      nameOf: (a) => name("alarm_type", a.type) });
    replace(this.rows, listed.slice(0, MAX_ROWS).map((a) => this.row(a, nowMs)));
    replace(this.shelvedRows, shelved.slice(0, MAX_ROWS).map((a) => this.shelvedRow(a)));
    this.empty.hidden = listed.length > 0;
    this.more.hidden = listed.length <= MAX_ROWS;
    this.more.textContent = `+${listed.length - MAX_ROWS}`;
    this.count.textContent = t("desk_count", { n: listed.length });
    this.shelvedCount.textContent = `(${shelved.length})`;
    this.shelvedSection.hidden = shelved.length === 0;
    if (this.shelving && !listed.concat(shelved).some((a) => a.id === this.shelving.id)) this.closeForm();
    // Calling: every sounding alarm of the desk nobody has handled, whatever the filters show.
    const calling = all.filter((a) => a.desk === this.desk && a.state === "open" && a.type !== "entrapment"
      && !this.hide(a) && isCalling(a, nowMs));
    this.beeper?.setAlerting(calling.length > 0, `desk-${this.desk}`);
    this.el.dataset.calling = String(calling.length);
    // A shelving ends by itself: render again then (no polling).
    clearTimeout(this.expiry);
    const next = Math.min(...shelved.map((a) => parseTime(a.shelved_until)));
    if (Number.isFinite(next)) this.expiry = setTimeout(() => this.render(), Math.max(0, next - nowMs) + 50);
  }

  fillTypes(alarms) {
    const known = new Set([...this.deskTypes, ...alarms.filter((a) => a.desk === this.desk).map((a) => a.type)]);
    known.delete("entrapment");
    const key = [...known].join();
    if (key === this.typeKey) return;
    this.typeKey = key;
    const current = this.typeSelect.value;
    replace(this.typeSelect, h("option", { value: "" }, t("all_types")),
      [...known].map((type) => h("option", { value: type }, name("alarm_type", type))));
    this.typeSelect.value = known.has(current) ? current : "";
  }

  row(alarm, nowMs) {
    const calling = isCalling(alarm, nowMs);
    const classes = [`sev-${alarm.severity}`, alarm.endangers ? "endangers" : "", calling ? "calling" : "",
      alarm.acknowledged_at ? "acknowledged" : ""];
    return h("tr", {
      class: classes.filter(Boolean).join(" "), "data-testid": "alarm-row", "data-alarm-id": alarm.id,
      "data-severity": alarm.severity, "data-type": alarm.type, "data-desk": alarm.desk,
      "data-acknowledged": String(Boolean(alarm.acknowledged_at)), onclick: (e) => {
        if (!e.target.closest("button")) showDeviceCard(alarm.device_id);
      },
    },
    h("td", {}, h("span", { class: `badge sev-${alarm.severity}` }, name("severity", alarm.severity))),
    h("td", { class: "type" }, name("alarm_type", alarm.type)),
    deviceCell(alarm),
    h("td", {}, shortDateTime(alarm.raised_at)),
    h("td", { class: "actions" }, alarm.acknowledged_at
      ? h("div", { class: "handling" }, t("acknowledged_by", { who: alarm.acknowledged_by ?? "", time: clock(alarm.acknowledged_at) }))
      : null, this.canAct ? [
      alarm.acknowledged_at ? null : h("button", { type: "button", "data-testid": "alarm-acknowledge",
        onclick: () => this.act(alarm, "acknowledge") }, t("alarm_acknowledge")),
      h("button", { type: "button", class: "secondary", "data-testid": "alarm-shelve",
        onclick: () => this.openForm(alarm) }, t("alarm_shelve")),
    ] : null));
  }

  shelvedRow(alarm) {
    return h("tr", { class: "shelved-row", "data-testid": "shelved-row", "data-alarm-id": alarm.id, "data-type": alarm.type },
      h("td", {}, h("span", { class: `badge sev-${alarm.severity}` }, name("severity", alarm.severity))),
      h("td", { class: "type" }, name("alarm_type", alarm.type)),
      deviceCell(alarm),
      h("td", {}, clock(alarm.shelved_until), h("div", { class: "handling" }, alarm.shelved_by ?? "")),
      h("td", { class: "reason" }, alarm.shelved_reason ?? ""),
      h("td", { class: "actions" }, this.canAct ? h("button", { type: "button", "data-testid": "alarm-unshelve",
        onclick: () => this.act(alarm, "unshelve") }, t("alarm_unshelve")) : null));
  }

  // The shelve form: above the list, not in a row, so live updates do not take the typed reason.
  // Not a <form>: Enter in the reason never shelves; the button does.
  shelveForm() {
    this.formTitle = h("strong", { "data-testid": "shelve-title" });
    this.minutes = h("select", { "data-testid": "shelve-minutes", "aria-label": t("shelve_minutes") },
      SHELVE_MINUTES.map((m) => h("option", { value: m }, t("minutes_n", { n: m }))));
    this.minutes.value = "60";
    this.reason = h("input", { "data-testid": "shelve-reason", "aria-label": t("shelved_reason"), maxlength: 500,
      placeholder: t("shelve_reason_placeholder") });
    this.reason.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
    this.formError = h("span", { class: "error", "data-testid": "shelve-error" });
    return h("div", { class: "shelve-form card", "data-testid": "shelve-form", hidden: true },
      this.formTitle, this.minutes, this.reason,
      h("button", { type: "button", class: "primary", "data-testid": "shelve-confirm", onclick: () => this.shelve() },
        t("alarm_shelve")),
      h("button", { type: "button", class: "secondary", "data-testid": "shelve-cancel", onclick: () => this.closeForm() },
        t("cancel")),
      this.formError);
  }

  openForm(alarm) {
    this.shelving = alarm;
    this.formTitle.textContent = `${t("alarm_shelve")}${t("sep")}${name("alarm_type", alarm.type)} ${alarm.device_id}`;
    this.reason.value = "";
    this.formError.textContent = "";
    this.form.hidden = false;
    this.reason.focus();
  }

  closeForm() {
    this.shelving = null;
    this.form.hidden = true;
  }

  async shelve() {
    const reason = this.reason.value.trim();
    if (!reason) {
      this.formError.textContent = t("shelve_needs_reason");
      return this.reason.focus();
    }
    if (await this.act(this.shelving, "shelve", { minutes: Number(this.minutes.value), reason })) this.closeForm();
  }

  // POST the handling; the answer is applied at once and the live stream confirms it.
  async act(alarm, action, body = {}) {
    this.error.textContent = "";
    try {
      const answer = await post(`/api/alarms/${alarm.id}/${action}`, withActor(body));
      this.store.apply({ topic: "alarm", op: `${action}d`, alarm: answer });
      return true;
    } catch (err) {
      const conflict = err instanceof ApiError && err.status === 409;
      (action === "shelve" ? this.formError : this.error).textContent = t(conflict ? "step_conflict" : "step_failed",
        { msg: err.message });
      return false;
    }
  }
}

function deviceCell(alarm) {
  return h("td", { class: "device" }, h("code", {}, alarm.device_id),
    h("div", { class: "district" }, name("district", alarm.district_code)));
}

// Each type's desk, severity and sound: the server's table (GET /api/alarms/types), read once.
let typeTable = null;
export function alarmTypes() {
  typeTable ??= get("/api/alarms/types").then((d) => d.types, (err) => {
    typeTable = null; // asked again by the next desk
    throw err;
  });
  return typeTable;
}

// An entrapment's device is listed once, on its card: its other open alarms (a stop outside the
// door zone, say) go on the card as small badges instead of rows of the list.
export function showCoAlarms(cardEl, store, deviceId) {
  const others = [...store.alarms.values()].filter((a) => a.device_id === deviceId && a.type !== "entrapment");
  let line = cardEl.querySelector(":scope > .co-alarms");
  if (!others.length) return line?.remove();
  if (!line) {
    line = h("div", { class: "co-alarms", "data-testid": "co-alarms" });
    cardEl.querySelector(":scope > header")?.after(line) ?? cardEl.append(line);
  }
  const key = others.map((a) => `${a.id}:${a.severity}`).join();
  if (line.dataset.key === key) return;
  line.dataset.key = key;
  replace(line, others.map((a) => h("span", { class: `badge sev-${a.severity}`, "data-type": a.type },
    name("alarm_type", a.type))));
}
