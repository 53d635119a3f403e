/**
 * One upload into a hidden partial file beside its target: its body copied, hashed and written by
 * a BlockWriter (block-writer.ts), checkpointed (fdatasync, then state) every 64 MiB, suspended as a
 * partial or landed by fsync + link/rename + directory fsync once the md5 matches.
 */
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import type { DigestIndex } from './digest-index.js';
import { numberedName } from '../../uploads/names.js';
import { BlockWriter } from './block-writer.js';
import { toStorageError } from './file-ops.js';
import { place } from './landing/place.js';
import type { DirectorySyncer } from './dir-sync.js';
import type { PartialState, PartialStore } from './resume/partials.js';
import { assertSameFile, type OpenDir } from './served-root.js';
import type { StoredReceipt, Upload } from '../storage.js';
import type { PooledMd5 } from '../../../hashing/md5-pool.js';
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
  private readonly writer: BlockWriter;
  private nextCheckpoint: number;
  private checkpointing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly handle: FileHandle, private readonly plan: DiskUploadPlan) {
    this.filename = plan.filename;
    this.size = plan.size;
    this.offset = plan.offset;
    this.received = plan.offset;
    this.writer = new BlockWriter(handle, plan.hash, plan.chunkSize, plan.offset, () => this.startCheckpoint());
    this.nextCheckpoint = plan.offset + CHECKPOINT_BYTES;
    const release = plan.release;
    plan.release = () => {
      this.writer.finish();
      release();
    };
  }

  write(chunk: Buffer): Promise<void> | undefined {
    if (this.writer.failure) return Promise.reject(this.writer.failure);
    this.received += chunk.length;
    return this.writer.write(chunk);
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
        const md5 = await this.writer.digest();
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
        state.durable = this.writer.hashed;
        await partials.save(state);
        await this.handle.close();
        await partials.keepSnapshot(this.filename, this.writer.hashed, this.plan.hash, state.data);
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
    await this.writer.stop();
    await this.checkpointing?.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    const { dir, state } = this.plan;
    await this.plan.partials.remove(state, dir.at(basename(state.data)));
    dir.removeCreated();
  }

  /** Every CHECKPOINT_BYTES: fdatasync what is written, then record it as durable (in that order). */
  private startCheckpoint(): void {
    const { written, hashed } = this.writer;
    if (!this.plan.keepPartial || this.checkpointing || written < this.nextCheckpoint || this.closing) return;
    const upTo = Math.min(written, hashed);
    this.nextCheckpoint = written + CHECKPOINT_BYTES;
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

  /** The whole body written and hashed, and a checkpoint under way finished. */
  private async settleWrites(): Promise<void> {
    await this.writer.settle();
    await this.checkpointing;
  }
}
