// Doodle Arena web client: wires the connection, the room state and the screens.

import { createRoom, fetchConfig } from "./api.js";
import { ServerClock } from "./clock.js";
import { announce, showConnection, toast } from "./notify.js";
import { gameIdFromPath, goHomeUrl, roomCodeFromPath, showRoomInUrl, wantsLeaderboard, wantsPrompts } from "./router.js";
import { GalleryScreen } from "./screens/gallery.js";
import { HomeScreen } from "./screens/home.js";
import { LeaderboardScreen } from "./screens/leaderboard.js";
import { LobbyScreen } from "./screens/lobby.js";
import { OverScreen } from "./screens/over.js";
import { PromptsScreen } from "./screens/prompts.js";
import { ResultsScreen } from "./screens/results.js";
import { RoundScreen } from "./screens/round.js";
import { clearResume, loadResume, nameRule, playerKey, savedName, saveResume } from "./session.js";
import { expandFrame } from "./protocol.js";
import { backoffDelay, GameSocket, defaultSocketUrl } from "./socket.js";
import { applyMessage, fromWelcome, setGuess } from "./state.js";

const SCREEN_OF_PHASE = { lobby: "lobby", drawing: "round", intermission: "results", game_over: "over" };
const PHASE_EVENTS = new Set(["round_started", "round_ended", "game_ended", "lobby"]);
const ROOM_EVENTS = new Set(["player_joined", "player_left", "player_status", "host_changed", "settings", "game_started", "autostart"]);
// How long the round screen stays up after the round ended: the AI's last words are seen.
const OUTRO_MS = 1800;
// The client's own words for the server's error codes (docs/protocol.md), given the server's
// limits (GET /api/config); others are shown as sent.
const ERROR_TEXT = {
  room_not_found: "There's no room with that code (or it has closed). Check the code, or start a new game.",
  room_full: "That room is full. Try Quick play, or create your own room.",
  kicked: "The host removed you from this game. You can join again once it's over.",
  bad_name: (limits) => nameRule(limits.max_name_length),
  bad_resume: "Your seat in that room has expired.",
  rate_limited: "Too many tries at once. Wait a moment and try again.",
  unavailable: "The game server is busy or restarting. Try again in a moment.",
  server_busy: (limits, msg) => `The game server is full right now. Try again in ${Math.ceil((msg.retry_after_ms ?? 5000) / 1000)} s.`,
  internal: "Something went wrong on the server. Try again.",
};

function errorText(msg, limits) {
  const text = ERROR_TEXT[msg.code];
  return (typeof text === "function" ? text(limits, msg) : text) || msg.message || "Something went wrong.";
}
// Errors that are part of normal play (a late stroke after recognition, a race with the round end).
const QUIET_ERRORS = new Set(["drawing_locked", "bad_phase", "rate_limited", "bad_stroke", "not_drawer"]);
// Close codes after which reconnecting would be wrong, by their names in GET /api/config.
const FINAL_CLOSES = {
  kicked: "The host removed you from this game. You can join again once it's over.",
  replaced: "This seat was taken over by another tab.",
  policy: "The server closed the connection: too many messages.",
  too_many_connections: "Too many connections from your address.",
};

class App {
  /** `config`: the server's limits and close codes (GET /api/config). */
  constructor(config) {
    this.config = config;
    this.closeNames = new Map(Object.entries(config.close_codes).map(([name, code]) => [code, name]));
    this.clock = new ServerClock();
    this.socket = null;
    this.room = null;
    this.request = null; // the join we asked for: {name, room?, quickplay?, spectator?}
    this.resumeToken = null;
    this.seq = 0;
    this.online = false;
    this.current = null;
    this.screens = {
      home: new HomeScreen(this),
      lobby: new LobbyScreen(this),
      round: new RoundScreen(this),
      results: new ResultsScreen(this),
      over: new OverScreen(this),
      leaderboard: new LeaderboardScreen(this),
      prompts: new PromptsScreen(this),
      gallery: new GalleryScreen(this),
    };
    this.outro = null; // the timer that ends the round screen's outro
  }

  boot() {
    const code = roomCodeFromPath();
    const saved = loadResume();
    window.addEventListener("hashchange", () => this.#route());
    if (saved && !gameIdFromPath() && (!code || saved.room === code)) {
      // A reload inside a room: take the seat back.
      this.resumeToken = saved.token;
      this.request = { name: savedName() || "player", room: saved.room };
      this.#connect();
    }
    this.#route();
  }

  // --- actions from the screens ------------------------------------------------------------

  /** Join from the home screen: {name, spectator, quickplay?, create?, room?}. */
  async start({ name, spectator, quickplay, create, room }) {
    try {
      if (create) room = (await createRoom()).code;
    } catch (err) {
      const text = err.code === "server_busy" ? errorText({ code: err.code, retry_after_ms: err.retryAfterMs }, this.config.limits) : err.message;
      toast(`Could not create a room: ${text}`, "error");
      this.screens.home.setBusy(false);
      return;
    }
    this.request = { name, spectator: Boolean(spectator) };
    if (room) this.request.room = room;
    else this.request.quickplay = true;
    this.resumeToken = null;
    this.#connect();
  }

  send(type, fields = {}) {
    return this.socket?.send(type, fields) ?? false;
  }

  /** Send a drawing update with the next seq; returns the seq. */
  sendDrawing(type, fields = {}) {
    this.seq += 1;
    this.send(type, { seq: this.seq, ...fields });
    return this.seq;
  }

  leave() {
    this.send("leave");
    this.#reset();
    this.#route();
  }

  closeLeaderboard() {
    if (wantsLeaderboard() || wantsPrompts()) history.replaceState(null, "", window.location.pathname);
    this.#route();
  }

  // --- connection -------------------------------------------------------------------------

  #connect() {
    this.socket?.close();
    const socket = new GameSocket(defaultSocketUrl(window.location, this.request?.room));
    this.socket = socket;
    socket.addEventListener("status", (e) => this.#status(e.detail));
    socket.addEventListener("message", (e) => this.#message(e.detail));
    socket.addEventListener("closed", (e) => this.#closed(e.detail));
    socket.connect();
  }

  #sendJoin() {
    const r = this.request || { name: savedName() || "player" };
    const join = { name: r.name };
    if (this.resumeToken) join.resume = this.resumeToken;
    if (r.room) join.room = r.room;
    else if (r.quickplay) join.quickplay = true;
    if (r.spectator) join.spectator = true;
    join.key = playerKey();
    this.socket.send("join", join);
  }

  #status(detail) {
    showConnection(detail);
    if (detail.state === "open") this.#sendJoin();
    else this.#setOnline(false);
  }

  #setOnline(online) {
    this.online = online;
    if (this.current === "round" && this.room) this.screens.round.setOnline(online, this.room);
  }

  #closed({ code }) {
    const final = FINAL_CLOSES[this.closeNames.get(code)];
    if (!final) return; // the socket reconnects by itself
    toast(final, "error", 6000);
    this.#reset();
    this.#route();
  }

  /** Forget the room and the connection (left, kicked, or the room is gone). */
  #reset() {
    clearTimeout(this.outro);
    this.outro = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    clearResume();
    this.resumeToken = null;
    this.request = null;
    this.room = null;
    this.online = false;
    showConnection({ state: "closed" });
    goHomeUrl();
  }

  // --- server messages --------------------------------------------------------------------

  #message(msg) {
    switch (msg.type) {
      case "welcome":
        return this.#welcome(msg);
      case "frame":
        for (const update of expandFrame(msg)) this.#message(update);
        if (this.room) this.screens[this.current]?.onFrame?.(this.room); // once per frame
        return undefined;
      case "pong":
        this.clock.recordRtt(msg.rtt);
        this.clock.sample(msg.server_time);
        return undefined;
      case "error":
        return this.#error(msg);
      case "server_shutdown":
        // The server is restarting (close 1012 follows); the socket reconnects by itself.
        toast("The server is restarting; reconnecting…", "info");
        return undefined;
      case "snapshot":
        // The server may have missed room events: replace the whole room state.
        if (!this.room) return undefined;
        return this.#welcome({
          ...msg,
          player_id: this.room.me,
          spectator: this.room.spectator,
          resume_token: this.resumeToken,
        });
      default:
    }
    if (msg.type === "guess") return this.onGuess(msg.player_id, msg.seq, msg.guesses);
    const room = this.room;
    const leaving = msg.type === "player_left" ? room?.players.get(msg.player_id) : null;
    if (!room || !applyMessage(room, msg)) return undefined;
    if (msg.type === "round_started") {
      this.clock.sample(msg.server_time);
      this.seq = 0;
    }
    if (msg.type === "host_changed") this.#hostChanged(room);
    if (leaving && msg.reason === "kicked" && leaving.id !== room.me) {
      toast(`${leaving.name} was removed by the host.`);
    }
    if (PHASE_EVENTS.has(msg.type)) {
      if (wantsLeaderboard()) history.replaceState(null, "", window.location.pathname);
      if (msg.type === "round_ended" && this.current === "round") {
        // the AI's last words ("Oh I know..." / "Sorry, I couldn't guess it") before the results
        this.screens.round.outro(room);
        this.outro = setTimeout(() => {
          this.outro = null;
          this.#route();
        }, OUTRO_MS);
      }
      if (this.outro) return undefined; // the outro's end shows the screen of the phase then
      return this.#route();
    }
    if (this.current === "lobby" && ROOM_EVENTS.has(msg.type)) this.screens.lobby.render(room);
    this.screens[this.current]?.onMessage?.(room, msg);
    return undefined;
  }

  /** The AI's guesses for a player's drawing: from a `guess` message, or one entry of a `frame`. */
  onGuess(playerId, seq, guesses) {
    const room = this.room;
    if (!room || room.phase !== "drawing") return;
    setGuess(room, playerId, seq, guesses);
    if (this.current === "round") this.screens.round.onGuess(room, playerId, seq, guesses);
  }

  #welcome(msg) {
    clearTimeout(this.outro);
    this.outro = null;
    const fresh = !this.room || this.room.code !== msg.snapshot?.room;
    this.room = fromWelcome(msg);
    this.resumeToken = msg.resume_token;
    saveResume(msg.resume_token, this.room.code);
    if (this.request) this.request.room = this.room.code;
    if (this.socket) this.socket.url = defaultSocketUrl(window.location, this.room.code);
    showRoomInUrl(this.room.code);
    this.clock.sample(msg.snapshot?.server_time);
    const mine = this.room.guesses.get(this.room.me);
    if (mine) this.seq = Math.max(this.seq, mine.seq);
    this.online = true;
    if (!fresh) announce("Reconnected.");
    this.#route(true);
  }

  #hostChanged(room) {
    const name = room.players.get(room.host)?.name;
    if (room.host === room.me) toast("You are the host now.", "info");
    else if (name) toast(`${name} is the host now.`, "info");
    this.screens.lobby.noteHost(room);
    if (this.current === "over") this.screens.over.render(room);
  }

  #error(msg) {
    const joining = !this.room || msg.ref === "join";
    if (joining && msg.code === "bad_resume" && this.resumeToken) {
      // The seat expired: join the room again as a new player.
      this.resumeToken = null;
      clearResume();
      this.#sendJoin();
      return;
    }
    if (joining && msg.ref === "join") {
      toast(errorText(msg, this.config.limits), "error", 6000);
      const code = this.request?.room ?? null;
      this.#reset();
      this.#route(true); // the home screen again, its buttons usable
      if (code && !["room_not_found", "kicked"].includes(msg.code)) this.screens.home.enter(code);
      return;
    }
    if (QUIET_ERRORS.has(msg.code)) {
      console.debug("server:", msg.code, msg.message);
      return;
    }
    toast(errorText(msg, this.config.limits), "error");
  }

  // --- screens ----------------------------------------------------------------------------

  /** Show the screen the URL and the room's phase call for. */
  #route(force = false) {
    let name;
    if (wantsLeaderboard()) name = "leaderboard";
    else if (wantsPrompts()) name = "prompts";
    else if (this.room) name = SCREEN_OF_PHASE[this.room.phase] || "lobby";
    else if (gameIdFromPath()) name = "gallery";
    else name = "home";
    if (name === this.current && !force) {
      if (name === "lobby") this.screens.lobby.render(this.room);
      return;
    }
    if (this.current && this.current !== name) this.screens[this.current].leave?.();
    for (const el of document.querySelectorAll("main > [data-screen]")) el.hidden = el.dataset.screen !== name;
    document.body.dataset.view = name;
    this.current = name;
    const screen = this.screens[name];
    if (name === "home") {
      screen.enter(this.socket ? null : roomCodeFromPath());
      screen.setBusy(Boolean(this.socket)); // a resume is under way
    }
    else if (name === "lobby") screen.render(this.room);
    else if (name === "gallery") screen.enter(gameIdFromPath());
    else screen.enter(this.room);
  }
}

/** GET /api/config, retried with the socket's backoff until the server answers. */
async function loadConfig() {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const config = await fetchConfig();
      if (attempt > 1) showConnection({ state: "closed" });
      return config;
    } catch {
      const retryIn = backoffDelay(attempt);
      showConnection({ state: "reconnecting", attempt, retryIn });
      await new Promise((resolve) => setTimeout(resolve, retryIn));
    }
  }
}

const app = new App(await loadConfig());
window.doodle = app; // handy in the console (and for the browser tests' reconnect check)
app.boot();
