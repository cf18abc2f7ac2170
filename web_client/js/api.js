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
    throw new Error(message);
  }
  return body;
}

/** POST /api/rooms -> {code, link} */
export async function createRoom() {
  return json(await fetch("/api/rooms", { method: "POST", headers: { Accept: "application/json" } }));
}

/** GET /api/config -> {limits, close_codes}: the server's limits and close codes (docs/protocol.md). */
export async function fetchConfig() {
  return json(await fetch("/api/config", { headers: { Accept: "application/json" } }));
}

/** GET /api/leaderboard?period=all|today&limit=N */
export async function fetchLeaderboard(period = "all", limit = 20) {
  const qs = new URLSearchParams({ period, limit: String(limit) });
  return json(await fetch(`/api/leaderboard?${qs}`, { headers: { Accept: "application/json" } }));
}
