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

/** Hex md5 of bytes held in memory (a small file): one-shot `crypto.hash` where Node has it (20.12+), else a Hash object. */
export function md5Hex(data: Buffer): string {
  const oneShot = (crypto as { hash?: (algorithm: string, data: Buffer) => string }).hash;
  return oneShot ? oneShot('md5', data) : createHash('md5').update(data).digest('hex');
}

/** Hex sha256 of a short string: one-shot `crypto.hash` where Node has it (20.12+), else a Hash object. */
export function sha256Hex(text: string): string {
  const oneShot = (crypto as { hash?: (algorithm: string, data: string) => string }).hash;
  return oneShot ? oneShot('sha256', text) : createHash('sha256').update(text, 'utf8').digest('hex');
}
