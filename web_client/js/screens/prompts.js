// Prompt difficulty learned from play (GET /api/prompts): a chart, hardest to easiest, each bar
// with its uncertainty.

import { fetchPrompts } from "../api.js";
import { $, h, replaceChildren } from "../dom.js";
import { toast } from "../notify.js";

const pct = (x) => `${(100 * x).toFixed(0)}%`;

export class PromptsScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="prompts"]');
    $("#prompts-back").addEventListener("click", (e) => {
      e.preventDefault();
      app.closeLeaderboard();
    });
  }

  async enter() {
    const list = $("#prompt-chart");
    list.setAttribute("aria-busy", "true");
    try {
      const rows = (await fetchPrompts())?.prompts || [];
      replaceChildren(list, rows.map(bar));
      this.el.dataset.loaded = "1";
    } catch (err) {
      toast(`Could not load the prompts: ${err.message}`, "error");
    } finally {
      list.removeAttribute("aria-busy");
    }
  }
}

function bar(r) {
  const lo = Math.max(0, r.difficulty - r.uncertainty);
  const hi = Math.min(1, r.difficulty + r.uncertainty);
  const played = r.rounds
    ? `${r.rounds} round${r.rounds === 1 ? "" : "s"}, recognized ${pct(r.recognition_rate ?? 0)}` +
      (r.median_ms === null ? "" : `, median ${(r.median_ms / 1000).toFixed(0)} s`)
    : r.source === "model" ? "not played yet (from the model's test)" : "not played yet";
  return h(
    "li",
    { class: `prompt-row ${r.source}`, dataset: { label: r.label } },
    h("span", { class: "label" }, r.label),
    h(
      "span",
      { class: "track", role: "img", "aria-label": `difficulty ${pct(r.difficulty)} ± ${pct(r.uncertainty)}` },
      h("span", { class: "fill", style: `width:${pct(r.difficulty)}` }),
      h("span", { class: "spread", style: `left:${pct(lo)};width:${pct(hi - lo)}` }),
    ),
    h("span", { class: "value" }, `${pct(r.difficulty)} ± ${pct(r.uncertainty)}`),
    h("span", { class: "played" }, played),
  );
}
