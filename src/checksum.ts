/** Streaming digest helpers: md5 is protocol v1's end-to-end check. */
import * as crypto from 'node:crypto';
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { LocalFileError } from './errors.js';

/** A fresh incremental md5. */
export function createMd5(): Hash {
  return createHash('md5');
}

/**
 * Hashes bytes [from, to) of an open file into `hash`, in reads of up to 1 MiB. `onProgress` gets
 * (bytes done, bytes in the range) after each read. Throws LocalFileError if the file is shorter.
 */
export async function hashFileRange(
  handle: FileHandle, hash: Hash, from: number, to: number, onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const buffer = Buffer.allocUnsafeSlow(Math.min(1024 * 1024, Math.max(1, to - from)));
  for (let at = from; at < to;) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, to - at), at));
    } catch (error) {
      throw new LocalFileError(`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    if (bytesRead === 0) throw new LocalFileError('the file is shorter than expected');
    hash.update(buffer.subarray(0, bytesRead));
    at += bytesRead;
    onProgress?.(at - from, to - from);
  }
}

/** md5 of the first `size` bytes of a file (all of it when `size` is omitted). */
export async function md5File(path: string, size?: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createMd5();
    await hashFileRange(handle, hash, 0, size ?? (await handle.stat()).size);
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** One-shot `crypto.hash` where Node has it (20.12+), else a Hash object: the hex digest of `data`. */
function hexDigest(algorithm: 'md5' | 'sha256', data: Buffer | string): string {
  const oneShot = (crypto as { hash?: (algorithm: string, data: Buffer | string) => string }).hash;
  return oneShot ? oneShot(algorithm, data) : createHash(algorithm).update(data).digest('hex');
}

/** Hex md5 of bytes held in memory (a small file). */
export const md5Hex = (data: Buffer): string => hexDigest('md5', data);

/** Hex sha256 of a short string (UTF-8). */
export const sha256Hex = (text: string): string => hexDigest('sha256', text);
