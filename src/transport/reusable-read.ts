/**
 * Socket reads into one reusable buffer, for accepted sockets too.
 *
 * Node allocates a fresh 64 KiB buffer for every socket read and frees it only when the garbage
 * collector gets to it: a server receiving a few hundred MB/s keeps 30–40 MB of such garbage alive.
 * Node's `onread` option (reads into one buffer the caller owns) exists only for sockets the caller
 * constructs, not for those a server accepts. This sets, on an accepted socket that has not started
 * reading, the same three fields the Socket constructor sets for `onread` (found by their symbol
 * descriptions) and hands the buffer to the handle, as the constructor does. Where this Node does not
 * have them, nothing changes and the socket keeps its usual 'data' events.
 *
 * Why it stays, though it relies on Node internals (measured 2026-12-03, bench/README.md "Reads into
 * one buffer", same dist with this switched off, alternated, load 5-12 on 2 cores): 1 GiB upload,
 * server peak RSS 83 MB instead of 119 MB and server event-loop CPU 0.78-0.90 instead of
 * 1.17-1.22 s per GiB (total 2.9-3.1 instead of 3.4-3.5); 8 x 128 MiB at once, server peak 120-122
 * instead of 154 MB, 6.1-6.6 instead of 6.7-7.4 s. The body bytes are copied into shared-memory
 * write blocks either way (the hash thread reads those without a copy), so plain reads would only
 * add an allocation per 64 KiB read and the garbage behind it. test/reusable-read.test.ts checks both paths.
 *
 * A TLS socket hands its clear text over in pieces of at most 16 KiB (one per SSL_read), each asked
 * of the same allocator, so a buffer installed on it takes them too: claimReadsEarly installs it on
 * an accepted TLSSocket before its first read (tls-accept.ts), takeEarlyClaim gives the reads to the
 * FramedConnection once the handshake is over. Measured 2026-12-03 (bench/README.md "what TLS
 * costs"): see the figures there.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** Gets each chunk read; the bytes are valid only during the call. False stops reading (pause). */
export type TransientReadHandler = (chunk: Buffer) => boolean;

type Fields = Record<symbol, unknown>;

/** Installs `onRead` as the socket's reader into `buffer`; false (nothing changed) where unsupported. */
export function readIntoReusableBuffer(socket: Socket, buffer: Buffer, onRead: TransientReadHandler): boolean {
  return install(socket, buffer, onRead, true);
}

/**
 * The installation. `idleHandle`: the handle must not be reading yet; a new TLSSocket's handle says
 * it reads when its TCP socket did (the ClientHello was peeked at), though it has emitted no clear text.
 */
function install(socket: Socket, buffer: Buffer, onRead: TransientReadHandler, idleHandle: boolean): boolean {
  const symbols = new Map(Object.getOwnPropertySymbols(socket).map((symbol) => [symbol.description, symbol]));
  const kBuffer = symbols.get('kBuffer');
  const kBufferCb = symbols.get('kBufferCb');
  const kBufferGen = symbols.get('kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void; reading?: boolean } })._handle;
  if (!kBuffer || !kBufferCb || !kBufferGen || typeof handle?.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Fields;
  // Only on a socket that reads nothing yet (accepted with pauseOnConnect) and has no onread of its own.
  if (fields[kBuffer] !== null || fields[kBufferCb] !== null || fields[kBufferGen] !== null || (idleHandle && handle.reading)) return false;
  fields[kBuffer] = buffer;
  fields[kBufferCb] = (nread: number, into: Buffer): boolean => onRead(into.subarray(0, nread));
  handle.useUserBuffer(buffer);
  return true;
}

/** Most bytes kept for a socket claimed early before its reader comes; past it reading pauses. */
const EARLY_PENDING_BYTES = 256 * 1024;

/** Sockets whose reads were claimed before their first read, waiting for their reader. */
const claimedEarly = new WeakMap<Socket, (onRead: TransientReadHandler) => void>();

/**
 * Claims a socket's reads into `buffer` at once, for a socket that starts reading before its
 * reader exists: a TLSSocket reads on the tick after it is constructed, for the handshake, while
 * its FramedConnection comes after the handshake. What arrives in between is copied and handed to
 * the reader that takeEarlyClaim installs. False (nothing changed) where unsupported.
 */
export function claimReadsEarly(socket: TLSSocket, buffer: Buffer): boolean {
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  let reader: TransientReadHandler | undefined;
  const claimed = install(socket, buffer, (chunk) => {
    if (reader) return reader(chunk);
    pending.push(Buffer.from(chunk));
    pendingBytes += chunk.length;
    return pendingBytes < EARLY_PENDING_BYTES;
  }, false);
  if (claimed) {
    claimedEarly.set(socket, (onRead) => {
      claimedEarly.delete(socket);
      reader = onRead;
      for (const chunk of pending.splice(0)) onRead(chunk);
    });
  }
  return claimed;
}

/** Installs `onRead` as the reader of a socket claimed with claimReadsEarly; false when it was not. */
export function takeEarlyClaim(socket: Socket, onRead: TransientReadHandler): boolean {
  const attach = claimedEarly.get(socket);
  attach?.(onRead);
  return attach !== undefined;
}
