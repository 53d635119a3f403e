/** The library API: connect to an ftx server, authenticate, upload files one after another. */
import type { Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { createMd5, hashFileRange } from '../checksum.js';
import { LocalFileError, ProtocolError, UsageError, VerificationError } from '../errors.js';
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, STATUS } from '../protocol/constants.js';
import type { PutRequest, Reply, ServerHello, WaitNotice } from '../protocol/messages.js';
import { ClientConnection, replyError, throwEarlyRefusal, type ClientOptions } from './connection.js';
import { ResumeState } from './resume-state.js';
import { ioBlockSize, sendBody } from './send-body.js';

export type { ClientOptions } from './connection.js';

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
  /** Ask the server to continue a partial it kept of this same source. */
  resume?: boolean;
  /** Memory shared by the attempts of one upload (see putWithRetry). */
  resumeState?: ResumeState;
  /** Called when the server sends a keep-alive while it works (re-reading a kept prefix, landing). */
  onWait?: (notice: WaitNotice) => void;
}

/** What a successful, verified upload reports. */
export interface PutReceipt {
  localPath: string;
  filename: string;
  size: number;
  md5: string;
  seconds: number;
  /** Offset this attempt started at (0 = whole file; size = it had already landed). */
  resumedFrom: number;
  /** Body bytes this attempt sent. */
  bytesSent: number;
}

/** A connected, authenticated client. Uploads run one at a time on its connection. */
export class FtxClient {
  private constructor(readonly connection: ClientConnection) {}

  /** What the server said in its hello. */
  get server(): ServerHello {
    return this.connection.server;
  }

  /** Connects, reads the server hello and authenticates. */
  static async connect(options: ClientOptions): Promise<FtxClient> {
    return new FtxClient(await ClientConnection.open(options));
  }

  /**
   * Uploads one file; resolves only when the server's md5 equals the one computed while reading.
   * With `resume`, continues a partial the server kept from an earlier attempt of the same source.
   */
  async put(localPath: string, options: PutOptions): Promise<PutReceipt> {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
      throw new UsageError(`chunk size must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
    }
    const handle = await open(localPath, 'r').catch((error: NodeJS.ErrnoException) => {
      throw new LocalFileError(`cannot open ${localPath}: ${error.code ?? error.message}`, { cause: error });
    });
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new LocalFileError(`${localPath} is not a regular file`);
      const size = info.size;
      const source = { size, mtime: Math.round(info.mtimeMs) };
      const memory = options.resumeState ?? new ResumeState();
      memory.adopt(source);
      const started = performance.now();
      const link = this.connection;
      const id = link.nextId();
      const request: PutRequest = {
        action: 'put', id, filename: options.remoteName, size, chunkSize, stream: false, wait: true,
        overwrite: options.overwrite ?? false, rename: options.rename ?? false, mtime: source.mtime,
        resume: (options.resume ?? false) && link.supports('resume'), source, uploadId: memory.uploadId,
        ...(options.mode !== undefined ? { mode: options.mode } : {}),
      };
      // Until the trailer no ping frame may go out: the server reads this put's body next.
      link.sending = 'body';
      link.conn.send(request);
      // While the server looks for a kept partial (it may re-read it from disk), hash our own file
      // from the start: a resume needs the md5 of our prefix too, and a fresh run has no snapshot.
      const prehash = request.resume && !memory.bestAtOrBefore(size) ? startPrehash(handle, size, chunkSize, memory) : undefined;
      const ack = await link.expect(id, options.onWait).finally(() => prehash?.stop());
      await prehash?.done;
      if (ack.status !== STATUS.OK) throw replyError(ack);
      const offset = ack.offset ?? 0;
      if (offset > size || (offset > 0 && !request.resume)) throw new ProtocolError(`the server offered offset ${offset} for a ${size}-byte put`);
      memory.lastOffset = offset;
      if (ack.complete) return await this.confirmLanded(ack, handle, memory, { localPath, size, started });

      // The md5 of the prefix the server kept, from the latest snapshot (of an earlier attempt, or of
      // the hashing done while waiting for the ack), topped up from disk. A snapshot beyond the offset
      // is not wasted either: the bytes it covers are sent without being hashed again.
      const snapshot = memory.bestAtOrBefore(size);
      const hash = snapshot?.hash ?? createMd5();
      const snapshotAt = snapshot?.offset ?? 0;
      const hashedUpTo = Math.max(snapshotAt, offset);
      if (snapshotAt < offset) {
        // Hashing a large prefix sends nothing for a while: that is not the server going quiet.
        const idle = link.conn.idleTimeoutMs;
        link.conn.setIdleTimeout(0);
        try {
          await hashFileRange(handle, hash, snapshotAt, offset);
        } finally {
          link.conn.setIdleTimeout(idle);
        }
      }

      // The next reply is the verdict; a server may send it early (e.g. disk full) and stop reading.
      let verdict: Reply | undefined;
      const verdictPromise = link.expect(id, options.onWait).then((reply) => (verdict = reply));
      verdictPromise.catch(() => undefined);
      let accepted = offset;
      options.onProgress?.(offset, size);
      try {
        await sendBody(link.conn, handle, {
          start: offset, hashedUpTo, size, chunkSize, hash,
          onAccepted: (bytes) => {
            accepted += bytes;
            options.onProgress?.(accepted, size);
          },
          onHashed: (at, current) => memory.record(at, current),
          shouldStop: () => verdict !== undefined,
        });
      } catch (error) {
        // Prefer the server's explanation when it answered before the connection broke.
        await throwEarlyRefusal(verdictPromise);
        if (error instanceof LocalFileError) link.destroy();
        throw error;
      }
      if (verdict === undefined) await this.checkUnchanged(handle, info, localPath);
      const md5 = hash.digest('hex');
      memory.fullMd5 = md5;
      if (verdict === undefined) link.conn.send({ action: 'end', id, md5 });
      link.sending = 'requests';
      const reply = await verdictPromise;
      if (reply.status !== STATUS.OK) throw replyError(reply);
      return this.checkReceipt(reply, md5, { localPath, size, started, offset });
    } finally {
      this.connection.sending = 'requests';
      await handle.close();
    }
  }

  /**
   * Before the trailer commits the upload: a file that grew or was rewritten while it was sent would
   * land as its first `size` bytes, a snapshot that no longer matches it. Like a file that shrank,
   * it is not sent: the connection is dropped (the server keeps a partial it will not resume, the
   * source's size or mtime having changed) and the file fails with local_io.
   */
  private async checkUnchanged(handle: FileHandle, before: Stats, localPath: string): Promise<void> {
    const after = await handle.stat();
    if (after.size === before.size && after.mtimeMs === before.mtimeMs) return;
    this.connection.destroy();
    const what = after.size === before.size ? 'was modified' : `went from ${before.size} to ${after.size} bytes`;
    throw new LocalFileError(`${localPath} changed while it was being sent (it ${what}); not landed, send it again once it is settled`);
  }

  /** The server says this exact upload already landed: check its md5 against ours. */
  private async confirmLanded(ack: Reply, handle: FileHandle, memory: ResumeState, facts: { localPath: string; size: number; started: number }): Promise<PutReceipt> {
    let md5 = memory.fullMd5;
    if (md5 === undefined) {
      const hash = createMd5();
      await hashFileRange(handle, hash, 0, facts.size);
      md5 = hash.digest('hex');
    }
    return this.checkReceipt(ack, md5, { ...facts, offset: facts.size });
  }

  private checkReceipt(reply: Reply, md5: string, facts: { localPath: string; size: number; started: number; offset: number }): PutReceipt {
    if (!reply.receipt || reply.receipt.md5 !== md5 || reply.receipt.size !== facts.size) {
      throw new VerificationError(`server reports md5 ${reply.receipt?.md5 ?? 'none'}, local file is ${md5}`);
    }
    const seconds = (performance.now() - facts.started) / 1000;
    return {
      localPath: facts.localPath, filename: reply.receipt.filename, size: facts.size, md5, seconds,
      resumedFrom: facts.offset, bytesSent: facts.size - facts.offset,
    };
  }

  /** Says goodbye (FIN) and waits for the server to close. */
  close(): Promise<void> {
    return this.connection.close();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.connection.destroy();
  }
}

/** Hashes a file from offset 0 in the background, recording snapshots, until stopped or done. */
function startPrehash(handle: FileHandle, size: number, chunkSize: number, memory: ResumeState): { stop: () => void; done: Promise<void> } {
  let stopped = false;
  const done = (async () => {
    const hash = createMd5();
    const block = ioBlockSize(chunkSize);
    for (let at = 0; at < size && !stopped;) {
      const length = Math.min(block, size - at);
      await hashFileRange(handle, hash, at, at + length);
      at += length;
      memory.record(at, hash);
    }
  })().catch(() => undefined);
  return { stop: () => { stopped = true; }, done };
}
