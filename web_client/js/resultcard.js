// One player's round result: the drawing, what the AI saw (28x28, scaled up, pixelated),
// bars of its top guesses, recognized or not (and when), points.

import { h } from "./dom.js";
import { drawFitted } from "./ink.js";

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** The 28x28 image the AI saw of the final drawing (scaled up by CSS), when there is one. */
export function seenFigure(result) {
  const seen = h("figure", { class: "seen" });
  if (typeof result.image === "string" && BASE64_RE.test(result.image)) {
    seen.append(
      h("img", { src: `data:image/png;base64,${result.image}`, alt: "the 28 by 28 image the AI saw", width: 28, height: 28 }),
      h("figcaption", {}, "AI saw"),
    );
  }
  return seen;
}

/** One bar per guess [{label, p}]: label, a bar as long as p, the percentage. */
export function guessBars(guesses, prompt) {
  return (guesses || []).map((g) =>
    h(
      "li",
      { class: g.label === prompt ? "bar hit" : "bar" },
      h("span", { class: "bar-label" }, g.label),
      h("span", { class: "bar-track" }, h("span", { class: "bar-fill", style: `width:${Math.round(Math.max(0, Math.min(1, g.p)) * 100)}%` })),
      h("span", { class: "bar-p" }, `${Math.round(g.p * 100)}%`),
    ),
  );
}

/** "✓ Recognized in 3.2 s" or "✗ Not recognized". */
export function verdict(result) {
  return result.recognized
    ? h("p", { class: "verdict yes" }, `✓ Recognized in ${(result.elapsed_ms / 1000).toFixed(1)} s`)
    : h("p", { class: "verdict no" }, "✗ Not recognized");
}

export function resultCard(result, { me, prompt }) {
  const drawing = h("canvas", { class: "result-drawing", "aria-label": `${result.name}'s drawing` });
  const seen = seenFigure(result);
  const bars = h("ul", { class: "bars", "aria-label": "the AI's top guesses" }, guessBars(result.guesses, prompt));
  const li = h(
    "li",
    { class: `card result ${result.player_id === me ? "me" : ""}`, dataset: { playerId: result.player_id } },
    h("div", { class: "result-head" }, h("span", { class: "result-name" }, result.name), h("span", { class: "result-points" }, `+${result.points ?? 0}`)),
    h("div", { class: "result-pics" }, drawing, seen),
    verdict(result),
    bars,
  );
  // Draw once the canvas is in the document and has a size.
  requestAnimationFrame(() => drawFitted(drawing, result.strokes || []));
  return li;
}
