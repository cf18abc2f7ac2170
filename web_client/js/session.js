// What survives a reload: the resume token (per tab, sessionStorage) and the name (localStorage).

const TOKEN = "doodle.resume";
const NAME = "doodle.name";

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

const NAME_RE = /^[\p{L}\p{N} _\-.']+$/u;

/** Trimmed name, or null when the server would refuse it (letters, digits, space, _-.';
 * 1..maxLength characters: the server's `max_name_length`). */
export function cleanName(raw, maxLength) {
  const name = String(raw || "").trim().replace(/\s+/g, " ");
  return NAME_RE.test(name) && [...name].length <= maxLength ? name : null;
}
