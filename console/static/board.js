// The emergency centre's live board: entrapments first (banner, sound, flashing, timers, the next
// step), then every other open alarm by severity and time. State comes only from the live stream;
// a step's answer is applied at once and the stream confirms it.
import { currentUser, devMode, now, post, withActor } from "./api.js";
import { showDeviceCard } from "./device-card.js";
import { coalesce, h, replace } from "./dom.js";
import { shortDateTime } from "./format.js";
import { entrapments, otherAlarms } from "./incident.js";
import { IncidentCard } from "./incident-card.js";
import { name, t } from "./i18n.js";
import { followLive } from "./follow.js";
import { Intake } from "./intake.js";
import { LiveStore } from "./live.js";
import { Beeper } from "./sound.js";

const MAX_ROWS = 500; // a city-wide outage can open thousands of offline alarms
const ACTING_ROLES = new Set(["operator", "admin"]);

export function mount(root, ctx) {
  const store = new LiveStore();
  const canAct = devMode() || ACTING_ROLES.has(currentUser()?.role);
  const cards = new Map(); // entry key → EntrapmentCard
  const beeper = new Beeper({ onState: (on) => { soundButton.hidden = on; } });
  const soundButton = h("button", { class: "sound-button", "data-testid": "enable-sound", onclick: () => beeper.enable() },
    t("enable_sound"));
  const banner = h("div", { class: "entrapment-banner", role: "alert", "data-testid": "entrapment-banner", hidden: true });
  const list = h("div", { class: "entrapment-list", "data-testid": "entrapment-list" });
  const empty = h("p", { class: "muted", "data-testid": "no-entrapments" }, t("no_entrapments"));
  const alarmRows = h("tbody");
  const alarmsEmpty = h("p", { class: "muted" }, t("no_alarms"));
  const alarmsMore = h("p", { class: "muted", hidden: true });
  const baseTitle = document.title;

  const intake = canAct ? new Intake((incident) => store.apply({ topic: "incident", op: "raised", incident })) : null;
  replace(root,
    h("div", { class: "board-top" }, intake?.button, banner, soundButton),
    intake?.el,
    h("div", { class: "board" },
      h("section", { class: "entrapments" }, h("h2", {}, t("entrapments")), empty, list),
      h("section", { class: "alarms" }, h("h2", {}, t("other_alarms")),
        h("table", { class: "alarm-table", "data-testid": "alarm-list" },
          h("thead", {}, h("tr", {}, [t("severity"), t("type"), t("device"), t("district"), t("raised_at")]
            .map((label) => h("th", {}, label)))),
          alarmRows),
        alarmsEmpty, alarmsMore)));

  const act = (incident, body) => takeStep(store, incident, body);
  function renderEntrapments() {
    const entries = entrapments(store);
    const keys = new Set(entries.map((e) => e.key));
    for (const [key, card] of cards) {
      if (!keys.has(key)) {
        card.el.remove();
        cards.delete(key);
      }
    }
    entries.forEach((entry, index) => {
      let card = cards.get(entry.key);
      if (!card) cards.set(entry.key, (card = new IncidentCard(canAct, act, store)));
      card.update(entry, now());
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

  function renderAlarms() {
    const alarms = otherAlarms(store);
    replace(alarmRows, alarms.slice(0, MAX_ROWS).map(alarmRow));
    alarmsEmpty.hidden = alarms.length > 0;
    alarmsMore.hidden = alarms.length <= MAX_ROWS;
    alarmsMore.textContent = `+${alarms.length - MAX_ROWS}`;
  }

  store.onChange(coalesce(() => {
    renderEntrapments();
    renderAlarms();
  }));
  setInterval(() => {
    const at = now();
    for (const card of cards.values()) card.tick(at);
  }, 1000);

  followLive(store, root, ctx);
}

function alarmRow(alarm) {
  return h("tr", {
    class: `sev-${alarm.severity}`, "data-testid": "alarm-row", "data-alarm-id": alarm.id,
    "data-severity": alarm.severity, "data-type": alarm.type, onclick: () => showDeviceCard(alarm.device_id),
  },
  h("td", {}, h("span", { class: `badge sev-${alarm.severity}` }, name("severity", alarm.severity))),
  h("td", {}, name("alarm_type", alarm.type)),
  h("td", {}, h("code", {}, alarm.device_id)),
  h("td", {}, name("district", alarm.district_code)),
  h("td", {}, shortDateTime(alarm.raised_at)));
}

async function takeStep(store, incident, body) {
  const path = body.step === "comment" ? `/api/incidents/${incident.id}/comments` : `/api/incidents/${incident.id}/steps`;
  const payload = body.step === "comment" ? { comment: body.comment } : body;
  const answer = await post(path, withActor(payload));
  if (body.step !== "comment") store.apply({ topic: "incident", op: body.step, incident: answer });
  return answer;
}
