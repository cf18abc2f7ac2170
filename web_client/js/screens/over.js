// Game over: the ranking and Play again (host).

import { $, h, replaceChildren, setText } from "../dom.js";
import { isHost } from "../state.js";
import { renderVersus } from "./beat.js";
import { renderResults } from "./results.js";

const MEDALS = ["gold", "silver", "bronze"];

export class OverScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="over"]');
    $("#play-again").addEventListener("click", () => app.send("play_again"));
    $("#over-leave").addEventListener("click", () => app.leave());
  }

  enter(room) {
    this.render(room);
    const last = room.lastResults;
    setText($("#over-last-title"), last ? `Last round: ${last.prompt}` : "");
    if (last) renderResults($("#over-results"), room, last);
    else replaceChildren($("#over-results"));
  }

  render(room) {
    const rows = (room.ranking || []).map((r) =>
      h(
        "li",
        { class: `rank-row ${r.player_id === room.me ? "me" : ""} ${r.rank === 1 ? "winner" : ""}`, dataset: { playerId: r.player_id } },
        h("span", { class: `medal ${MEDALS[r.rank - 1] || ""}`, "aria-label": `rank ${r.rank}` }, String(r.rank)),
        h("span", { class: "name" }, r.name),
        h("span", { class: "score" }, String(r.score)),
      ),
    );
    replaceChildren($("#ranking"), rows);
    renderVersus($("#versus-ai"), room);
    const host = isHost(room);
    $("#play-again").hidden = !host;
    const hostName = room.players.get(room.host)?.name ?? "the host";
    setText($("#over-waiting"), host ? "" : `Waiting for ${hostName} to start another game…`);
  }

  onMessage(room, msg) {
    if (["host_changed", "player_left"].includes(msg.type)) this.render(room);
  }
}
