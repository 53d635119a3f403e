/** File operations of the disk storage: batched writes, exclusive creates, the errno-to-refusal mapping. */
import type { FileHandle } from 'node:fs/promises';
import { open, unlink } from 'node:fs/promises';
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
