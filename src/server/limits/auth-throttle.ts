/**
 * Throttles token guessing (README "Limits"): each client address has a bucket of AUTH_BURST
 * attempts that refills at AUTH_RATE_PER_S. Every hello with an hmac takes one attempt before it is
 * checked; one that passes gives it back. Once the bucket is empty, a hello waits for the next
 * attempt before it is checked, right or wrong, so neither parallel connections nor a fast answer to
 * a right guess lets an address try more than AUTH_RATE_PER_S tokens per second.
 */

/** Attempts an address has before its hellos are slowed down. */
export const AUTH_BURST = 10;
/** Failed attempts per second an address can sustain. */
export const AUTH_RATE_PER_S = 2;
/** Most addresses remembered; beyond it, full buckets and then the least recently used are dropped. */
const MAX_ADDRESSES = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/** A token bucket per address, in bounded memory. */
export class AuthThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly burst = AUTH_BURST,
    private readonly ratePerS = AUTH_RATE_PER_S,
    private readonly now: () => number = Date.now,
  ) {}

  /** Addresses remembered now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one attempt for `key`; resolves once it may be checked, with a way to give it back. */
  async take(key: string): Promise<{ refund: () => void }> {
    const attempt = this.attempt(key);
    if (attempt.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, attempt.waitMs));
    return attempt;
  }

  /** Takes one attempt for `key`: how long it must wait before it is checked, and how to give it back. */
  attempt(key: string): { waitMs: number; refund: () => void } {
    const bucket = this.refilled(key);
    bucket.tokens -= 1;
    const waitMs = bucket.tokens < 0 ? Math.ceil((-bucket.tokens / this.ratePerS) * 1000) : 0;
    let refunded = false;
    return {
      waitMs,
      refund: () => {
        if (refunded) return;
        refunded = true;
        const again = this.refilled(key);
        again.tokens = Math.min(this.burst, again.tokens + 1);
      },
    };
  }

  /** The bucket of `key` with the attempts earned since it was last looked at; most recently used last. */
  private refilled(key: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerS);
      bucket.at = now;
    } else {
      if (this.buckets.size >= MAX_ADDRESSES) this.forgetSome(now);
      bucket = { tokens: this.burst, at: now };
    }
    this.buckets.set(key, bucket);
    return bucket;
  }

  /**
   * Drops the buckets that have refilled (they hold nothing), and if that is not enough the least
   * recently used tenth: one sweep per MAX_ADDRESSES / 10 new addresses at most.
   */
  private forgetSome(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerS >= this.burst) this.buckets.delete(key);
    }
    if (this.buckets.size < MAX_ADDRESSES * 0.9) return;
    let drop = this.buckets.size - Math.floor(MAX_ADDRESSES * 0.9);
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
