// Optional spoken guesses with the Web Speech API. Off by default; the choice is remembered.

const KEY = "doodle.speech";

export class Speaker {
  constructor(storage = window.localStorage) {
    this.storage = storage;
    this.supported = typeof window.speechSynthesis !== "undefined";
    this.enabled = this.supported && storage.getItem(KEY) === "on";
  }

  setEnabled(on) {
    this.enabled = this.supported && on;
    this.storage.setItem(KEY, this.enabled ? "on" : "off");
    if (!this.enabled && this.supported) window.speechSynthesis.cancel();
  }

  say(text) {
    if (!this.enabled || !text) return;
    const synth = window.speechSynthesis;
    if (synth.speaking || synth.pending) synth.cancel(); // stay current: drop stale guesses
    const u = new SpeechSynthesisUtterance(text);
    u.rate = 1.1;
    synth.speak(u);
  }
}
