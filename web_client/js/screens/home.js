// Home: pick a name, then Quick play, Create private room, or Join by code (or the invite).

import { $ } from "../dom.js";
import { cleanName, savedName, saveName } from "../session.js";

export class HomeScreen {
  constructor(app) {
    this.app = app;
    this.el = $('[data-screen="home"]');
    this.name = $("#name");
    this.code = $("#code");
    this.spectator = $("#as-spectator");
    this.nameError = $("#name-error");
    this.name.value = savedName();
    this.name.maxLength = app.config.limits.max_name_length;
    this.invite = null;

    $("#quickplay").addEventListener("click", () => this.#go({ quickplay: true }));
    $("#create-room").addEventListener("click", () => this.#go({ create: true }));
    $("#join-invite").addEventListener("click", () => this.#go({ room: this.invite }));
    $("#home-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const code = this.code.value.trim().toUpperCase();
      if (this.invite && !code) this.#go({ room: this.invite });
      else if (code) this.#go({ room: code });
      else this.code.focus();
    });
    this.name.addEventListener("input", () => {
      this.nameError.hidden = true;
      this.name.removeAttribute("aria-invalid");
    });
  }

  /** Show home; `invite` is a room code from a /r/<code> link. */
  enter(invite = null) {
    this.invite = invite;
    $("#invite").hidden = !invite;
    $("#invite-code").textContent = invite || "";
    $("#join-invite").hidden = !invite;
    $("#home-form").classList.toggle("invited", Boolean(invite));
    $("#quickplay").classList.toggle("primary", !invite);
    if (invite) this.code.value = invite;
    this.setBusy(false);
    (this.name.value ? (invite ? $("#join-invite") : $("#quickplay")) : this.name).focus();
  }

  setBusy(busy) {
    for (const b of this.el.querySelectorAll("button")) b.disabled = busy;
  }

  #go(what) {
    const max = this.app.config.limits.max_name_length;
    const name = cleanName(this.name.value, max);
    if (!name) {
      this.nameError.hidden = false;
      this.nameError.textContent = this.name.value.trim()
        ? `Names use letters, digits, spaces and _ - . ' (up to ${max}).`
        : "Pick a name first.";
      this.name.setAttribute("aria-invalid", "true");
      this.name.focus();
      return;
    }
    saveName(name);
    this.setBusy(true);
    this.app.start({ name, spectator: this.spectator.checked, ...what });
  }
}
