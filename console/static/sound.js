// The alarm sound: a two-tone beep (WebAudio, no sound files) repeating while something calls for
// the operator (an entrapment waiting for acknowledgement, a sounding fault nobody handled). Each
// caller names its source (setAlerting(on, source)); it beeps while any source is on.
//
// Browsers allow audio only after a user gesture. The operator's "sound on" is remembered
// (localStorage), so a reload or a language switch re-arms it: where the browser lets a page
// that was given sound before play at once, it plays; where it does not, a visible "click to
// enable sound" notice stays up and the first click or key anywhere on the page re-arms it. An
// operator's "off" is remembered too and stays off: no click re-arms it but the sound button's.

const PATTERN = [[880, 0.0, 0.22], [660, 0.28, 0.22], [880, 0.56, 0.22]]; // [Hz, start s, length s]
const REPEAT_MS = 2000;
const PREFERENCE_KEY = "semon.sound";

// The operator's stored choice: "on", "off" (turned off by hand: stays off), or null (never chosen).
function stored() {
  try {
    const value = globalThis.localStorage?.getItem(PREFERENCE_KEY);
    return value === "on" || value === "off" ? value : null;
  } catch {
    return null; // storage blocked: ask again after each reload
  }
}

function store(on) {
  try {
    globalThis.localStorage?.setItem(PREFERENCE_KEY, on ? "on" : "off");
  } catch {
    // not remembered; this page still plays
  }
}

export class Beeper {
  // onState(state): "off" (never enabled here), "muted" (turned off by the operator: stays off until
  // they turn it on), "blocked" (wanted, the browser waits for a gesture), "on".
  constructor({ onState = () => {} } = {}) {
    this.ctx = null;
    this.sources = new Set();
    this.timer = null;
    this.onState = onState;
    const preference = stored();
    this.wanted = preference === "on";
    this.muted = preference === "off";
    // Any click or key on the page counts as the gesture the browser waits for: it re-arms a sound
    // the operator wants, or one never chosen while something alerts; never one they turned off.
    // (The sound control's own button decides for itself.)
    const gesture = (event) => {
      if (event.target?.closest?.("[data-sound-control]")) return;
      if (this.enabled) return;
      if (this.wanted || (!this.muted && this.sources.size)) this.enable();
    };
    document.addEventListener("pointerdown", gesture, { capture: true });
    document.addEventListener("keydown", gesture, { capture: true });
    if (this.wanted) this.arm();
    queueMicrotask(() => this.onState(this.state));
  }

  get enabled() {
    return this.ctx?.state === "running";
  }

  get state() {
    return this.enabled ? "on" : this.wanted ? "blocked" : this.muted ? "muted" : "off";
  }

  get alerting() {
    return this.sources.size > 0;
  }

  // Without a gesture: try, as a page the operator gave sound before may play at once.
  async arm() {
    const Context = window.AudioContext ?? window.webkitAudioContext;
    if (!Context) return;
    this.ctx ??= new Context();
    this.ctx.onstatechange = () => this.onState(this.state);
    try {
      await Promise.race([this.ctx.resume(), new Promise((resolve) => setTimeout(resolve, 500))]);
    } catch {
      // stays suspended until a gesture
    }
    this.onState(this.state);
  }

  // From a user gesture: sound on, and remembered.
  async enable() {
    const Context = window.AudioContext ?? window.webkitAudioContext;
    if (!Context) return false;
    this.wanted = true;
    this.muted = false;
    store(true);
    this.ctx ??= new Context();
    this.ctx.onstatechange = () => this.onState(this.state);
    if (this.ctx.state !== "running") {
      try {
        await this.ctx.resume();
      } catch {
        this.onState(this.state);
        return false;
      }
    }
    this.onState(this.state);
    if (this.alerting) this.beep();
    return this.enabled;
  }

  disable() {
    this.wanted = false;
    this.muted = true;
    store(false);
    this.ctx?.suspend();
    this.onState(this.state);
  }

  setAlerting(alerting, source = "main") {
    const was = this.alerting;
    if (alerting) this.sources.add(source);
    else this.sources.delete(source);
    if (this.alerting === was) return;
    this.onState(this.state); // a muted control reminds the operator while something alerts
    clearInterval(this.timer);
    this.timer = null;
    if (this.alerting) {
      this.beep();
      this.timer = setInterval(() => this.beep(), REPEAT_MS);
    }
  }

  beep() {
    if (!this.enabled) return;
    const t0 = this.ctx.currentTime;
    for (const [hz, start, length] of PATTERN) {
      const osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      osc.type = "square";
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, t0 + start);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + start + length);
      osc.connect(gain).connect(this.ctx.destination);
      osc.start(t0 + start);
      osc.stop(t0 + start + length + 0.02);
    }
  }
}

// The sound control for a view's header: "enable sound" (off), a flashing "click to enable sound"
// notice (wanted, blocked by the browser), "sound on" with a way to turn it off, or "sound off"
// (muted by the operator; a reminder while something alerts). data-sound: off | muted | blocked | on.
export function soundControl(h, t) {
  const element = h("button", { type: "button", class: "sound-button", "data-testid": "enable-sound",
    "data-sound-control": true });
  let beeper = null; // set below; onState runs only after the constructor (a microtask, a resume)
  beeper = new Beeper({
    onState: (state) => {
      const reminder = state === "muted" && Boolean(beeper?.alerting);
      element.dataset.sound = state;
      element.textContent = t(state === "on" ? "sound_on_turn_off" : state === "blocked" ? "click_to_enable_sound"
        : state === "muted" ? (reminder ? "sound_muted_alerting" : "sound_muted") : "enable_sound");
      element.classList.toggle("blocked", state === "blocked");
      element.classList.toggle("on", state === "on");
      element.classList.toggle("muted", state === "muted");
      element.classList.toggle("reminder", reminder);
    },
  });
  element.addEventListener("click", () => {
    if (beeper.state === "on") beeper.disable();
    else beeper.enable();
  });
  return { beeper, element };
}
