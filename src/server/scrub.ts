/**
 * A scrub (docs/PROTOCOL.md §6.13): re-reads stored files through the Storage seam and compares each
 * with the md5 recorded when it landed. Used by the `verify` action and by a local `ftx verify DIR`.
 * Reads at the rate `rate` allows; memory stays bounded (one listing page, one read buffer).
 */
import { createHash } from 'node:crypto';
import type { VerifyResult, VerifySummary } from '../protocol/read-replies.js';
import type { ReadRate } from './limits/read-rate.js';
import type { Storage } from './storage/storage.js';

/** What the scrub reports while it runs. */
export interface ScrubEvents {
  result(result: VerifyResult): void;
  /** Bytes read so far (all files). */
  progress(bytes: number): void;
}

/** Entries asked of the storage per listing page. */
const PAGE = 1000;

async function scrubFile(storage: Pick<Storage, 'read'>, name: string, recorded: string | null, rate: ReadRate, events: ScrubEvents, total: { bytes: number }): Promise<VerifyResult> {
  let stream;
  try {
    stream = await storage.read(name);
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
  const md5 = hash.digest('hex');
  if (recorded === null) return { filename: name, state: 'unrecorded', size, md5 };
  if (recorded === md5) return { filename: name, state: 'ok', size, md5 };
  return { filename: name, state: 'corrupt', size, md5, recorded, message: 'the stored bytes no longer match the md5 recorded at landing' };
}

/** Scrubs `path` (a file, a directory recursively, "" = everything); resolves with the totals. */
export async function scrub(storage: Pick<Storage, 'stat' | 'read' | 'list'>, path: string, rate: ReadRate, events: ScrubEvents): Promise<VerifySummary> {
  const summary: VerifySummary = { files: 0, bytes: 0, ok: 0, corrupt: 0, missing: 0, unrecorded: 0 };
  const total = { bytes: 0 };
  const tell = (result: VerifyResult): void => {
    summary.files += 1;
    summary[result.state] += 1;
    events.result(result);
  };
  const single = path === '' ? null : await storage.stat(path);
  if (single) {
    tell(await scrubFile(storage, path, single.md5, rate, events, total));
  } else {
    let cursor: string | null | undefined;
    let first = true;
    do {
      const page = await storage.list(path, { limit: PAGE, recursive: true, ...(cursor ? { cursor } : {}) });
      if (!page) {
        if (first) tell({ filename: path, state: 'missing' });
        break;
      }
      first = false;
      for (const entry of page.entries) {
        if (entry.type === 'file') tell(await scrubFile(storage, entry.name, entry.md5 ?? null, rate, events, total));
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
  summary.bytes = total.bytes;
  return summary;
}
