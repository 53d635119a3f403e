/** File operations of the disk storage: batched writes, numbered names, landing by link or rename. */
import type { FileHandle } from 'node:fs/promises';
import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';

/** Writes all buffers at `position`, continuing after short writes. */
export async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const total = rest.reduce((sum, b) => sum + b.length, 0);
    const { bytesWritten } = await handle.writev(rest, at);
    at += bytesWritten;
    if (bytesWritten === total) return;
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const buffer of rest) {
      if (skip >= buffer.length) skip -= buffer.length;
      else { next.push(skip > 0 ? buffer.subarray(skip) : buffer); skip = 0; }
    }
    rest = next;
  }
}

/**
 * Creates a new, empty data file for one writer (O_CREAT|O_EXCL): never opens an existing inode,
 * which could be a landed file still linked under this name after a crash between link and
 * unlink. A name left over that way is unlinked (the other name keeps the file) and created anew.
 */
export async function createExclusive(path: string, mode: number): Promise<FileHandle> {
  try {
    return await open(path, 'wx', mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  await unlink(path);
  return open(path, 'wx', mode);
}

/** "a/db.sql.gz", 2 → "a/db.2.sql.gz"; ".bashrc", 1 → ".bashrc.1" (the number goes before the extensions). */
export function numberedName(path: string, n: number): string {
  const slash = path.lastIndexOf('/') + 1;
  const base = path.slice(slash);
  const dot = base.indexOf('.', 1);
  const named = dot < 0 ? `${base}.${n}` : `${base.slice(0, dot)}.${n}${base.slice(dot)}`;
  return path.slice(0, slash) + named;
}

/**
 * The one mapping from a file-system failure to the refusal a client sees: no space → 507, a name
 * the file system cannot hold → 403, a name taken → 409, anything else → 500.
 */
export function toStorageError(error: unknown, filename?: string): StatusError {
  if (error instanceof StatusError) return error;
  const code = (error as { code?: string }).code;
  const name = filename ?? 'the file';
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StatusError(STATUS.INSUFFICIENT_STORAGE, ERROR_CODE.INSUFFICIENT_STORAGE, 'no space left on the server');
  }
  if (code === 'ENAMETOOLONG') {
    return new StatusError(STATUS.FORBIDDEN, ERROR_CODE.FORBIDDEN_PATH, `${name}: name too long for the server's filesystem`);
  }
  if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTEMPTY') {
    return new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, `${name} already exists`);
  }
  return new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, `cannot store ${name}: ${code ?? String(error)}`);
}

/** How a file lands: replace, or refuse a taken name, or move on to a numbered name. */
export interface LandingPolicy {
  overwrite: boolean;
  rename: boolean;
}

/**
 * Moves a verified, fsynced data file to its final name. Without overwrite, link() fails atomically
 * if the name was taken meanwhile; rename() replaces. With `rename`, a taken name moves on to
 * "stem.1.ext", "stem.2.ext", ... (the first free one). Resolves with the filename used.
 */
export async function landFile(dataPath: string, finalPath: string, filename: string, policy: LandingPolicy): Promise<{ filename: string }> {
  const exists = (): StatusError => new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, `${filename} already exists`);
  if (policy.overwrite) {
    await rename(dataPath, finalPath);
    return { filename };
  }
  for (let n = 0; n <= 1000; n++) {
    const path = n === 0 ? finalPath : numberedName(finalPath, n);
    const name = n === 0 ? filename : numberedName(filename, n);
    try {
      await link(dataPath, path);
      await unlink(dataPath).catch(() => undefined);
      return { filename: name };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        if (policy.rename) continue;
        throw exists();
      }
      // Filesystems without hard links: check, then rename (a narrower race, same result otherwise).
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw error;
      if (await lstat(path).then(() => true, () => false)) {
        if (policy.rename) continue;
        throw exists();
      }
      await rename(dataPath, path);
      return { filename: name };
    }
  }
  throw exists();
}
