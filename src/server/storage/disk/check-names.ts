/**
 * The `check` answer for a batch of names (docs/PROTOCOL.md §6.8): is each file there, identical by
 * size and mtime (or by the md5 recorded when it landed)? Each directory is walked (from the root,
 * never following a symlink) once per batch, and names are looked up with synchronous lstat: on a
 * local disk that is a few µs, where a thread-pool round trip per name cost ~50 µs here.
 */
import { lstatSync } from 'node:fs';
import { STATUS } from '../../../protocol/constants.js';
import type { DigestIndex } from './digest-index.js';
import { toStorageError } from './file-ops.js';
import { splitSafeFilename } from '../../uploads/names.js';
import type { CheckQuery, CheckResult } from '../storage.js';
import type { OpenDir, ServedRoot } from './served-root.js';

/** What the check needs from its storage. */
export interface NameCheckContext {
  root: ServedRoot;
  digests: DigestIndex;
}

/** Answers a batch of names; the directories opened for it are closed once all are answered. */
export async function checkNames(queries: CheckQuery[], context: NameCheckContext): Promise<CheckResult[]> {
  const parents = new Map<string, OpenDir | Error>();
  const openParent = (dirs: string[]): OpenDir => {
    const key = dirs.join('/');
    let parent = parents.get(key);
    if (!parent) {
      try {
        parent = context.root.walk(dirs);
      } catch (error) {
        parent = error as Error;
      }
      parents.set(key, parent);
    }
    if (parent instanceof Error) throw parent;
    return parent;
  };
  try {
    return await Promise.all(queries.map((query) => checkOne(query, openParent, context)));
  } finally {
    for (const parent of parents.values()) if (!(parent instanceof Error)) parent.close();
  }
}

async function checkOne(query: CheckQuery, openParent: (dirs: string[]) => OpenDir, context: NameCheckContext): Promise<CheckResult> {
  let segments: string[];
  try {
    segments = splitSafeFilename(query.filename);
  } catch (error) {
    return { state: 'forbidden', message: (error as Error).message };
  }
  const filename = segments.join('/');
  try {
    context.root.checkLength(filename);
    const parent = openParent(segments.slice(0, -1));
    if (parent.incomplete) return { state: 'missing' };
    const name = segments[segments.length - 1]!;
    const info = lstatSync(parent.at(name), { throwIfNoEntry: false });
    if (info === undefined) return { state: 'missing' };
    if (!info.isFile() || info.size !== query.size) return { state: 'different' };
    if (query.md5 === undefined) return { state: Math.round(info.mtimeMs) === query.mtime ? 'identical' : 'different' };
    // By content, whatever the mtimes: answered from the digest recorded at landing (valid while
    // the file keeps the size and mtime it landed with), never by re-reading the file.
    const recorded = context.digests.lookup(filename, info.size, info.mtimeMs, info.ino);
    return { state: recorded === query.md5 ? 'identical' : 'different' };
  } catch (error) {
    const refusal = toStorageError(error, filename);
    return { state: refusal.status === STATUS.FORBIDDEN ? 'forbidden' : 'different', message: refusal.message };
  }
}
