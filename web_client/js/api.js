// HTTP API: rooms and the leaderboard.

async function json(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON */
  }
  if (!response.ok) {
    const message = body?.message || body?.error?.message || body?.detail || `HTTP ${response.status}`;
    const err = new Error(message);
    err.code = body?.error?.code ?? null;
    err.status = response.status;
    err.retryAfterMs = body?.error?.retry_after_ms ?? null;
    throw err;
  }
  return body;
}

/** POST /api/rooms -> {code, link} */
export async function createRoom() {
  return json(await fetch("/api/rooms", { method: "POST", headers: { Accept: "application/json" } }));
}

/** GET /api/prompts -> {prompts: [{label, rounds, difficulty, uncertainty, ...}]} hardest first */
export async function fetchPrompts() {
  return json(await fetch("/api/prompts", { headers: { Accept: "application/json" } }));
}

/** GET /api/config -> {limits, close_codes}: the server's limits and close codes (docs/protocol.md). */
export async function fetchConfig() {
  return json(await fetch("/api/config", { headers: { Accept: "application/json" } }));
}

/** GET /api/games/<id> -> a finished game's gallery (docs/protocol.md) */
export async function fetchGame(gameId) {
  return json(await fetch(`/api/games/${encodeURIComponent(gameId)}`, { headers: { Accept: "application/json" } }));
}

/** The PNG of one drawing of a finished game. */
export function drawingPngUrl(gameId, round, playerId) {
  return `/api/games/${encodeURIComponent(gameId)}/${round}/${encodeURIComponent(playerId)}.png`;
}

/** GET /api/leaderboard?period=all|today&limit=N */
export async function fetchLeaderboard(period = "all", limit = 20) {
  const qs = new URLSearchParams({ period, limit: String(limit) });
  return json(await fetch(`/api/leaderboard?${qs}`, { headers: { Accept: "application/json" } }));
}
