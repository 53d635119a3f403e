/**
 * A bound on how fast scrubs read (docs/PROTOCOL.md §6.13): one token bucket shared by every
 * verify of the server, so that a scrub, or several, leave the disk to uploads. Reads ask for their
 * bytes before they are made and wait while the bucket is empty.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Default scrub rate: 200 MiB/s, all scrubs together (`ftx serve --verify-rate`). */
export const DEFAULT_VERIFY_RATE = 200 * 1024 * 1024;

/** A shared byte-rate limit; Infinity = none (a local `ftx verify`). */
export class ReadRate {
  private available: number;
  private updated = Date.now();

  constructor(readonly bytesPerSecond: number) {
    // At most a quarter second of burst.
    this.available = Math.min(bytesPerSecond / 4, 4 * 1024 * 1024);
  }

  /** Waits until `bytes` may be read. */
  async take(bytes: number): Promise<void> {
    if (!Number.isFinite(this.bytesPerSecond)) return;
    for (;;) {
      const now = Date.now();
      this.available = Math.min(this.bytesPerSecond / 4 + bytes, this.available + ((now - this.updated) / 1000) * this.bytesPerSecond);
      this.updated = now;
      if (this.available >= bytes) {
        this.available -= bytes;
        return;
      }
      await sleep(Math.max(1, Math.ceil(((bytes - this.available) / this.bytesPerSecond) * 1000)));
    }
  }
}
