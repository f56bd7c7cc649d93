// The city map's pure logic (node-testable): projecting the districts' GeoJSON outlines to SVG
// coordinates, the markers the live store's alarms and incidents make, and their count per district.

// An equirectangular projection true at the box's middle latitude (at Xining's 36.6° N and a
// city's extent it differs from Mercator by under 1 %), fitted into width × height with `pad`.
export function projection([west, south, east, north], width, height, pad = 10) {
  const kx = Math.cos((((south + north) / 2) * Math.PI) / 180);
  const scale = Math.min((width - 2 * pad) / ((east - west) * kx || 1), (height - 2 * pad) / (north - south || 1));
  const offX = (width - (east - west) * kx * scale) / 2;
  const offY = (height - (north - south) * scale) / 2;
  return ([lon, lat]) => [offX + (lon - west) * kx * scale, offY + (north - lat) * scale];
}

export function polygonsOf(geometry) {
  if (geometry?.type === "Polygon") return [geometry.coordinates];
  if (geometry?.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

// [west, south, east, north] over the features (all of them when `codes` is not given).
export function bounds(features, codes = null) {
  let box = [Infinity, Infinity, -Infinity, -Infinity];
  for (const f of features) {
    if (codes && !codes.includes(f.properties.code)) continue;
    for (const polygon of polygonsOf(f.geometry)) {
      for (const [lon, lat] of polygon[0]) {
        box = [Math.min(box[0], lon), Math.min(box[1], lat), Math.max(box[2], lon), Math.max(box[3], lat)];
      }
    }
  }
  return box;
}

// An SVG path's `d` for a feature's rings (even-odd fill keeps holes open).
export function pathOf(geometry, project) {
  const parts = [];
  for (const polygon of polygonsOf(geometry)) {
    for (const ring of polygon) {
      parts.push(ring.map((p, i) => `${i ? "L" : "M"}${project(p).map((v) => v.toFixed(1)).join(",")}`).join("") + "Z");
    }
  }
  return parts.join("");
}

// Where a district's label goes: the middle of its outer ring's area (centroid), or its seat when
// the centroid falls outside (a crescent-shaped district).
export function labelPoint(feature) {
  const ring = polygonsOf(feature.geometry)[0]?.[0] ?? [];
  let a = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i + 1 < ring.length; i++) {
    const [x1, y1] = ring[i];
    const [x2, y2] = ring[i + 1];
    const cross = x1 * y2 - x2 * y1;
    a += cross;
    cx += (x1 + x2) * cross;
    cy += (y1 + y2) * cross;
  }
  if (!a) return feature.properties.seat;
  const centroid = [cx / (3 * a), cy / (3 * a)];
  return contains(feature.geometry, centroid) ? centroid : feature.properties.seat;
}

export function contains(geometry, [x, y]) {
  return polygonsOf(geometry).some((polygon) => {
    let inside = false;
    for (const ring of polygon) {
      for (let i = 0; i + 1 < ring.length; i++) {
        const [x1, y1] = ring[i];
        const [x2, y2] = ring[i + 1];
        if ((y1 > y) !== (y2 > y) && x < ((x2 - x1) * (y - y1)) / (y2 - y1) + x1) inside = !inside;
      }
    }
    return inside;
  });
}

// The markers of the live store: each active incident, and each open alarm that no active incident
// stands for (an entrapment's device is shown once). `located` maps a device id to [lat, lon] or null.
// Entrapment incidents first, then alarms by severity, so the most urgent are drawn on top (last).
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };

export function markers(store, located) {
  const incidents = [...store.incidents.values()];
  const covered = new Set(incidents.map((i) => i.alarm_id).filter((id) => id !== null && id !== undefined));
  const out = incidents.map((i) => ({ kind: "incident", id: i.id, device_id: i.device_id, district_code: i.district_code,
    state: i.state, severity: "critical", type: "entrapment", at: located.get(i.device_id) ?? null }));
  for (const a of store.alarms.values()) {
    if (covered.has(a.id)) continue;
    out.push({ kind: "alarm", id: a.id, device_id: a.device_id, district_code: a.district_code, state: a.state,
      severity: a.severity, type: a.type, at: located.get(a.device_id) ?? null });
  }
  const rank = (m) => (m.kind === "incident" ? -1 : SEVERITY_RANK[m.severity] ?? 4);
  return out.sort((x, y) => rank(y) - rank(x));
}

// {code: {incidents, alarms}} for every given code, plus `null` for those outside them.
export function countsByDistrict(list, codes) {
  const counts = Object.fromEntries(codes.map((c) => [c, { incidents: 0, alarms: 0 }]));
  counts.null = { incidents: 0, alarms: 0 };
  for (const m of list) {
    const key = m.district_code in counts ? m.district_code : "null";
    counts[key][m.kind === "incident" ? "incidents" : "alarms"] += 1;
  }
  return counts;
}

// The device ids of markers whose position has not been asked for yet.
export function unasked(list, located) {
  return [...new Set(list.filter((m) => !located.has(m.device_id)).map((m) => m.device_id))];
}
