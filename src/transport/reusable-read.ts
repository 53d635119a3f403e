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
 * add an allocation per 64 KiB read and the garbage behind it. Not used on TLS sockets (server.ts):
 * TLS decrypts into buffers of its own. test/reusable-read.test.ts checks both paths.
 */
import type { Socket } from 'node:net';

/** Gets each chunk read; the bytes are valid only during the call. False stops reading (pause). */
export type TransientReadHandler = (chunk: Buffer) => boolean;

type Fields = Record<symbol, unknown>;

/** Installs `onRead` as the socket's reader into `buffer`; false (nothing changed) where unsupported. */
export function readIntoReusableBuffer(socket: Socket, buffer: Buffer, onRead: TransientReadHandler): boolean {
  const symbols = new Map(Object.getOwnPropertySymbols(socket).map((symbol) => [symbol.description, symbol]));
  const kBuffer = symbols.get('kBuffer');
  const kBufferCb = symbols.get('kBufferCb');
  const kBufferGen = symbols.get('kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void; reading?: boolean } })._handle;
  if (!kBuffer || !kBufferCb || !kBufferGen || typeof handle?.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Fields;
  // Only on a socket that reads nothing yet (accepted with pauseOnConnect) and has no onread of its own.
  if (fields[kBuffer] !== null || fields[kBufferCb] !== null || fields[kBufferGen] !== null || handle.reading) return false;
  fields[kBuffer] = buffer;
  fields[kBufferCb] = (nread: number, into: Buffer): boolean => onRead(into.subarray(0, nread));
  handle.useUserBuffer(buffer);
  return true;
}
