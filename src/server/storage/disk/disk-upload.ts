/**
 * One upload into a hidden partial file beside its target. Bytes are written in large batches (one
 * write in flight), hashed on a hash thread in whole protocol chunks (so the hash always sits at a
 * chunk boundary a resume can start from), checkpointed (fdatasync, then state) every 64 MiB, and
 * landed by fsync + link/rename + directory fsync once the md5 matches. A block is reused once it
 * is both written and hashed; the event loop only copies bytes into blocks.
 */
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import type { DigestIndex } from './digest-index.js';
import { numberedName } from '../../uploads/names.js';
import { toStorageError, writeAll } from './file-ops.js';
import { place } from './landing/place.js';
import type { DirectorySyncer } from './dir-sync.js';
import type { PartialState, PartialStore } from './resume/partials.js';
import { assertSameFile, type OpenDir } from './served-root.js';
import type { StoredReceipt, Upload } from '../storage.js';
import { ChunkHasher } from '../../uploads/chunk-hasher.js';
import type { PooledMd5 } from '../../../hashing/md5-pool.js';
import { BLOCK_BYTES, BlockAccount } from './write-blocks.js';

/** Ask the writer to wait while this many bytes are pending behind a write in flight. */
const HIGH_WATER_BYTES = 2 * 1024 * 1024;
/**
 * Ask the writer to wait while this many bytes are queued but not yet hashed. Higher than the write
 * high water: a slower hash thread should not stall the socket on every block.
 */
const HASH_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/**
 * ...but while all uploads together have this many bytes waiting for the hash threads, each waits
 * at the write high water already: memory stays bounded with many uploads on few threads.
 */
const TOTAL_HASH_HIGH_WATER_BYTES = 8 * 1024 * 1024;
let unhashedTotal = 0;
/** Make the received prefix durable and record it every this many bytes. */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024;

/** Everything a DiskUpload needs to know about where it writes and lands. */
export interface DiskUploadPlan {
  filename: string;
  /** Declared size; null for a stream of unknown length. */
  size: number | null;
  /** Land under "stem.N.ext" when the name is taken. */
  rename: boolean;
  /** Keep the partial for a resume when the connection breaks (checkpoints, state). */
  keepPartial: boolean;
  mode: number;
  digests: DigestIndex;
  dirSync: DirectorySyncer;
  chunkSize: number;
  /** The target's directory, held open from the walk at begin until release. */
  dir: OpenDir;
  /** The target's name in `dir`. */
  name: string;
  overwrite: boolean;
  mtime?: number;
  /** The client's id of this logical upload, remembered at landing for its retries. */
  uploadId?: string;
  /** Bytes already in the data file (a resume); `hash` covers exactly these. */
  offset: number;
  hash: PooledMd5;
  partials: PartialStore;
  state: PartialState;
  /** Called once when the upload is finished one way or another. */
  release: () => void;
}

/** One upload into a partial data file. */
export class DiskUpload implements Upload {
  readonly filename: string;
  readonly offset: number;
  readonly size: number | null;
  /** Absolute position after the last byte handed to write(). */
  received: number;
  private readonly hasher: ChunkHasher;
  /** Full blocks (and, when settling, the last partial one) waiting to be written. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The block being filled, and how far. */
  private block: Buffer | undefined;
  private blockFill = 0;
  private position: number;
  private written: number;
  private nextCheckpoint: number;
  private inFlight: Promise<void> | undefined;
  private checkpointing: Promise<void> | undefined;
  private error: StatusError | undefined;
  private closing: Promise<void> | undefined;
  /** The hash thread's promise for the last block queued (a thread works in order: all before it are done too). */
  private lastHashed: Promise<void> = Promise.resolve();
  private unhashedBytes = 0;
  private readonly blocks = new BlockAccount();

  constructor(private readonly handle: FileHandle, private readonly plan: DiskUploadPlan) {
    this.filename = plan.filename;
    this.size = plan.size;
    this.offset = plan.offset;
    this.received = plan.offset;
    this.hasher = new ChunkHasher(plan.hash, plan.chunkSize, plan.offset);
    this.position = plan.offset;
    this.written = plan.offset;
    this.nextCheckpoint = plan.offset + CHECKPOINT_BYTES;
    const release = plan.release;
    plan.release = () => {
      this.blocks.finish();
      release();
    };
  }

  write(chunk: Buffer): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    this.received += chunk.length;
    // The chunk may be the connection's reusable read buffer: copy it. It is hashed a block at a time.
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
      : this.unhashedBytes >= hashLimit ? this.lastHashed
        : this.blocks.overBudget ? Promise.all([this.inFlight, this.lastHashed]) : undefined;
    return waitFor?.then(() => {
      if (this.error) throw this.error;
    });
  }

  /** Set once the whole body is here and the upload is verifying and landing. */
  landing: Promise<void> | undefined;

  commit(claimedMd5: string): Promise<StoredReceipt> {
    if (this.closing) return Promise.reject(new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, 'upload already closed'));
    const work = (async (): Promise<StoredReceipt> => {
      let receipt: StoredReceipt;
      let landedMtime: number;
      try {
        await this.settleWrites();
        const md5 = await this.hasher.digest().catch((error: unknown) => { throw toStorageError(error); });
        if (md5 !== claimedMd5) {
          throw new StatusError(STATUS.CHECKSUM_MISMATCH, ERROR_CODE.CHECKSUM_MISMATCH,
            `md5 mismatch: the stored data hashes to ${md5}, the client sent ${claimedMd5}` +
            `${this.offset > 0 ? ` (resumed at ${this.offset})` : ''}; the partial was discarded`);
        }
        const { mtime, state, uploadId } = this.plan;
        await this.handle.chmod(this.plan.mode);
        if (mtime !== undefined) await this.handle.utimes(new Date(), new Date(mtime));
        await this.handle.sync();
        const info = await this.handle.stat({ bigint: true });
        // The mtime we just set is the one recorded; without one, the file's own.
        landedMtime = mtime ?? Number(info.mtimeMs) + (info.mtimeNs % 1_000_000n >= 500_000n ? 1 : 0);
        if (this.plan.keepPartial) {
          // Durable before the link: a restart after a crash from here on knows whether it landed.
          state.landing = { md5, mtime: landedMtime, dev: String(info.dev), ino: String(info.ino), ...(uploadId !== undefined ? { uploadId } : {}) };
          await this.plan.partials.saveDurably(state);
        }
        // Containment at the moment of landing: the directory is still where the client's name
        // leads (else 403), and the data file under its name is the one written (not swapped).
        const { dir } = this.plan;
        const dataAt = dir.at(basename(state.data));
        if (dir.verify() !== 'same') throw Object.assign(new Error(`${this.filename}: its directory was removed`), { code: 'ENOENT' });
        assertSameFile(this.handle, dataAt);
        await this.handle.close();
        const n = await place(dataAt, dir.at(this.plan.name), this.plan);
        receipt = { filename: n === 0 ? this.filename : numberedName(this.filename, n), size: this.received, md5 };
      } catch (error) {
        await this.removeEverything();
        this.plan.release();
        throw toStorageError(error, this.filename);
      }
      // Landed: what follows cannot undo it, so its failures are not the client's.
      const { dir, dirSync } = this.plan;
      await dirSync.sync(dir.path, `/proc/self/fd/${dir.fd}`).catch(() => undefined);
      await dir.syncCreated((key, via) => dirSync.sync(key, via));
      const { uploadId } = this.plan;
      this.plan.digests.record(receipt.filename, { size: receipt.size, mtime: landedMtime, md5: receipt.md5, ...(uploadId !== undefined ? { uploadId } : {}) });
      if (this.plan.keepPartial) {
        // The state goes only once the digest line (with the upload id) is written: until the verdict
        // is sent, one of the two always tells a retry after a crash that this upload landed.
        await this.plan.digests.flushed();
        await this.plan.partials.remove(this.plan.state, dir.at(basename(this.plan.state.data)));
      }
      this.plan.release();
      return receipt;
    })();
    // Later suspend()/discard() calls wait for this and then do nothing: it already cleaned up.
    this.closing = work.then(() => undefined, () => undefined);
    this.landing = this.closing;
    return work;
  }

  suspend(): Promise<void> {
    // A stream cannot be replayed, a batched file is never resumed: nothing to keep.
    if (this.size === null || !this.plan.keepPartial) return this.discard();
    this.closing ??= (async () => {
      try {
        await this.settleWrites();
        await this.handle.datasync();
        // Durable and hashed: whole chunks only; the unhashed tail is cut off on resume.
        const { state, partials } = this.plan;
        state.durable = this.hasher.hashed;
        await partials.save(state);
        await this.handle.close();
        await partials.keepSnapshot(this.filename, this.hasher.hashed, this.plan.hash, state.data);
      } catch {
        await this.removeEverything();
      }
      this.plan.release();
    })();
    return this.closing;
  }

  discard(): Promise<void> {
    this.closing ??= this.removeEverything().then(() => this.plan.release());
    return this.closing;
  }

  private async removeEverything(): Promise<void> {
    this.plan.hash.dispose();
    await this.inFlight?.catch(() => undefined);
    await this.checkpointing?.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    const { dir, state } = this.plan;
    await this.plan.partials.remove(state, dir.at(basename(state.data)));
    dir.removeCreated();
  }

  /** Hashes the block being filled (whole or partial) and moves it to the write queue. */
  private queueBlock(): void {
    if (!this.block || this.blockFill === 0) return;
    const data = this.blockFill === this.block.length ? this.block : this.block.subarray(0, this.blockFill);
    const bytes = data.length;
    this.unhashedBytes += bytes;
    unhashedTotal += bytes;
    this.lastHashed = this.hasher.update(data).then(
      () => { this.unhashedBytes -= bytes; unhashedTotal -= bytes; },
      (error: unknown) => { this.error ??= toStorageError(error); unhashedTotal -= bytes; },
    );
    this.pending.push(data);
    this.pendingBytes += this.blockFill;
    this.block = undefined;
    this.blockFill = 0;
  }

  private startWrite(): void {
    if (this.inFlight || this.pending.length === 0 || this.error) return;
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
        this.startCheckpoint();
        if (this.pendingBytes >= BLOCK_BYTES) this.startWrite();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.error = toStorageError(error);
      },
    );
  }

  /** Every CHECKPOINT_BYTES: fdatasync what is written, then record it as durable (in that order). */
  private startCheckpoint(): void {
    if (!this.plan.keepPartial || this.checkpointing || this.written < this.nextCheckpoint || this.closing) return;
    const upTo = Math.min(this.written, this.hasher.hashed);
    this.nextCheckpoint = this.written + CHECKPOINT_BYTES;
    const { state, partials } = this.plan;
    this.checkpointing = this.handle.datasync()
      .then(() => {
        state.durable = upTo;
        return partials.save(state);
      })
      .catch(() => undefined)
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  private async settleWrites(): Promise<void> {
    this.queueBlock();
    while (this.inFlight || this.pending.length > 0) {
      if (this.error) throw this.error;
      if (!this.inFlight) this.startWrite();
      await this.inFlight;
    }
    await this.lastHashed;
    if (this.error) throw this.error;
    await this.checkpointing;
  }
}
