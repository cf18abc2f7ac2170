// The drawing pad: pointer events (mouse, touch, pen) on a canvas -> strokes of [x, y, t].
//
// x, y are logical units (see ink.js), t is ms since the drawing's first point (like the
// Quick, Draw! data). New points are batched and handed to onPoints({stroke, points})
// every FLUSH_MS and at the end of each stroke.

import { LOGICAL_SIZE, drawStrokes, fitCanvas } from "./ink.js";

const FLUSH_MS = 40;
const MIN_STEP = 1.5; // logical units between recorded points

export class DrawingPad {
  constructor(canvas, { onPoints = () => {}, onUndo = () => {}, onClear = () => {}, maxBatch = 256 } = {}) {
    this.canvas = canvas;
    this.onPoints = onPoints;
    this.onUndo = onUndo;
    this.onClear = onClear;
    this.maxBatch = maxBatch;
    this.strokes = [];
    this.enabled = false;
    this.pointerId = null;
    this.pending = [];
    this.flushTimer = null;
    this.t0 = null;
    this.dirty = true;
    this.frame = null;

    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", (e) => this.#up(e));
    canvas.addEventListener("pointercancel", (e) => this.#up(e));
    canvas.addEventListener("lostpointercapture", (e) => this.#up(e));
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    new ResizeObserver(() => this.#invalidate()).observe(canvas);
  }

  /** Start a fresh drawing (new round). */
  reset() {
    this.#endStroke();
    this.strokes = [];
    this.t0 = null;
    this.#invalidate();
  }

  /** Show a drawing restored from the server (after a reconnect); new points continue its time. */
  load(strokes) {
    this.#endStroke();
    this.strokes = strokes.map((s) => [...s]);
    const lastT = Math.max(0, ...this.strokes.flat().map((p) => p[2] || 0));
    this.t0 = this.strokes.length ? performance.now() - lastT : null;
    this.#invalidate();
  }

  /** Turn drawing on or off. Turning it off drops unsent points (the server would refuse them). */
  setEnabled(on) {
    this.enabled = on;
    if (!on) {
      this.pending = [];
      this.#endStroke();
    }
    this.canvas.classList.toggle("is-disabled", !on);
  }

  get isEmpty() {
    return this.strokes.length === 0;
  }

  undo() {
    if (!this.enabled || !this.strokes.length) return;
    this.#endStroke();
    this.strokes.pop();
    this.#invalidate();
    this.onUndo();
  }

  clear() {
    if (!this.enabled || !this.strokes.length) return;
    this.#endStroke();
    this.strokes = [];
    this.#invalidate();
    this.onClear();
  }

  #point(e) {
    const rect = this.canvas.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * LOGICAL_SIZE;
    const y = ((e.clientY - rect.top) / rect.height) * LOGICAL_SIZE;
    const now = performance.now();
    if (this.t0 === null) this.t0 = now;
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10, Math.round(now - this.t0)];
  }

  #down(e) {
    e.preventDefault(); // even when disabled: a drag from the canvas must not select text
    if (!this.enabled || this.pointerId !== null) return; // one pointer draws at a time
    if (e.pointerType === "mouse" && e.button !== 0) return;
    this.pointerId = e.pointerId;
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      /* the pointer may already be gone */
    }
    this.strokes.push([]);
    this.#add(this.#point(e));
  }

  #move(e) {
    if (e.pointerId !== this.pointerId) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) this.#add(this.#point(ev));
  }

  #up(e) {
    if (e.pointerId !== this.pointerId) return;
    if (e.type === "pointerup") this.#add(this.#point(e), true);
    this.#endStroke();
  }

  #add(p, force = false) {
    const stroke = this.strokes[this.strokes.length - 1];
    const last = stroke[stroke.length - 1];
    if (last && !force && Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) return;
    if (last && force && p[0] === last[0] && p[1] === last[1]) return;
    stroke.push(p);
    this.pending.push(p);
    if (this.pending.length >= this.maxBatch) this.#flush();
    else if (this.flushTimer === null) this.flushTimer = setTimeout(() => this.#flush(), FLUSH_MS);
    this.#invalidate();
  }

  #flush() {
    clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.pending.length) return;
    const points = this.pending;
    this.pending = [];
    this.onPoints({ stroke: this.strokes.length - 1, points });
  }

  #endStroke() {
    if (this.pointerId !== null) {
      try {
        this.canvas.releasePointerCapture(this.pointerId);
      } catch {
        /* already released */
      }
    }
    this.pointerId = null;
    this.#flush();
  }

  #invalidate() {
    this.dirty = true;
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.#render());
  }

  #render() {
    this.frame = null;
    if (!this.dirty) return;
    this.dirty = false;
    const ctx = fitCanvas(this.canvas);
    drawStrokes(ctx, this.strokes, { lineWidth: 7 });
  }
}
