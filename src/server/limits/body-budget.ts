/**
 * The server-wide budget of upload bodies held in memory (README "Limits", `ftx serve --max-buffer`):
 * putmany batches keep their bodies in memory until they have landed. Each
 * reserves its bytes before its body is read; when they do not fit, the connection reads nothing more
 * until they do (TCP flow control holds its client back). A reservation is granted whole or not at
 * all, so every granted body can be read to its end and land: waiting never deadlocks.
 */

/** Default of `--max-buffer`: measured in README "Limits" (five concurrent trees). */
export const DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024;

interface Waiter {
  bytes: number;
  grant: () => void;
}

/** Reservations of body bytes, granted in arrival order. */
export class BodyBudget {
  private used = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly limit = DEFAULT_MAX_BUFFER_BYTES) {}

  /** Bytes reserved now. */
  get reserved(): number {
    return this.used;
  }

  /**
   * Resolves with a release function once `bytes` fit (a reservation larger than the whole budget
   * is granted when nothing else is reserved).
   */
  async reserve(bytes: number): Promise<() => void> {
    if (bytes > 0 && (this.waiting.length > 0 || !this.fits(bytes))) {
      await new Promise<void>((grant) => this.waiting.push({ bytes, grant }));
    } else {
      this.used += bytes;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.grantWaiting();
    };
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.grant();
    }
  }
}
