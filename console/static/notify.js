// Desktop notifications for a console in a background tab (document.hidden): a new entrapment or
// a new critical fault of the view's desk that sounds. Permission is asked for from a user gesture
// (the browser refuses it otherwise): the first click or key on the page, once.
import { isCalling } from "./desk-logic.js";
import { name, t } from "./i18n.js";

const supported = () => typeof Notification !== "undefined";

function askOnGesture() {
  if (!supported() || Notification.permission !== "default") return;
  const ask = () => {
    document.removeEventListener("pointerdown", ask, true);
    document.removeEventListener("keydown", ask, true);
    if (Notification.permission === "default") Notification.requestPermission().catch(() => {});
  };
  document.addEventListener("pointerdown", ask, true);
  document.addEventListener("keydown", ask, true);
}

// What deserves a notification now, by key: the desk's open entrapments and its calling critical
// faults. Pure (node-testable).
export function notifiable(store, desk, nowMs) {
  const out = new Map();
  for (const alarm of store.alarms.values()) {
    if (alarm.desk !== desk || alarm.state !== "open") continue;
    if (alarm.type === "entrapment" || (alarm.severity === "critical" && isCalling(alarm, nowMs))) {
      out.set(`a${alarm.id}`, alarm);
    }
  }
  return out;
}

// Follow `store` and notify of what is new while the tab is hidden. What the first snapshot shows
// is not new. Returns the function that stops it.
export function notifyNew(store, { desk, now = Date.now, show = (title, options) => new Notification(title, options) }) {
  askOnGesture();
  let seen = null;
  return store.onChange(() => {
    const current = notifiable(store, desk, now());
    const fresh = seen === null ? [] : [...current].filter(([key]) => !seen.has(key));
    seen = new Set(current.keys());
    if (!fresh.length || !document.hidden || !supported() || Notification.permission !== "granted") return;
    for (const [key, alarm] of fresh.slice(0, 3)) {
      try {
        const note = show(t("notify_title", { type: name("alarm_type", alarm.type) }), {
          body: `${alarm.device_id} · ${name("district", alarm.district_code)}`, tag: `semon-${key}`,
          requireInteraction: alarm.type === "entrapment",
        });
        note.onclick = () => window.focus();
      } catch (err) {
        console.warn("semon: notification refused", err);
      }
    }
  });
}
