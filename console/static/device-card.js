// The device card (GET /api/devices/{id}): where the device is, who maintains and inspects it,
// its latest telemetry and open alarms. Shown in the side panel; also feeds the entrapment cards
// (address, maintenance unit and phone for the dispatch).
import { get } from "./api.js";
import { h, replace } from "./dom.js";
import { dateTime, day } from "./format.js";
import { keysOf, name, t } from "./i18n.js";

const TTL_MS = 60000;
const cache = new Map(); // device id → {at, promise}

export function loadCard(deviceId, { fresh = false } = {}) {
  const hit = cache.get(deviceId);
  if (hit && !fresh && Date.now() - hit.at < TTL_MS) return hit.promise;
  const promise = get(`/api/devices/${encodeURIComponent(deviceId)}`);
  cache.set(deviceId, { at: Date.now(), promise });
  promise.catch(() => cache.delete(deviceId)); // a failure is not remembered
  return promise;
}

const row = (label, ...value) => [h("dt", {}, label), h("dd", {}, ...value)];
const yesNo = (v) => (v === null || v === undefined ? t("unknown") : v ? t("yes") : t("no"));

function telemetryValue(value) {
  if (typeof value === "boolean") return yesNo(value);
  if (typeof value === "string") return name("telemetry_value", value);
  return String(value);
}

function telemetryTable(telemetry) {
  const order = keysOf("telemetry"); // the protocol's order: running, direction, floor, doors…
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  const entries = Object.entries(telemetry ?? {}).filter(([k]) => !["ts", "seq", "v"].includes(k))
    .sort(([a], [b]) => rank(a) - rank(b));
  if (!entries.length) return t("none");
  return h("table", { class: "compact", "data-testid": "telemetry" },
    entries.map(([k, v]) => h("tr", {}, h("th", {}, name("telemetry", k)), h("td", {}, telemetryValue(v)))));
}

function phoneLink(phone) {
  return phone ? h("a", { href: `tel:${phone}`, class: "phone" }, phone) : null;
}

export function renderCard(card) {
  const m = card.maintenance_unit;
  const last = card.last_inspection;
  return h("section", { class: "device-card", "data-testid": "device-card", "data-device-id": card.device_id },
    h("h3", {}, card.address || card.device_id,
      card.registered ? null : h("span", { class: "badge warn" }, t("not_registered"))),
    h("dl", {},
      row(t("registration_code"), h("code", {}, card.registration_code)),
      row(t("category"), name("category", card.category ?? card.kind)),
      row(t("address"), card.address ?? "–"),
      row(t("district"), name("district", card.district_code) || card.district || "–"),
      row(t("owner"), card.owner?.name ?? "–"),
      row(t("maintenance_unit"), m ? [m.name, " ", phoneLink(m.phone)] : "–"),
      row(t("agency"), card.agency?.name ?? "–"),
      row(t("status"), name("equipment_status", card.status) || "–"),
      row(t("fit_for_use"), yesNo(card.fit_for_use)),
      row(t("last_inspection"), day(card.last_inspected) || "–",
        last ? ` (${name("result", last.result)}${last.report_no ? `, ${last.report_no}` : ""})` : ""),
      row(t("next_due"), h("span", { class: card.overdue ? "late" : "", "data-testid": "next-due" },
        day(card.next_due) || "–")),
      row(t("online"), h("span", { class: card.online ? "ok" : "late" },
        card.online === null ? t("unknown") : card.online ? t("online") : t("offline"))),
      row(t("last_seen"), dateTime(card.last_seen) || "–"),
    ),
    h("h4", {}, t("telemetry"), card.last_telemetry_at ? ` · ${dateTime(card.last_telemetry_at)}` : ""),
    telemetryTable(card.telemetry),
    h("h4", {}, t("open_alarms")),
    card.open_alarms.length
      ? h("ul", {}, card.open_alarms.map((a) => h("li", { class: `sev-${a.severity}` },
        `${name("alarm_type", a.type)} · ${name("severity", a.severity)} · ${dateTime(a.raised_at)}`)))
      : t("none"));
}

// The side panel: one device at a time; a refresh each time it is opened.
export async function showDeviceCard(deviceId) {
  const panel = document.getElementById("device-panel");
  const body = panel.querySelector(".panel-body");
  panel.hidden = false;
  panel.dataset.deviceId = deviceId;
  replace(body, t("loading"));
  try {
    const card = await loadCard(deviceId, { fresh: true });
    if (panel.dataset.deviceId === deviceId) replace(body, renderCard(card));
  } catch (err) {
    const message = err.status === 404 ? t("device_not_found") : t("error", { msg: err.message });
    if (panel.dataset.deviceId === deviceId) replace(body, h("p", { class: "error" }, message));
  }
}

export function setUpPanel() {
  const panel = document.getElementById("device-panel");
  panel.querySelector(".panel-close").addEventListener("click", () => { panel.hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") panel.hidden = true; });
}
