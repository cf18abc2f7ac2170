// Toasts, the connection banner and the screen-reader announcer.

import { $, h } from "./dom.js";

export function toast(text, kind = "info", ms = 4000) {
  const box = $("#toasts");
  const el = h("div", { class: `toast ${kind}` }, text);
  box.append(el);
  setTimeout(() => el.remove(), ms);
}

/** Politely announce text to screen readers (the aria-live region). */
export function announce(text) {
  const el = $("#announcer");
  el.textContent = text;
}

/** Show the socket status: hidden when open, otherwise "Connecting…" / "Reconnecting…". */
export function showConnection({ state, attempt, retryIn }) {
  const el = $("#conn");
  document.body.dataset.conn = state;
  if (state === "open" || state === "closed") {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.hidden = false;
  if (state === "connecting") {
    el.textContent = "Connecting…";
  } else if (retryIn != null) {
    el.textContent = `Connection lost. Reconnecting in ${Math.ceil(retryIn / 1000)} s (attempt ${attempt})…`;
  } else {
    el.textContent = `Reconnecting… (attempt ${attempt})`;
  }
}
