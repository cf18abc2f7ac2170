// The AI's live caption, in Quick, Draw!'s voice:
//   "I see... dog?"  ->  "I see... dog? ... or cat?"  ->  "Oh I know, it's a cat!"
// Feed it the model's guesses as they arrive; read .text (whole caption) and .phrase
// (only the newest words, for speech).

const MIN_P = 0.05; // below this the model is only babbling
const KEEP = 3; // guesses shown in the caption at once

export class Narrator {
  constructor() {
    this.reset();
  }

  reset() {
    this.said = []; // labels mentioned, in order
    this.text = "";
    this.phrase = "";
    this.done = false;
  }

  /** New guesses [{label, p}] (best first). Returns true when the caption changed. */
  guesses(list) {
    if (this.done || !Array.isArray(list) || !list.length) return false;
    const top = list[0];
    if (!top || typeof top.label !== "string" || !(top.p >= MIN_P)) return false;
    if (this.said.slice(-KEEP).includes(top.label)) return false; // still on screen
    this.said.push(top.label);
    const shown = this.said.slice(-KEEP);
    const [first, ...rest] = shown;
    const lead = this.said.length > KEEP ? `... ${first}?` : `I see... ${first}?`;
    this.text = [lead, ...rest.map((label) => `... or ${label}?`)].join(" ");
    this.phrase = this.said.length === 1 ? `I see ${top.label}` : `or ${top.label}`;
    return true;
  }

  /** The model recognized the drawing as `label`. */
  recognized(label) {
    if (this.done) return false;
    this.done = true;
    this.text = `Oh I know, it's ${withArticle(label)}!`;
    this.phrase = this.text;
    return true;
  }

  /** The round ended without recognition. */
  gaveUp() {
    if (this.done) return false;
    this.done = true;
    this.text = this.said.length ? "Sorry, I couldn't guess it." : "I'm not sure what that is.";
    this.phrase = this.text;
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
