// The login page: username and password → POST /api/login → the role's own page (or where the
// server's 401 page sent the user from, if it is one of ours).
import { ApiError, login } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { homeFor } from "./pages.js";

// Only a path on this site: never an open redirect to somewhere else. The value is resolved as the
// browser would resolve it (which drops tabs and newlines and reads a backslash as "/") against our own
// origin, and must come out with the same scheme, host and port, as a path that is not itself
// protocol-relative. Backslashes, control characters and "//" are refused before that.
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
export function safeNext(search, origin = location.origin) {
  const next = new URLSearchParams(search).get("next");
  if (!next || !next.startsWith("/") || next.startsWith("//") || UNSAFE.test(next)) return null;
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return null;
  }
  if (url.origin !== new URL(origin).origin || url.pathname.startsWith("//")) return null;
  return url.pathname + url.search + url.hash;
}

export function mount(root) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true,
    "data-testid": "login-username" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true,
    "data-testid": "login-password" });
  const message = h("p", { class: "error", role: "alert", "data-testid": "login-error" });
  const button = h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, t("login_submit"));
  const form = h("form", { class: "stacked login", "data-testid": "login-form" },
    h("h2", {}, t("login_title")),
    h("label", {}, h("span", {}, t("username")), username),
    h("label", {}, h("span", {}, t("password")), password),
    button, message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    message.textContent = "";
    try {
      const user = await login(username.value.trim(), password.value);
      location.assign(safeNext(location.search) ?? homeFor(user.role));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) location.assign("/board"); // no users yet: development
      else message.textContent = err instanceof ApiError && err.status < 500 ? t("login_failed") : t("login_unavailable");
    } finally {
      button.disabled = false;
    }
  });
  replace(root, form);
}
