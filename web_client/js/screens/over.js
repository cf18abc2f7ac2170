// Game over: the ranking, Play again (host) or the next game's countdown (quick play), the
// last round's results and the whole game's gallery with its share link.

import { fetchGame } from "../api.js";
import { Countdown } from "../countdown.js";
import { $, replaceChildren, setText } from "../dom.js";
import { renderGallery } from "../gallery.js";
import { toast } from "../notify.js";
import { galleryLink } from "../router.js";
import { isHost } from "../state.js";
import { renderVersus } from "./beat.js";
import { rankingRows } from "./gallery.js";
import { renderResults } from "./results.js";

export class OverScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="over"]');
    this.countdown = new Countdown($("#over-autostart"), app.clock);
    this.galleryOf = null;
    $("#play-again").addEventListener("click", () => app.send("play_again"));
    $("#over-leave").addEventListener("click", () => app.leave());
    $("#copy-gallery").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("#gallery-link").value);
        toast("Link copied.", "info");
      } catch {
        $("#gallery-link").select();
      }
    });
  }

  enter(room) {
    this.render(room);
    const last = room.lastResults;
    setText($("#over-last-title"), last ? `Last round: ${last.prompt}` : "");
    if (last) renderResults($("#over-results"), room, last);
    else replaceChildren($("#over-results"));
    this.#loadGallery(room);
  }

  leave() {
    this.countdown.stop();
  }

  async #loadGallery(room) {
    const gameId = room.gameId;
    if (!gameId || this.galleryOf === gameId) return;
    this.galleryOf = gameId;
    $("#gallery-link").value = galleryLink(gameId);
    replaceChildren($("#over-gallery"));
    try {
      renderGallery($("#over-gallery"), await fetchGame(gameId), room.me);
    } catch (err) {
      this.galleryOf = null;
      toast(`Could not load the gallery: ${err.message}`, "error");
    }
  }

  render(room) {
    replaceChildren($("#ranking"), rankingRows(room.ranking, room.me));
    renderVersus($("#versus-ai"), room.versusAi, room.me);
    this.countdown.show(room.autostartAt, (s) => `Next game in ${s} s…`);
    const host = isHost(room);
    $("#play-again").hidden = !host;
    const hostName = room.players.get(room.host)?.name ?? "the host";
    setText($("#over-waiting"), host ? "" : `Waiting for ${hostName} to start another game…`);
  }

  onMessage(room, msg) {
    if (["host_changed", "player_left", "autostart"].includes(msg.type)) this.render(room);
  }
}
