/**
 * The body pieces of an upload into a directory, behind the uploads layer's size limit
 * (uploads/body-pieces.ts): bytes are copied into 1 MiB shared-memory write blocks
 * (write-blocks.ts); each full block goes to the chunk hasher (uploads/chunk-hasher.ts: whole
 * protocol chunks to a hash thread, so the hash always sits at a chunk boundary a resume can start
 * from) and to the write queue, written in batches with one write in flight. A block is reused once
 * it is both written and hashed; the event loop only copies bytes into blocks.
 */
import type { FileHandle } from 'node:fs/promises';
import type { StatusError } from '../../../errors.js';
import type { PooledMd5 } from '../../../hashing/md5-pool.js';
import { ChunkHasher } from '../../uploads/chunk-hasher.js';
import { toStorageError, writeAll } from './file-ops.js';
import { BLOCK_BYTES, BlockAccount } from './write-blocks.js';

/** Ask the writer to wait while this many bytes are pending behind a write in flight. */
const HIGH_WATER_BYTES = 2 * 1024 * 1024;
/**
 * Ask the writer to wait while this many bytes are queued but not yet hashed, until the oldest of
 * them is: the thread always has the next block while the socket is read again, and one upload
 * holds about this much plus the block it fills (the server's peak memory). 5 MiB: 8 MiB (and
 * waiting for all of them) cost a lone 1 GiB upload's server 3.4 MB more peak RSS for no speed; 4 MiB
 * cost its event loop 15 % more CPU (bench/README.md, issue 15).
 */
const HASH_HIGH_WATER_BYTES = 5 * 1024 * 1024;
/**
 * ...but while all uploads together have this many bytes waiting for the hash threads, each waits
 * at the write high water already: memory stays bounded with many uploads on few threads.
 */
const TOTAL_HASH_HIGH_WATER_BYTES = 8 * 1024 * 1024;
let unhashedTotal = 0;

/** Copies, hashes and writes one upload's body into its data file from `offset` on. */
export class BlockWriter {
  private readonly hasher: ChunkHasher;
  /** Full blocks (and, when settling, the last partial one) waiting to be written. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The block being filled, and how far. */
  private block: Buffer | undefined;
  private blockFill = 0;
  private position: number;
  /** File offset up to which everything is written. */
  written: number;
  private inFlight: Promise<void> | undefined;
  /** The first failure of a write or of the hash thread; every later call fails with it. */
  failure: StatusError | undefined;
  /** The hash thread's promise for the last block queued (a thread works in order: all before it are done too). */
  private lastHashed: Promise<void> = Promise.resolve();
  /** The hash thread's promises for the blocks queued and not yet hashed, oldest first. */
  private readonly hashing: Promise<void>[] = [];
  private unhashedBytes = 0;
  private readonly blocks = new BlockAccount();

  /**
   * `hash` covers exactly the first `offset` bytes of the file (a resume's kept prefix). `onWritten`
   * is called after each write that succeeded (the upload's checkpoints).
   */
  constructor(private readonly handle: FileHandle, hash: PooledMd5, chunkSize: number, offset: number, private readonly onWritten: () => void) {
    this.hasher = new ChunkHasher(hash, chunkSize, offset);
    this.position = offset;
    this.written = offset;
  }

  /** Bytes from offset 0 the hash covers: whole chunks only. */
  get hashed(): number {
    return this.hasher.hashed;
  }

  /** Takes a copy of `chunk` (it may be the connection's reusable read buffer); a promise asks to wait. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    for (let at = 0; at < chunk.length;) {
      this.block ??= this.blocks.take();
      const n = chunk.copy(this.block, this.blockFill, at);
      at += n;
      this.blockFill += n;
      if (this.blockFill === this.block.length) this.queueBlock();
    }
    if (this.pendingBytes >= BLOCK_BYTES) this.startWrite();
    const hashLimit = unhashedTotal >= TOTAL_HASH_HIGH_WATER_BYTES ? HIGH_WATER_BYTES : HASH_HIGH_WATER_BYTES;
    const waitFor = this.pendingBytes >= HIGH_WATER_BYTES && this.inFlight ? this.inFlight
      : this.unhashedBytes >= hashLimit ? this.hashing[0]
        : this.blocks.overBudget ? Promise.all([this.inFlight, this.lastHashed]) : undefined;
    return waitFor?.then(() => {
      if (this.failure) throw this.failure;
    });
  }

  /** Resolves once everything handed to write() is written and hashed; rejects with the first failure. */
  async settle(): Promise<void> {
    this.queueBlock();
    while (this.inFlight || this.pending.length > 0) {
      if (this.failure) throw this.failure;
      if (!this.inFlight) this.startWrite();
      await this.inFlight;
    }
    await this.lastHashed;
    if (this.failure) throw this.failure;
  }

  /** The md5 of the whole file (after settle()). */
  digest(): Promise<string> {
    return this.hasher.digest().catch((error: unknown) => {
      throw toStorageError(error);
    });
  }

  /** Waits for the write in flight to end, whatever its outcome (before the file is closed). */
  async stop(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }

  /** Lets go of the blocks still held (idempotent). */
  finish(): void {
    this.blocks.finish();
  }

  /** Hashes the block being filled (whole or partial) and moves it to the write queue. */
  private queueBlock(): void {
    if (!this.block || this.blockFill === 0) return;
    const data = this.blockFill === this.block.length ? this.block : this.block.subarray(0, this.blockFill);
    const bytes = data.length;
    this.unhashedBytes += bytes;
    unhashedTotal += bytes;
    this.lastHashed = this.hasher.update(data).then(
      () => { this.unhashedBytes -= bytes; unhashedTotal -= bytes; this.hashing.shift(); },
      (error: unknown) => { this.failure ??= toStorageError(error); unhashedTotal -= bytes; this.hashing.shift(); },
    );
    this.hashing.push(this.lastHashed);
    this.pending.push(data);
    this.pendingBytes += this.blockFill;
    this.block = undefined;
    this.blockFill = 0;
  }

  private startWrite(): void {
    if (this.inFlight || this.pending.length === 0 || this.failure) return;
    const batch = this.pending;
    const bytes = this.pendingBytes;
    const at = this.position;
    this.pending = [];
    this.pendingBytes = 0;
    this.position += bytes;
    const hashed = this.lastHashed;
    this.inFlight = writeAll(this.handle, batch, at).then(
      () => {
        this.inFlight = undefined;
        this.written = at + bytes;
        void hashed.then(() => this.blocks.giveBack(batch)); // the thread may still be reading them
        this.onWritten();
        if (this.pendingBytes >= BLOCK_BYTES) this.startWrite();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.failure = toStorageError(error);
      },
    );
  }
}
