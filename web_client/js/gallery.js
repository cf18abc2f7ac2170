// A finished game's gallery (from GET /api/games/<id>): every round's drawings with the AI's
// verdict; a click replays a drawing stroke by stroke with the AI's guesses over time, as the
// server recorded them (each guess appears when the replay reaches the point it was made at).

import { drawingPngUrl } from "./api.js";
import { withArticle } from "./caption.js";
import { $, h, replaceChildren, setText } from "./dom.js";
import { drawFitted } from "./ink.js";
import { guessBars, seenFigure, verdict } from "./resultcard.js";

const REPLAY_MS = 6000; // a long drawing is replayed faster, in about this long
const LAST_GUESS_MS = 700; // the AI's last guess stays this long before its verdict

/** Render `game` into `container`: one section per round, one button per drawing. */
export function renderGallery(container, game, me = null) {
  const rounds = (game.rounds || []).map((rnd) =>
    h(
      "section",
      { class: "gallery-round", dataset: { round: rnd.round } },
      // a "Beat the AI" round has one record per turn, each with its drawer
      h("h3", {}, `Round ${rnd.round}${rnd.drawer ? `, turn ${rnd.turn}` : ""}: ${rnd.prompt}`),
      h(
        "ul",
        { class: "gallery-cards" },
        rnd.results.map((r) => {
          const canvas = h("canvas", { class: "gallery-drawing", "aria-hidden": "true" });
          const button = h(
            "button",
            { type: "button", class: `gallery-card ${r.player_id === me ? "me" : ""}`, "aria-label": `Replay ${r.name}'s ${rnd.prompt}` },
            canvas,
            h("span", { class: "gallery-name" }, r.name),
            verdict(r),
          );
          button.addEventListener("click", () => replay(game, rnd, r));
          requestAnimationFrame(() => drawFitted(canvas, r.strokes || []));
          return h("li", { dataset: { playerId: r.player_id } }, button);
        }),
      ),
    ),
  );
  replaceChildren(container, rounds);
}

let running = null; // the replay's animation frame

/** Open the replay dialog and play one drawing with its guess timeline. */
export function replay(game, rnd, result) {
  const dialog = $("#replay");
  setText($("#replay-title"), `${result.name} drew ${withArticle(rnd.prompt)}`);
  $("#replay-png").href = drawingPngUrl(game.game_id, rnd.round, result.player_id);
  $("#replay-png").setAttribute("download", `${rnd.prompt}-${result.name}.png`);
  $("#replay-again").onclick = () => play(rnd, result);
  $("#replay-close").onclick = () => dialog.close();
  dialog.onclose = () => cancelAnimationFrame(running);
  if (!dialog.open) dialog.showModal();
  play(rnd, result);
}

function play(rnd, result) {
  cancelAnimationFrame(running);
  const dialog = $("#replay");
  const canvas = $("#replay-canvas");
  const caption = $("#replay-caption");
  const bars = $("#replay-bars");
  const strokes = result.strokes || [];
  const timeline = result.timeline || [];
  const end = Math.max(1, ...strokes.flat().map((p) => p[2] || 0));
  const speed = Math.max(1, end / REPLAY_MS);
  let shown = -1;
  let finishedAt = null;
  dialog.dataset.state = "playing";
  setText(caption, "…");
  replaceChildren(bars);
  replaceChildren($("#replay-final"));
  const start = performance.now();
  const frame = (now) => {
    const t = (now - start) * speed;
    drawFitted(canvas, strokes.map((s) => s.filter((p) => (p[2] || 0) <= t)).filter((s) => s.length), { lineWidth: 7 });
    let i = shown;
    while (i + 1 < timeline.length && timeline[i + 1].t <= t) i += 1;
    if (i !== shown) {
      shown = i;
      const top = timeline[i].guesses[0];
      setText(caption, `${top.label}? ${Math.round(top.p * 100)}%`);
      replaceChildren(bars, guessBars(timeline[i].guesses, rnd.prompt));
    }
    if (t < end || shown + 1 < timeline.length) {
      running = requestAnimationFrame(frame);
      return;
    }
    finishedAt ??= now;
    if (now - finishedAt < LAST_GUESS_MS) {
      running = requestAnimationFrame(frame);
      return;
    }
    setText(caption, result.recognized ? `Oh I know, it's ${withArticle(rnd.prompt)}!` : "Sorry, I couldn't guess it.");
    // the AI's verdict on the final drawing: what it saw and its final guesses
    replaceChildren(bars);
    replaceChildren($("#replay-final"), seenFigure(result), h("ul", { class: "bars" }, guessBars(result.guesses, rnd.prompt)));
    dialog.dataset.state = "done";
  };
  running = requestAnimationFrame(frame);
}
