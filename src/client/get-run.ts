/**
 * Runs a planned `ftx get`: files in batches (many small ones per request, like putmany), each
 * verified end to end and landed atomically (local-landing.ts); after a broken connection the
 * client's retry loop reconnects and every file continues from its local partial; a resumed file
 * whose whole md5 does not match starts once more from 0 (its kept prefix may be what was damaged).
 */
import { LocalExistsError, StatusError, VerificationError } from '../errors.js';
import type { FileEnd, FileHeader } from '../protocol/read-replies.js';
import type { GetFile } from '../protocol/read-requests.js';
import type { FtxClient } from './client.js';
import type { DownloadHandlers, DownloadPlan, DownloadSink } from './download.js';
import type { GetItem } from './get-plan.js';
import { keptPartial, LocalPartial, placePartial, SMALL_PARTIAL_BYTES, syncDirectories, type LocalIfExists, type LocalRoot } from './local-landing.js';
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
}

/** What one run needs. */
export interface GetRunOptions {
  root: LocalRoot;
  ifExists: LocalIfExists;
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
  // Small files keep no partial worth resuming (local-landing.ts): no look for one either.
  if (item.size <= SMALL_PARTIAL_BYTES) return { filename: item.remote, offset: 0 };
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
async function finish(root: LocalRoot, open: Open, trailer: FileEnd, received: number, ifExists: LocalIfExists): Promise<GetResult | 'exists'> {
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
    const landed = await placePartial(open.dir, open.base, ifExists, partial.paths, header.size > SMALL_PARTIAL_BYTES);
    if (landed !== null) root.unsynced.add(open.dir);
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

/**
 * Lands one received file and reports it. False (the file stays pending) only for a resumed file
 * whose whole md5 differs, the first time: it starts once more from 0, its kept prefix may be what was bad.
 */
async function landReceived(item: GetItem, open: Open, trailer: FileEnd, received: number, retriedFromZero: Set<GetItem>, options: GetRunOptions): Promise<boolean> {
  const { root, events } = options;
  try {
    const result = await finish(root, open, trailer, received, options.ifExists);
    if (result === 'exists') {
      if (options.ifExists === 'skip') events.skipped(item, 'exists locally');
      else events.failed(item, new LocalExistsError(`${join(open.dir, open.base)} appeared meanwhile; not replaced`));
    } else {
      events.fetched(item, result);
    }
  } catch (error) {
    if (error instanceof VerificationError && open.header.offset > 0 && !retriedFromZero.has(item)) {
      retriedFromZero.add(item);
      return false;
    }
    events.failed(item, error);
  }
  return true;
}

/** One attempt at a batch: the files of it still pending, from their partials, and how to take them. */
async function planBatch(batch: GetItem[], pending: Set<GetItem>, retriedFromZero: Set<GetItem>, options: GetRunOptions): Promise<DownloadPlan> {
  const { root, events } = options;
  const todo = batch.filter((item) => pending.has(item));
  const files = await Promise.all(todo.map((item) => requestOf(root, item)));
  let current: Open | undefined;
  const landings: Promise<void>[] = [];
  const settle = (item: GetItem): void => { pending.delete(item); };
  const land = async (item: GetItem, open: Open, trailer: FileEnd, received: number): Promise<void> => {
    if (await landReceived(item, open, trailer, received, retriedFromZero, options)) settle(item);
  };
  const handlers: DownloadHandlers = {
    begin: async (index, header): Promise<DownloadSink> => {
      const item = todo[index]!;
      const dir = await root.ensureDir(item.segments.slice(0, -1));
      const base = item.segments[item.segments.length - 1]!;
      const partial = await LocalPartial.open(dir, base, header.offset, { name: item.remote, size: header.size, mtime: header.mtime, md5: header.md5 });
      current = { partial, header, dir, base, started: Date.now() };
      events.started(item, header.offset);
      let done = header.offset;
      return { write: async (chunk) => { await partial.write(chunk); done += chunk.length; events.progressed(item, done); } };
    },
    end: async (index, trailer, received) => {
      const open = current!;
      current = undefined;
      // It lands while the next file arrives: the fsyncs of a batch's files overlap.
      landings.push(land(todo[index]!, open, trailer, received));
    },
    refused: (index, error) => { events.failed(todo[index]!, error); settle(todo[index]!); },
    failed: (index, error) => {
      const open = current;
      current = undefined;
      void open?.partial.discard();
      events.failed(todo[index]!, error);
      settle(todo[index]!);
    },
  };
  return {
    files, handlers,
    settle: async () => {
      // The connection broke mid-body: keep what arrived, the retry continues from it.
      await current?.partial.keep();
      current = undefined;
      await Promise.all(landings);
      // Once per batch: the directories the files landed in, and those holding created directories.
      await syncDirectories(root.unsynced);
      root.unsynced.clear();
    },
  };
}

/**
 * Fetches `items` (already decided "get") through `client`, whose one retry loop reconnects after a
 * lost connection; returns when each has been reported. Throws a fatal failure.
 */
export async function runGet(client: FtxClient, items: GetItem[], options: GetRunOptions): Promise<void> {
  const pending = new Set(items);
  const retriedFromZero = new Set<GetItem>();
  while (pending.size > 0) {
    const before = pending.size;
    for (const batch of batchesOf([...pending])) await client.get(() => planBatch(batch, pending, retriedFromZero, options));
    // Only files to start again from 0 stay pending, once each: this ends.
    if (pending.size >= before && [...pending].every((item) => !retriedFromZero.has(item))) break;
  }
}
