// Spoken guesses with the Web Speech API. Off by default; the choice is remembered.
// One line at a time: a line being spoken is never cut off; lines that wait behind it are
// replaced by newer ones (a stale guess is skipped, not said late).

const KEY = "doodle.speech";

export class Speaker {
  constructor(storage = window.localStorage, synth = window.speechSynthesis) {
    this.storage = storage;
    this.synth = synth;
    this.supported = typeof synth !== "undefined" && typeof SpeechSynthesisUtterance !== "undefined";
    this.enabled = this.supported && storage.getItem(KEY) === "on";
    this.speaking = null; // the utterance of ours being spoken
    this.next = null; // the one line waiting behind it
  }

  setEnabled(on) {
    this.enabled = this.supported && on;
    this.storage.setItem(KEY, this.enabled ? "on" : "off");
    this.next = null;
    if (!this.enabled && this.supported) {
      this.speaking = null;
      this.synth.cancel();
    }
  }

  /** Say `text` after the line being spoken (replacing any line still waiting). */
  say(text) {
    if (!this.enabled || !text) return;
    this.next = text;
    if (!this.speaking) this.#speakNext();
  }

  /** Drop what has not been said yet (a new round); the current line finishes. */
  flush() {
    this.next = null;
  }

  #speakNext() {
    const text = this.next;
    this.next = null;
    if (!text || !this.enabled) return;
    const u = new SpeechSynthesisUtterance(text);
    u.rate = 1.1;
    const done = () => {
      if (this.speaking !== u) return;
      this.speaking = null;
      this.#speakNext();
    };
    u.addEventListener("end", done);
    u.addEventListener("error", done);
    this.speaking = u;
    this.synth.speak(u);
  }
}
