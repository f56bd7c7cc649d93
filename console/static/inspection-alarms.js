// The register's alarms (the 'inspection' desk: running with an expired inspection, 准用状态) on
// the bureau's page: a small list, apart from the 96333 board. bureau.js imports this module for
// its effect: the list puts itself at the end of the bureau's view once that is drawn, and again
// whenever the view is drawn anew. Refreshed with the bureau's other figures, once a minute.
import { get } from "./api.js";
import { showDeviceCard } from "./device-card.js";
import { h, replace } from "./dom.js";
import { shortDateTime } from "./format.js";
import { name, t } from "./i18n.js";

const REFRESH_MS = 60000;
const LIMIT = 200;

function panel() {
  const body = h("div", { "data-testid": "inspection-alarms-list" }, h("p", { class: "muted" }, t("loading")));
  const count = h("span", { class: "desk-count", "data-testid": "inspection-alarms-count" });
  const section = h("section", { class: "inspection-alarms", "data-testid": "inspection-alarms" },
    h("h2", {}, t("desk_title_inspection"), " ", count), body);
  const load = async () => {
    try {
      const { alarms } = await get(`/api/alarms?desk=inspection&state=open&limit=${LIMIT}`);
      count.textContent = `(${alarms.length}${alarms.length >= LIMIT ? "+" : ""})`;
      if (!alarms.length) return replace(body, h("p", { class: "muted" }, t("no_alarms")));
      replace(body, h("table", { class: "data compact alarm-table" },
        h("thead", {}, h("tr", {}, [t("type"), t("device"), t("district"), t("raised_at"), t("alarm_handling")]
          .map((x) => h("th", {}, x)))),
        h("tbody", {}, alarms.map((a) => h("tr", { "data-testid": "inspection-alarm-row", "data-alarm-id": a.id,
          "data-device-id": a.device_id, onclick: () => showDeviceCard(a.device_id) },
        h("td", {}, name("alarm_type", a.type)), h("td", {}, h("code", {}, a.device_id)),
        h("td", {}, name("district", a.district_code)), h("td", {}, shortDateTime(a.raised_at)),
        h("td", {}, a.acknowledged_at ? t("acknowledged_by", { who: a.acknowledged_by ?? "", time: shortDateTime(a.acknowledged_at) }) : ""))))));
    } catch (err) {
      replace(body, h("p", { class: "error" }, t("error", { msg: err.message })));
    }
  };
  load();
  setInterval(load, REFRESH_MS);
  return section;
}

function attach() {
  const root = document.getElementById("app");
  if (!root) return;
  let section = null;
  const place = () => {
    if (root.dataset.view !== "bureau" || !root.childElementCount) return;
    if (section && section.parentNode === root && root.lastElementChild === section) return;
    section ??= panel();
    root.append(section);
  };
  new MutationObserver(place).observe(root, { childList: true });
  place();
}

attach();
