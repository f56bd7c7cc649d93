// An incident's timeline (every step with who and when, the system's escalations and alarm links,
// the comments) and its record (GET /api/incidents/{id}: the incident with its `steps`). Used on
// the board's incident card, kept current from the live stream, and in the side panel of the
// shift view.
import { get } from "./api.js";
import { h, replace } from "./dom.js";
import { dateTime, shortDateTime } from "./format.js";
import { name, t } from "./i18n.js";
import { tierOf, timeline } from "./incident.js";

const DETAIL_KEYS = ["maintenance_unit", "contact", "caller", "caller_phone", "persons_released", "injuries",
  "cause_class", "self_release", "callback_confirmed", "alarm_id", "reason"];

const yesNo = (v) => (v === null || v === undefined ? "–" : v ? t("yes") : t("no"));

function detailValue(key, value) {
  if (key === "cause_class") return name("cause_class", value);
  if (key === "reason") return name("escalation_reason", value);
  if (typeof value === "boolean") return yesNo(value);
  return String(value);
}

// What a step says beyond its name: the tier moved, who was sent or did not answer, the record.
export function stepSummary(step) {
  const d = step.details ?? {};
  const parts = [];
  if (step.step === "escalated" || (d.from_tier && d.to_tier)) {
    parts.push(`${name("tier", d.from_tier)} → ${name("tier", d.to_tier)}`);
  } else if (d.tier) {
    parts.push(name("tier", d.tier));
  }
  for (const key of DETAIL_KEYS) {
    if (d[key] === null || d[key] === undefined || d[key] === "") continue;
    parts.push(`${t(`rec_${key}`)}${t("sep")}${detailValue(key, d[key])}`);
  }
  return parts.join(" · ");
}

function entry(step) {
  const actor = step.actor === "system" ? t("system_actor") : step.actor;
  return h("li", { class: `tl-${step.kind}`, "data-testid": "timeline-entry", "data-step": step.step,
    "data-actor": step.actor, "data-step-id": step.id },
  h("time", { datetime: step.at }, shortDateTime(step.at)),
  h("span", { class: "tl-step" }, name("step", step.step)),
  h("span", { class: "tl-actor", "data-testid": "timeline-actor" }, actor),
  h("span", { class: "tl-details" }, stepSummary(step)),
  step.comment ? h("q", { class: "tl-comment", "data-testid": "timeline-comment" }, step.comment) : null);
}

export function renderTimeline(steps) {
  const items = timeline(steps);
  return items.length ? items.map(entry) : h("li", { class: "muted" }, t("none"));
}

// The card's timeline: what GET /api/incidents/{id} said, with the steps heard since (the live
// stream's, a step's answer) merged by id. Fetches again when the incident changed in a way no
// step told of (e.g. after a reconnect's snapshot).
export class CardTimeline {
  constructor() {
    this.steps = new Map(); // step id → step
    this.list = h("ol", { class: "timeline", "data-testid": "timeline" });
    this.el = h("details", { class: "timeline-box", open: true },
      h("summary", {}, t("timeline")), this.list);
    this.incidentId = null;
    this.knownUpdate = null; // the incident's updated_at the steps are known to cover
    this.loading = null;
  }

  update(incident, liveStep) {
    if (!incident) return;
    if (this.incidentId !== incident.id) {
      this.incidentId = incident.id;
      this.steps.clear();
      this.knownUpdate = null;
    }
    if (liveStep && !this.steps.has(liveStep.id)) {
      this.add([liveStep]);
      this.knownUpdate = incident.updated_at;
    }
    if (this.knownUpdate !== incident.updated_at) this.refresh(incident);
  }

  add(steps) {
    for (const step of steps) this.steps.set(step.id, step);
    replace(this.list, renderTimeline([...this.steps.values()]));
    this.list.scrollTop = this.list.scrollHeight; // the newest in view; the card stays short
  }

  // The whole history from a step's answer (POST .../steps answers the incident with its steps).
  setDetail(detail) {
    if (detail?.id !== this.incidentId || !Array.isArray(detail.steps)) return;
    this.add(detail.steps);
    this.knownUpdate = detail.updated_at;
  }

  async refresh(incident) {
    if (this.loading) return;
    const wanted = incident.updated_at;
    this.loading = get(`/api/incidents/${incident.id}`);
    try {
      this.setDetail(await this.loading);
      this.knownUpdate = wanted;
    } catch (err) {
      console.warn("timeline: incident %d could not be loaded", incident.id, err);
    } finally {
      this.loading = null;
    }
  }
}

const row = (label, value, testid) => [h("dt", {}, label), h("dd", { "data-testid": testid }, value ?? "–")];

// The record of one incident (open or closed), with its timeline, in the side panel.
export function renderRecord(detail) {
  const i = detail;
  return h("section", { class: "incident-record", "data-testid": "incident-record", "data-incident-id": i.id,
    "data-state": i.state },
  h("h3", {}, `#${i.id} · `, name("incident_source", i.source ?? "device"), " · ", h("code", {}, i.device_id),
    " ", h("span", { class: `badge state-${i.state}` }, name("incident_state", i.state))),
  h("dl", {},
    row(t("rescue_code"), i.rescue_code),
    row(t("district"), name("district", i.district_code) || null),
    row(t("place"), i.place ? name("place", i.place) : null),
    row(t("caller"), [i.caller, i.caller_phone].filter(Boolean).join(" ") || null, "record-caller"),
    row(t("raised_at"), dateTime(i.raised_at)),
    row(t("tier"), name("tier", tierOf(i)), "record-tier"),
    row(t("maintenance_unit"), [i.maintenance_unit, i.maintenance_contact].filter(Boolean).join(" · ") || null),
    row(t("rec_persons_released"), i.persons_released, "record-persons"),
    row(t("rec_injuries"), i.injuries, "record-injuries"),
    row(t("rec_cause_class"), i.cause_class ? name("cause_class", i.cause_class) : null, "record-cause"),
    row(t("rec_self_release"), yesNo(i.self_release), "record-self-release"),
    row(t("rec_callback_confirmed"), yesNo(i.callback_confirmed), "record-callback"),
    row(t("closed_at"), dateTime(i.closed_at) || null)),
  h("h4", {}, t("timeline")),
  h("ol", { class: "timeline", "data-testid": "timeline" }, renderTimeline(i.steps)));
}

// The side panel with one incident's record (the shift view's rows open it).
export async function showIncident(incidentId) {
  const panel = document.getElementById("device-panel");
  const body = panel.querySelector(".panel-body");
  panel.hidden = false;
  panel.dataset.deviceId = "";
  panel.dataset.incidentId = String(incidentId);
  replace(body, t("loading"));
  try {
    const detail = await get(`/api/incidents/${incidentId}`);
    if (panel.dataset.incidentId === String(incidentId)) replace(body, renderRecord(detail));
  } catch (err) {
    if (panel.dataset.incidentId === String(incidentId)) {
      replace(body, h("p", { class: "error" }, t("error", { msg: err.message })));
    }
  }
}
