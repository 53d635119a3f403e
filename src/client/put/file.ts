/**
 * One attempt at uploading a local file on one connection (docs/PROTOCOL.md §6.1-§6.5): the put,
 * its acknowledgement (maybe with an offset to resume from, or "already landed"), the md5 of the
 * prefix the server kept, the body, the trailer and the verdict, checked against our own md5.
 */
import type { Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { HashThreadError, LocalFileError, ProtocolError, UsageError, VerificationError } from '../../errors.js';
import { hashFileRangeOffThread } from '../../hashing/hash-file.js';
import { sharedHashPool, type PooledMd5 } from '../../hashing/md5-pool.js';
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../../protocol/constants.js';
import {
  parsePutAck, parsePutVerdict, type PutAck, type PutRequest, type Receipt, type WaitNotice,
} from '../../protocol/messages.js';
import { throwEarlyRefusal, type ClientConnection } from '../connection.js';
import { ResumeState } from './resume-state.js';
import { ioBlockSize, sendBody } from './send-body.js';

/** Options of one upload. */
export interface PutOptions {
  /** Name on the server, relative to its root ("/"-separated). */
  remoteName: string;
  /** Replace an existing file (otherwise the server refuses with 409). */
  overwrite?: boolean;
  /** If the name is taken, land under the first free "stem.N.ext" (the receipt has the name). */
  rename?: boolean;
  /** Permission bits for the landed file (default: the server's 0o644). */
  mode?: number;
  /** Protocol chunk size (default 4096). */
  chunkSize?: number;
  /** Called with (bytes accepted by the socket so far, total) as the upload progresses. */
  onProgress?: (done: number, total: number) => void;
  /** Ask the server to continue a partial it kept of this same source (default true, if it lists `resume`). */
  resume?: boolean;
  /** Memory shared by the attempts of one upload (FtxClient.put makes one). */
  resumeState?: ResumeState;
  /** Called when the server sends a keep-alive while it works (re-reading a kept prefix, landing). */
  onWait?: (notice: WaitNotice) => void;
}

/** What a verified upload reports (every kind: file, stream, batched file). */
export interface PutReceipt {
  /** The local source ("-" for a stream). */
  localPath: string;
  /** The name it landed under (with `rename`, maybe a numbered one). */
  filename: string;
  size: number;
  md5: string;
  seconds: number;
  /** Offset this attempt started at (0 = whole file; size = it had already landed). */
  resumedFrom: number;
  /** Body bytes this attempt sent. */
  bytesSent: number;
}

/** One attempt's facts, shared by its steps. */
interface Attempt {
  link: ClientConnection;
  handle: FileHandle;
  info: Stats;
  localPath: string;
  size: number;
  chunkSize: number;
  memory: ResumeState;
  started: number;
  options: PutOptions;
}

function checkedChunkSize(chunkSize = DEFAULT_CHUNK_SIZE): number {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new UsageError(`chunk size must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  return chunkSize;
}

/** Uploads `localPath` once; resolves only when the server's md5 equals the one computed while reading. */
export async function putFile(link: ClientConnection, localPath: string, options: PutOptions): Promise<PutReceipt> {
  const chunkSize = checkedChunkSize(options.chunkSize);
  const handle = await open(localPath, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new LocalFileError(`cannot open ${localPath}: ${error.code ?? error.message}`, { cause: error });
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new LocalFileError(`${localPath} is not a regular file`);
    const memory = options.resumeState ?? new ResumeState();
    memory.adopt({ size: info.size, mtime: Math.round(info.mtimeMs) });
    return await requestPut({ link, handle, info, localPath, size: info.size, chunkSize, memory, started: performance.now(), options });
  } finally {
    link.sending = 'requests';
    await handle.close();
  }
}

/** The put request and its acknowledgement; then the rest, or the check of what already landed. */
async function requestPut(a: Attempt): Promise<PutReceipt> {
  const { link, size, memory, options } = a;
  const source = { size, mtime: Math.round(a.info.mtimeMs) };
  const id = link.nextId();
  const request: PutRequest = {
    action: 'put', id, filename: options.remoteName, size, chunkSize: a.chunkSize, stream: false, wait: true,
    overwrite: options.overwrite ?? false, rename: options.rename ?? false, mtime: source.mtime,
    resume: (options.resume ?? true) && link.supports('resume'), source, uploadId: memory.uploadId,
    ...(options.mode !== undefined ? { mode: options.mode } : {}),
  };
  // Until the trailer no ping frame may go out: the server reads this put's body next.
  link.sending = 'body';
  link.send(request);
  // While the server looks for a kept partial (it may re-read it from disk), hash our own file
  // from the start: a resume needs the md5 of our prefix too, and a fresh run has no snapshot.
  const prehash = request.resume && !memory.bestAtOrBefore(size) ? startPrehash(a) : undefined;
  let ack: PutAck;
  try {
    ack = await link.expect(id, parsePutAck, options.onWait);
  } finally {
    prehash?.stop();
    await prehash?.done;
  }
  if (ack.offset > size || (ack.offset > 0 && !request.resume)) throw new ProtocolError(`the server offered offset ${ack.offset} for a ${size}-byte put`);
  memory.lastOffset = ack.offset;
  if (ack.complete) return confirmLanded(a, ack);
  return sendFrom(a, id, ack.offset);
}

/**
 * The body from `offset`, the trailer and the verdict. The md5 of the prefix the server kept comes
 * from the latest snapshot (of an earlier attempt, or of the hashing done while waiting for the
 * ack), topped up from disk; a snapshot beyond the offset saves hashing what it covers.
 */
async function sendFrom(a: Attempt, id: number, offset: number): Promise<PutReceipt> {
  const snapshot = a.memory.bestAtOrBefore(a.size);
  const hash = snapshot?.hash ?? sharedHashPool().open();
  try {
    return await sendWith(a, id, offset, hash, snapshot?.offset ?? 0);
  } catch (error) {
    // Mid-body, the connection cannot carry another request: drop it, the server suspends the upload.
    if (error instanceof HashThreadError) a.link.destroy();
    throw error;
  } finally {
    hash.dispose(); // a no-op once digested
  }
}

/** sendFrom with the md5 to continue: `hash` covers the first `snapshotAt` bytes. */
async function sendWith(a: Attempt, id: number, offset: number, hash: PooledMd5, snapshotAt: number): Promise<PutReceipt> {
  const { link, size, memory, options } = a;
  // Hashing a large prefix sends nothing for a while: that is not the server going quiet.
  if (snapshotAt < offset) await link.withoutIdleTimeout(() => hashFileRangeOffThread(a.handle, hash, snapshotAt, offset));

  // The next reply is the verdict; a server may send it early (e.g. disk full) and stop reading.
  let answered = false;
  const verdict = link.expect(id, parsePutVerdict, options.onWait).finally(() => (answered = true));
  verdict.catch(() => undefined);
  let accepted = offset;
  options.onProgress?.(offset, size);
  try {
    await sendBody(link, a.handle, {
      start: offset, hashedUpTo: Math.max(snapshotAt, offset), size, chunkSize: a.chunkSize, hash,
      onAccepted: (bytes) => options.onProgress?.((accepted += bytes), size),
      onHashed: (at, current) => memory.record(at, current),
      shouldStop: () => answered,
    });
  } catch (error) {
    // Prefer the server's explanation when it answered before the connection broke.
    await throwEarlyRefusal(verdict);
    if (error instanceof LocalFileError) link.destroy();
    throw error;
  }
  const md5 = await hash.digest();
  if (!answered) {
    await checkUnchanged(a);
    memory.fullMd5 = md5;
    link.send({ action: 'end', id, md5 });
  }
  link.sending = 'requests';
  return checkReceipt(a, (await verdict).receipt, md5, offset);
}

/**
 * Before the trailer commits the upload: a file that grew or was rewritten while it was sent would
 * land as its first `size` bytes, a snapshot that no longer matches it. Like a file that shrank,
 * it is not sent: the connection is dropped (the server keeps a partial it will not resume, the
 * source's size or mtime having changed) and the file fails with local_io.
 */
async function checkUnchanged(a: Attempt): Promise<void> {
  const after = await a.handle.stat();
  if (after.size === a.info.size && after.mtimeMs === a.info.mtimeMs) return;
  a.link.destroy();
  const what = after.size === a.info.size ? 'was modified' : `went from ${a.info.size} to ${after.size} bytes`;
  throw new LocalFileError(`${a.localPath} changed while it was being sent (it ${what}); not landed, send it again once it is settled`);
}

/** The server says this exact upload already landed: check its md5 against ours. */
async function confirmLanded(a: Attempt, ack: PutAck): Promise<PutReceipt> {
  let md5 = a.memory.fullMd5;
  if (md5 === undefined) {
    const hash = sharedHashPool().open();
    try {
      await hashFileRangeOffThread(a.handle, hash, 0, a.size);
      md5 = await hash.digest();
    } finally {
      hash.dispose();
    }
  }
  return checkReceipt(a, ack.receipt, md5, a.size);
}

/** The receipt of a verified upload; a server md5 or size other than ours is a VerificationError. */
function checkReceipt(a: Attempt, receipt: Receipt | undefined, md5: string, offset: number): PutReceipt {
  if (!receipt || receipt.md5 !== md5 || receipt.size !== a.size) {
    throw new VerificationError(`server reports md5 ${receipt?.md5 ?? 'none'}, local file is ${md5}`);
  }
  const seconds = (performance.now() - a.started) / 1000;
  return { localPath: a.localPath, filename: receipt.filename, size: a.size, md5, seconds, resumedFrom: offset, bytesSent: a.size - offset };
}

/**
 * Hashes the file from offset 0 in the background, recording snapshots, until stopped or done.
 * Measured to pay (bench/README.md, issue 12): a resume after a server restart reaches its first
 * body byte ~0.11 s sooner per 100 MB of kept prefix; a fresh put hashes nothing twice.
 */
function startPrehash(a: Attempt): { stop: () => void; done: Promise<void> } {
  let stopped = false;
  const done = (async () => {
    const hash = sharedHashPool().open();
    const block = ioBlockSize(a.chunkSize);
    try {
      for (let at = 0; at < a.size && !stopped;) {
        const length = Math.min(block * 8, a.size - at);
        // Snapshots at the same points as sendBody's: every block boundary, and the end.
        const onBlock = (offset: number): void => { if (offset % block === 0 || offset === a.size) a.memory.record(offset, hash); };
        await hashFileRangeOffThread(a.handle, hash, at, at + length, onBlock, block);
        at += length;
      }
    } finally {
      hash.dispose();
    }
  })().catch(() => undefined);
  return { stop: () => { stopped = true; }, done };
}

