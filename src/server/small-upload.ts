/**
 * A small pipelined upload (never resumed): the body stays in memory until its md5 is verified,
 * then one landing worker writes, fsyncs and links it, and the directory fsync is shared with the
 * other files landing there (docs/PROTOCOL.md, "Pipelined puts").
 */
import { dirname } from 'node:path';
import { rmdir } from 'node:fs/promises';
import { createMd5 } from '../checksum.js';
import { StatusError } from '../errors.js';
import { ERROR_CODE, STATUS } from '../protocol/constants.js';
import type { DigestIndex } from './digest-index.js';
import type { DirectorySyncer } from './dir-sync.js';
import { numberedName, toStorageError } from './file-ops.js';
import type { LandingPool } from './landing-pool.js';
import type { StoredReceipt, Upload } from './storage.js';

/** Largest body kept in memory and landed by a worker. */
export const SMALL_UPLOAD_MAX_BYTES = 1024 * 1024;

/** Everything a SmallUpload needs. */
export interface SmallUploadPlan {
  filename: string;
  size: number;
  tempPath: string;
  finalPath: string;
  overwrite: boolean;
  rename: boolean;
  mode: number;
  mtime?: number;
  createdDirs: string[];
  pool: LandingPool;
  digests: DigestIndex;
  dirSync: DirectorySyncer;
  release: () => void;
  /** Creates the target's directory again after it was removed; false if it cannot be the same. */
  recreateDir: () => Promise<boolean>;
}

/** A small upload held in memory until it lands. */
export class SmallUpload implements Upload {
  readonly filename: string;
  readonly offset = 0;
  readonly size: number;
  received = 0;
  landing: Promise<void> | undefined;
  /** The body as it arrives (a copy: a chunk may be the connection's reusable read buffer). */
  private readonly body: Buffer;
  private readonly hash = createMd5();
  private closed = false;

  constructor(private readonly plan: SmallUploadPlan) {
    this.filename = plan.filename;
    this.size = plan.size;
    this.body = Buffer.allocUnsafe(plan.size);
  }

  write(chunk: Buffer): undefined {
    this.hash.update(chunk);
    this.received += chunk.copy(this.body, this.received);
    return undefined;
  }

  commit(claimedMd5: string): Promise<StoredReceipt> {
    this.closed = true;
    const work = (async (): Promise<StoredReceipt> => {
      const { plan } = this;
      try {
        const md5 = this.hash.digest('hex');
        if (md5 !== claimedMd5) {
          throw new StatusError(STATUS.CHECKSUM_MISMATCH, ERROR_CODE.CHECKSUM_MISMATCH,
            `md5 mismatch: the received data hashes to ${md5}, the client sent ${claimedMd5}; nothing was stored`);
        }
        const job = {
          temp: plan.tempPath, final: plan.finalPath, data: this.body.subarray(0, this.received), mode: plan.mode,
          overwrite: plan.overwrite, rename: plan.rename, ...(plan.mtime !== undefined ? { mtime: plan.mtime } : {}),
        };
        const { n } = await plan.pool.land(job).catch(async (error: unknown) => {
          // Its directory was removed while the body arrived (a pruned tree): create it again, once.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT' && await plan.recreateDir().catch(() => false)) {
            return plan.pool.land(job);
          }
          throw error;
        }).catch((error: unknown) => {
          throw toStorageError(error, plan.filename);
        });
        const filename = n === 0 ? plan.filename : numberedName(plan.filename, n);
        // The worker fsynced the target's directory; directories created for it are fsynced here.
        for (const dir of plan.createdDirs) await plan.dirSync.sync(dirname(dir)).catch(() => undefined);
        if (plan.mtime !== undefined) plan.digests.record(filename, { size: this.received, mtime: plan.mtime, md5 });
        return { filename, size: this.received, md5 };
      } catch (error) {
        await this.removeDirs();
        throw error;
      } finally {
        plan.release();
      }
    })();
    this.landing = work.then(() => undefined, () => undefined);
    return work;
  }

  suspend(): Promise<void> {
    return this.discard();
  }

  async discard(): Promise<void> {
    if (this.closed) return this.landing;
    this.closed = true;
    await this.removeDirs();
    this.plan.release();
  }

  private async removeDirs(): Promise<void> {
    for (const dir of [...this.plan.createdDirs].reverse()) await rmdir(dir).catch(() => undefined);
    this.plan.createdDirs = [];
  }
}
