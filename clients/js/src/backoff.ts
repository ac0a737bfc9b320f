/** How the client waits between reconnect attempts. */
export interface ReconnectOptions {
  /** The first step of the backoff, in ms. Default 500. */
  minDelayMs?: number;
  /** The largest step, in ms. Default 15000. */
  maxDelayMs?: number;
  /** A connection that stayed up this long was a good one: the next drop starts the backoff over. Default 10000. */
  stableAfterMs?: number;
}

/** @internal */
export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  minDelayMs: 500,
  maxDelayMs: 15000,
  stableAfterMs: 10000,
};

/**
 * @internal The delay before reconnect attempt `attempt` (0 for the first): exponential, capped,
 * with "equal jitter" (half of the step fixed, half random), so that the many clients of a
 * restarted node do not all come back in the same instant.
 */
export function backoffDelay(attempt: number, o: Required<ReconnectOptions>, random: () => number = Math.random): number {
  const step = Math.min(o.maxDelayMs, o.minDelayMs * 2 ** Math.min(attempt, 30));
  return step / 2 + (random() * step) / 2;
}

/**
 * @internal A token bucket: `rate` per second, up to `burst`. Paces the client's own request
 * storms (re-joining every room after a reconnect) under the server's per-connection rate limit.
 */
export class Pacer {
  private tokens: number;
  private last: number;

  constructor(private rate: number, private burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes a token at `now`; returns 0, or the ms to wait before one is there (nothing taken then). */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }
}
