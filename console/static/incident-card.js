// One rescue incident on the board (an entrapment alarm, a phone call, or both once linked): the
// workflow raised → acknowledged (接警) → dispatched → responded → on_site → released → closed,
// the deadlines (接警时限, 响应时限, 到场时限), the rescue tier (一级 维保单位 / 二级 网格救援站 /
// 三级 119) with re-dispatch, the next tier and "no answer", the close record, and the timeline.
//
// Built once, then updated in place so typed text and focus survive live updates. There is no
// <form>: Enter in the comment box adds the comment and never takes a step; no confirm() dialog
// (the timers must keep running): a false alarm is a second click on the armed button.
import { ApiError, now } from "./api.js";
import { loadCard, showDeviceCard } from "./device-card.js";
import { h, replace } from "./dom.js";
import { clock, duration } from "./format.js";
import { name, t } from "./i18n.js";
import {
  CAUSE_CLASSES, canFalseAlarm, canNoAnswer, canRedispatch, closeRecord, deadline, nextStep, rescuerOf, responseDeadline,
  tierOf, trapped,
} from "./incident.js";
import { CardTimeline } from "./timeline.js";

const ARM_MS = 5000; // how long an armed "false alarm" waits for its second click

function contactsOf(party) {
  if (!party) return [];
  const list = Array.isArray(party.contacts) ? party.contacts.filter((c) => c && (c.name || c.phone)) : [];
  if (!list.length && party.phone) list.push({ name: party.contact ?? "", phone: party.phone });
  return list;
}

export class IncidentCard {
  // act(incident, body) → the server's answer (the incident with its steps, or the comment's step);
  // store: the live store (its latest step per incident grows the timeline).
  constructor(canAct, act, store) {
    this.act = act;
    this.store = store;
    this.entry = null;
    this.deviceLoaded = null;
    this.device = null; // the device card, or {registered: false}
    this.edited = false; // the operator typed into the dispatch fields: no more prefilling
    this.mode = null; // {tier, redispatch} while the dispatch fields are out
    this.armedUntil = 0;
    const field = (testid, label, attrs = {}) => h("input", { "data-testid": testid, "aria-label": label,
      placeholder: label, ...attrs });
    const choice = (testid, label, options) => h("label", {}, h("span", {}, label),
      h("select", { "data-testid": testid, "aria-label": label },
        h("option", { value: "" }, "—"), options.map(([value, text]) => h("option", { value }, text))));
    this.deviceButton = h("button", { class: "link", "data-testid": "device-link", type: "button" });
    this.kind = h("span", { class: "kind" });
    this.source = h("span", { class: "badge source", "data-testid": "incident-source" });
    this.tier = h("span", { class: "badge tier", "data-testid": "incident-tier" });
    this.unregistered = h("span", { class: "badge warn", "data-testid": "unregistered", hidden: true }, t("not_registered"));
    this.stateBadge = h("span", { class: "badge", "data-testid": "incident-state" });
    this.district = h("span", { class: "district" });
    this.address = h("div", { class: "address", "data-testid": "device-address" });
    this.caller = h("div", { class: "caller", "data-testid": "caller", hidden: true });
    this.maintenance = h("div", { class: "maintenance", "data-testid": "maintenance" });
    this.contacts = h("div", { class: "contacts", "data-testid": "contacts" });
    this.note = h("div", { class: "escalation", "data-testid": "escalation-note", hidden: true });
    this.trappedFor = h("strong", { "data-testid": "trapped-for" });
    this.countdownLabel = h("span");
    this.countdown = h("strong", { "data-testid": "arrival-countdown" });
    this.responseLabel = h("span");
    this.response = h("strong", { "data-testid": "response-countdown" });
    this.responseBox = h("div", { hidden: true }, this.responseLabel, this.response);

    this.dispatchTitle = h("strong", { "data-testid": "dispatch-tier" });
    this.unit = field("dispatch-unit", t("maintenance_unit"), { name: "maintenance_unit", maxlength: 200 });
    this.contact = field("dispatch-contact", t("contact"), { name: "contact", maxlength: 100 });
    this.dispatchSubmit = h("button", { type: "button", class: "primary", "data-testid": "dispatch-submit" }, t("dispatch_send"));
    this.dispatchCancel = h("button", { type: "button", class: "secondary", "data-testid": "dispatch-cancel" }, t("cancel"));
    // Out only at the dispatch step or after 重新派遣 / 启动二级救援 / 呼叫 119 (setMode), never by default.
    this.dispatchFields = h("div", { class: "dispatch-fields", "data-testid": "dispatch-box", hidden: true },
      h("div", { class: "dispatch-head" }, this.dispatchTitle), this.unit, this.contact,
      h("div", { class: "buttons" }, this.dispatchSubmit, this.dispatchCancel));

    this.persons = field("close-persons", t("rec_persons_released"), { type: "number", min: 0, max: 999, step: 1 });
    this.injuries = field("close-injuries", t("rec_injuries"), { type: "number", min: 0, max: 999, step: 1 });
    const causeLabel = choice("close-cause", t("rec_cause_class"), CAUSE_CLASSES.map((c) => [c, name("cause_class", c)]));
    const yesNo = [["yes", t("yes")], ["no", t("no")]];
    const selfLabel = choice("close-self-release", t("rec_self_release"), yesNo);
    const callbackLabel = choice("close-callback", t("rec_callback_confirmed"), yesNo);
    [this.cause, this.selfRelease, this.callback] = [causeLabel, selfLabel, callbackLabel].map((l) => l.querySelector("select"));
    this.closeForm = h("fieldset", { class: "close-form", "data-testid": "close-form", hidden: true },
      h("legend", {}, t("close_record")),
      h("label", {}, h("span", {}, t("rec_persons_released")), this.persons),
      h("label", {}, h("span", {}, t("rec_injuries")), this.injuries),
      causeLabel, selfLabel, callbackLabel);

    this.comment = field("step-comment", t("comment_placeholder"), { name: "comment", maxlength: 2000,
      enterkeyhint: "done" });
    this.next = h("button", { type: "button", class: "primary next-step", "data-testid": "next-step" });
    this.noAnswer = h("button", { type: "button", class: "secondary", "data-testid": "no-answer" }, t("no_answer"));
    this.redispatch = h("button", { type: "button", class: "secondary", "data-testid": "redispatch" }, t("redispatch"));
    this.tier2 = h("button", { type: "button", class: "secondary tier-2", "data-testid": "start-tier-2" }, t("start_tier_2"));
    this.call119 = h("button", { type: "button", class: "secondary tier-3", "data-testid": "call-119" }, t("call_119"));
    this.falseAlarm = h("button", { type: "button", class: "secondary", "data-testid": "false-alarm" }, t("false_alarm"));
    this.addComment = h("button", { type: "button", class: "secondary", "data-testid": "add-comment" }, t("add_comment"));
    this.error = h("div", { class: "error", role: "status", "data-testid": "step-error" });
    this.timeline = new CardTimeline();
    this.form = h("div", { class: "step-form", "data-testid": "step-form" },
      this.dispatchFields, this.closeForm,
      h("div", { class: "comment-row" }, this.comment, this.addComment),
      h("div", { class: "buttons" }, this.next, this.noAnswer, this.redispatch, this.tier2, this.call119, this.falseAlarm),
      this.error);

    for (const input of [this.unit, this.contact]) input.addEventListener("input", () => { this.edited = true; });
    // A half-typed comment outlives a reload (a language switch reloads the page): kept per incident
    // in sessionStorage, restored into an empty box, dropped once sent.
    this.comment.addEventListener("input", () => saveDraft(this.entry?.incident?.id, this.comment.value));
    this.comment.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.isComposing) return; // an IME's Enter picks characters
      e.preventDefault();
      this.submit("comment");
    });
    this.next.addEventListener("click", () => this.submit(this.next.dataset.step));
    this.dispatchSubmit.addEventListener("click", () => this.submit("dispatched"));
    this.dispatchCancel.addEventListener("click", () => this.setMode(null));
    this.noAnswer.addEventListener("click", () => this.submit("no_answer"));
    this.redispatch.addEventListener("click", () => this.openDispatch(tierOf(this.entry?.incident), true));
    this.tier2.addEventListener("click", () => this.openDispatch(2, true));
    this.call119.addEventListener("click", () => this.openDispatch(3, true));
    this.falseAlarm.addEventListener("click", () => this.armFalseAlarm());
    this.addComment.addEventListener("click", () => this.submit("comment"));
    this.deviceButton.addEventListener("click", () => showDeviceCard(this.deviceId()));
    this.el = h("article", { class: "entrapment-card", "data-testid": "entrapment-card" },
      h("header", {}, this.kind, this.source, this.deviceButton, this.district, this.tier, this.unregistered,
        this.stateBadge),
      this.address, this.caller, this.maintenance, this.contacts, this.note,
      h("div", { class: "timers" },
        h("div", {}, h("span", {}, t("trapped_for")), this.trappedFor),
        this.responseBox,
        h("div", {}, this.countdownLabel, this.countdown)),
      canAct ? this.form : h("p", { class: "muted" }, t("read_only")),
      this.timeline.el);
    // Clicking the card (not its controls) opens the device card.
    this.el.addEventListener("click", (e) => {
      if (!e.target.closest("form, fieldset, details, button, input, select, a")) this.deviceButton.click();
    });
  }

  deviceId() {
    return this.entry?.alarm?.device_id ?? this.entry?.incident?.device_id;
  }

  update(entry, nowMs) {
    this.entry = entry;
    const { incident, alarm } = entry;
    const deviceId = this.deviceId();
    const state = incident?.state ?? "raised";
    const tier = tierOf(incident);
    Object.assign(this.el.dataset, { incidentId: incident?.id ?? "", alarmId: alarm?.id ?? incident?.alarm_id ?? "",
      deviceId, state, source: incident?.source ?? "device", tier });
    this.kind.textContent = name("alarm_type", "entrapment");
    this.source.textContent = name("incident_source", incident?.source ?? "device");
    this.source.classList.toggle("phone", incident?.source === "phone");
    this.deviceButton.textContent = [incident?.rescue_code, deviceId].filter(Boolean).join(" · ");
    this.district.textContent = name("district", incident?.district_code ?? alarm?.district_code);
    this.tier.textContent = `${name("tier", tier)} · ${name("tier_unit", tier)}`;
    this.tier.dataset.tier = tier;
    this.tier.className = `badge tier tier-${tier}`;
    this.stateBadge.textContent = incident ? name("incident_state", state) : t("no_incident");
    this.stateBadge.className = `badge state-${state}`;
    const callerText = [incident?.caller, incident?.caller_phone].filter(Boolean).join(" ");
    this.caller.hidden = !callerText;
    this.caller.textContent = callerText ? `${t("caller")}${t("sep")}${callerText}` : "";
    this.note.hidden = tier < 2;
    this.note.textContent = tier < 2 ? "" : t(tier >= 3 ? "tier_3_note" : "escalated",
      { who: incident.rescuer ?? incident.second_tier ?? "" });
    const { who, contact, noPhone } = rescuerOf(incident);
    if (who) {
      // Never another tier's contact: without a phone of its own, say so and let the operator type one.
      replace(this.maintenance, `${name("tier_unit", tier)}${t("sep")}${who} · `,
        noPhone ? [h("span", { class: "warn", "data-testid": "no-phone" }, t("no_phone_configured")), " ",
          canRedispatch(state) ? h("button", { type: "button", class: "link", "data-testid": "type-phone",
            onclick: () => this.openDispatch(tier, true) }, t("type_phone")) : null] : contact);
    }
    if (incident?.address && !this.address.textContent) this.address.textContent = incident.address;
    if (incident?.registered === false) this.showUnregistered();
    const step = incident ? nextStep(state) : null;
    this.next.hidden = !step;
    this.next.dataset.step = step ?? "";
    this.next.textContent = step ? t(`step_${step}`) : "";
    const under = canRedispatch(state);
    this.noAnswer.hidden = !canNoAnswer(state);
    this.redispatch.hidden = !under;
    this.tier2.hidden = !under || tier >= 2;
    this.call119.hidden = !under || tier >= 3;
    this.falseAlarm.hidden = !incident || !canFalseAlarm(state);
    this.addComment.hidden = !incident;
    this.comment.disabled = !incident;
    this.closeForm.hidden = step !== "closed";
    if (step === "dispatched" && !this.mode) this.setMode({ tier: 1, redispatch: false });
    else if (this.mode && (this.mode.redispatch ? !under : step !== "dispatched")) this.setMode(null);
    this.dispatchFields.hidden = !this.mode; // every path, a fresh card included
    if (incident && this.draftFor !== incident.id) {
      this.draftFor = incident.id;
      if (!this.comment.value) this.comment.value = loadDraft(incident.id);
    }
    if (this.deviceLoaded !== deviceId) this.loadDevice(deviceId);
    this.timeline.update(incident, incident ? this.store?.lastSteps.get(incident.id) : null);
    this.tick(nowMs);
  }

  showUnregistered() {
    this.unregistered.hidden = false;
    this.el.classList.add("unregistered");
    // Nobody called about a device's own alarm: it is not "the caller" who can tell.
    if (!this.address.textContent) {
      this.address.textContent = t(this.entry?.incident?.source === "phone" ? "unregistered_hint" : "unregistered_hint_device");
    }
    if (!this.unit.value) this.unit.placeholder = t("unregistered_unit");
  }

  setMode(mode) {
    this.mode = mode;
    this.dispatchFields.hidden = !mode;
    if (!mode) return;
    const current = tierOf(this.entry?.incident);
    const what = !mode.redispatch ? t("step_dispatched") : mode.tier === current ? t("redispatch")
      : mode.tier === 2 ? t("start_tier_2") : t("call_119");
    this.dispatchTitle.textContent = `${what} · ${name("tier", mode.tier)} ${name("tier_unit", mode.tier)}`;
    this.dispatchFields.dataset.tier = mode.tier;
    this.dispatchSubmit.hidden = !mode.redispatch;
    this.dispatchCancel.hidden = !mode.redispatch;
  }

  // The dispatch fields for a re-dispatch (same tier: the unit kept, another contact), the second
  // tier or the fire brigade. Left empty for tiers 2 and 3, the server sends the station nearest
  // the lift (SEMON_INCIDENT_SECOND_TIER_STATIONS) or the fire brigade (SEMON_INCIDENT_FIRE_BRIGADE).
  openDispatch(tier, redispatch) {
    const incident = this.entry?.incident;
    const current = tierOf(incident);
    this.setMode({ tier, redispatch });
    this.unit.placeholder = tier === 1 ? t("maintenance_unit") : t(`tier_${tier}_default`);
    this.contact.placeholder = tier === 1 ? t("contact") : t("tier_default_contact");
    this.unit.value = tier === current ? (incident?.rescuer ?? incident?.maintenance_unit ?? "") : "";
    this.contact.value = "";
    this.edited = true;
    (this.unit.value || tier > 1 ? this.contact : this.unit).focus();
  }

  async loadDevice(deviceId) {
    this.deviceLoaded = deviceId;
    let card;
    try {
      card = await loadCard(deviceId);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        this.deviceLoaded = null; // try again with the next update
        return;
      }
      card = { registered: false, device_id: deviceId };
    }
    this.device = card;
    const incident = this.entry.incident;
    if (card.address) this.address.textContent = card.address;
    if (card.registered === false) this.showUnregistered();
    const m = card.maintenance_unit;
    if (m && !incident?.maintenance_unit && !incident?.rescuer) {
      this.maintenance.textContent = `${t("maintenance_unit")}${t("sep")}${m.name} · ${m.phone ?? ""}`;
    }
    const options = contactsOf(m).map((c) => ({ ...c, unit: m.name }));
    for (const c of contactsOf(card.owner)) options.push({ ...c, unit: card.owner.name, owner: true });
    replace(this.contacts, options.length ? [h("span", { class: "muted" }, t("contacts")), options.map((c) =>
      h("button", { type: "button", class: "contact-option", "data-testid": "contact-option", "data-phone": c.phone,
        title: c.unit, onclick: () => { this.contact.value = [c.name, c.phone].filter(Boolean).join(" "); this.edited = true; } },
      c.owner ? `${t("owner")} ` : "", c.name ?? "", " ", h("a", { href: `tel:${c.phone}`, class: "phone" }, c.phone)))] : []);
    if (!this.edited) {
      const first = contactsOf(m)[0];
      this.unit.value = incident?.maintenance_unit ?? m?.name ?? "";
      this.contact.value = incident?.maintenance_contact ?? (first ? [first.name, first.phone].filter(Boolean).join(" ") : "");
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
    const r = responseDeadline(incident, nowMs);
    this.responseBox.hidden = !r;
    if (r) {
      this.responseLabel.textContent = incident.response_deadline
        ? `${t("response_deadline")} ${clock(incident.response_deadline)}` : t("response_deadline");
      this.response.textContent = r.done ? `${t("responded_at", { time: clock(r.at) })} · ${r.late ? t("late") : t("on_time")}`
        : left(r.seconds);
      Object.assign(this.response.dataset, { late: r.late, done: r.done });
      this.response.classList.toggle("late", r.late);
    }
    this.el.classList.toggle("late", d.late || Boolean(r?.late && !r.done));
    this.el.classList.toggle("unacked", !incident || incident.state === "raised");
    if (this.armedUntil && nowMs > this.armedUntil) this.disarm();
  }

  armFalseAlarm() {
    if (this.armedUntil) {
      this.disarm();
      return this.submit("false_alarm");
    }
    this.armedUntil = now() + ARM_MS;
    this.falseAlarm.textContent = t("confirm_false_alarm");
    this.falseAlarm.classList.add("armed");
  }

  disarm() {
    this.armedUntil = 0;
    this.falseAlarm.textContent = t("false_alarm");
    this.falseAlarm.classList.remove("armed");
  }

  // The request for `step` from the card's fields, or a message saying what is missing.
  request(step, incident) {
    const body = { step };
    // What the operator saw: a step on a view someone else's step made stale is refused (409).
    if (step !== "comment") body.expected_state = incident.state;
    const comment = this.comment.value.trim();
    if (comment) body.comment = comment;
    if (step === "comment" && !comment) return { focus: this.comment };
    if (step === "dispatched") {
      body.tier = this.mode?.tier ?? tierOf(incident);
      const unit = this.unit.value.trim();
      const contact = this.contact.value.trim();
      // Tier 1 names its maintenance unit; tiers 2 and 3 default to the server's station or 119.
      if (body.tier === 1 && (!unit || !contact)) return { error: t("dispatch_needs") };
      if (unit) body.maintenance_unit = unit;
      if (contact) body.contact = contact;
    }
    if (step === "no_answer") { // who did not answer: the fields when out, else the server takes the rescuer
      const unit = this.mode ? this.unit.value.trim() : "";
      const contact = this.mode ? this.contact.value.trim() : "";
      if (unit) body.maintenance_unit = unit;
      if (contact) body.contact = contact;
      // Nobody known yet (an unregistered lift before any dispatch): ask who did not answer.
      const knownUnit = incident.rescuer ?? incident.maintenance_unit;
      const knownPhone = incident.rescuer_contact ?? incident.maintenance_contact;
      if (!(unit || knownUnit) || !(contact || knownPhone)) return { error: t("no_answer_needs") };
    }
    if (step === "closed") {
      // A number field with text the browser cannot read has value "": it is wrong, not missing.
      const raw = (input) => (input.validity?.badInput ? "?" : input.value);
      const record = closeRecord({ persons_released: raw(this.persons), injuries: raw(this.injuries),
        cause_class: this.cause.value, self_release: this.selfRelease.value, callback_confirmed: this.callback.value });
      const names = (keys) => keys.map((k) => t(`rec_${k}`)).join("、");
      if (!record.body) {
        return { error: [record.missing.length ? t("close_needs", { what: names(record.missing) }) : "",
          record.invalid.length ? t("close_invalid", { what: names(record.invalid) }) : ""].filter(Boolean).join(" ") };
      }
      Object.assign(body, record.body);
    }
    return { body };
  }

  async submit(step) {
    const incident = this.entry?.incident;
    if (!incident || !step) return;
    const { body, error, focus } = this.request(step, incident);
    if (focus) return focus.focus();
    if (error) return void (this.error.textContent = error);
    this.setBusy(true);
    try {
      const answer = await this.act(incident, body);
      this.comment.value = "";
      saveDraft(incident.id, "");
      this.error.textContent = "";
      if (step === "comment") this.timeline.add([answer]);
      else this.timeline.setDetail(answer);
      if (step === "dispatched") {
        this.setMode(null);
        this.edited = false;
      }
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

const DRAFT_KEY = "semon.draft.";

function saveDraft(incidentId, text) {
  if (!incidentId) return;
  try {
    if (text) globalThis.sessionStorage?.setItem(DRAFT_KEY + incidentId, text);
    else globalThis.sessionStorage?.removeItem(DRAFT_KEY + incidentId);
  } catch {
    // storage blocked: the draft lives as long as the page
  }
}

function loadDraft(incidentId) {
  try {
    return globalThis.sessionStorage?.getItem(DRAFT_KEY + incidentId) ?? "";
  } catch {
    return "";
  }
}

const left = (s) => (s === null ? "–" : s >= 0 ? t("remaining", { t: duration(s) }) : t("overdue_by", { t: duration(s) }));

function describe(d, incident) {
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
