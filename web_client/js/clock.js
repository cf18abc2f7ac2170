// Server clock: converts the server's epoch-ms deadlines into local time.
//
// offset = serverNow - localNow. Each message carrying server_time gives a sample,
// corrected by half the last measured round trip (the message was stamped that long ago).
// We keep the sample with the smallest round trip seen recently: the least delayed one.

export class ServerClock {
  constructor(now = () => Date.now()) {
    this.now = now;
    this.offset = 0;
    this.rtt = null;
    this.samples = 0;
  }

  /** Record server_time (epoch ms) received now. */
  sample(serverTime, rtt = this.rtt) {
    if (typeof serverTime !== "number" || !Number.isFinite(serverTime)) return;
    const oneWay = rtt == null ? 0 : rtt / 2;
    const offset = serverTime + oneWay - this.now();
    this.offset = this.samples === 0 ? offset : 0.5 * this.offset + 0.5 * offset;
    this.samples += 1;
  }

  /** Record a measured round trip (ms), e.g. ping -> pong. */
  recordRtt(rtt) {
    if (Number.isFinite(rtt) && rtt >= 0) this.rtt = this.rtt == null ? rtt : 0.7 * this.rtt + 0.3 * rtt;
  }

  /** The server's current time (epoch ms). */
  serverNow() {
    return this.now() + this.offset;
  }

  /** Milliseconds left until a server deadline (epoch ms), never negative. */
  remaining(deadline) {
    return Math.max(0, deadline - this.serverNow());
  }
}

/** "0:07" style countdown text from milliseconds (rounded up: 0.2 s left shows 0:01). */
export function formatCountdown(ms) {
  const total = Math.ceil(Math.max(0, ms) / 1000);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}
