// The console's entry point: one page shell for every path; this decides what to render from the
// path and the session, and owns the header (navigation, live indicator, language, logout).
import { currentUser, devMode, loadCalendar, loadSession, logout } from "./api.js";
import { setUpPanel } from "./device-card.js";
import { h, replace } from "./dom.js";
import { lang, name, setLang, t } from "./i18n.js";
import { safeNext } from "./login.js";
import { homeFor, mayOpen, PAGES, pagesFor } from "./pages.js";

const VIEWS = {
  "/board": () => import("./board.js"),
  "/agency": () => import("./agency.js"),
  "/bureau": () => import("./bureau.js"),
  "/map": () => import("./map.js"),
  "/admin/users": () => import("./users.js"),
};
const LIVE_VIEWS = new Set(["/board", "/bureau", "/map"]);
const $ = (id) => document.getElementById(id);

function toLogin() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
}

function renderHeader(user, path) {
  $("title").textContent = t("app_title");
  const other = lang() === "en" ? "zh-CN" : "en";
  $("lang").textContent = t("lang_switch");
  $("lang").onclick = () => {
    setLang(other);
    location.reload(); // every view renders its text once; a reload is the simplest full switch
  };
  if (!user) return;
  const paths = devMode() ? Object.keys(PAGES) : pagesFor(user.role);
  replace($("nav"), paths.map((p) => h("a", { href: p, class: p === path ? "current" : "", "data-testid": `nav-${p.slice(1).replaceAll("/", "-")}` },
    t(PAGES[p].title))));
  $("user").textContent = devMode() ? t("dev_mode") : `${user.display_name || user.username} · ${name("role", user.role)}`;
  $("logout").hidden = devMode();
  $("logout").textContent = t("logout");
  $("logout").onclick = async () => {
    try {
      await logout();
    } finally {
      location.assign("/login");
    }
  };
}

// The connection state, in the header and, when the board is not live, across the page.
function liveIndicator() {
  const indicator = $("live");
  const banner = $("offline-banner");
  let everLive = false;
  let timer = null;
  return ({ live, retryAt = null }) => {
    everLive ||= live;
    indicator.hidden = false;
    indicator.dataset.live = String(live);
    indicator.textContent = live ? `● ${t("live")}` : `● ${everLive || retryAt ? t("not_live") : t("connecting")}`;
    banner.hidden = live;
    clearInterval(timer);
    if (live) return;
    const show = () => {
      const s = retryAt ? Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) : 0;
      banner.textContent = everLive || retryAt ? `${t("not_live")} ${s ? t("reconnect_in", { s }) : ""}` : t("connecting");
    };
    show();
    timer = setInterval(show, 1000);
  };
}

async function checkSession() {
  try {
    if (!(await loadSession())) toLogin();
  } catch {
    // the server is away: the live view keeps retrying by itself
  }
}

async function main() {
  document.documentElement.lang = lang();
  document.title = t("app_title");
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const root = $("app");
  setUpPanel();
  window.addEventListener("semon:unauthenticated", toLogin);
  let user;
  try {
    user = await loadSession();
  } catch (err) {
    renderHeader(null, path);
    replace(root, h("p", { class: "error" }, t("error", { msg: err.message })),
      h("button", { onclick: () => location.reload() }, t("retry")));
    return;
  }
  if (path === "/login") {
    if (user && !devMode()) return location.replace(safeNext(location.search) ?? homeFor(user.role));
    renderHeader(null, path);
    const view = await import("./login.js");
    view.mount(root);
    if (devMode()) root.prepend(h("p", { class: "muted" }, t("dev_mode"), " · ", h("a", { href: "/board" }, t("nav_board"))));
    return;
  }
  if (!user) return toLogin();
  renderHeader(user, path);
  try {
    await loadCalendar(); // the register's zone and today, before anything shows a date
  } catch (err) {
    replace(root, h("p", { class: "error" }, t("error", { msg: err.message })),
      h("button", { onclick: () => location.reload() }, t("retry")));
    return;
  }
  if (!VIEWS[path]) return location.replace(homeFor(user.role));
  if (!devMode() && !mayOpen(user.role, path)) {
    replace(root, h("p", { class: "error", "data-testid": "forbidden" }, t("forbidden")),
      h("a", { href: homeFor(user.role) }, t("go_home")));
    return;
  }
  const setLive = liveIndicator();
  if (LIVE_VIEWS.has(path)) setLive({ live: false });
  root.dataset.view = path.slice(1).replaceAll("/", "-");
  const view = await VIEWS[path]();
  view.mount(root, { user: currentUser(), setLive, checkSession });
}

main();
