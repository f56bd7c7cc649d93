// 新建接警: a phone call opens an incident. The operator finds the lift the caller describes by its
// rescue identification code (救援识别码, read from the plate in the car), its registration code
// or 设备代码, its use registration number or the address (GET /api/registry/search?q=), picks
// it, notes the caller, their phone and what they said, and opens the incident
// (POST /api/incidents). A lift not in the register can still be reported: its code and the
// maintenance unit, if the caller knows it, are typed in.
//
// A panel on the board, not a modal: the entrapment timers keep running and stay in view. Enter
// in the search box searches; Enter never opens an incident.
import { ApiError, post, get, withActor } from "./api.js";
import { h, replace } from "./dom.js";
import { name, t } from "./i18n.js";

const SEARCH_DELAY_MS = 250;
const SEARCH_LIMIT = 10;
const MAX_DEVICE_ID = 64;

// The search's answer, whatever the list is called.
function resultsOf(data) {
  if (Array.isArray(data)) return data;
  return data?.results ?? data?.equipment ?? data?.units ?? data?.items ?? [];
}

const codeOf = (unit) => unit.registration_code ?? unit.device_id ?? unit.code;
// A 96333 call is an entrapment: on a lift, the register's elevator category (escalators and moving
// walks included). The server refuses the others (400).
const LIFT_CATEGORY = "elevator";
const isLift = (unit) => !unit.category || unit.category === LIFT_CATEGORY;
// A device id as the devices send it (semon.protocol.topics.DEVICE_ID_PATTERN), typed full-width or not.
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const normaliseCode = (text) => String(text ?? "").normalize("NFKC").trim();
export const looksLikeCode = (text) => DEVICE_ID.test(text);
const unitName = (party) => (typeof party === "string" ? party : party?.name ?? "");

export class Intake {
  // onOpened(incident): the incident the server opened (the board shows it at once).
  constructor(onOpened) {
    this.onOpened = onOpened;
    this.picked = null;
    this.timer = null;
    this.searchSeq = 0;
    const field = (testid, label, attrs = {}) => h("input", { "data-testid": testid, "aria-label": label,
      placeholder: label, ...attrs });
    const labelled = (label, input) => h("label", {}, h("span", {}, label), input);
    this.button = h("button", { type: "button", class: "new-call", "data-testid": "new-call",
      "aria-expanded": "false" }, t("new_call"));
    this.query = field("intake-search", t("intake_search_hint"), { type: "search", maxlength: 200, autocomplete: "off" });
    this.results = h("ul", { class: "intake-results", "data-testid": "intake-results" });
    this.status = h("p", { class: "muted", "data-testid": "intake-status" });
    this.selected = h("div", { class: "intake-selected", "data-testid": "intake-selected", hidden: true });
    this.unregistered = h("input", { type: "checkbox", "data-testid": "intake-unregistered" });
    this.device = field("intake-device", t("registration_code"), { maxlength: MAX_DEVICE_ID });
    this.address = field("intake-address", t("intake_address"), { maxlength: 300 });
    this.unit = field("intake-unit", t("maintenance_unit"), { maxlength: 200 });
    this.contact = field("intake-contact", t("contact"), { maxlength: 100 });
    this.unregisteredFields = h("div", { class: "intake-grid", hidden: true }, labelled(t("registration_code"), this.device),
      labelled(t("intake_address"), this.address),
      labelled(t("maintenance_unit"), this.unit), labelled(t("contact"), this.contact));
    this.caller = field("intake-caller", t("caller"), { maxlength: 100 });
    this.phone = field("intake-phone", t("caller_phone"), { type: "tel", maxlength: 40 });
    this.note = h("textarea", { "data-testid": "intake-note", "aria-label": t("intake_note"), placeholder: t("intake_note"),
      maxlength: 2000, rows: 2 });
    this.open = h("button", { type: "button", class: "primary", "data-testid": "intake-open" }, t("intake_open"));
    this.cancel = h("button", { type: "button", class: "secondary", "data-testid": "intake-cancel" }, t("cancel"));
    this.error = h("div", { class: "error", role: "status", "data-testid": "intake-error" });
    this.el = h("section", { class: "intake card", "data-testid": "intake-panel", hidden: true, "aria-label": t("new_call") },
      h("h2", {}, t("new_call")),
      h("div", { class: "intake-search" }, this.query),
      this.status, this.results, this.selected,
      h("label", { class: "inline" }, this.unregistered, t("intake_unregistered")),
      this.unregisteredFields,
      h("div", { class: "intake-grid" }, labelled(t("caller"), this.caller), labelled(t("caller_phone"), this.phone)),
      labelled(t("intake_note"), this.note),
      h("div", { class: "buttons" }, this.open, this.cancel), this.error);

    this.button.addEventListener("click", () => this.toggle());
    this.cancel.addEventListener("click", () => this.toggle(false));
    this.query.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.search(), SEARCH_DELAY_MS);
    });
    this.query.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.isComposing) return;
      e.preventDefault();
      clearTimeout(this.timer);
      this.search();
    });
    this.unregistered.addEventListener("change", () => this.showUnregistered(this.unregistered.checked));
    this.open.addEventListener("click", () => this.submit());
  }

  toggle(show = this.el.hidden) {
    this.el.hidden = !show;
    this.button.setAttribute("aria-expanded", String(show));
    this.button.classList.toggle("active", show);
    if (show) this.query.focus();
  }

  showUnregistered(on) {
    this.unregistered.checked = on;
    this.unregisteredFields.hidden = !on;
    if (on) {
      this.pick(null);
      // What was searched goes where it belongs: a code into the code, anything else into the address.
      const typed = normaliseCode(this.query.value);
      if (looksLikeCode(typed)) {
        if (!this.device.value) this.device.value = typed;
      } else if (typed && !this.address.value) {
        this.address.value = this.query.value.trim();
      }
      this.device.focus();
    }
  }

  async search() {
    const q = this.query.value.trim();
    const seq = ++this.searchSeq;
    if (!q) {
      replace(this.results);
      this.status.textContent = "";
      return;
    }
    this.status.textContent = t("loading");
    let found;
    try {
      found = resultsOf(await get(`/api/registry/search?q=${encodeURIComponent(q)}&limit=${SEARCH_LIMIT}`
        + `&category=${LIFT_CATEGORY}`)); // the lifts first
    } catch (err) {
      if (seq === this.searchSeq) this.status.textContent = t("error", { msg: err.message });
      return;
    }
    if (seq !== this.searchSeq) return; // a later search overtook this one
    this.status.textContent = found.length ? t("intake_found", { n: found.length }) : t("intake_none");
    // Only a lift (elevator, escalator, moving walk: the register's elevator category) can be picked:
    // a boiler's or a vessel's code found by the same text is shown, greyed, saying what it is.
    replace(this.results, found.map((unit) => h("li", {},
      h("button", { type: "button", class: "intake-result", "data-testid": "intake-result", "data-code": codeOf(unit),
        "data-category": unit.category ?? "", disabled: !isLift(unit),
        title: isLift(unit) ? "" : t("intake_not_a_lift"), onclick: () => this.pick(unit) }, describeUnit(unit)))));
  }

  pick(unit) {
    this.picked = unit;
    this.selected.hidden = !unit;
    for (const b of this.results.querySelectorAll("button")) b.classList.toggle("picked", unit !== null && b.dataset.code === codeOf(unit));
    if (!unit) return replace(this.selected);
    if (this.unregistered.checked) this.showUnregistered(false);
    replace(this.selected, h("strong", {}, t("intake_picked")), describeUnit(unit));
    this.selected.dataset.code = codeOf(unit);
    this.caller.focus();
  }

  body() {
    const body = {};
    if (this.unregistered.checked) {
      body.device_id = normaliseCode(this.device.value);
      if (!body.device_id) return { error: t("intake_needs_device") };
      if (!looksLikeCode(body.device_id)) return { error: t("intake_bad_device") };
      const address = this.address.value.trim();
      if (address) body.address = address;
      const unit = this.unit.value.trim();
      const contact = this.contact.value.trim();
      if (unit) body.maintenance_unit = unit;
      if (contact) body.contact = contact;
    } else {
      if (!this.picked) return { error: t("intake_needs_unit") };
      body.device_id = codeOf(this.picked);
    }
    const caller = this.caller.value.trim();
    const phone = this.phone.value.trim();
    const note = this.note.value.trim();
    if (caller) body.caller = caller;
    if (phone) body.caller_phone = phone;
    if (note) body.comment = note;
    return { body };
  }

  async submit() {
    const { body, error } = this.body();
    if (error) return void (this.error.textContent = error);
    this.open.disabled = true;
    try {
      const incident = await post("/api/incidents", withActor(body));
      this.error.textContent = "";
      this.reset();
      this.toggle(false);
      this.onOpened(incident);
    } catch (err) {
      const known = err instanceof ApiError && err.status < 500;
      this.error.textContent = t(known ? "intake_refused" : "step_failed", { msg: err.message });
    } finally {
      this.open.disabled = false;
    }
  }

  reset() {
    for (const input of [this.query, this.device, this.address, this.unit, this.contact, this.caller, this.phone, this.note]) input.value = "";
    this.showUnregistered(false);
    this.pick(null);
    replace(this.results);
    this.status.textContent = "";
  }
}

function describeUnit(unit) {
  const m = unitName(unit.maintenance_unit) || unit.maintenance_unit_name;
  return h("span", { class: "intake-unit" },
    unit.category ? h("span", { class: `badge category${isLift(unit) ? "" : " warn"}`, "data-testid": "intake-category" },
      name("category", unit.category)) : null,
    unit.rescue_code ? h("span", { class: "badge rescue-code", title: t("rescue_code") }, unit.rescue_code) : null,
    h("code", {}, codeOf(unit)),
    h("span", { class: "addr" }, unit.address ?? ""),
    h("span", { class: "muted" }, [name("district", unit.district_code), unit.use_registration_no,
      m ? `${t("maintenance_unit")}${t("sep")}${m}` : null].filter(Boolean).join(" · ")),
    unit.matched ? h("span", { class: "badge", "data-testid": "intake-matched" }, name("search_match", unit.matched)) : null);
}
