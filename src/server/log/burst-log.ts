/**
 * Log lines about one client address that can come thousands per second (failed hellos, refused
 * connections): the first of a burst is logged as it is, the rest are counted and summed up in one
 * line once the address has been quiet for a while (or every minute while the burst goes on).
 */

/** Quiet time after which a burst is over and its summary is logged. */
const BURST_QUIET_MS = 5000;
/** A burst that goes on is summed up at least this often. */
const BURST_SUMMARY_MS = 60_000;
/** Most addresses tracked at once; the oldest burst is summed up early beyond it. */
const MAX_TRACKED = 4096;

interface Burst {
  started: number;
  last: number;
  summarized: number;
  /** Events after the first line, by label. */
  counts: Map<string, number>;
}

/** Rate-limited log lines per key (a client address). */
export class BurstLog {
  private readonly bursts = new Map<string, Burst>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly log: (line: string) => void, private readonly now: () => number = Date.now) {
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  /** One event for `key`: `line` is logged if it starts a burst, else `label` is counted. */
  note(key: string, label: string, line: string): void {
    const now = this.now();
    const burst = this.bursts.get(key);
    if (!burst) {
      if (this.bursts.size >= MAX_TRACKED) this.finish(this.bursts.keys().next().value!, now);
      this.bursts.set(key, { started: now, last: now, summarized: now, counts: new Map() });
      this.log(line);
      return;
    }
    burst.last = now;
    burst.counts.set(label, (burst.counts.get(label) ?? 0) + 1);
  }

  /** Logs every pending summary and stops (server shutdown). */
  close(): void {
    clearInterval(this.timer);
    for (const key of [...this.bursts.keys()]) this.finish(key, this.now());
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, burst] of [...this.bursts]) {
      if (now - burst.last >= BURST_QUIET_MS) this.finish(key, now);
      else if (now - burst.summarized >= BURST_SUMMARY_MS) this.summarize(key, burst, now);
    }
  }

  private finish(key: string, now: number): void {
    const burst = this.bursts.get(key);
    if (!burst) return;
    this.summarize(key, burst, now);
    this.bursts.delete(key);
  }

  private summarize(key: string, burst: Burst, now: number): void {
    if (burst.counts.size > 0) {
      const total = [...burst.counts.values()].reduce((sum, n) => sum + n, 0);
      const labels = [...burst.counts].map(([label, n]) => `${n} ${label}`).join(', ');
      const seconds = ((Math.max(burst.last, burst.summarized) - burst.summarized) / 1000).toFixed(1);
      this.log(`${new Date(now).toISOString()} ${key} ${total} more like that in ${seconds} s: ${labels}`);
    }
    burst.counts.clear();
    burst.summarized = now;
  }
}
