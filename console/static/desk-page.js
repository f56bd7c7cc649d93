// A desk's own page: the boiler desk (/boiler) and the IoT view (/iot). The open alarms of that
// desk only, live, with the same filters, acknowledgement and shelving as the board's list; a
// summary by type and district on top; sound and desktop notifications for the desk's critical
// alarms.
import { currentUser, devMode, now } from "./api.js";
import { AlarmDesk } from "./alarm-desk.js";
import { coalesce, h, replace } from "./dom.js";
import { followLive } from "./follow.js";
import { name, t } from "./i18n.js";
import { LiveStore } from "./live.js";
import { notifyNew } from "./notify.js";
import { soundControl } from "./sound.js";

const ACTING_ROLES = new Set(["operator", "admin"]);

function summary(store, desk) {
  const open = [...store.alarms.values()].filter((a) => a.desk === desk && a.state === "open");
  const count = (key) => {
    const counts = new Map();
    for (const a of open) counts.set(a[key], (counts.get(a[key]) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1]);
  };
  return h("div", { class: "tiles", "data-testid": "desk-summary" },
    h("div", { class: "tile", "data-testid": "desk-total" }, h("span", {}, t("total_open")), h("strong", {}, open.length)),
    count("type").map(([type, n]) => h("div", { class: "tile", "data-type": type },
      h("span", {}, name("alarm_type", type)), h("strong", {}, n))),
    count("district_code").map(([district, n]) => h("div", { class: "tile district", "data-district": district ?? "" },
      h("span", {}, district ? name("district", district) : t("not_registered")), h("strong", {}, n))));
}

export function mountDesk(root, ctx, desk) {
  const store = new LiveStore();
  const { beeper, element: soundButton } = soundControl(h, t);
  const canAct = devMode() || ACTING_ROLES.has(currentUser()?.role);
  const alarmDesk = new AlarmDesk({ desk, store, now, canAct, beeper });
  const top = h("div", { "data-testid": "desk-summary-box" });
  replace(root,
    h("div", { class: "board-top desk-top" }, h("h2", { class: "desk-title" }, t(`desk_title_${desk}`)), soundButton),
    top, h("section", { class: "desk-page", "data-testid": `desk-${desk}` }, alarmDesk.el));
  store.onChange(coalesce(() => {
    replace(top, summary(store, desk));
    alarmDesk.render();
  }));
  notifyNew(store, { desk, now });
  followLive(store, root, ctx);
}
