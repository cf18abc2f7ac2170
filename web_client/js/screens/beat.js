// "Beat the AI" (docs/protocol.md): in the round screen, who draws, the hint, the guess box and
// the chat; after a turn, who won the race; at the end, who beat the AI and by how much.
// Player text is only ever set as text (dom.js), never as HTML.

import { $, h, replaceChildren, setText } from "../dom.js";
import { announce } from "../notify.js";
import { renderScoreboard } from "../scoreboard.js";

const MAX_LINES = 60;

/** Whether I may draw now: always in "draw" mode, on my own turn in "beat". */
export function mayDraw(room) {
  return !room.turn || room.turn.drawer === room.me;
}

/** The hint with its letters spread out: "c _ t". */
export function spacedHint(hint) {
  return [...(hint || "")].join(" ");
}

/** One line about a finished turn (round_ended in "beat" mode), or "" in "draw" mode. */
export function turnSummary(room, ended) {
  if (!ended?.drawer) return "";
  if (ended.winner === "ai") return "The AI got it first!";
  if (ended.winner) {
    const name = ended.winner === room.me ? "You" : (room.players.get(ended.winner)?.name ?? "Someone");
    return `${name} beat the AI!`;
  }
  return "Nobody got it in time.";
}

/** "Who beat the AI, and by how much" (game_ended.versus_ai, or a gallery's); `me`: my id. */
export function renderVersus(list, versusAi, me = null) {
  const rows = versusAi || [];
  list.hidden = rows.length === 0;
  replaceChildren(
    list,
    rows.map((v) =>
      h(
        "li",
        { class: `versus ${v.margin > 0 ? "beat" : "lost"}`, dataset: { playerId: v.player_id } },
        h("strong", {}, v.player_id === me ? "You" : v.name),
        v.margin > 0 ? ` beat the AI by ${v.margin} points` : v.margin === 0 ? " tied with the AI" : ` lost to the AI by ${-v.margin} points`,
      ),
    ),
  );
}

export class BeatPanel {
  /** ``pad``: the round screen's DrawingPad, which shows the drawer's drawing to guessers. */
  constructor(app, pad) {
    this.app = app;
    this.pad = pad;
    this.el = $("#beat");
    this.log = $("#chat-log");
    this.input = $("#guess-input");
    this.input.maxLength = app.config.limits.max_chat_chars;
    this.mine = null; // my last guess: the word, once I got it
    $("#guess-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.mine = text;
      app.send("chat", { text });
      this.input.value = "";
    });
  }

  /** The round screen is shown (``fresh``: a new turn). */
  enter(room, fresh) {
    this.el.hidden = !room.turn;
    if (fresh) {
      this.log.replaceChildren();
      this.mine = null;
      if (room.turn && room.turn.drawer !== room.me) {
        const drawer = room.players.get(room.turn.drawer)?.name ?? "the drawer";
        setText($("#caption"), `Guess what ${drawer} draws!`);
      }
    }
    this.#showDrawer(room);
    this.render(room);
  }

  #showDrawer(room) {
    if (room.turn && room.turn.drawer !== room.me) this.pad.load(room.drawings.get(room.turn.drawer) || []);
  }

  render(room) {
    const turn = room.turn;
    setText($("#prompt-verb"), "Draw");
    if (!turn) return;
    const drawing = turn.drawer === room.me;
    const guessed = room.me in (turn.guessed || {});
    const drawer = room.players.get(turn.drawer)?.name ?? "Someone";
    setText($("#prompt-verb"), drawing ? "Draw" : guessed ? "You got it:" : `${drawer} draws`);
    setText($("#prompt"), drawing || guessed ? (room.prompt ?? this.mine ?? "") : spacedHint(turn.hint));
    setText($("#beat-turn"), `Turn ${turn.turn} of ${turn.turns}`);
    const guessing = !drawing && !guessed && !room.spectator;
    this.input.placeholder = guessing ? "Type your guess…" : "Chat…";
    this.input.setAttribute("aria-label", guessing ? "Your guess" : "Chat message");
  }

  /** A frame arrived: show the drawer's drawing as it is now (once per frame). */
  onFrame(room) {
    this.#showDrawer(room);
  }

  onMessage(room, msg) {
    const name = (id) => (id === room.me ? "You" : (room.players.get(id)?.name ?? "Someone"));
    switch (msg.type) {
      case "chat":
        this.#line(msg.text, "", msg.name);
        break;
      case "close_guess":
        this.#line(`“${msg.text}” is close!`, "close");
        break;
      case "guessed":
        this.#line(`${name(msg.player_id)} guessed it! +${msg.points}`, "good");
        announce(`${name(msg.player_id)} guessed it.`);
        this.render(room);
        renderScoreboard($("#scoreboard"), room);
        break;
      case "hint":
        this.render(room);
        break;
      case "recognized":
        if (!room.turn) break;
        this.#line(msg.first ? `The AI got it first! +${msg.points}` : "The AI got it too, but later.", "ai");
        if (msg.player_id === room.me) setText($("#pad-badge"), "The AI got it");
        break;
      default:
    }
  }

  #line(text, kind, who = null) {
    const li = h("li", { class: `chat-line ${kind}` }, who ? h("strong", {}, `${who}: `) : null, text);
    this.log.append(li);
    while (this.log.children.length > MAX_LINES) this.log.firstElementChild.remove();
    this.log.scrollTop = this.log.scrollHeight;
  }
}
