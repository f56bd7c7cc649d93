// A view's live connection, wired to the page's live indicator and session check.
import { get, now } from "./api.js";
import { LiveConnection } from "./live.js";

export function followLive(store, root, ctx) {
  const connection = new LiveConnection(store, {
    onStatus: (status) => {
      root.classList.toggle("stale", !status.live);
      ctx.setLive(status);
    },
    onGone: ctx.checkSession,
    // The stream is checked against the open alarms now and then: nothing may be missed.
    audit: async () => (await get("/api/alarms?state=open&limit=1000")).alarms,
    now,
  });
  connection.start();
  return connection;
}
