// Lobby: players and spectators, the share link, host settings and Start.

import { $, h, replaceChildren, setText } from "../dom.js";
import { roomLink } from "../router.js";
import { isHost, seated, spectators } from "../state.js";

export class LobbyScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="lobby"]');
    this.rounds = $("#set-rounds");
    this.seconds = $("#set-seconds");
    this.timer = null;
    const limits = app.config.limits;
    [this.rounds.min, this.rounds.max] = [limits.min_rounds, limits.max_rounds];
    [this.seconds.min, this.seconds.max] = [limits.min_round_seconds, limits.max_round_seconds];

    $("#copy-link").addEventListener("click", () => this.#copy());
    $("#start").addEventListener("click", () => {
      this.#flushSettings();
      app.send("start");
    });
    $("#lobby-leave").addEventListener("click", () => app.leave());
    for (const input of [this.rounds, this.seconds]) {
      input.addEventListener("change", () => this.#sendSettings());
    }
    $("#settings-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.#sendSettings();
    });
    this.el.addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-kick]");
      if (btn) app.send("kick", { player_id: btn.dataset.kick });
    });
  }

  render(room) {
    const host = isHost(room);
    setText($("#lobby-code"), room.code);
    $("#share-link").value = roomLink(room.code);

    const players = seated(room);
    setText($("#player-count"), `${players.length}`);
    replaceChildren($("#lobby-players"), players.map((p) => this.#person(room, p, host)));
    const specs = spectators(room);
    $("#spectators-title").hidden = specs.length === 0;
    replaceChildren($("#lobby-spectators"), specs.map((p) => this.#person(room, p, host)));

    $("#settings-form").hidden = !host;
    if (document.activeElement !== this.rounds) this.rounds.value = room.rounds;
    if (document.activeElement !== this.seconds) this.seconds.value = room.seconds;
    setText($("#settings-view"), `${room.rounds} round${room.rounds === 1 ? "" : "s"} · ${room.seconds} s each`);

    const hostName = room.players.get(room.host)?.name ?? "the host";
    $("#start").hidden = !host;
    $("#start").disabled = players.length === 0;
    setText($("#waiting"), host ? "" : `Waiting for ${hostName} to start the game…`);
  }

  /** Make host hand-over visible in the lobby. */
  noteHost(room) {
    const name = room.players.get(room.host)?.name;
    setText($("#host-note"), room.host === room.me ? "You are the host now." : name ? `${name} is the host now.` : "");
  }

  #person(room, p, host) {
    const badges = [];
    if (p.id === room.host) badges.push(h("span", { class: "badge host", title: "host" }, "host"));
    if (p.id === room.me) badges.push(h("span", { class: "badge you" }, "you"));
    if (!p.connected) badges.push(h("span", { class: "badge away" }, "away"));
    const kick =
      host && p.id !== room.me
        ? h("button", { type: "button", class: "btn ghost small kick", dataset: { kick: p.id }, "aria-label": `Remove ${p.name}` }, "Remove")
        : null;
    return h(
      "li",
      { class: `person ${p.id === room.me ? "me" : ""}`, dataset: { playerId: p.id } },
      h("span", { class: "avatar", "aria-hidden": "true" }, initial(p.name)),
      h("span", { class: "name" }, p.name),
      badges,
      kick,
    );
  }

  #sendSettings() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#flushSettings(), 150);
  }

  /** Send the host's settings if they differ from the room's (only in the lobby). */
  #flushSettings() {
    clearTimeout(this.timer);
    const room = this.app.room;
    if (!room || room.phase !== "lobby" || !isHost(room)) return;
    const rounds = Number.parseInt(this.rounds.value, 10);
    const seconds = Number.parseInt(this.seconds.value, 10);
    if (!Number.isFinite(rounds) || !Number.isFinite(seconds)) return;
    if (rounds !== room.rounds || seconds !== room.seconds) this.app.send("settings", { rounds, seconds });
  }

  async #copy() {
    const input = $("#share-link");
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch {
      input.select();
      ok = document.execCommand?.("copy") ?? false;
    }
    setText($("#copy-status"), ok ? "Link copied — send it to your friends!" : "Select the link and copy it.");
  }
}

export function initial(name) {
  return ([...(name || "?").trim()][0] || "?").toUpperCase();
}
