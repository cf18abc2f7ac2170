// Live tiles of the other players' drawings, each with the AI's current guess.

import { h } from "./dom.js";
import { drawFitted } from "./ink.js";
import { seated } from "./state.js";

export function guessText(room, id) {
  const rec = room.recognized.get(id);
  if (rec) return `✓ in ${(rec.elapsed_ms / 1000).toFixed(1)} s`;
  const g = room.guesses.get(id)?.guesses?.[0];
  if (!g) return room.drawings.get(id)?.length ? "…" : "not drawing yet";
  if (g.label === room.prompt) return "Hmm…"; // the prompt is only said once recognized
  return `${g.label}? ${Math.round(g.p * 100)}%`;
}

export class Tiles {
  constructor(list) {
    this.list = list;
    this.tiles = new Map(); // id -> {li, canvas, name, guess}
    this.dirty = new Set();
    this.frame = null;
    this.room = null;
  }

  /** Rebuild the set of tiles (players who are not me and not spectators). */
  sync(room) {
    this.room = room;
    const others = seated(room).filter((p) => p.id !== room.me);
    const keep = new Set(others.map((p) => p.id));
    for (const [id, t] of this.tiles) {
      if (!keep.has(id)) {
        t.li.remove();
        this.tiles.delete(id);
      }
    }
    for (const p of others) {
      let t = this.tiles.get(p.id);
      if (!t) {
        const canvas = h("canvas", { class: "tile-canvas", "aria-hidden": "true" });
        const name = h("span", { class: "tile-name" });
        const guess = h("span", { class: "tile-guess" });
        const li = h("li", { class: "tile", dataset: { playerId: p.id } }, canvas, h("p", { class: "tile-info" }, name, guess));
        this.list.append(li);
        t = { li, canvas, name, guess };
        this.tiles.set(p.id, t);
      }
      t.name.textContent = p.name;
      t.li.classList.toggle("away", !p.connected);
      this.touch(p.id);
    }
    this.list.hidden = others.length === 0;
  }

  /** Mark a player's tile for redraw on the next frame. */
  touch(id) {
    if (!this.tiles.has(id)) return;
    this.dirty.add(id);
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.#render());
  }

  #render() {
    this.frame = null;
    const room = this.room;
    for (const id of this.dirty) {
      const t = this.tiles.get(id);
      if (!t) continue;
      drawFitted(t.canvas, room.drawings.get(id) || []);
      t.guess.textContent = guessText(room, id);
      t.li.classList.toggle("got-it", room.recognized.has(id));
    }
    this.dirty.clear();
  }
}
