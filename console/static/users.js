// The administrator's users page (/admin/users): every user with its role, agency and state; add a
// user with a role (an agency user with its agency's code); reset a password; disable or enable a
// user (never oneself). The server records every change with who and when (GET /api/users/events),
// shown below the list. No dialogs: each action is a button, its answer a line on the page.
import { currentUser, get, post } from "./api.js";
import { h, replace } from "./dom.js";
import { dateTime, isoDay, parseTime, shortDateTime } from "./format.js";
import { name, t } from "./i18n.js";

const ROLES = ["operator", "agency", "bureau", "admin"];
const MIN_PASSWORD = 8;

export function mount(root) {
  const me = currentUser();
  const list = h("div", { "data-testid": "user-list" });
  const events = h("div", { "data-testid": "user-events" });
  const message = h("p", { class: "muted", "data-testid": "users-message", role: "status" });

  function say(text, isError = false) {
    message.className = isError ? "error" : "ok";
    message.textContent = text;
  }

  async function refresh() {
    try {
      const [{ users }, log] = await Promise.all([get("/api/users"), get("/api/users/events?limit=50")]);
      replace(list, userTable(users, me, { resetPassword, setActive }));
      replace(events, eventTable(log.events));
    } catch (err) {
      replace(list, h("p", { class: "error" }, t("error", { msg: err.message })));
    }
  }

  async function act(work, done) {
    try {
      await work();
      say(done);
      await refresh();
      return true;
    } catch (err) {
      say(t("error", { msg: err.message }), true);
      return false;
    }
  }

  function resetPassword(user, password) {
    return act(() => post(`/api/users/${encodeURIComponent(user.username)}/password`, { password }),
      t("users_password_set", { user: user.username }));
  }

  function setActive(user, active) {
    return act(() => post(`/api/users/${encodeURIComponent(user.username)}/active`, { active }),
      t(active ? "users_enabled" : "users_disabled", { user: user.username }));
  }

  const form = newUserForm((body) => act(() => post("/api/users", body), t("users_created", { user: body.username })));

  replace(root,
    h("h2", {}, t("users_title")),
    message,
    h("div", { class: "agency users" },
      h("section", {}, h("div", { class: "scroll" }, list)),
      h("section", { class: "card sticky" }, h("h3", {}, t("users_add")), form)),
    h("section", {}, h("h3", {}, t("users_log")), h("div", { class: "scroll" }, events)));
  refresh();
}

function newUserForm(create) {
  const field = (label, input) => h("label", {}, h("span", {}, label), input);
  const username = h("input", { name: "username", required: true, maxlength: 64, autocomplete: "off",
    pattern: "[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}", "data-testid": "new-username" });
  const displayName = h("input", { name: "display_name", maxlength: 100, "data-testid": "new-display-name" });
  const role = h("select", { name: "role", "data-testid": "new-role" },
    ROLES.map((r) => h("option", { value: r }, name("role", r))));
  const agency = h("input", { name: "agency", maxlength: 64, placeholder: "XNTJS", "data-testid": "new-agency" });
  const agencyField = field(t("agency_code"), agency);
  const password = h("input", { name: "password", type: "password", required: true, minlength: MIN_PASSWORD,
    maxlength: 1024, autocomplete: "new-password", "data-testid": "new-password" });
  const showAgency = () => {
    agencyField.hidden = role.value !== "agency";
    agency.required = role.value === "agency";
  };
  role.addEventListener("change", showAgency);
  showAgency();
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "new-submit" }, t("users_add"));
  const form = h("form", { class: "stacked", "data-testid": "new-user-form" },
    field(t("username"), username), field(t("users_display_name"), displayName), field(t("users_role"), role),
    agencyField, field(t("users_initial_password"), password), h("p", { class: "muted small" }, t("users_password_rule")),
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    const body = { username: username.value.trim(), password: password.value, role: role.value,
      display_name: displayName.value.trim() };
    if (role.value === "agency") body.agency = agency.value.trim();
    try {
      if (await create(body)) form.reset();
      showAgency();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function userTable(users, me, actions) {
  if (!users.length) return h("p", { class: "muted" }, t("users_none"));
  const head = [t("username"), t("users_display_name"), t("users_role"), t("agency"), t("users_created_on"),
    t("users_new_password"), t("status")];
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, head.map((label) => h("th", {}, label)))),
    h("tbody", {}, users.map((u) => userRow(u, me, actions))));
}

function userRow(u, me, { resetPassword, setActive }) {
  const self = me && u.username === me.username;
  const password = h("input", { type: "password", minlength: MIN_PASSWORD, maxlength: 1024, autocomplete: "new-password",
    "aria-label": t("users_new_password"), "data-testid": "reset-password" });
  const reset = h("button", { type: "submit", class: "secondary", "data-testid": "reset-submit" }, t("users_reset"));
  const resetForm = h("form", { class: "inline" }, password, reset);
  resetForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (password.value.length < MIN_PASSWORD) return password.reportValidity();
    reset.disabled = true;
    try {
      await resetPassword(u, password.value);
    } finally {
      reset.disabled = false;
    }
  });
  const toggle = h("button", { type: "button", class: u.active ? "secondary" : "primary",
    "data-testid": u.active ? "disable-user" : "enable-user", disabled: Boolean(self && u.active),
    title: self ? t("users_not_yourself") : "" }, t(u.active ? "users_disable" : "users_enable"));
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    await setActive(u, !u.active);
  });
  return h("tr", { "data-testid": "user-row", "data-username": u.username, "data-active": String(u.active),
    class: u.active ? "" : "muted" },
    h("td", {}, h("code", {}, u.username), self ? h("span", { class: "badge" }, t("users_you")) : null),
    h("td", {}, u.display_name),
    h("td", {}, name("role", u.role)),
    h("td", {}, u.agency ?? ""),
    h("td", { title: dateTime(u.created_at) }, isoDay(parseTime(u.created_at))),
    h("td", {}, resetForm),
    h("td", {}, h("div", { class: "state" },
      u.active ? h("span", { class: "ok" }, t("users_active")) : h("span", { class: "badge warn" }, t("users_inactive")),
      toggle)));
}

function eventTable(events) {
  if (!events.length) return h("p", { class: "muted" }, t("users_no_events"));
  const head = [t("users_when"), t("users_who"), t("username"), t("users_action"), t("users_detail")];
  return h("table", { class: "data compact" },
    h("thead", {}, h("tr", {}, head.map((label) => h("th", {}, label)))),
    h("tbody", {}, events.map((e) => h("tr", { "data-testid": "user-event", "data-action": e.action },
      h("td", { "data-testid": "user-event-at", title: dateTime(e.at) }, shortDateTime(e.at)),
      h("td", {}, e.actor),
      h("td", {}, h("code", {}, e.username)),
      h("td", {}, name("user_action", e.action)),
      h("td", {}, e.detail.role ? [name("role", e.detail.role), e.detail.agency ? ` · ${e.detail.agency}` : ""] : "")))));
}
