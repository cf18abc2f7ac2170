// The AI's voice, like Quick, Draw!'s: it says a guess only once it has become its stable
// belief (the top guess for HOLD updates in a row, or clearly ahead of the runner-up), at most
// one new line per PACE_MS, says "Hmm..." when unsure, and never asks about the prompt itself:
// the prompt is only ever said once the server recognized the drawing.
//   "I see... a circle?"  ->  "or a wheel?"  ->  "Oh I know, it's a bicycle!"
// Feed it the model's guesses with the current time; call tick(now) regularly so that a line
// held back by the pace is said when its turn comes. Read .text for the caption.

export const PACE_MS = 1200;
export const HMM = "Hmm...";
const HOLD = 2; // updates a top guess must lead to become a belief
const CLEAR_LEAD = 2; // ...or this many times the runner-up's probability
const MIN_P = 0.1; // below this the AI is unsure

export class Narrator {
  constructor(pace = PACE_MS) {
    this.pace = pace;
    this.lastAt = -Infinity; // when the last line was said (kept across resets: the pace holds)
    this.reset();
  }

  /** A new drawing of `prompt` (or a cleared one). */
  reset(prompt = null) {
    this.prompt = prompt;
    this.text = "";
    this.done = false;
    this.said = 0; // questions asked
    this.belief = undefined; // the label last said (null: "Hmm...", undefined: nothing yet)
    this.top = null; // the current top guess and for how many updates it has led
    this.held = 0;
    this.pending = null; // the line to say when the pace allows
  }

  /**
   * The AI's guesses [{label, p}] (best first) for the drawing as of `now` (ms).
   * `settled`: take them as the AI's belief at once (a restored drawing after a reload).
   * Returns true when the caption changed now.
   */
  guesses(list, now, settled = false) {
    if (this.done || !Array.isArray(list) || !list.length) return false;
    const [top, second] = list;
    if (!top || typeof top.label !== "string" || !Number.isFinite(top.p)) return false;
    this.held = top.label === this.top ? this.held + 1 : 1;
    this.top = top.label;
    const runnerUp = Number.isFinite(second?.p) ? second.p : 0;
    const stable = settled || this.held >= HOLD || top.p >= CLEAR_LEAD * runnerUp;
    let label;
    if (top.p < MIN_P) label = null;
    else if (!stable) return this.tick(now);
    else label = top.label === this.prompt ? null : top.label;
    // a new belief waits for its turn; one that is already said makes a waiting line stale
    this.pending = label !== this.belief ? { label } : null;
    if (settled) this.lastAt = -Infinity;
    return this.tick(now);
  }

  /** Say the pending line if the pace allows. Returns true when the caption changed. */
  tick(now) {
    if (this.done || !this.pending || now - this.lastAt < this.pace) return false;
    const { label } = this.pending;
    this.pending = null;
    this.belief = label;
    this.lastAt = now;
    if (label === null) this.text = HMM;
    else {
      this.text = this.said === 0 ? `I see... ${withArticle(label)}?` : `or ${withArticle(label)}?`;
      this.said += 1;
    }
    return true;
  }

  /** The server recognized the drawing as `label`: said at once. */
  recognized(label) {
    if (this.done) return false;
    this.done = true;
    this.pending = null;
    this.text = `Oh I know, it's ${withArticle(label)}!`;
    return true;
  }

  /** The round ended without recognition. */
  gaveUp(prompt) {
    if (this.done) return false;
    this.done = true;
    this.pending = null;
    this.text = `Sorry, I couldn't guess it. Was it ${withArticle(prompt)}?`;
    return true;
  }
}

/** "a cat", "an apple", "The Eiffel Tower", "flip flops" (plurals and proper names bare). */
export function withArticle(label) {
  if (!label) return "";
  const proper = /^[A-Z]/.test(label);
  const plural = /[^s]s$/.test(label);
  if (proper || plural) return label;
  return /^[aeiou]/i.test(label) ? `an ${label}` : `a ${label}`;
}
