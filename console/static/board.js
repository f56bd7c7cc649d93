// The emergency centre's live board, the 96333 line only: entrapments first (banner, sound,
// flashing, timers, the next step), then the line's faults (alarm-desk.js: those endangering
// people highlighted; acknowledge, shelve, filter). Boiler, connectivity and register alarms have
// views of their own; an entrapment's device is listed once, on its card. State comes only from
// the live stream; a step's answer is applied at once and the stream confirms it.
import { currentUser, devMode, now, post, withActor } from "./api.js";
import { coalesce, h, replace } from "./dom.js";
import { entrapments } from "./incident.js";
import { IncidentCard } from "./incident-card.js";
import { name, t } from "./i18n.js";
import { followLive } from "./follow.js";
import { Intake } from "./intake.js";
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

  const intake = canAct ? new Intake((incident) => store.apply({ topic: "incident", op: "raised", incident })) : null;
  replace(root,
    h("div", { class: "board-top" }, intake?.button, banner, soundButton),
    intake?.el,
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
      if (!card) cards.set(entry.key, (card = new IncidentCard(canAct, act, store)));
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
  return answer;
}
