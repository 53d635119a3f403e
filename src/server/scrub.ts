/**
 * A scrub (docs/PROTOCOL.md §6.13): re-reads stored files through the Storage seam and compares each
 * with the md5 recorded when it landed. Used by the `verify` action and by a local `ftx verify DIR`.
 * Reads at the rate `rate` allows; memory stays bounded (one listing page, one read buffer).
 */
import { createHash } from 'node:crypto';
import type { VerifyResult, VerifySummary } from '../protocol/read-replies.js';
import type { ReadRate } from './limits/read-rate.js';
import type { Readable } from 'node:stream';
import type { Storage, StoredFile } from './storage/storage.js';

/** What the scrub reports while it runs. */
export interface ScrubEvents {
  result(result: VerifyResult): void;
  /** Bytes read so far (all files). */
  progress(bytes: number): void;
}

/** Entries asked of the storage per listing page. */
const PAGE = 1000;
/** Recorded names stated between two turns of the event loop. */
const YIELD_EVERY = 200;

/** The record a file's bytes are judged against, as its listing (or stat) gave it. */
type Recorded = Pick<StoredFile, 'size' | 'mtime' | 'md5'>;

/** What the scrub says of a file whose record changed while its bytes were read (not a verdict). */
const CHANGED_DURING_VERIFY = 'changed during verify: replaced while it was read (its record changed); verify it again';

/** Opens `name`; a file replaced between the read's look-up and its first byte (409 changed) is opened again. */
async function open(storage: ScrubStorage, name: string): Promise<Readable | null> {
  try {
    return await storage.read(name);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'changed') throw error;
    return storage.read(name);
  }
}

/** Reads `name` whole at the scrub's rate: its md5 and size, or the result that ends its scrub. */
async function readWhole(storage: ScrubStorage, name: string, rate: ReadRate, events: ScrubEvents, total: { bytes: number }): Promise<{ md5: string; size: number } | VerifyResult> {
  let stream;
  try {
    stream = await open(storage, name);
  } catch (error) {
    return { filename: name, state: 'corrupt', message: `cannot be read: ${(error as Error).message}` };
  }
  if (!stream) return { filename: name, state: 'missing' };
  const hash = createHash('md5');
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      await rate.take(chunk.length);
      hash.update(chunk);
      size += chunk.length;
      total.bytes += chunk.length;
      events.progress(total.bytes);
    }
  } catch (error) {
    return { filename: name, state: 'corrupt', size, message: `read failed: ${(error as Error).message}` };
  }
  return { md5: hash.digest('hex'), size };
}

const sameRecord = (a: Recorded, b: Recorded): boolean => a.size === b.size && a.mtime === b.mtime && a.md5 === b.md5;

/**
 * Judges what was read against the record read before it. A mismatch is corruption only when the
 * record, read again now, is unchanged: a file replaced meanwhile (put --force, a write by other
 * means) was read as its new version, which is judged against the new record, or not at all.
 */
async function judge(storage: ScrubStorage, name: string, recorded: Recorded, read: { md5: string; size: number }): Promise<VerifyResult> {
  const { md5, size } = read;
  if (recorded.md5 === null) return { filename: name, state: 'unrecorded', size, md5 };
  if (recorded.md5 === md5) return { filename: name, state: 'ok', size, md5 };
  const now = await storage.stat(name).catch(() => recorded);
  if (now === null) return { filename: name, state: 'missing', message: 'removed while it was verified' };
  if (now.md5 === md5) return { filename: name, state: 'ok', size, md5 };
  if (!sameRecord(now, recorded)) return { filename: name, state: 'unrecorded', size, md5, message: CHANGED_DURING_VERIFY };
  return { filename: name, state: 'corrupt', size, md5, recorded: recorded.md5, message: 'the stored bytes no longer match the md5 recorded at landing' };
}

async function scrubFile(storage: ScrubStorage, name: string, recorded: Recorded, rate: ReadRate, events: ScrubEvents, total: { bytes: number }): Promise<VerifyResult> {
  const read = await readWhole(storage, name, rate, events, total);
  return 'state' in read ? read : judge(storage, name, recorded, read);
}

/** What scrub() needs of a storage. */
type ScrubStorage = Pick<Storage, 'stat' | 'read' | 'list' | 'recordedNames'>;

/**
 * Reads every file the listing of the directory `dir` shows; false when there is no such directory.
 * Adds to `missed` the names that vanished between their listing and their read.
 */
async function scrubListed(storage: ScrubStorage, dir: string, scrubOne: (name: string, recorded: Recorded) => Promise<VerifyResult>, missed: Set<string>): Promise<boolean> {
  let cursor: string | null | undefined;
  let first = true;
  do {
    const page = await storage.list(dir, { limit: PAGE, recursive: true, ...(cursor ? { cursor } : {}) });
    if (!page) return !first;
    first = false;
    for (const entry of page.entries) {
      if (entry.type !== 'file') continue;
      const result = await scrubOne(entry.name, { size: entry.size, mtime: entry.mtime, md5: entry.md5 ?? null });
      if (result.state === 'missing') missed.add(entry.name);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return true;
}

/**
 * The files recorded as landed under `dir` that are no longer there (what no listing can show):
 * each is stated, and told as missing when it is gone. A backend without a record outliving its
 * files (no `recordedNames`) has none. Returns how many were told.
 */
async function tellGone(storage: ScrubStorage, dir: string, tell: (result: VerifyResult) => void, missed: Set<string>): Promise<number> {
  if (!storage.recordedNames) return 0;
  let told = 0;
  let stated = 0;
  for (const name of await storage.recordedNames(dir)) {
    if (missed.has(name)) continue;
    // A disk stat may be synchronous: let uploads and heartbeats in between.
    if (++stated % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    let message = 'recorded at landing, no longer stored';
    try {
      if (await storage.stat(name)) continue;
    } catch (error) {
      message = `recorded at landing, cannot be reached: ${(error as Error).message}`;
    }
    tell({ filename: name, state: 'missing', message });
    told += 1;
  }
  return told;
}

/**
 * Scrubs `path` (a file, a directory recursively, "" = everything); resolves with the totals. For a
 * directory, files recorded as landed under it whose file is gone are reported missing too.
 */
export async function scrub(storage: ScrubStorage, path: string, rate: ReadRate, events: ScrubEvents): Promise<VerifySummary> {
  const summary: VerifySummary = { files: 0, bytes: 0, ok: 0, corrupt: 0, missing: 0, unrecorded: 0 };
  const total = { bytes: 0 };
  const tell = (result: VerifyResult): void => {
    summary.files += 1;
    summary[result.state] += 1;
    events.result(result);
  };
  const scrubOne = async (name: string, recorded: Recorded): Promise<VerifyResult> => {
    const result = await scrubFile(storage, name, recorded, rate, events, total);
    tell(result);
    return result;
  };
  const single = path === '' ? null : await storage.stat(path);
  if (single) {
    await scrubOne(path, single);
  } else {
    const missed = new Set<string>();
    const listed = await scrubListed(storage, path, scrubOne, missed);
    const gone = await tellGone(storage, path, tell, missed);
    if (!listed && gone === 0) tell({ filename: path, state: 'missing' });
  }
  summary.bytes = total.bytes;
  return summary;
}
