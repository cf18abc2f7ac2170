// Leaderboard: all-time and today.

import { fetchLeaderboard } from "../api.js";
import { $, h, replaceChildren } from "../dom.js";
import { toast } from "../notify.js";
import { myIdentity } from "../session.js";

export class LeaderboardScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="leaderboard"]');
    this.period = "all";
    for (const tab of this.el.querySelectorAll("[data-period]")) {
      tab.addEventListener("click", () => this.load(tab.dataset.period));
    }
    $("#lb-back").addEventListener("click", (e) => {
      e.preventDefault();
      app.closeLeaderboard();
    });
  }

  enter() {
    this.load(this.period);
  }

  async load(period) {
    this.period = period;
    for (const tab of this.el.querySelectorAll("[data-period]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.period === period));
    }
    const body = $("#lb-rows");
    body.setAttribute("aria-busy", "true");
    try {
      const [data, me] = await Promise.all([fetchLeaderboard(period, 20), myIdentity()]);
      if (this.period !== period) return; // another tab was chosen meanwhile
      const entries = data?.entries || [];
      replaceChildren(
        body,
        entries.map((e) =>
          h(
            "tr",
            { class: e.player === me ? "me" : null },
            h("td", { class: "rank" }, String(e.rank)),
            h("td", { class: "name" }, e.name, e.player === me ? h("span", { class: "badge you" }, "you") : null),
            h("td", { class: "num" }, String(e.score)),
          ),
        ),
      );
      $("#lb-empty").hidden = entries.length > 0;
      this.el.dataset.loaded = period;
    } catch (err) {
      toast(`Could not load the leaderboard: ${err.message}`, "error");
    } finally {
      body.removeAttribute("aria-busy");
    }
  }
}
