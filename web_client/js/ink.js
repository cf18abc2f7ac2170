// Drawing strokes on a canvas. Every drawing lives in one logical square space
// (LOGICAL_SIZE units a side, y down); canvases of any size scale it to fit.

export const LOGICAL_SIZE = 512;

/**
 * Size a canvas's backing store for its CSS size and the device pixel ratio, and set a
 * transform so that drawing in logical units fills it. Returns the 2D context.
 */
export function fitCanvas(canvas, logical = LOGICAL_SIZE) {
  const ctx = canvas.getContext("2d");
  const rect = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(rect.width * dpr));
  const hgt = Math.max(1, Math.round(rect.height * dpr));
  if (canvas.width !== w || canvas.height !== hgt) {
    canvas.width = w;
    canvas.height = hgt;
  }
  ctx.setTransform(w / logical, 0, 0, hgt / logical, 0, 0);
  return ctx;
}

/** Trace one stroke ([[x, y, t], ...]) as a smooth path through the midpoints. */
export function traceStroke(ctx, points) {
  if (!points.length) return;
  const [x0, y0] = points[0];
  ctx.moveTo(x0, y0);
  if (points.length === 1) {
    ctx.lineTo(x0 + 0.01, y0); // a dot
    return;
  }
  for (let i = 1; i < points.length - 1; i++) {
    const [x, y] = points[i];
    const [nx, ny] = points[i + 1];
    ctx.quadraticCurveTo(x, y, (x + nx) / 2, (y + ny) / 2);
  }
  const [xl, yl] = points[points.length - 1];
  ctx.lineTo(xl, yl);
}

/** Clear the canvas and draw strokes (list of point lists) in logical units. */
export function drawStrokes(ctx, strokes, { lineWidth = 8, color = "#1d1d1f", logical = LOGICAL_SIZE } = {}) {
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  ctx.restore();
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = color;
  ctx.lineWidth = lineWidth * (LOGICAL_SIZE / logical);
  for (const stroke of strokes) {
    if (!stroke || !stroke.length) continue;
    ctx.beginPath();
    traceStroke(ctx, stroke);
    ctx.stroke();
  }
}

/**
 * Paint a 28x28 grayscale image (784 values 0..255, ink = 255) onto a 28x28 canvas,
 * dark ink on white like the drawing. CSS scales it up with image-rendering: pixelated.
 */
export function paintBitmap(canvas, pixels, size = 28) {
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const v = 255 - (pixels[i] ?? 0);
    img.data[4 * i] = v;
    img.data[4 * i + 1] = v;
    img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Decode a bitmap sent as base64 bytes, or pass through a number array. */
export function bitmapPixels(value) {
  if (Array.isArray(value)) return value;
  if (typeof value !== "string") return null;
  const bin = atob(value);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The square area of logical space to show for a drawing: the standard square, grown to
 * include every point (other clients may use other coordinates). Returns {x, y, size}.
 */
export function viewBox(strokes) {
  let minX = 0;
  let minY = 0;
  let maxX = LOGICAL_SIZE;
  let maxY = LOGICAL_SIZE;
  for (const stroke of strokes) {
    for (const [x, y] of stroke) {
      if (x < minX) minX = x;
      if (y < minY) minY = y;
      if (x > maxX) maxX = x;
      if (y > maxY) maxY = y;
    }
  }
  const size = Math.max(maxX - minX, maxY - minY);
  return { x: minX - (size - (maxX - minX)) / 2, y: minY - (size - (maxY - minY)) / 2, size };
}

/** Draw someone's strokes scaled to fit a (tile) canvas. */
export function drawFitted(canvas, strokes, { lineWidth = 9, color = "#1d1d1f" } = {}) {
  const box = viewBox(strokes);
  const ctx = fitCanvas(canvas, box.size);
  const k = canvas.width / box.size;
  ctx.setTransform(k, 0, 0, canvas.height / box.size, -box.x * k, (-box.y * canvas.height) / box.size);
  drawStrokes(ctx, strokes, { lineWidth, color, logical: box.size });
}
