// Round results: every drawing with what the AI saw, its guesses, recognized or not, points.

import { $, replaceChildren, setText } from "../dom.js";
import { resultCard } from "../resultcard.js";
import { renderScoreboard } from "../scoreboard.js";
import { turnSummary } from "./beat.js";
import { scoringText } from "./lobby.js";

/** Result cards, mine first, then recognized fastest, then the rest. */
export function renderResults(list, room, results) {
  const order = [...(results.results || [])].sort((a, b) => {
    if ((a.player_id === room.me) !== (b.player_id === room.me)) return a.player_id === room.me ? -1 : 1;
    if (a.recognized !== b.recognized) return a.recognized ? -1 : 1;
    return (a.elapsed_ms ?? 0) - (b.elapsed_ms ?? 0);
  });
  replaceChildren(list, order.map((r) => resultCard(r, { me: room.me, prompt: results.prompt })));
}

export class ResultsScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="results"]');
    this.timer = null;
  }

  enter(room) {
    const res = room.lastResults;
    if (!res) return;
    setText($("#results-title"), `Round ${res.round} of ${res.rounds}: ${res.prompt}`);
    setText($("#turn-summary"), turnSummary(room, res));
    renderResults($("#result-cards"), room, res);
    renderScoreboard($("#results-scores"), room);
    setText($("#results-scoring"), scoringText(this.app.config.scoring, room.mode));
    clearInterval(this.timer);
    const next = $("#results-next");
    const tick = () => {
      if (room.nextRoundAt) {
        const s = Math.ceil(this.app.clock.remaining(room.nextRoundAt) / 1000);
        setText(next, s > 0 ? `Next round in ${s} s…` : "Next round…");
      } else setText(next, "That was the last round!");
    };
    tick();
    this.timer = setInterval(tick, 250);
  }

  leave() {
    clearInterval(this.timer);
  }

  onMessage(room, msg) {
    if (["player_joined", "player_left", "player_status"].includes(msg.type)) {
      renderScoreboard($("#results-scores"), room);
    }
  }
}
