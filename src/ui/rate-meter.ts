/** A transfer rate over the last few seconds, for a bar's rate and ETA (knows nothing of bars). */

/** Rate of a growing count (bytes done) over a sliding window of time; unknown until enough time passed. */
export class RateMeter {
  /** Samples at least SAMPLE_MS apart, oldest first; the first one is at or before the window's start. */
  private samples: Array<{ at: number; value: number }> = [];
  private latest = { at: 0, value: 0 };
  private since = 0;

  /**
   * @param windowMs how far back the rate looks (a stall shows as a falling rate, then 0).
   * @param minSpanMs no rate before this long after a (re)start: a first frame has no rate to show.
   */
  constructor(private readonly windowMs = 4000, private readonly minSpanMs = 600) {}

  /** Starts over at `value` (a new file, or a resumed offset after a retry). */
  reset(value: number, now = Date.now()): void {
    this.latest = { at: now, value };
    this.samples = [this.latest];
    this.since = now;
  }

  /** Notes that `value` is done now. */
  record(value: number, now = Date.now()): void {
    this.latest = { at: now, value };
    const last = this.samples[this.samples.length - 1];
    if (last === undefined || now - last.at >= 100) this.samples.push(this.latest);
  }

  /** Bytes per second over the window; undefined right after a (re)start or when the count went down. */
  perSecond(now = Date.now()): number | undefined {
    if (now - this.since < this.minSpanMs) return undefined;
    while (this.samples.length > 1 && this.samples[1]!.at <= now - this.windowMs) this.samples.shift();
    const base = this.samples[0]!;
    const rate = ((this.latest.value - base.value) * 1000) / Math.max(1, now - base.at);
    return rate >= 0 ? rate : undefined;
  }
}
