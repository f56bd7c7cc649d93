// The city map: Xining's districts drawn from the outlines semon ships (no tile server: a 96333
// centre works on a closed network), the open alarms and active incidents as markers where the
// register places their units, and their count per district. Markers come from the live stream;
// positions from GET /api/map, asked again only when a device not yet placed appears. A click on a
// marker opens the device card.
import { get } from "./api.js";
import { showDeviceCard } from "./device-card.js";
import { coalesce, h, replace } from "./dom.js";
import { followLive } from "./follow.js";
import { name, t } from "./i18n.js";
import { LiveStore } from "./live.js";
import { bounds, countsByDistrict, labelPoint, markers, pathOf, projection, unasked } from "./map-geo.js";

const SVG = "http://www.w3.org/2000/svg";
const OUTLINES_URL = "/static/xining-districts.json";
const CORE = ["630102", "630103", "630104", "630105"]; // the four city districts: where most units stand
const WIDTH = 1000;
const HEIGHT = 760;
const RETRY_MS = 10000;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children) el.append(child);
  return el;
}

export function mount(root, ctx) {
  const store = new LiveStore();
  const located = new Map(); // device id → [lat, lon], or null when the register does not place it
  let features = [];
  let view = "city";
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "city-map", "data-testid": "city-map", role: "img" });
  const countRows = h("tbody");
  const totals = h("tfoot");
  const unlocated = h("p", { class: "muted", "data-testid": "map-unlocated", hidden: true });
  const status = h("p", { class: "error", hidden: true });
  const viewButtons = ["city", "core"].map((v) => h("button", { type: "button", "data-view": v,
    "data-testid": `map-view-${v}`, onclick: () => { view = v; draw(); } }, t(v === "city" ? "map_city" : "map_core")));

  replace(root,
    h("div", { class: "map-page" },
      h("section", { class: "map-canvas" },
        h("div", { class: "map-toolbar" }, h("h2", {}, t("map_title")), h("span", { class: "spacer" }), viewButtons),
        status, svg,
        h("p", { class: "muted small" }, t("map_source"))),
      h("aside", { class: "map-side" },
        h("table", { class: "map-counts", "data-testid": "map-counts" },
          h("thead", {}, h("tr", {}, h("th", {}, t("district")), h("th", { class: "num" }, t("map_incidents")),
            h("th", { class: "num" }, t("map_alarms")))),
          countRows, totals),
        unlocated,
        h("ul", { class: "map-legend" },
          h("li", {}, h("span", { class: "dot incident" }), t("map_legend_incident")),
          h("li", {}, h("span", { class: "dot sev-critical" }), t("map_legend_critical")),
          h("li", {}, h("span", { class: "dot sev-other" }), t("map_legend_other"))))));

  let layers = null; // {project, markers: <g>, radius}

  function draw() {
    for (const b of viewButtons) b.classList.toggle("current", b.dataset.view === view);
    if (!features.length) return;
    const box = bounds(features, view === "core" ? CORE : null);
    const project = projection(box, WIDTH, HEIGHT, 24);
    const districts = s("g", { class: "districts" });
    const labels = s("g", { class: "labels" });
    for (const f of features) {
      const code = f.properties.code;
      districts.append(s("path", { d: pathOf(f.geometry, project), class: CORE.includes(code) ? "district core" : "district",
        "data-testid": "district", "data-code": code, "fill-rule": "evenodd" }, s("title", {}, name("district", code))));
      const [x, y] = project(labelPoint(f));
      if (x < 0 || x > WIDTH || y < 0 || y > HEIGHT) continue;
      labels.append(s("text", { x: x.toFixed(1), y: y.toFixed(1), class: "district-label", "data-testid": "district-label",
        "data-code": code, "text-anchor": "middle" }, name("district", code)));
    }
    const markerLayer = s("g", { class: "markers" });
    replace(svg, districts, labels, markerLayer);
    layers = { project, markers: markerLayer, radius: view === "core" ? 9 : 7 };
    drawMarkers();
  }

  function drawMarkers() {
    const list = markers(store, located);
    renderCounts(list);
    const missing = list.filter((m) => located.get(m.device_id) === null).length; // the register does not place it
    unlocated.hidden = missing === 0;
    unlocated.textContent = t("map_unlocated", { n: missing });
    if (!layers) return;
    const { project, radius } = layers;
    replace(layers.markers, ...list.filter((m) => m.at).map((m) => {
      const [x, y] = project([m.at[1], m.at[0]]).map((v) => v.toFixed(1));
      const incident = m.kind === "incident";
      const dot = s("circle", { cx: x, cy: y, r: incident ? radius + 3 : radius,
        class: incident ? "marker incident" : `marker sev-${m.severity}`,
        "data-testid": "map-marker", "data-kind": m.kind, "data-id": m.id, "data-device-id": m.device_id,
        tabindex: 0, onclick: () => showDeviceCard(m.device_id),
        onkeydown: (e) => { if (e.key === "Enter") showDeviceCard(m.device_id); } },
      s("title", {}, `${name("alarm_type", m.type)} · ${m.device_id} · ${name("district", m.district_code)}`));
      // An incident is unmissable: a flashing ring around a solid marker (the marker stays clickable).
      return incident ? [s("circle", { cx: x, cy: y, r: radius + 8, class: "halo" }), dot] : dot;
    }).flat());
    locate(list);
  }

  function renderCounts(list) {
    const codes = features.length ? features.map((f) => f.properties.code) : CORE;
    const counts = countsByDistrict(list, codes);
    const rows = codes.map((code) => [code, counts[code]]);
    if (counts.null.incidents || counts.null.alarms) rows.push([null, counts.null]);
    replace(countRows, rows.map(([code, n]) => h("tr", { "data-testid": "district-count", "data-code": code ?? "",
      class: n.incidents ? "has-incidents" : "" },
    h("td", {}, code ? name("district", code) : t("unknown")),
    h("td", { class: "num", "data-testid": "count-incidents" }, n.incidents),
    h("td", { class: "num", "data-testid": "count-alarms" }, n.alarms))));
    const sum = (k) => rows.reduce((acc, [, n]) => acc + n[k], 0);
    replace(totals, h("tr", {}, h("th", {}, t("map_total")), h("th", { class: "num" }, sum("incidents")),
      h("th", { class: "num" }, sum("alarms"))));
  }

  // One request at a time; a device that appears meanwhile is asked for by the next one. A device
  // the answer did not list (its alarm cleared meanwhile) is asked for again on a later change, not
  // before RETRY_MS: a change never turns into a stream of requests.
  let inFlight = false;
  const missedAt = new Map(); // device id → when an answer last left it out
  async function locate(list) {
    const asked = unasked(list, located).filter((id) => !(Date.now() - (missedAt.get(id) ?? 0) < RETRY_MS));
    if (inFlight || !asked.length) return;
    inFlight = true;
    try {
      const answer = await get("/api/map");
      for (const m of [...answer.alarms, ...answer.incidents]) {
        located.set(m.device_id, m.latitude === null ? null : [m.latitude, m.longitude]);
        missedAt.delete(m.device_id);
      }
      for (const id of asked) if (!located.has(id)) missedAt.set(id, Date.now());
      status.hidden = true;
    } catch (err) {
      status.hidden = false;
      status.textContent = t("error", { msg: err.message });
      inFlight = false;
      return; // the next live change asks again
    }
    inFlight = false;
    redraw();
  }

  const redraw = coalesce(drawMarkers);
  store.onChange(redraw);
  draw();
  fetch(OUTLINES_URL, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((geo) => {
      features = geo.features;
      draw();
    })
    .catch((err) => {
      status.hidden = false;
      status.textContent = t("map_outlines_failed", { msg: err.message });
    });
  followLive(store, root, ctx);
}
