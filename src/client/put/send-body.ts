/**
 * The client's hot path: read the file in large blocks (whole chunks), hand each block to the
 * socket and to a hash thread. Reads run ahead on the libuv pool, the md5 runs on a hash thread
 * (src/hashing): the event loop only moves blocks. A block lives in shared memory, so the socket
 * and the hash thread see the same bytes without a copy; it is reused once the kernel has taken it
 * and the thread has hashed it. Both queues are bounded: memory stays flat whatever the file size.
 */
import type { FileHandle } from 'node:fs/promises';
import { ConnectionLostError, LocalFileError } from '../../errors.js';
import { sharedBlock } from '../../hashing/hash-file.js';
import type { PooledMd5 } from '../../hashing/md5-pool.js';
import type { ClientConnection } from '../connection.js';

/** Target size of one read/hash/socket write: about 1 MiB, rounded down to whole chunks. */
const IO_BLOCK_BYTES = 1024 * 1024;
/** Bytes handed to the socket but not yet accepted by the kernel before we wait. */
const MAX_UNFLUSHED_BYTES = 4 * 1024 * 1024;
/** Bytes posted to the hash thread but not yet hashed before we wait. */
const MAX_UNHASHED_BYTES = 4 * 1024 * 1024;

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
  hash: PooledMd5;
  /** Called as the kernel accepts bytes (not when they are merely queued). */
  onAccepted: (bytes: number) => void;
  /** Checked after each block; true stops sending (the server has already answered). */
  shouldStop: () => boolean;
  /** Called after each block is posted to the hash, with the offset the hash then covers (a snapshot point). */
  onHashed?: (offset: number, hash: PooledMd5) => void;
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

/** Sends bytes [start, size) of `handle`, feeding `hash` with the same bytes; resolves once all are hashed. */
export async function sendBody(conn: Pick<ClientConnection, 'sendRaw'>, handle: FileHandle, options: SendBodyOptions): Promise<void> {
  const { size, hash } = options;
  const block = ioBlockSize(options.chunkSize);
  const free: Buffer[] = [];
  let unflushed = 0;
  let unhashed = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const wakeUp = (): void => { wake?.(); wake = undefined; };
  const take = (): Buffer => free.pop() ?? sharedBlock(block);
  const readAt = (at: number): Promise<Buffer> => readInto(handle, take(), at, Math.min(block, size - at));
  // A block goes back to `free` when both the socket and the hash thread are done with it.
  const user = (data: Buffer): (() => void) => {
    let users = 2;
    return () => { if (--users === 0) free.push(Buffer.from(data.buffer, data.byteOffset, block)); };
  };

  let position = options.start;
  const hashedUpTo = Math.max(options.hashedUpTo ?? position, position);
  let next: Promise<Buffer> | undefined = position < size ? readAt(position) : undefined;
  try {
    while (next) {
      const data = await next;
      position += data.length;
      next = position < size ? readAt(position) : undefined;
      const release = user(data);
      if (position > hashedUpTo) {
        const from = position - data.length;
        const part = from >= hashedUpTo ? data : data.subarray(hashedUpTo - from);
        unhashed += part.length;
        hash.update(part).then(() => { unhashed -= part.length; release(); wakeUp(); }, (error: Error) => { failure ??= error; wakeUp(); });
        options.onHashed?.(position, hash);
      } else {
        release();
      }
      while (((unflushed > 0 && unflushed + data.length > MAX_UNFLUSHED_BYTES) || unhashed > MAX_UNHASHED_BYTES) && !failure) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (failure) throw failure;
      unflushed += data.length;
      conn.sendRaw(data, (error) => {
        unflushed -= data.length;
        if (error) failure ??= new ConnectionLostError(`connection lost while sending: ${error.message}`, { cause: error });
        else {
          release();
          options.onAccepted(data.length);
        }
        wakeUp();
      });
      if (options.shouldStop()) return;
    }
    while (unhashed > 0 && !failure) await new Promise<void>((resolve) => (wake = resolve));
    if (failure) throw failure;
  } finally {
    // A read started ahead of a failure must not become an unhandled rejection.
    next?.catch(() => undefined);
  }
}
