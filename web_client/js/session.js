// What survives a reload: the resume token (per tab, sessionStorage), the name and the
// browser's own player key (localStorage).

const TOKEN = "doodle.resume";
const NAME = "doodle.name";
const KEY = "doodle.player";
const KEY_RE = /^[A-Za-z0-9_-]{16,64}$/;

export function saveResume(token, room) {
  sessionStorage.setItem(TOKEN, JSON.stringify({ token, room }));
}

/** {token, room} or null. */
export function loadResume() {
  try {
    const v = JSON.parse(sessionStorage.getItem(TOKEN) || "null");
    return v && typeof v.token === "string" ? v : null;
  } catch {
    return null;
  }
}

export function clearResume() {
  sessionStorage.removeItem(TOKEN);
}

export function savedName() {
  return localStorage.getItem(NAME) || "";
}

export function saveName(name) {
  localStorage.setItem(NAME, name);
}

/**
 * This browser's stable player identity: a random id made once and kept in localStorage (never
 * a login). The server ranks the leaderboard by it and holds kicks by it.
 */
export function playerKey(storage = localStorage) {
  let key = storage.getItem(KEY);
  if (!key || !KEY_RE.test(key)) {
    const bytes = crypto.getRandomValues(new Uint8Array(18));
    key = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
    storage.setItem(KEY, key);
  }
  return key;
}

/**
 * This browser's identity as the server publishes it on the leaderboard ("k" + the first 20 hex
 * digits of sha256(key), see game_server/rules.py identity()); null where the browser has no
 * SubtleCrypto (pages not served over https or from localhost).
 */
export async function myIdentity(storage = localStorage) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(playerKey(storage)));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `k${hex.slice(0, 20)}`;
}

const NAME_RE = /^[\p{L}\p{N} _\-.']+$/u;

/** Trimmed name, or null when the server would refuse it (letters, digits, space, _-.';
 * 1..maxLength characters: the server's `max_name_length`). */
export function cleanName(raw, maxLength) {
  const name = String(raw || "").trim().replace(/\s+/g, " ");
  return NAME_RE.test(name) && [...name].length <= maxLength ? name : null;
}

/** What a name may be, in words (for a name cleanName or the server refused). */
export function nameRule(maxLength) {
  return `Names use letters, digits, spaces and _ - . ' (up to ${maxLength}).`;
}
