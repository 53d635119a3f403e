/**
 * Runs a planned `ftx get`: files in batches (many small ones per request, like putmany), each
 * verified end to end and landed atomically (local-landing.ts); a broken connection is retried with
 * backoff and every file continues from its local partial; a resumed file whose whole md5 does not
 * match starts once more from 0 (its kept prefix may be what was damaged).
 */
import { ConnectionLostError, FtxError, LocalExistsError, StatusError, VerificationError } from '../errors.js';
import type { FileEnd, FileHeader } from '../protocol/read-replies.js';
import type { GetFile } from '../protocol/read-requests.js';
import type { ClientConnection } from './connection.js';
import { download, type DownloadSink } from './download.js';
import type { GetItem } from './get-plan.js';
import { keptPartial, LocalPartial, placePartial, type LocalIfExists, type LocalRoot } from './local-landing.js';
import { join } from 'node:path';

/** Files per get request, and body bytes per request, before a batch is closed. */
export const GET_BATCH_FILES = 128;
export const GET_BATCH_BYTES = 16 * 1024 * 1024;

/** How one fetched file ended. */
export interface GetResult {
  path: string;
  size: number;
  md5: string;
  /** "recorded": checked against the md5 recorded at landing; "unrecorded": only against what the server read now. */
  verified: 'recorded' | 'unrecorded';
  resumedFrom: number;
  seconds: number;
}

/** What the run tells its reporter. */
export interface GetEvents {
  started(item: GetItem, resumedFrom: number): void;
  progressed(item: GetItem, done: number): void;
  fetched(item: GetItem, result: GetResult): void;
  skipped(item: GetItem, reason: string): void;
  failed(item: GetItem, error: unknown): void;
  retry(message: string): void;
}

/** Backoff of the retries after a lost connection. */
export interface GetRetry {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** What one run needs. */
export interface GetRunOptions {
  root: LocalRoot;
  ifExists: LocalIfExists;
  connect: () => Promise<ClientConnection>;
  retry: GetRetry;
  events: GetEvents;
}

/** Groups files into requests of at most GET_BATCH_FILES files and GET_BATCH_BYTES bytes (a larger file alone). */
export function batchesOf(items: GetItem[]): GetItem[][] {
  const batches: GetItem[][] = [];
  let current: GetItem[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length >= GET_BATCH_FILES || bytes + item.size > GET_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The request entry of `item`: from its local partial, if one of this remote file is kept. */
async function requestOf(root: LocalRoot, item: GetItem): Promise<GetFile> {
  const dir = join(root.dir, ...item.segments.slice(0, -1));
  const kept = await keptPartial(dir, item.segments[item.segments.length - 1]!, item.remote);
  if (!kept || kept.offset === 0) return { filename: item.remote, offset: 0 };
  return { filename: item.remote, offset: kept.offset, match: { size: kept.meta.size, mtime: kept.meta.mtime, md5: kept.meta.md5 } };
}

type Header = Required<Pick<FileHeader, 'filename' | 'size' | 'mtime' | 'mode' | 'md5' | 'offset'>>;

/** One file being received. */
interface Open {
  partial: LocalPartial;
  header: Header;
  dir: string;
  base: string;
  started: number;
}

/** Verifies and lands a received file; throws what it failed with (the partial is then gone). */
async function finish(open: Open, trailer: FileEnd, received: number, ifExists: LocalIfExists): Promise<GetResult | 'exists'> {
  const { partial, header } = open;
  const name = header.filename;
  try {
    if (trailer.status === 422) throw new VerificationError(`${name}: the server's stored copy is corrupt (its bytes no longer match the md5 recorded when it landed); nothing written`);
    if (trailer.status !== 200) throw new StatusError(trailer.status, trailer.code, trailer.message ?? trailer.code);
    if (received !== header.size - header.offset) throw new StatusError(409, 'changed', `${name} changed on the server while it was sent`);
    const md5 = partial.digest();
    if (md5 !== trailer.md5 || (header.md5 !== null && md5 !== header.md5)) {
      throw new VerificationError(`${name}: md5 mismatch: received ${md5}, the server ${header.md5 !== null ? `recorded ${header.md5}` : `read ${trailer.md5!}`}; nothing written`);
    }
    await partial.seal(header.mode, header.mtime);
    const landed = await placePartial(open.dir, open.base, ifExists, partial.paths);
    if (landed === null) {
      await partial.discard();
      return 'exists';
    }
    return { path: landed, size: header.size, md5, verified: header.md5 !== null ? 'recorded' : 'unrecorded', resumedFrom: header.offset, seconds: (Date.now() - open.started) / 1000 };
  } catch (error) {
    await partial.discard();
    throw error;
  }
}

/** Fetches one batch on `link`; files that end (landed, skipped, failed) leave `pending`. */
async function fetchBatch(link: ClientConnection, batch: GetItem[], pending: Set<GetItem>, retriedFromZero: Set<GetItem>, options: GetRunOptions): Promise<void> {
  const { root, events } = options;
  const requests = await Promise.all(batch.map((item) => requestOf(root, item)));
  let current: Open | undefined;
  const settle = (item: GetItem): void => { pending.delete(item); };
  try {
    await download(link, requests, {
      begin: async (index, header): Promise<DownloadSink> => {
        const item = batch[index]!;
        const dir = await root.ensureDir(item.segments.slice(0, -1));
        const base = item.segments[item.segments.length - 1]!;
        const partial = await LocalPartial.open(dir, base, header.offset, { name: item.remote, size: header.size, mtime: header.mtime, md5: header.md5 });
        current = { partial, header, dir, base, started: Date.now() };
        events.started(item, header.offset);
        let done = header.offset;
        return { write: async (chunk) => { await partial.write(chunk); done += chunk.length; events.progressed(item, done); } };
      },
      end: async (index, trailer, received) => {
        const item = batch[index]!;
        const open = current!;
        current = undefined;
        try {
          const result = await finish(open, trailer, received, options.ifExists);
          if (result === 'exists') {
            if (options.ifExists === 'skip') events.skipped(item, 'exists locally');
            else events.failed(item, new LocalExistsError(`${join(open.dir, open.base)} appeared meanwhile; not replaced`));
          } else {
            events.fetched(item, result);
          }
          settle(item);
        } catch (error) {
          // A resumed file whose whole md5 differs starts once more from 0: its kept prefix may be what was bad.
          if (error instanceof VerificationError && open.header.offset > 0 && !retriedFromZero.has(item)) {
            retriedFromZero.add(item);
            return;
          }
          events.failed(item, error);
          settle(item);
        }
      },
      refused: (index, error) => { events.failed(batch[index]!, error); settle(batch[index]!); },
      failed: (index, error) => {
        const open = current;
        current = undefined;
        void open?.partial.discard();
        events.failed(batch[index]!, error);
        settle(batch[index]!);
      },
    });
  } finally {
    // The connection broke mid-body: keep what arrived for the retry.
    await (current as Open | undefined)?.partial.keep();
  }
}

function isRetryable(error: unknown): boolean {
  return error instanceof ConnectionLostError || (error instanceof StatusError && (error.status === 503 || error.status === 423));
}

/** Fetches `items` (already decided "get"); returns when each has been reported. Throws a fatal failure. */
export async function runGet(items: GetItem[], options: GetRunOptions, first?: ClientConnection): Promise<ClientConnection | undefined> {
  const pending = new Set(items);
  const retriedFromZero = new Set<GetItem>();
  let link = first;
  let failures = 0;
  while (pending.size > 0) {
    try {
      link ??= await options.connect();
      for (const batch of batchesOf([...pending])) await fetchBatch(link, batch, pending, retriedFromZero, options);
      failures = 0;
    } catch (error) {
      link?.destroy();
      link = undefined;
      if (!isRetryable(error) || failures >= options.retry.retries) throw error;
      failures += 1;
      const delay = Math.min(options.retry.maxDelayMs, options.retry.baseDelayMs * 2 ** (failures - 1));
      options.events.retry(`${error instanceof FtxError ? error.message : String(error)}; retry ${failures}/${options.retry.retries} in ${(delay / 1000).toFixed(1)} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  return link;
}
