// Round: prompt, countdown, the drawing pad with undo/clear, the AI's live caption,
// the other players' live tiles and the scoreboard.

import { Narrator } from "../caption.js";
import { formatCountdown } from "../clock.js";
import { $, setText } from "../dom.js";
import { announce } from "../notify.js";
import { DrawingPad } from "../pad.js";
import { renderScoreboard } from "../scoreboard.js";
import { Speaker } from "../speech.js";
import { Tiles } from "../tiles.js";

const URGENT_MS = 5000;

export class RoundScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="round"]');
    this.pad = new DrawingPad($("#pad"), {
      onPoints: ({ stroke, points }) => app.sendDrawing("points", { stroke, points }),
      onUndo: () => this.#edited(app.sendDrawing("undo")),
      onClear: () => this.#edited(app.sendDrawing("clear")),
      maxBatch: Math.min(256, app.config.limits.max_points_per_update),
    });
    this.tiles = new Tiles($("#tiles"));
    this.narrator = new Narrator();
    this.speaker = new Speaker();
    this.caption = $("#caption");
    this.staleBefore = 0; // my guesses with a lower seq describe an undone drawing
    this.timer = null;
    this.round = null;

    $("#undo").addEventListener("click", () => this.pad.undo());
    $("#clear").addEventListener("click", () => this.pad.clear());
    const speech = $("#speech");
    speech.checked = this.speaker.enabled;
    speech.disabled = !this.speaker.supported;
    speech.addEventListener("change", () => this.speaker.setEnabled(speech.checked));
    document.addEventListener("keydown", (e) => {
      if (this.el.hidden) return;
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
        e.preventDefault();
        this.pad.undo();
      }
    });
  }

  /** Show the round (a new one, or the current one again after a resume). */
  enter(room) {
    const key = `${room.gameId}:${room.round}`;
    const fresh = this.round !== key;
    this.round = key;
    const mine = room.drawings.get(room.me) || [];
    if (fresh || !this.pad.enabled) {
      // The server's copy of my drawing is the truth (points sent while offline are lost).
      if (fresh) this.pad.reset();
      this.pad.load(mine);
    }
    if (fresh) {
      this.narrator.reset();
      this.staleBefore = 0;
      setText(this.caption, room.spectator ? "" : "Start drawing!");
    }
    this.el.classList.toggle("spectating", room.spectator);
    setText($("#round-no"), `Round ${room.round} of ${room.rounds}${room.spectator ? " · you're watching" : ""}`);
    setText($("#prompt"), room.prompt);
    const rec = room.recognized.get(room.me);
    this.#showRecognized(rec);
    this.#setDrawing(!room.spectator && !rec && this.app.online);
    if (rec && fresh) this.#narrateRecognized(rec.label ?? room.prompt);
    this.tiles.sync(room);
    renderScoreboard($("#scoreboard"), room);
    this.#startTimer(room);
    if (fresh) announce(`Round ${room.round}. Draw ${room.prompt}.`);
  }

  leave() {
    clearInterval(this.timer);
    this.timer = null;
    this.#setDrawing(false);
  }

  /** Connection state changed while this screen is up. */
  setOnline(online, room) {
    this.#setDrawing(online && !room.spectator && !room.recognized.has(room.me));
  }

  /** Drawing on or off: off once recognized (the drawing is locked), offline, or watching. */
  #setDrawing(on) {
    this.pad.setEnabled(on);
    $("#undo").disabled = !on;
    $("#clear").disabled = !on;
  }

  onMessage(room, msg) {
    const mine = msg.player_id === room.me;
    switch (msg.type) {
      case "ink":
      case "undo":
      case "clear":
        if (!mine) this.tiles.touch(msg.player_id);
        break;
      case "guess":
        if (mine) this.#myGuess(msg);
        else this.tiles.touch(msg.player_id);
        break;
      case "recognized":
        if (mine) {
          this.#setDrawing(false);
          this.#showRecognized(room.recognized.get(room.me));
          this.#narrateRecognized(msg.label);
        } else {
          this.tiles.touch(msg.player_id);
          const who = room.players.get(msg.player_id)?.name ?? "Someone";
          announce(`${who} was recognized.`);
        }
        renderScoreboard($("#scoreboard"), room);
        break;
      case "player_joined":
      case "player_left":
      case "player_status":
        this.tiles.sync(room);
        renderScoreboard($("#scoreboard"), room);
        break;
      default:
    }
  }

  #edited(seq) {
    if (typeof seq === "number") this.staleBefore = seq;
  }

  #myGuess(msg) {
    if (msg.seq < this.staleBefore) return;
    if (this.narrator.guesses(msg.guesses)) {
      setText(this.caption, this.narrator.text);
      announce(this.narrator.text);
      this.speaker.say(this.narrator.phrase);
    }
  }

  #narrateRecognized(label) {
    if (this.narrator.recognized(label)) {
      setText(this.caption, this.narrator.text);
      announce(this.narrator.text);
      this.speaker.say(this.narrator.phrase);
    }
    this.caption.classList.add("got-it");
  }

  #showRecognized(rec) {
    const badge = $("#pad-badge");
    badge.hidden = !rec;
    this.caption.classList.toggle("got-it", Boolean(rec));
    if (rec) setText(badge, `✓ +${rec.points}`);
  }

  #startTimer(room) {
    clearInterval(this.timer);
    const el = $("#timer");
    const bar = $("#timebar");
    const total = Math.max(1, room.seconds * 1000);
    const tick = () => {
      const left = room.deadline ? this.app.clock.remaining(room.deadline) : 0;
      setText(el, formatCountdown(left));
      el.classList.toggle("urgent", left <= URGENT_MS);
      bar.style.width = `${Math.min(100, (100 * left) / total).toFixed(1)}%`;
      bar.classList.toggle("urgent", left <= URGENT_MS);
    };
    tick();
    this.timer = setInterval(tick, 200);
  }
}
