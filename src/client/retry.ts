/**
 * The library's one retry loop (docs/PROTOCOL.md §9.7): which failures are worth another attempt,
 * how long to wait before it (exponential backoff with jitter), and the loop itself. FtxClient runs
 * every operation through it; nothing else retries.
 */
import { ConnectError, StatusError } from '../errors.js';
import { ERROR_CODE } from '../protocol/constants.js';

/** How hard to try. */
export interface RetryPolicy {
  /** Further attempts after the first (0 = fail at once). */
  retries: number;
  /** Wait before the first retry; doubles each time, with jitter. */
  baseDelayMs: number;
  /** Upper bound of one wait. */
  maxDelayMs: number;
}

/** The CLI's policy: 5 retries, waits of about 1, 2, 4, 8, 16 s (each 50-100% of that). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 5, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** The library's default: one attempt, no retry (a script opts in with a policy). */
export const NO_RETRIES: RetryPolicy = { ...DEFAULT_RETRY_POLICY, retries: 0 };

/** What a retry is about to do, for display. */
export interface RetryNotice {
  attempt: number;
  of: number;
  delayMs: number;
  reason: string;
}

/**
 * Connects that failed before any connect of the run reached the server (README, "The first connect
 * is not retried"): a refused port, an unknown host or a timeout will not change in seconds.
 */
const firstConnectFailures = new WeakSet<object>();

/** Marks a connect failure that happened before the server was ever reached: it is final. */
export function markFirstConnectFailure(error: ConnectError): void {
  firstConnectFailures.add(error);
}

/** Failures worth another attempt: the network (once the server was reached), or a server that asks to come back later. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StatusError) {
    return error.code === ERROR_CODE.BUSY || error.code === ERROR_CODE.SERVER_BUSY || error.code === ERROR_CODE.STORE_UNAVAILABLE;
  }
  if (error instanceof ConnectError && firstConnectFailures.has(error)) return false;
  const code = (error as { code?: string }).code;
  return code === 'connection_lost' || code === 'connect_failed';
}

/** Wait before retry number `attempt` (1-based): exponential, capped, "equal jitter" (50-100%). */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** How one operation takes part in the loop. */
export interface RetryHooks {
  onRetry?: ((notice: RetryNotice) => void) | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Called with every failure before it is judged (e.g. to drop a broken connection). */
  onFailure?: (error: unknown) => void;
  /** An immediate retry (no delay, still counted) instead of the usual judgement: returns its reason. */
  recover?: (error: unknown) => string | undefined;
  /** The reason shown for a retry after `error` (default: its message). */
  describe?: (error: unknown) => string;
}

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `attemptOnce(attempt)` until it succeeds, fails for good, or `policy.retries` retries are used. */
export async function withRetries<T>(policy: RetryPolicy, attemptOnce: (attempt: number) => Promise<T>, hooks: RetryHooks = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptOnce(attempt);
    } catch (error) {
      hooks.onFailure?.(error);
      const now = hooks.recover?.(error);
      if (now !== undefined) {
        hooks.onRetry?.({ attempt: attempt + 1, of: policy.retries, delayMs: 0, reason: now });
        continue;
      }
      if (!isRetryable(error) || attempt >= policy.retries) throw error;
      const delayMs = backoffDelay(policy, attempt + 1);
      hooks.onRetry?.({ attempt: attempt + 1, of: policy.retries, delayMs, reason: hooks.describe?.(error) ?? (error as Error).message });
      await (hooks.sleep ?? sleepMs)(delayMs);
    }
  }
}
