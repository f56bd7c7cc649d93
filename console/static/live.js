// The live stream (/api/live): the open alarms and active incidents, kept current.
// LiveStore is pure state (node-testable); LiveConnection owns the WebSocket and reconnects.
import { parseTime } from "./format.js";

export class LiveStore {
  constructor() {
    this.alarms = new Map(); // open alarms by id
    this.incidents = new Map(); // active incidents by id
    this.cleared = new Map(); // cleared alarms that an active incident still refers to
    this.lastSteps = new Map(); // incident id → the latest step the stream told of (its timeline grows live)
    this.listeners = new Set();
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  alarm(id) {
    return this.alarms.get(id) ?? this.cleared.get(id) ?? null;
  }

  // The snapshot is the truth: it replaces everything (so nothing missed while away stays missing).
  applySnapshot(message) {
    this.alarms.clear();
    this.incidents.clear();
    this.lastSteps.clear();
    for (const alarm of message.alarms ?? []) this.upsertAlarm(alarm);
    for (const incident of message.incidents ?? []) this.upsertIncident(incident);
    this.prune();
    this.emit();
  }

  apply(message) {
    if (message.topic === "snapshot") return this.applySnapshot(message);
    if (message.topic === "alarm" && message.alarm) this.upsertAlarm(message.alarm);
    else if (message.topic === "incident" && message.incident) {
      this.upsertIncident(message.incident);
      if (message.step) this.lastSteps.set(message.incident.id, message.step);
      if (message.incident.active === false) this.lastSteps.delete(message.incident.id);
    } else return;
    this.prune();
    this.emit();
  }

  // Changes may repeat what the snapshot showed, or overtake a step's own answer: upserts by id,
  // and an incident never goes back to an older version.
  upsertAlarm(alarm) {
    if (alarm.state === "open") {
      this.alarms.set(alarm.id, alarm);
      this.cleared.delete(alarm.id);
    } else {
      this.alarms.delete(alarm.id);
      this.cleared.set(alarm.id, alarm);
    }
  }

  upsertIncident(incident) {
    const known = this.incidents.get(incident.id);
    if (known && (parseTime(known.updated_at) ?? 0) > (parseTime(incident.updated_at) ?? 0)) return;
    if (incident.active === false) this.incidents.delete(incident.id);
    else this.incidents.set(incident.id, incident);
  }

  prune() {
    const wanted = new Set([...this.incidents.values()].map((i) => i.alarm_id));
    for (const id of this.cleared.keys()) if (!wanted.has(id)) this.cleared.delete(id);
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }
}

const RESYNC_CLOSE = 4001; // ours: drop this socket, take a fresh snapshot
const SLOW_CONSUMER_CLOSE = 4008; // the server's: "too slow; reconnect to resync"
const SESSION_ENDED_CLOSE = 4401; // the server's: the session ended (logout, disabled, expired)

// Full jitter over a capped exponential: a restarted server is not stormed by every console at once.
export function backoffMs(attempt, { baseMs = 500, maxMs = 15000, random = Math.random } = {}) {
  const cap = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(cap / 2 + random() * (cap / 2));
}

export class LiveConnection {
  // onStatus({live, retryAt}); audit() resolves to the open alarms the server has (a check that
  // nothing was missed), or throws when the server cannot be reached.
  constructor(store, { url, onStatus = () => {}, onGone = () => {}, audit = null, auditEveryMs = 30000, now = Date.now } = {}) {
    this.store = store;
    this.url = url ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`;
    this.onStatus = onStatus;
    this.onGone = onGone; // the socket never opened twice in a row: perhaps the session ended
    this.audit = audit;
    this.auditEveryMs = auditEveryMs;
    this.now = now; // the server's clock, to judge its timestamps
    this.attempt = 0;
    this.failedOpens = 0;
    this.ws = null;
    this.live = false;
    this.stopped = false;
    this.retryTimer = null;
    this.auditTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
    if (this.audit) this.auditTimer = setInterval(() => this.check(), this.auditEveryMs);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.auditTimer);
    this.drop();
  }

  setLive(live, retryAt = null) {
    this.live = live;
    this.onStatus({ live, retryAt });
  }

  connect() {
    clearTimeout(this.retryTimer);
    const ws = new WebSocket(this.url);
    let opened = false;
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.failedOpens = 0;
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn("live: not JSON", String(event.data).slice(0, 200));
        return;
      }
      this.store.apply(message);
      if (message.topic === "snapshot") {
        this.attempt = 0; // only a snapshot makes the board whole again
        this.setLive(true);
      }
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === SESSION_ENDED_CLOSE || (!opened && ++this.failedOpens >= 2)) this.onGone();
      this.retry(event.code === SLOW_CONSUMER_CLOSE || event.code === RESYNC_CLOSE ? 0 : null);
    };
  }

  retry(delayMs = null) {
    if (this.stopped) return;
    const wait = delayMs ?? backoffMs(this.attempt++);
    this.setLive(false, Date.now() + wait);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  // Forget the socket without waiting for its close handshake (a dead network may never finish it).
  drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      try {
        ws.close(RESYNC_CLOSE, "resync");
      } catch {
        // already closing
      }
    }
  }

  resync() {
    this.drop();
    this.retry(0);
  }

  // Never miss an alarm: what the server holds open (for a while, so it is not merely in flight)
  // must be on the board; if not, take a fresh snapshot. An unreachable server means the socket
  // is likely dead too.
  async check() {
    if (!this.live || !this.audit) return;
    let open;
    try {
      open = await this.audit();
    } catch (err) {
      console.warn("live: audit failed; reconnecting", err);
      this.resync();
      return;
    }
    const settled = this.now() - 10000;
    const missing = open.filter((a) => !this.store.alarms.has(a.id) && (parseTime(a.raised_seen_at) ?? 0) < settled);
    if (missing.length) {
      console.warn("live: %d open alarm(s) missing; resyncing", missing.length);
      this.resync();
    }
  }
}
