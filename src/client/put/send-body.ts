/**
 * The client's hot path: read the file in large blocks (whole chunks), hash each block once, hand it
 * to the socket. Reads run ahead on the thread pool while the main thread hashes; several blocks may
 * wait in the socket's queue so hashing never waits for a full drain. Blocks come from a small pool,
 * reused once the kernel has taken them: memory stays flat whatever the file size.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ConnectionLostError, LocalFileError } from '../../errors.js';
import type { ClientConnection } from '../connection.js';

/** Target size of one read/hash/socket write: about 1 MiB, rounded down to whole chunks. */
const IO_BLOCK_BYTES = 1024 * 1024;
/** Bytes handed to the socket but not yet accepted by the kernel before we wait. */
const MAX_UNFLUSHED_BYTES = 4 * 1024 * 1024;

/** Bytes per read and write for a given protocol chunk size: a whole number of chunks. */
export function ioBlockSize(chunkSize: number): number {
  return chunkSize * Math.max(1, Math.floor(IO_BLOCK_BYTES / chunkSize));
}

/** What sendBody needs besides the connection and the file. */
export interface SendBodyOptions {
  /** First byte to send (a resume). */
  start: number;
  /** `hash` already covers the bytes before this offset (≥ start; default start): they are not hashed again. */
  hashedUpTo?: number;
  size: number;
  chunkSize: number;
  hash: Hash;
  /** Called as the kernel accepts bytes (not when they are merely queued). */
  onAccepted: (bytes: number) => void;
  /** Checked after each block; true stops sending (the server has already answered). */
  shouldStop: () => boolean;
  /** Called after each block is hashed, with the offset the hash now covers. */
  onHashed?: (offset: number, hash: Hash) => void;
}

async function readInto(handle: FileHandle, buffer: Buffer, at: number, length: number): Promise<Buffer> {
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
  return buffer.subarray(0, length);
}

/** Sends bytes [start, size) of `handle`, feeding `hash` with the same bytes. */
export async function sendBody(conn: Pick<ClientConnection, 'sendRaw'>, handle: FileHandle, options: SendBodyOptions): Promise<void> {
  const { size, hash } = options;
  const block = ioBlockSize(options.chunkSize);
  const free: Buffer[] = [];
  let unflushed = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const take = (): Buffer => free.pop() ?? Buffer.allocUnsafeSlow(block);
  const readAt = (at: number): Promise<Buffer> => readInto(handle, take(), at, Math.min(block, size - at));

  let position = options.start;
  const hashedUpTo = Math.max(options.hashedUpTo ?? position, position);
  let next: Promise<Buffer> | undefined = position < size ? readAt(position) : undefined;
  try {
    while (next) {
      const data = await next;
      position += data.length;
      next = position < size ? readAt(position) : undefined;
      if (position > hashedUpTo) {
        const from = position - data.length;
        hash.update(from >= hashedUpTo ? data : data.subarray(hashedUpTo - from));
        options.onHashed?.(position, hash);
      }
      while (unflushed > 0 && unflushed + data.length > MAX_UNFLUSHED_BYTES && !failure) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (failure) throw failure;
      unflushed += data.length;
      conn.sendRaw(data, (error) => {
        unflushed -= data.length;
        if (error) failure ??= new ConnectionLostError(`connection lost while sending: ${error.message}`, { cause: error });
        else {
          free.push(Buffer.from(data.buffer, data.byteOffset, block));
          options.onAccepted(data.length);
        }
        wake?.();
        wake = undefined;
      });
      if (options.shouldStop()) return;
    }
  } finally {
    // A read started ahead of a failure must not become an unhandled rejection.
    next?.catch(() => undefined);
  }
}
