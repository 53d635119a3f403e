/**
 * The client's hot path: read the file in large blocks (whole chunks), hash each block once, hand it
 * to the socket, wait only when the socket asks to. One read is always in flight ahead of the send.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { LocalFileError } from '../errors.js';
import type { FramedConnection } from '../transport/framed-connection.js';

/** Target size of one read/hash/socket write: about 1 MiB, rounded down to whole chunks. */
const IO_BLOCK_BYTES = 1024 * 1024;

/** Bytes per read and write for a given protocol chunk size: a whole number of chunks. */
export function ioBlockSize(chunkSize: number): number {
  return chunkSize * Math.max(1, Math.floor(IO_BLOCK_BYTES / chunkSize));
}

/** What sendBody needs besides the connection and the file. */
export interface SendBodyOptions {
  size: number;
  chunkSize: number;
  hash: Hash;
  /** Called as the kernel accepts bytes (not when they are merely queued). */
  onAccepted: (bytes: number) => void;
  /** Checked after each block; true stops sending (the server has already answered). */
  shouldStop: () => boolean;
}

async function readBlock(handle: FileHandle, at: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafeSlow(length);
  let filled = 0;
  while (filled < length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, filled, length - filled, at + filled));
    } catch (error) {
      throw new LocalFileError(`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    if (bytesRead === 0) throw new LocalFileError('the file shrank while it was being sent');
    filled += bytesRead;
  }
  return buffer;
}

/** Sends exactly `size` bytes of `handle` from offset 0, feeding `hash` with the same bytes. */
export async function sendBody(conn: FramedConnection, handle: FileHandle, options: SendBodyOptions): Promise<void> {
  const { size, hash } = options;
  const block = ioBlockSize(options.chunkSize);
  let position = 0;
  let next: Promise<Buffer> | undefined = size > 0 ? readBlock(handle, 0, Math.min(block, size)) : undefined;
  try {
    while (next) {
      const data = await next;
      position += data.length;
      next = position < size ? readBlock(handle, position, Math.min(block, size - position)) : undefined;
      hash.update(data);
      const length = data.length;
      if (!conn.sendRaw(data, () => options.onAccepted(length))) await conn.drain();
      if (options.shouldStop()) return;
    }
  } finally {
    // A read started ahead of a failure must not become an unhandled rejection.
    next?.catch(() => undefined);
  }
}
