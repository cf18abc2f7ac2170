// A line of text that counts down to a server time ("The game starts in 7 s…"), or hides.

import { setText } from "./dom.js";

export class Countdown {
  constructor(el, clock) {
    this.el = el;
    this.clock = clock;
    this.timer = null;
  }

  /** Count down to `at` (server epoch ms) with `text(seconds)`; `at` null hides the line. */
  show(at, text) {
    clearInterval(this.timer);
    this.timer = null;
    this.el.hidden = !at;
    if (!at) return;
    const tick = () => setText(this.el, text(Math.ceil(this.clock.remaining(at) / 1000)));
    tick();
    this.timer = setInterval(tick, 250);
  }

  stop() {
    this.show(null);
  }
}
