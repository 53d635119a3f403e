/**
 * The `check` answer for a batch of names (docs/PROTOCOL.md §6.8): is each file there, identical by
 * size and mtime (or by the md5 recorded when it landed)? Each directory is walked once per batch,
 * and names are looked up with synchronous lstat: on a local disk that is a few µs, where a
 * thread-pool round trip per name cost ~50 µs here.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { STATUS } from '../protocol/constants.js';
import type { DigestIndex } from './digest-index.js';
import { toStorageError } from './file-ops.js';
import { splitSafeFilename } from './safe-path.js';
import type { CheckQuery, CheckResult } from './storage.js';
import type { ParentDir, TargetResolver } from './target-resolver.js';

/** What the check needs from its storage. */
export interface NameCheckContext {
  targets: TargetResolver;
  digests: DigestIndex;
  /** The landing under way at `finalPath`, if a file there has fully arrived and is landing now. */
  landingAt(finalPath: string): Promise<void> | undefined;
}

export function checkNames(queries: CheckQuery[], context: NameCheckContext): Promise<CheckResult[]> {
  const parents = new Map<string, Promise<ParentDir>>();
  const resolveParent = (dirs: string[]): Promise<ParentDir> => {
    const key = dirs.join('/');
    let parent = parents.get(key);
    if (!parent) parents.set(key, parent = context.targets.resolveParent(dirs));
    return parent;
  };
  return Promise.all(queries.map((query) => checkOne(query, resolveParent, context)));
}

async function checkOne(query: CheckQuery, resolveParent: (dirs: string[]) => Promise<ParentDir>, context: NameCheckContext): Promise<CheckResult> {
  let segments: string[];
  try {
    segments = splitSafeFilename(query.filename);
  } catch (error) {
    return { state: 'forbidden', message: (error as Error).message };
  }
  const filename = segments.join('/');
  try {
    const parent = await resolveParent(segments.slice(0, -1));
    if (parent.missing.length > 0) return { state: 'missing' };
    const finalPath = join(parent.existing, segments[segments.length - 1]!);
    // A file that has fully arrived and is landing right now is answered for as landed (or not).
    await context.landingAt(finalPath);
    const info = lstatSync(finalPath, { throwIfNoEntry: false });
    if (info === undefined) return { state: 'missing' };
    if (!info.isFile() || info.size !== query.size) return { state: 'different' };
    if (query.md5 === undefined) return { state: Math.round(info.mtimeMs) === query.mtime ? 'identical' : 'different' };
    // By content, whatever the mtimes: answered from the digest recorded at landing (valid while
    // the file keeps the size and mtime it landed with), never by re-reading the file.
    const recorded = context.digests.lookup(filename, info.size, info.mtimeMs);
    return { state: recorded === query.md5 ? 'identical' : 'different' };
  } catch (error) {
    const refusal = toStorageError(error, filename);
    return { state: refusal.status === STATUS.FORBIDDEN ? 'forbidden' : 'different', message: refusal.message };
  }
}
