/**
 * Uploads that survive broken connections: reconnect with exponential backoff and jitter, ask the
 * server to resume, and restart once from zero when a resumed upload fails verification.
 */
import { ConnectError, StatusError } from '../errors.js';
import { ERROR_CODE } from '../protocol/constants.js';
import { FtxClient, type ClientOptions, type PutOptions, type PutReceipt } from './client.js';
import { ResumeState } from './resume-state.js';

/** How hard to try. */
export interface RetryPolicy {
  /** Further attempts after the first (0 = fail at once). */
  retries: number;
  /** Wait before the first retry; doubles each time, with jitter. */
  baseDelayMs: number;
  /** Upper bound of one wait. */
  maxDelayMs: number;
}

/** Default policy: 5 retries, waits of about 1, 2, 4, 8, 16 s (each 50-100% of that). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 5, baseDelayMs: 1000, maxDelayMs: 30_000 };

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

/** Failures worth another attempt: the network (once the server was reached), or a server that asks to come back later. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StatusError) return error.code === ERROR_CODE.BUSY || error.code === ERROR_CODE.SERVER_BUSY;
  if (error instanceof ConnectError && firstConnectFailures.has(error)) return false;
  const code = (error as { code?: string }).code;
  return code === 'connection_lost' || code === 'connect_failed';
}

/** Wait before retry number `attempt` (1-based): exponential, capped, "equal jitter" (50-100%). */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A client connection that is (re)opened on demand and dropped after a connection-level failure. */
export class ReconnectingClient {
  private client: FtxClient | undefined;
  /** A TCP connection was established once in this run: connect failures are worth retrying now. */
  private reachedOnce = false;
  /** A server hello and authentication worked once: silence before a hello is a lost connection. */
  private answeredOnce = false;

  constructor(readonly options: ClientOptions) {}

  /** The open client, connecting first if needed. Connect failures before the server was ever reached are final. */
  async get(): Promise<FtxClient> {
    if (this.client) return this.client;
    try {
      this.client = await FtxClient.connect({ ...this.options, knownServer: this.answeredOnce });
    } catch (error) {
      if (!(error instanceof ConnectError)) this.reachedOnce = true;
      else if (!this.reachedOnce) firstConnectFailures.add(error);
      throw error;
    }
    this.reachedOnce = true;
    this.answeredOnce = true;
    return this.client;
  }

  /** Forgets the connection (after it broke or misbehaved). */
  drop(): void {
    this.client?.destroy();
    this.client = undefined;
  }

  /** Closes politely. */
  async close(): Promise<void> {
    await this.client?.close();
    this.client = undefined;
  }
}

/** Runs `attempt` until it succeeds, a non-retryable failure, or `policy.retries` retries. */
export async function withRetries<T>(
  policy: RetryPolicy,
  onRetry: ((notice: RetryNotice) => void) | undefined,
  attemptOnce: () => Promise<T>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptOnce();
    } catch (error) {
      if (!isRetryable(error) || attempt >= policy.retries) throw error;
      const delayMs = backoffDelay(policy, attempt + 1);
      onRetry?.({ attempt: attempt + 1, of: policy.retries, delayMs, reason: (error as Error).message });
      await sleep(delayMs);
    }
  }
}

/**
 * Puts one file, retrying per `policy`. Each retry asks to resume; the progress reported continues
 * from the server's offset. A verification failure after a resume discards that attempt's partial
 * (the server already did) and starts once more from zero before giving up.
 */
export async function putWithRetry(
  session: ReconnectingClient,
  localPath: string,
  options: PutOptions,
  policy: RetryPolicy,
  onRetry?: (notice: RetryNotice) => void,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<PutReceipt> {
  const memory = options.resumeState ?? new ResumeState();
  let resume = options.resume ?? true;
  let restarted = false;
  for (let attempt = 0; ; attempt++) {
    try {
      const client = await session.get();
      return await client.put(localPath, { ...options, resume, resumeState: memory });
    } catch (error) {
      if (!(error instanceof StatusError)) session.drop();
      const mismatchAfterResume = error instanceof StatusError && error.code === ERROR_CODE.CHECKSUM_MISMATCH && memory.lastOffset > 0;
      if (mismatchAfterResume && !restarted) {
        restarted = true;
        memory.reset();
        resume = false;
        onRetry?.({ attempt: attempt + 1, of: policy.retries, delayMs: 0, reason: 'md5 mismatch after resume: starting over from 0' });
        continue;
      }
      if (!isRetryable(error) || attempt >= policy.retries) throw error;
      resume = options.resume ?? true;
      const delayMs = backoffDelay(policy, attempt + 1);
      onRetry?.({ attempt: attempt + 1, of: policy.retries, delayMs, reason: (error as Error).message });
      await sleep(delayMs);
    }
  }
}
