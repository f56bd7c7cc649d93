// The entrapment alarm sound: a two-tone beep (WebAudio, no sound files) repeating while an
// entrapment waits for acknowledgement. Browsers allow audio only after a user gesture, so the
// board shows an "enable sound" button until the audio context runs.

const PATTERN = [[880, 0.0, 0.22], [660, 0.28, 0.22], [880, 0.56, 0.22]]; // [Hz, start s, length s]
const REPEAT_MS = 2000;

export class Beeper {
  constructor({ onState = () => {} } = {}) {
    this.ctx = null;
    this.alerting = false;
    this.timer = null;
    this.onState = onState;
    // Any click on the page counts as the gesture the browser waits for.
    document.addEventListener("pointerdown", () => this.enable(), { capture: true });
  }

  get enabled() {
    return this.ctx?.state === "running";
  }

  async enable() {
    const Context = window.AudioContext ?? window.webkitAudioContext;
    if (!Context) return false;
    this.ctx ??= new Context();
    if (this.ctx.state !== "running") {
      try {
        await this.ctx.resume();
      } catch {
        return false;
      }
    }
    this.onState(this.enabled);
    return this.enabled;
  }

  setAlerting(alerting) {
    if (alerting === this.alerting) return;
    this.alerting = alerting;
    clearInterval(this.timer);
    this.timer = null;
    if (alerting) {
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
