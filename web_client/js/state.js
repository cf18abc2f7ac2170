// The room as this client knows it: built from `welcome`'s snapshot and kept current by
// applying every server message (docs/protocol.md). No DOM here.

export function emptyRoom() {
  return {
    me: null, // my player id
    spectator: false,
    code: null,
    isPublic: false,
    host: null,
    phase: "lobby", // lobby | drawing | intermission | game_over
    gameId: null,
    round: 0,
    rounds: 0,
    seconds: 0,
    prompt: null,
    startsAt: null, // the round's clock starts (after the get-ready card)
    deadline: null,
    nextRoundAt: null,
    autostartAt: null, // a public room's countdown to its next game
    players: new Map(), // id -> {id, name, score, connected, host, spectator}
    drawings: new Map(), // id -> [[[x, y, t], ...], ...]
    guesses: new Map(), // id -> {seq, guesses: [{label, p}]}
    recognized: new Map(), // id -> {elapsed_ms, points, label}
    lastResults: null, // the last round_ended message
    ranking: null, // game_ended.ranking
    // "Beat the AI" (docs/protocol.md): mode, the AI's score, the running turn, the chat
    mode: "draw",
    difficulty: "mixed",
    aiScore: null,
    turn: null, // {drawer, turn, turns, hint, guessed: {id: ms}}
    versusAi: null, // game_ended.versus_ai
  };
}

function toMap(obj) {
  return new Map(Object.entries(obj || {}));
}

/** A fresh room state from a `welcome` message. */
export function fromWelcome(msg) {
  const s = msg.snapshot || {};
  const room = emptyRoom();
  room.me = msg.player_id;
  room.spectator = Boolean(msg.spectator);
  room.code = s.room ?? null;
  room.isPublic = Boolean(s.public);
  room.host = s.host ?? null;
  room.phase = s.phase || "lobby";
  room.gameId = s.game_id ?? null;
  room.round = s.round || 0;
  room.rounds = s.rounds || 0;
  room.seconds = s.seconds || 0;
  room.prompt = s.prompt ?? null;
  room.startsAt = s.starts_at ?? null;
  room.deadline = s.deadline ?? null;
  room.nextRoundAt = s.next_round_at ?? null;
  room.autostartAt = s.autostart_at ?? null;
  for (const p of [...(s.players || []), ...(s.spectators || [])]) room.players.set(p.id, { ...p });
  room.drawings = new Map(Object.entries(s.drawings || {}).map(([id, d]) => [id, d.map((st) => [...st])]));
  room.guesses = toMap(s.guesses);
  room.recognized = toMap(s.recognized);
  room.mode = s.mode || "draw";
  room.difficulty = s.difficulty || "mixed";
  room.aiScore = s.ai_score ?? null;
  room.turn = s.turn ?? null;
  if (s.last_results) {
    room.lastResults = {
      round: room.round,
      rounds: room.rounds,
      prompt: room.prompt,
      results: s.last_results,
      scores: Object.fromEntries([...room.players.values()].map((p) => [p.id, p.score])),
      next_round_at: room.nextRoundAt,
    };
  }
  return room;
}

function setScores(room, scores) {
  if (typeof scores?.ai === "number") room.aiScore = scores.ai;
  for (const [id, score] of Object.entries(scores || {})) {
    const p = room.players.get(id);
    if (p) p.score = score;
  }
}

function drawingOf(room, id) {
  let d = room.drawings.get(id);
  if (!d) {
    d = [];
    room.drawings.set(id, d);
  }
  return d;
}

/** The AI's latest guesses for a player's drawing (from a `guess` or a `frame`). */
export function setGuess(room, playerId, seq, guesses) {
  room.guesses.set(playerId, { seq, guesses: guesses || [] });
}

/** Apply one server message to the room (mutates it). Returns true if it was a room event. */
export function applyMessage(room, msg) {
  switch (msg.type) {
    case "player_joined":
      room.players.set(msg.player.id, { ...msg.player });
      return true;
    case "player_left":
      room.players.delete(msg.player_id);
      room.drawings.delete(msg.player_id);
      room.guesses.delete(msg.player_id);
      return true;
    case "player_status": {
      const p = room.players.get(msg.player_id);
      if (p) p.connected = Boolean(msg.connected);
      return true;
    }
    case "host_changed":
      room.host = msg.player_id;
      for (const p of room.players.values()) p.host = p.id === msg.player_id;
      return true;
    case "settings":
      room.rounds = msg.rounds;
      room.seconds = msg.seconds;
      room.mode = msg.mode ?? room.mode;
      room.difficulty = msg.difficulty ?? room.difficulty;
      return true;
    case "autostart":
      room.autostartAt = msg.at ?? null;
      return true;
    case "game_started":
      room.autostartAt = null;
      room.gameId = msg.game_id;
      room.rounds = msg.rounds;
      room.seconds = msg.seconds;
      room.ranking = null;
      room.versusAi = null;
      room.lastResults = null;
      setScores(room, msg.scores);
      return true;
    case "round_started":
      room.turn = msg.drawer ? { drawer: msg.drawer, turn: msg.turn, turns: msg.turns, hint: msg.hint, guessed: {} } : null;
      room.phase = "drawing";
      room.round = msg.round;
      room.rounds = msg.rounds;
      room.prompt = msg.prompt;
      room.startsAt = msg.starts_at ?? null;
      room.deadline = msg.deadline;
      room.seconds = msg.seconds ?? room.seconds;
      room.nextRoundAt = null;
      room.drawings = new Map();
      room.guesses = new Map();
      room.recognized = new Map();
      return true;
    case "ink": {
      const d = drawingOf(room, msg.player_id);
      if (msg.stroke === d.length) d.push([...msg.points]);
      else if (msg.stroke === d.length - 1) d[d.length - 1].push(...msg.points);
      return true;
    }
    case "undo":
      drawingOf(room, msg.player_id).pop();
      return true;
    case "clear":
      room.drawings.set(msg.player_id, []);
      return true;
    case "guess":
      setGuess(room, msg.player_id, msg.seq, msg.guesses);
      return true;
    case "recognized": {
      room.recognized.set(msg.player_id, { elapsed_ms: msg.elapsed_ms, points: msg.points, label: msg.label, first: msg.first });
      const p = room.players.get(msg.player_id);
      if (room.turn) room.aiScore = msg.score; // "beat": the AI's points
      else if (p && typeof msg.score === "number") p.score = msg.score;
      return true;
    }
    case "hint":
      if (room.turn) room.turn.hint = msg.hint;
      return true;
    case "guessed": {
      if (room.turn) room.turn.guessed[msg.player_id] = msg.elapsed_ms;
      const p = room.players.get(msg.player_id);
      if (p) p.score = msg.score;
      const drawer = room.players.get(room.turn?.drawer);
      if (drawer && typeof msg.drawer_score === "number") drawer.score = msg.drawer_score;
      return true;
    }
    case "chat":
    case "close_guess":
      return true;
    case "round_ended":
      room.phase = "intermission";
      room.lastResults = msg;
      room.nextRoundAt = msg.next_round_at ?? null;
      setScores(room, msg.scores);
      return true;
    case "game_ended":
      room.phase = "game_over";
      room.ranking = msg.ranking || [];
      room.versusAi = msg.versus_ai ?? null;
      room.nextRoundAt = null;
      return true;
    case "lobby":
      room.phase = "lobby";
      room.turn = null;
      room.prompt = null;
      room.deadline = null;
      room.ranking = null;
      room.lastResults = null;
      room.drawings = new Map();
      room.guesses = new Map();
      room.recognized = new Map();
      setScores(room, msg.scores);
      return true;
    default:
      return false;
  }
}

/** Seated players (not spectators), in join order. */
export function seated(room) {
  return [...room.players.values()].filter((p) => !p.spectator);
}

export function spectators(room) {
  return [...room.players.values()].filter((p) => p.spectator);
}

/** Seated players by score, best first (stable for ties). */
export function byScore(room) {
  return seated(room).sort((a, b) => (b.score || 0) - (a.score || 0));
}

export function isHost(room) {
  return room.me !== null && room.host === room.me;
}
