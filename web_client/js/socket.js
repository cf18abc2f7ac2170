// The game connection: one WebSocket to /ws that reconnects by itself with backoff.
//
// Events (EventTarget): "message" (detail = decoded server message),
// "status" (detail = {state, attempt, retryIn}) where state is
// "connecting" | "open" | "reconnecting" | "closed".
// The caller sends `join` on every "open" (with the resume token after a drop).

import { decode, encode } from "./protocol.js";

const PING_MS = 10_000;

/** Exponential backoff with jitter: 0.5 s, 1 s, 2 s, 4 s, 8 s, capped at 10 s. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(10_000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The socket URL; with the room code when known, so a load balancer keeps a room on one server. */
export function defaultSocketUrl(loc = window.location, room = null) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const query = room ? `?room=${encodeURIComponent(room)}` : "";
  return `${scheme}//${loc.host}/ws${query}`;
}

export class GameSocket extends EventTarget {
  /** `url` may change while connected (e.g. once the room is known): reconnects use the new one. */
  constructor(url = defaultSocketUrl()) {
    super();
    this.url = url;
    this.ws = null;
    this.state = "closed";
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pingSentAt = null;
    this.wanted = false; // false after close(): no more reconnects
  }

  connect() {
    this.wanted = true;
    this.#open();
  }

  /** Close on purpose (leaving the room): no reconnect. */
  close() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.#stopPing();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "bye");
    }
    this.#setState("closed");
  }

  /** Drop the connection as if the network failed (used for testing reconnects). */
  drop() {
    if (this.ws) this.ws.close(4000, "dropped");
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a message; returns false (and drops it) while disconnected. */
  send(type, fields = {}) {
    if (!this.isOpen) return false;
    this.ws.send(encode(type, fields));
    return true;
  }

  #open() {
    clearTimeout(this.retryTimer);
    this.#setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.#setState("open");
      this.#startPing();
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      const msg = decode(event.data);
      if (!msg) return;
      if (msg.type === "pong" && this.pingSentAt !== null) {
        msg.rtt = performance.now() - this.pingSentAt;
        this.pingSentAt = null;
      }
      this.dispatchEvent(new CustomEvent("message", { detail: msg }));
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.#stopPing();
      this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, reason: event.reason } }));
      if (this.wanted) this.#scheduleRetry();
      else this.#setState("closed");
    });
    // "error" is always followed by "close"; nothing to do here.
  }

  #scheduleRetry() {
    this.attempt += 1;
    const delay = backoffDelay(this.attempt);
    this.#setState("reconnecting", delay);
    this.retryTimer = setTimeout(() => this.#open(), delay);
  }

  #startPing() {
    this.#stopPing();
    this.pingTimer = setInterval(() => {
      if (this.pingSentAt === null && this.send("ping")) this.pingSentAt = performance.now();
    }, PING_MS);
  }

  #stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.pingSentAt = null;
  }

  #setState(state, retryIn = null) {
    this.state = state;
    this.dispatchEvent(
      new CustomEvent("status", { detail: { state, attempt: this.attempt, retryIn } }),
    );
  }
}
