/**
 * The read side of the disk storage: stat and read a landed file. Reached from the root one
 * directory at a time without following a symlink (served-root.ts), like every write.
 */
import { constants, lstatSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { splitSafeFilename } from '../../uploads/names.js';
import type { ByteRange, StoredFile } from '../storage.js';
import type { DigestIndex } from './digest-index.js';
import { toStorageError } from './file-ops.js';
import type { OpenDir, ServedRoot } from './served-root.js';

/** O_NONBLOCK: a FIFO put in the served directory must not hang the open (no effect on a file). */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The directory holding `name`, open, with the name in it; null when a directory on the way is missing. */
export function openParent(served: ServedRoot, name: string): { parent: OpenDir; base: string; filename: string } | null {
  const segments = splitSafeFilename(name);
  let parent: OpenDir;
  try {
    parent = served.walk(segments.slice(0, -1));
  } catch (error) {
    // A file where a directory should be: there is no such file (a symlink stays a 403).
    if (error instanceof StatusError && error.status === STATUS.CONFLICT) return null;
    throw error;
  }
  if (parent.incomplete) {
    parent.close();
    return null;
  }
  return { parent, base: segments[segments.length - 1]!, filename: segments.join('/') };
}

/** The facts of a file as the storage reports them; md5 only while the file is the one that landed. */
export function storedFileOf(filename: string, info: Stats, digests: DigestIndex): StoredFile {
  const entry = digests.entryFor(filename, info.size, info.mtimeMs, info.ino);
  return {
    size: info.size, mtime: Math.round(info.mtimeMs), mode: info.mode & 0o777, md5: entry?.md5 ?? null,
    ...(entry?.uploadId !== undefined ? { uploadId: entry.uploadId } : {}),
  };
}

/** Storage.stat on disk. */
export function statStored(served: ServedRoot, digests: DigestIndex, name: string): StoredFile | null {
  const found = openParent(served, name);
  if (!found) return null;
  try {
    const info = lstatSync(found.parent.at(found.base), { throwIfNoEntry: false });
    return info?.isFile() ? storedFileOf(found.filename, info, digests) : null;
  } catch (error) {
    throw toStorageError(error, found.filename);
  } finally {
    found.parent.close();
  }
}

/** Storage.read on disk: a stream of the range, from a descriptor opened before this resolves. */
export async function readStored(served: ServedRoot, name: string, range: ByteRange = {}): Promise<Readable | null> {
  const found = openParent(served, name);
  if (!found) return null;
  let handle;
  try {
    handle = await open(found.parent.at(found.base), READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR' || code === 'EISDIR') return null;
    throw toStorageError(error, found.filename);
  } finally {
    found.parent.close();
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    return null;
  }
  const start = range.start ?? 0;
  const end = range.end ?? info.size;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > info.size) {
    await handle.close();
    throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST,
      `range ${start}-${end} is not within ${found.filename} (${info.size} bytes)`);
  }
  if (start === end) {
    await handle.close();
    return Readable.from([]);
  }
  return handle.createReadStream({ start, end: end - 1 });
}
