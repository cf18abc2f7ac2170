// A finished game's gallery on its own page (/g/<id>): the ranking and every drawing.

import { fetchGame } from "../api.js";
import { $, h, replaceChildren } from "../dom.js";
import { renderGallery } from "../gallery.js";
import { toast } from "../notify.js";
import { renderVersus } from "./beat.js";

export class GalleryScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="gallery"]');
  }

  async enter(gameId) {
    $("#gallery-missing").hidden = true;
    replaceChildren($("#gallery"));
    replaceChildren($("#gallery-ranking"));
    renderVersus($("#gallery-versus"), null);
    let game;
    try {
      game = await fetchGame(gameId);
    } catch (err) {
      if (err.status === 404) $("#gallery-missing").hidden = false;
      else toast(`Could not load the gallery: ${err.message}`, "error");
      return;
    }
    replaceChildren($("#gallery-ranking"), rankingRows(game.ranking));
    renderVersus($("#gallery-versus"), game.versus_ai);
    renderGallery($("#gallery"), game);
    this.el.dataset.loaded = gameId;
  }
}

const MEDALS = ["gold", "silver", "bronze"];

/** The ranking as list rows (the game-over screen shows the same). */
export function rankingRows(ranking, me = null) {
  return (ranking || []).map((r) =>
    h(
      "li",
      { class: `rank-row ${r.player_id === me ? "me" : ""} ${r.rank === 1 ? "winner" : ""}`, dataset: { playerId: r.player_id } },
      h("span", { class: `medal ${MEDALS[r.rank - 1] || ""}`, "aria-label": `rank ${r.rank}` }, String(r.rank)),
      h("span", { class: "name" }, r.name),
      h("span", { class: "score" }, String(r.score)),
    ),
  );
}
