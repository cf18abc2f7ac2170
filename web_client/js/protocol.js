// Wire format of the game protocol (docs/protocol.md): JSON text frames {"type": ..., ...fields}.

export function encode(type, fields = {}) {
  return JSON.stringify({ type, ...fields });
}

/** Parse a server frame; null for anything that is not a JSON object with a string type. */
export function decode(text) {
  if (typeof text !== "string") return null;
  try {
    const msg = JSON.parse(text);
    return msg && typeof msg === "object" && typeof msg.type === "string" ? msg : null;
  } catch {
    return null;
  }
}

/**
 * The room's per-tick `frame` as the per-player updates it carries, in order: every player's
 * ink ops ({type: "ink" | "undo" | "clear", player_id, ...}), then their guesses
 * ({type: "guess", player_id, seq, guesses}). The server leaves our own ink out.
 */
export function expandFrame(frame) {
  const out = [];
  for (const [playerId, ops] of Object.entries(frame.ink || {})) {
    for (const op of ops) {
      if (op.op === "points") out.push({ type: "ink", player_id: playerId, stroke: op.stroke, points: op.points });
      else out.push({ type: op.op, player_id: playerId });
    }
  }
  for (const [playerId, g] of Object.entries(frame.guesses || {})) {
    out.push({ type: "guess", player_id: playerId, seq: g.seq, guesses: g.guesses });
  }
  return out;
}
