// Round: the get-ready card, prompt, countdown, the drawing pad with undo/clear, the AI's
// live caption (and optional bar chart), the other players' live tiles and the scoreboard.

import { HMM, Narrator } from "../caption.js";
import { formatCountdown } from "../clock.js";
import { $, replaceChildren, setText } from "../dom.js";
import { announce } from "../notify.js";
import { DrawingPad } from "../pad.js";
import { guessBars } from "../resultcard.js";
import { renderScoreboard } from "../scoreboard.js";
import { Speaker } from "../speech.js";
import { Tiles } from "../tiles.js";
import { BeatPanel, mayDraw, spacedHint } from "./beat.js";

const URGENT_MS = 5000;
const BELIEF = "doodle.belief"; // the bar chart's on/off, remembered
const START = "Start drawing!";

export class RoundScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="round"]');
    this.pad = new DrawingPad($("#pad"), {
      onPoints: ({ stroke, points }) => app.sendDrawing("points", { stroke, points }),
      onUndo: () => this.#edited(app.sendDrawing("undo")),
      onClear: () => this.#cleared(app.sendDrawing("clear")),
      maxBatch: Math.min(256, app.config.limits.max_points_per_update),
    });
    this.tiles = new Tiles($("#tiles"));
    this.beat = new BeatPanel(app, this.pad);
    this.narrator = new Narrator();
    this.speaker = new Speaker();
    this.caption = $("#caption");
    this.staleBefore = 0; // my guesses with a lower seq describe an undone drawing
    this.timer = null;
    this.round = null;
    this.room = null;
    this.ready = false; // the get-ready card is up

    $("#undo").addEventListener("click", () => this.pad.undo());
    $("#clear").addEventListener("click", () => this.pad.clear());
    const speech = $("#speech");
    speech.checked = this.speaker.enabled;
    speech.disabled = !this.speaker.supported;
    speech.addEventListener("change", () => this.speaker.setEnabled(speech.checked));
    const belief = $("#show-belief");
    belief.checked = localStorage.getItem(BELIEF) === "on";
    $("#belief").hidden = !belief.checked;
    belief.addEventListener("change", () => {
      localStorage.setItem(BELIEF, belief.checked ? "on" : "off");
      $("#belief").hidden = !belief.checked;
    });
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
    const key = `${room.gameId}:${room.round}:${room.turn?.turn ?? 0}`;
    const fresh = this.round !== key;
    this.round = key;
    this.room = room;
    const mine = room.drawings.get(room.me) || [];
    if (fresh || !this.pad.enabled) {
      // The server's copy of my drawing is the truth (points sent while offline are lost).
      if (fresh) this.pad.reset();
      this.pad.load(mine);
    }
    if (fresh) {
      this.narrator.reset(room.prompt);
      this.speaker.flush();
      this.staleBefore = 0;
      setText(this.caption, room.spectator ? "" : START);
      replaceChildren($("#belief"));
      // a reload mid-round: the restored drawing gets the AI's current belief at once
      const g = room.guesses.get(room.me);
      if (g && mine.length) this.#myGuess(g.seq, g.guesses, true);
      else if (mine.length) setText(this.caption, HMM);
    }
    this.el.classList.toggle("spectating", room.spectator);
    setText($("#round-no"), `Round ${room.round} of ${room.rounds}${room.spectator ? " · you're watching" : ""}`);
    setText($("#prompt"), room.prompt);
    const rec = room.recognized.get(room.me);
    this.#showRecognized(rec);
    this.#showReady(room, true);
    if (rec && fresh) this.#narrateRecognized(rec.label ?? room.prompt);
    this.tiles.sync(room);
    renderScoreboard($("#scoreboard"), room);
    this.#startTimer(room);
    this.beat.enter(room, fresh);
    if (fresh) announce(`Round ${room.round}. ${$("#prompt-verb").textContent} ${room.prompt ?? $("#prompt").textContent}.`);
  }

  leave() {
    clearInterval(this.timer);
    this.timer = null;
    this.#setDrawing(false);
  }

  /** Connection state changed while this screen is up. */
  setOnline(online, room) {
    this.#setDrawing(this.#canDraw(room, online));
  }

  #canDraw(room, online = this.app.online) {
    return (
      online && !this.ready && room.phase === "drawing" && !room.spectator && !room.recognized.has(room.me) && mayDraw(room)
    );
  }

  /** The get-ready card ("Draw: bicycle, in under 20 seconds") until the round's clock starts;
   * in "beat" mode a guesser's card shows who draws and the hint. */
  #showReady(room, force = false) {
    const left = room.startsAt ? this.app.clock.remaining(room.startsAt) : 0;
    const ready = left > 0 && room.phase === "drawing";
    if (ready) {
      const turn = room.turn;
      const guessing = turn && turn.drawer !== room.me;
      const drawer = guessing ? (room.players.get(turn.drawer)?.name ?? "Someone") : null;
      setText($("#ready-verb"), guessing ? `${drawer} draws:` : "Draw:");
      setText($("#ready-prompt"), guessing ? spacedHint(turn.hint) : room.prompt);
      setText($("#ready-sub"), `${guessing ? "guess it " : ""}in under ${room.seconds} seconds`);
      setText($("#ready-count"), String(Math.ceil(left / 1000)));
    }
    if (ready === this.ready && !force) return;
    this.ready = ready;
    $("#ready").hidden = !ready;
    this.#setDrawing(this.#canDraw(room));
  }

  /** The round is over: the AI's last words on my drawing before the results screen. */
  outro(room) {
    this.#setDrawing(false);
    const drew = !room.spectator && mayDraw(room) && !room.recognized.has(room.me);
    if (drew && this.narrator.gaveUp(room.prompt)) this.#say();
  }

  /** The AI's guesses for a player's drawing (from a `guess` message or a `frame`). */
  onGuess(room, playerId, seq, guesses) {
    if (playerId === room.me) this.#myGuess(seq, guesses);
    else this.tiles.touch(playerId);
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
    this.beat.onMessage(room, msg);
  }

  /** A frame's updates were applied (after their onMessage calls). */
  onFrame(room) {
    this.beat.onFrame(room);
  }

  #edited(seq) {
    if (typeof seq === "number") this.staleBefore = seq;
  }

  /** Clear: the AI starts over with an empty drawing. */
  #cleared(seq) {
    this.#edited(seq);
    this.narrator.reset(this.room?.prompt ?? null);
    this.speaker.flush();
    setText(this.caption, START);
    replaceChildren($("#belief"));
  }

  #myGuess(seq, guesses, settled = false) {
    if (seq < this.staleBefore) return;
    replaceChildren($("#belief"), guessBars(guesses, this.room?.prompt));
    if (this.narrator.guesses(guesses, performance.now(), settled)) this.#say();
  }

  #say() {
    setText(this.caption, this.narrator.text);
    announce(this.narrator.text);
    this.speaker.say(this.narrator.text);
  }

  #narrateRecognized(label) {
    if (this.narrator.recognized(label)) this.#say();
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
      this.#showReady(room);
      if (this.narrator.tick(performance.now())) this.#say();
      const left = room.deadline ? Math.min(total, this.app.clock.remaining(room.deadline)) : 0;
      setText(el, formatCountdown(left));
      el.classList.toggle("urgent", left <= URGENT_MS);
      bar.style.width = `${Math.min(100, (100 * left) / total).toFixed(1)}%`;
      bar.classList.toggle("urgent", left <= URGENT_MS);
    };
    tick();
    this.timer = setInterval(tick, 200);
  }
}
