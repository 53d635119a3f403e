/**
 * The library API: `FtxClient` is the one entry point. It connects (and reconnects after a broken
 * connection), authenticates, and offers every operation; each runs through the one retry loop
 * (retry.ts) per the client's policy. The work on the wire is done by put/ and requests.ts, on one
 * ClientConnection at a time.
 */
import { ConnectError, ProtocolError, StatusError } from '../errors.js';
import { ERROR_CODE } from '../protocol/constants.js';
import type { CheckQuery, ServerHello } from '../protocol/messages.js';
import { ClientConnection, type ClientOptions } from './connection.js';
import { putBatches, type SmallFile, type SmallFileHandlers } from './put/batches.js';
import { putFile, type PutOptions, type PutReceipt } from './put/file.js';
import { putStream, type StreamPutOptions } from './put/stream.js';
import type { StreamInput } from './put/stream-input.js';
import { resendCutOff } from './put/cut-off.js';
import { ResumeState } from './put/resume-state.js';
import { checkFiles, makeDirectory, type CheckAnswer } from './requests.js';
import { download, type DownloadPlan } from './download.js';
import { listRemote } from './remote-list.js';
import { verifyRemote } from './remote-verify.js';
import type { ListEntry, VerifyResult, VerifySummary } from '../protocol/read-replies.js';
import { markFirstConnectFailure, NO_RETRIES, withRetries, type RetryHooks, type RetryNotice, type RetryPolicy } from './retry.js';

export type { ClientOptions } from './connection.js';
export type { PutOptions, PutReceipt } from './put/file.js';
export type { StreamPutOptions } from './put/stream.js';
export type { FdInput, StreamInput } from './put/stream-input.js';
export type { SmallFile, SmallFileHandlers, SmallFileResult } from './put/batches.js';
export type { CheckAnswer } from './requests.js';
export type { DownloadHandlers, DownloadPlan, DownloadSink } from './download.js';
export type { RetryNotice, RetryPolicy } from './retry.js';

/** How to reach the server, and how hard to try. */
export interface FtxClientOptions extends ClientOptions {
  /** Retries of each operation (default NO_RETRIES: one attempt; the CLI uses DEFAULT_RETRY_POLICY). */
  retry?: RetryPolicy;
  /** Told before each retry, for display. */
  onRetry?: (notice: RetryNotice) => void;
  /** Waits between attempts (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
}

/** A client of one ftx server: one connection at a time, opened on demand and again after a break. */
export class FtxClient {
  private link: ClientConnection | undefined;
  /** A TCP connection was established once: connect failures are worth retrying from now on. */
  private reachedOnce = false;
  /** A server hello and authentication worked once: silence before a hello is a lost connection. */
  private answeredOnce = false;

  constructor(readonly options: FtxClientOptions) {}

  /** Connects, reads the server hello and authenticates (per the retry policy); throws if that fails. */
  static async connect(options: FtxClientOptions): Promise<FtxClient> {
    const client = new FtxClient(options);
    await client.run(async () => undefined);
    return client;
  }

  /** What the server said in the hello of the current connection (undefined while not connected). */
  get server(): ServerHello | undefined {
    return this.link?.server;
  }

  /** True when the server lists `name` among its actions or put features (connects if needed). */
  async supports(name: string): Promise<boolean> {
    return this.run(async (link) => link.supports(name));
  }

  /**
   * Uploads one file; resolves only when the server's md5 equals the one computed while reading.
   * Each attempt after the first asks to resume (unless `resume: false`); a verification failure
   * after a resume starts once more from zero, at once, before the policy is consulted.
   */
  async put(localPath: string, options: PutOptions): Promise<PutReceipt> {
    const memory = options.resumeState ?? new ResumeState();
    const wanted = options.resume ?? true;
    let resume = wanted;
    let restarted = false;
    return this.run(async (link) => {
      const attempt = { ...options, resume, resumeState: memory };
      resume = wanted;
      return putFile(link, localPath, attempt);
    }, {
      recover: (error) => {
        const mismatch = error instanceof StatusError && error.code === ERROR_CODE.CHECKSUM_MISMATCH && memory.lastOffset > 0;
        if (!mismatch || restarted) return undefined;
        restarted = true;
        memory.reset();
        resume = false;
        return 'md5 mismatch after resume: starting over from 0';
      },
    });
  }

  /**
   * Uploads a stream of unknown length (stdin, a command's output). Connecting is retried; the
   * upload itself is not (a stream cannot be replayed). A function for `input` is called only once
   * the server has accepted the upload.
   */
  async putStream(input: StreamInput | (() => StreamInput), options: StreamPutOptions): Promise<PutReceipt> {
    const link = await this.run(async (connected) => connected);
    if (!link.supports('stream')) throw new ProtocolError('this server does not accept streams of unknown length (no "stream" feature)');
    try {
      return await putStream(link, input, options);
    } catch (error) {
      if (!(error instanceof StatusError)) this.drop();
      throw error;
    }
  }

  /**
   * Uploads small files (each at most SMALL_FILE_MAX_BYTES) in putmany batches; `handlers` hear
   * each file's outcome. Files cut off by a broken connection (or refused busy by what that
   * connection still held) are asked about again by md5 on a new one (§12 step 5): those that
   * landed count as sent, the others are sent again, per the retry policy.
   */
  async putMany(files: SmallFile[], handlers: SmallFileHandlers): Promise<void> {
    let pending = files;
    let cutOff = 0;
    await this.run(async (link, attempt) => {
      if (attempt > 0) pending = await resendCutOff(link, pending, handlers);
      const cut = await putBatches(link, pending, handlers);
      if (cut.files.length === 0) return;
      pending = cut.files;
      cutOff = cut.files.length;
      throw cut.error;
    }, { onFailure: () => this.drop(), describe: (error) => `${cutOff} file(s) cut off: ${(error as Error).message}` });
  }

  /** Asks which files the server already has, identical (docs/PROTOCOL.md §6.8); one answer per query. */
  async check(queries: CheckQuery[]): Promise<CheckAnswer[]> {
    return this.run((link) => checkFiles(link, queries));
  }

  /** Creates a directory (and missing parents); resolves with whether it was created. */
  async mkdir(path: string): Promise<boolean> {
    return this.run((link) => makeDirectory(link, path));
  }

  /**
   * Downloads files (docs/PROTOCOL.md §6.11). Each attempt asks `plan` anew what to ask for, so
   * that a retry continues every file from its kept partial and leaves out those already done.
   */
  async get(plan: () => Promise<DownloadPlan>): Promise<void> {
    await this.run(async (link) => {
      const attempt = await plan();
      try {
        if (attempt.files.length > 0) await download(link, attempt.files, attempt.handlers, attempt.chunkSize);
      } finally {
        await attempt.settle?.();
      }
    });
  }

  /** Every entry under `path` (a file: itself), all pages (docs/PROTOCOL.md §6.12); a retry lists again from the start. */
  async list(path: string, options: { recursive?: boolean } = {}): Promise<ListEntry[]> {
    return this.run(async (link) => {
      const entries: ListEntry[] = [];
      await listRemote(link, path, options.recursive === true, (page) => { entries.push(...page); });
      return entries;
    });
  }

  /** Like list, page by page as they arrive (one attempt: pages already handed out cannot be taken back). */
  async listPages(path: string, recursive: boolean, onPage: (entries: ListEntry[]) => void | Promise<void>): Promise<void> {
    const link = await this.run(async (connected) => connected);
    await this.dropOnBreak(listRemote(link, path, recursive, onPage));
  }

  /** Asks the server to scrub `path` (docs/PROTOCOL.md §6.13); results and progress as they come. */
  async verify(path: string, onResult: (result: VerifyResult) => void, onProgress: (bytes: number) => void = () => undefined): Promise<VerifySummary> {
    const link = await this.run(async (connected) => connected);
    return this.dropOnBreak(verifyRemote(link, path, onResult, onProgress));
  }

  /** A refusal leaves the connection usable; any other failure drops it. */
  private async dropOnBreak<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (!(error instanceof StatusError)) this.drop();
      throw error;
    }
  }

  /** Says goodbye (FIN) and waits for the server to close. */
  async close(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    await link?.close();
  }

  /** Drops the connection at once (the next operation opens a new one). */
  destroy(): void {
    this.drop();
  }

  /** The one retry loop: runs `operation` on a connection, reconnecting and retrying per the policy. */
  private run<T>(operation: (link: ClientConnection, attempt: number) => Promise<T>, hooks: Omit<RetryHooks, 'onRetry' | 'sleep'> = {}): Promise<T> {
    return withRetries(this.options.retry ?? NO_RETRIES, async (attempt) => operation(await this.connection(), attempt), {
      ...hooks,
      onRetry: this.options.onRetry,
      sleep: this.options.sleep,
      // A refusal leaves the connection usable; anything else may have left it anywhere.
      onFailure: (error) => (hooks.onFailure ?? ((e: unknown) => { if (!(e instanceof StatusError)) this.drop(); }))(error),
    });
  }

  /** The open connection, connecting first if needed. Connect failures before the server was ever reached are final. */
  private async connection(): Promise<ClientConnection> {
    if (this.link) return this.link;
    try {
      this.link = await ClientConnection.open({ ...this.options, knownServer: this.answeredOnce });
    } catch (error) {
      if (!(error instanceof ConnectError)) this.reachedOnce = true;
      else if (!this.reachedOnce) markFirstConnectFailure(error);
      throw error;
    }
    this.reachedOnce = true;
    this.answeredOnce = true;
    return this.link;
  }

  private drop(): void {
    this.link?.destroy();
    this.link = undefined;
  }
}
