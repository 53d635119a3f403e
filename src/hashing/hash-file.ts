/** Hashing a range of an open file on a hash thread: reads into shared blocks, two in turn. */
import type { FileHandle } from 'node:fs/promises';
import { LocalFileError } from '../errors.js';
import type { PooledMd5 } from './md5-pool.js';

const BLOCK_BYTES = 1024 * 1024;

/** A Buffer over fresh shared memory, which a hash thread reads without a copy. */
export function sharedBlock(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

/**
 * Hashes bytes [from, to) of `handle` into `md5`: one block is read while the thread hashes the
 * other. `onBlock` gets the offset the md5 covers after each block is posted (snapshot points).
 * Throws LocalFileError if the file is shorter, HashThreadError if the thread fails.
 */
export async function hashFileRangeOffThread(
  handle: FileHandle, md5: PooledMd5, from: number, to: number, onBlock?: (offset: number) => void, blockBytes = BLOCK_BYTES,
): Promise<void> {
  const size = Math.min(blockBytes, Math.max(1, to - from));
  const blocks = [sharedBlock(size), sharedBlock(size)];
  const hashed: Array<Promise<void> | undefined> = [undefined, undefined];
  try {
    for (let at = from, turn = 0; at < to; turn ^= 1) {
      await hashed[turn]; // the thread is done with this block
      const block = blocks[turn]!;
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(block, 0, Math.min(block.length, to - at), at));
      } catch (error) {
        throw new LocalFileError(`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
      }
      if (bytesRead === 0) throw new LocalFileError('the file is shorter than expected');
      hashed[turn] = md5.update(block.subarray(0, bytesRead));
      hashed[turn]!.catch(() => undefined); // awaited below or in a later turn
      at += bytesRead;
      onBlock?.(at);
    }
    await Promise.all(hashed);
  } finally {
    for (const pending of hashed) pending?.catch(() => undefined);
  }
}
