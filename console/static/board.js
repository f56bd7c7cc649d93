// The emergency centre's live board, the 96333 line only: entrapments first (banner, sound,
// flashing, timers, the next step), then the line's faults (alarm-desk.js: those endangering
// people highlighted; acknowledge, shelve, filter). Boiler, connectivity and register alarms have
// views of their own; an entrapment's device is listed once, on its card. State comes only from
// the live stream; a step's answer is applied at once and the stream confirms it.
import { ApiError, currentUser, devMode, get, now, post, withActor } from "./api.js";
import { loadCard, showDeviceCard } from "./device-card.js";
import { coalesce, h, replace } from "./dom.js";
import { clock, duration } from "./format.js";
import { canFalseAlarm, deadline, entrapments, nextStep, trapped } from "./incident.js";
import { name, t } from "./i18n.js";
import { followLive } from "./follow.js";
import { LiveStore } from "./live.js";
import { soundControl } from "./sound.js";
import { AlarmDesk, showCoAlarms } from "./alarm-desk.js";
import { notifyNew } from "./notify.js";

const ACTING_ROLES = new Set(["operator", "admin"]);

export function mount(root, ctx) {
  const store = new LiveStore();
  const canAct = devMode() || ACTING_ROLES.has(currentUser()?.role);
  const cards = new Map(); // entry key → EntrapmentCard
  const { beeper, element: soundButton } = soundControl(h, t);
  let onCards = new Set(); // devices with an entrapment card
  const desk = new AlarmDesk({ desk: "96333", store, now, canAct, beeper, hide: (a) => onCards.has(a.device_id) });
  const banner = h("div", { class: "entrapment-banner", role: "alert", "data-testid": "entrapment-banner", hidden: true });
  const list = h("div", { class: "entrapment-list", "data-testid": "entrapment-list" });
  const empty = h("p", { class: "muted", "data-testid": "no-entrapments" }, t("no_entrapments"));
  const baseTitle = document.title;

  replace(root,
    h("div", { class: "board-top" }, banner, soundButton),
    h("div", { class: "board" },
      h("section", { class: "entrapments" }, h("h2", {}, t("entrapments")), empty, list),
      h("section", { class: "alarms" }, h("h2", {}, t("line_faults")), desk.el)));

  const act = (incident, body) => takeStep(store, incident, body);
  function renderEntrapments() {
    const entries = entrapments(store);
    const keys = new Set(entries.map((e) => e.key));
    onCards = new Set(entries.map((e) => e.alarm?.device_id ?? e.incident.device_id));
    for (const [key, card] of cards) {
      if (!keys.has(key)) {
        card.el.remove();
        cards.delete(key);
      }
    }
    entries.forEach((entry, index) => {
      let card = cards.get(entry.key);
      if (!card) cards.set(entry.key, (card = new EntrapmentCard(canAct, act)));
      card.update(entry, now());
      showCoAlarms(card.el, store, entry.alarm?.device_id ?? entry.incident.device_id);
      // Move only what is out of place: moving a card would take the focus from its comment field.
      if (list.children[index] !== card.el) list.insertBefore(card.el, list.children[index] ?? null);
    });
    empty.hidden = entries.length > 0;
    const unacked = entries.filter((e) => !e.incident || e.incident.state === "raised").length;
    banner.hidden = unacked === 0;
    banner.textContent = t("entrapment_banner", { n: unacked });
    beeper.setAlerting(unacked > 0);
    soundButton.classList.toggle("urgent", unacked > 0);
    document.title = unacked > 0 ? `【${name("alarm_type", "entrapment")}】${baseTitle}` : baseTitle;
  }

  store.onChange(coalesce(() => {
    renderEntrapments();
    desk.render();
  }));
  notifyNew(store, { desk: "96333", now });
  setInterval(() => {
    const at = now();
    for (const card of cards.values()) card.tick(at);
  }, 1000);

  followLive(store, root, ctx);
}

async function takeStep(store, incident, body) {
  const path = body.step === "comment" ? `/api/incidents/${incident.id}/comments` : `/api/incidents/${incident.id}/steps`;
  const payload = body.step === "comment" ? { comment: body.comment } : body;
  const answer = await post(path, withActor(payload));
  if (body.step !== "comment") store.apply({ topic: "incident", op: body.step, incident: answer });
}

// One entrapment: built once, then updated in place so typed text and focus survive live updates.
class EntrapmentCard {
  constructor(canAct, act) {
    this.act = act;
    this.entry = null;
    this.deviceLoaded = null;
    this.edited = false; // the operator typed into the dispatch fields: no more prefilling
    const field = (testid, label, attrs = {}) => h("input", { "data-testid": testid, "aria-label": label,
      placeholder: label, ...attrs });
    this.deviceButton = h("button", { class: "link", "data-testid": "device-link", type: "button" });
    this.stateBadge = h("span", { class: "badge", "data-testid": "incident-state" });
    this.district = h("span", { class: "district" });
    this.address = h("div", { class: "address", "data-testid": "device-address" });
    this.maintenance = h("div", { class: "maintenance", "data-testid": "maintenance" });
    this.note = h("div", { class: "escalation", hidden: true });
    this.trappedFor = h("strong", { "data-testid": "trapped-for" });
    this.countdownLabel = h("span");
    this.countdown = h("strong", { "data-testid": "arrival-countdown" });
    this.unit = field("dispatch-unit", t("maintenance_unit"), { name: "maintenance_unit", maxlength: 200 });
    this.contact = field("dispatch-contact", t("contact"), { name: "contact", maxlength: 100 });
    this.comment = field("step-comment", t("comment_placeholder"), { name: "comment", maxlength: 2000 });
    this.next = h("button", { type: "submit", class: "primary next-step", "data-testid": "next-step" });
    this.falseAlarm = h("button", { type: "button", class: "secondary", "data-testid": "false-alarm" }, t("false_alarm"));
    this.addComment = h("button", { type: "button", class: "secondary", "data-testid": "add-comment" }, t("add_comment"));
    this.error = h("div", { class: "error", role: "status", "data-testid": "step-error" });
    this.dispatchFields = h("div", { class: "dispatch-fields" }, this.unit, this.contact);
    this.form = h("form", { class: "step-form", "data-testid": "step-form" },
      this.dispatchFields, this.comment,
      h("div", { class: "buttons" }, this.next, this.falseAlarm, this.addComment), this.error);
    for (const input of [this.unit, this.contact]) input.addEventListener("input", () => { this.edited = true; });
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit(this.next.dataset.step);
    });
    this.falseAlarm.addEventListener("click", () => {
      if (window.confirm(t("confirm_false_alarm"))) this.submit("false_alarm");
    });
    this.addComment.addEventListener("click", () => this.submit("comment"));
    this.deviceButton.addEventListener("click", () => showDeviceCard(this.entry.alarm?.device_id ?? this.entry.incident.device_id));
    this.el = h("article", { class: "entrapment-card", "data-testid": "entrapment-card" },
      h("header", {}, h("span", { class: "kind" }, name("alarm_type", "entrapment")), this.deviceButton, this.district,
        this.stateBadge),
      this.address, this.maintenance, this.note,
      h("div", { class: "timers" },
        h("div", {}, h("span", {}, t("trapped_for")), this.trappedFor),
        h("div", {}, this.countdownLabel, this.countdown)),
      canAct ? this.form : h("p", { class: "muted" }, t("read_only")));
    // Clicking the card (not its controls) opens the device card.
    this.el.addEventListener("click", (e) => {
      if (!e.target.closest("form, button, input, a")) this.deviceButton.click();
    });
  }

  update(entry, nowMs) {
    this.entry = entry;
    const { incident, alarm } = entry;
    const deviceId = alarm?.device_id ?? incident.device_id;
    const state = incident?.state ?? "raised";
    Object.assign(this.el.dataset, { incidentId: incident?.id ?? "", alarmId: alarm?.id ?? incident?.alarm_id ?? "",
      deviceId, state });
    this.deviceButton.textContent = deviceId;
    this.district.textContent = name("district", incident?.district_code ?? alarm?.district_code);
    this.stateBadge.textContent = incident ? name("incident_state", state) : t("no_incident");
    this.stateBadge.className = `badge state-${state}`;
    this.note.hidden = !incident?.escalated_at;
    this.note.textContent = incident?.escalated_at ? t("escalated", { who: incident.second_tier ?? "" }) : "";
    if (incident?.maintenance_unit) {
      this.maintenance.textContent = `${t("maintenance_unit")}${t("sep")}${incident.maintenance_unit} · ${incident.maintenance_contact ?? ""}`;
    }
    const step = incident ? nextStep(state) : null;
    this.next.hidden = !step;
    this.next.dataset.step = step ?? "";
    this.next.textContent = step ? t(`step_${step}`) : "";
    this.falseAlarm.hidden = !incident || !canFalseAlarm(state);
    this.addComment.hidden = !incident;
    this.dispatchFields.hidden = step !== "dispatched";
    if (this.deviceLoaded !== deviceId) this.loadDevice(deviceId);
    this.tick(nowMs);
  }

  async loadDevice(deviceId) {
    this.deviceLoaded = deviceId;
    let card;
    try {
      card = await loadCard(deviceId);
    } catch {
      this.deviceLoaded = null; // try again with the next update
      return;
    }
    this.address.textContent = card.address ?? "";
    const m = card.maintenance_unit;
    if (m && !this.entry.incident?.maintenance_unit) {
      this.maintenance.textContent = `${t("maintenance_unit")}${t("sep")}${m.name} · ${m.phone ?? ""}`;
    }
    if (m && !this.edited) {
      this.unit.value = m.name ?? "";
      this.contact.value = [m.contact, m.phone].filter(Boolean).join(" ");
    }
  }

  tick(nowMs) {
    const { incident, alarm } = this.entry;
    const stuck = trapped(incident, alarm, nowMs);
    this.trappedFor.textContent = stuck.ended ? t("trapped_ended", { t: duration(stuck.seconds) }) : duration(stuck.seconds);
    this.trappedFor.dataset.seconds = Math.floor(stuck.seconds);
    this.trappedFor.dataset.ended = stuck.ended;
    const d = deadline(incident, nowMs);
    const [label, value] = describe(d, incident);
    this.countdownLabel.textContent = label;
    this.countdown.textContent = value;
    Object.assign(this.countdown.dataset, { late: d.late, deadlineKind: d.kind });
    this.countdown.classList.toggle("late", d.late);
    this.el.classList.toggle("late", d.late);
    this.el.classList.toggle("unacked", !incident || incident.state === "raised");
  }

  async submit(step) {
    const incident = this.entry?.incident;
    if (!incident || !step) return;
    const body = { step };
    const comment = this.comment.value.trim();
    if (comment) body.comment = comment;
    if (step === "comment" && !comment) return this.comment.focus();
    if (step === "dispatched") {
      body.maintenance_unit = this.unit.value.trim();
      body.contact = this.contact.value.trim();
      if (!body.maintenance_unit || !body.contact) return void (this.error.textContent = t("dispatch_needs"));
    }
    this.setBusy(true);
    try {
      await this.act(incident, body);
      this.comment.value = "";
      this.error.textContent = "";
    } catch (err) {
      const conflict = err instanceof ApiError && err.status === 409;
      this.error.textContent = t(conflict ? "step_conflict" : "step_failed", { msg: err.message });
    } finally {
      this.setBusy(false);
    }
  }

  setBusy(busy) {
    for (const button of this.form.querySelectorAll("button")) button.disabled = busy;
  }
}

function describe(d, incident) {
  const left = (s) => (s === null ? "–" : s >= 0 ? t("remaining", { t: duration(s) }) : t("overdue_by", { t: duration(s) }));
  switch (d.kind) {
    case "ack":
      return [incident ? `${t("ack_deadline")} ${clock(incident.ack_deadline)}` : t("ack_deadline"), left(d.seconds)];
    case "awaiting":
      return [t("awaiting_dispatch"),
        `${name("incident_state", "acknowledged")} ${clock(incident.acknowledged_at)} · ${d.late ? t("late") : t("on_time")}`];
    case "arrival":
      return [`${t("arrival_deadline")} ${clock(incident.arrival_deadline)}`, left(d.seconds)];
    default:
      return [t("arrival_deadline"), `${t("arrived_at", { time: clock(d.at) })} · ${d.late ? t("late") : t("on_time")}`];
  }
}
