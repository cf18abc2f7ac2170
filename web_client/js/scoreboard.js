// The scoreboard: seated players by score, me highlighted, who was recognized this round.

import { h, replaceChildren } from "./dom.js";
import { byScore } from "./state.js";

export function renderScoreboard(list, room) {
  const rows = byScore(room);
  if (room.mode === "beat" && room.aiScore !== null) {
    // "Beat the AI": the AI stands on the scoreboard like a player
    const ai = { id: "ai", name: "AI", score: room.aiScore, connected: true };
    rows.splice(rows.filter((p) => (p.score || 0) >= ai.score).length, 0, ai);
  }
  const items = rows.map((p, i) => {
    const rec = room.recognized.get(p.id);
    return h(
      "li",
      {
        class: ["score-row", p.id === room.me && "me", !p.connected && "away", rec && "got-it"]
          .filter(Boolean)
          .join(" "),
        dataset: { playerId: p.id },
      },
      h("span", { class: "rank" }, String(i + 1)),
      h("span", { class: "name" }, p.name),
      rec ? h("span", { class: "plus", title: "recognized this round" }, `+${rec.points}`) : null,
      h("span", { class: "score" }, String(p.score ?? 0)),
    );
  });
  replaceChildren(list, items);
}
