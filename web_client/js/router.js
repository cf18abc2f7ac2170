// Where the page was opened: "/" (home), "/r/<code>" (a room link), "/g/<id>" (a finished
// game's gallery), "#leaderboard".

const CODE_RE = /^\/r\/([A-Za-z0-9]{1,16})\/?$/;
const GAME_RE = /^\/g\/([0-9a-f]{12})\/?$/;

export function gameIdFromPath(pathname = window.location.pathname) {
  const m = GAME_RE.exec(pathname);
  return m ? m[1] : null;
}

export function galleryLink(gameId, origin = window.location.origin) {
  return `${origin}/g/${gameId}`;
}

export function roomCodeFromPath(pathname = window.location.pathname) {
  const m = CODE_RE.exec(pathname);
  return m ? m[1].toUpperCase() : null;
}

export function roomLink(code, origin = window.location.origin) {
  return `${origin}/r/${encodeURIComponent(code)}`;
}

/** Put the room in the address bar (so reloads resume and the link can be shared). */
export function showRoomInUrl(code) {
  const path = `/r/${encodeURIComponent(code)}`;
  if (window.location.pathname !== path) history.replaceState(null, "", path + window.location.hash);
}

export function goHomeUrl() {
  history.replaceState(null, "", "/");
}

export function wantsLeaderboard() {
  return window.location.hash === "#leaderboard";
}

export function wantsPrompts() {
  return window.location.hash === "#prompts";
}
