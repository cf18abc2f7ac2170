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
