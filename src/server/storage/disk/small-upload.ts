/**
 * A small upload of a putmany batch (never resumed): the body stays in memory until its md5 is verified,
 * then one landing worker writes, fsyncs and links it, and the directory fsync is shared with the
 * other files landing there (docs/PROTOCOL.md §6.10).
 */
import { md5Hex } from '../../../checksum.js';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, MAX_BATCH_FILE_BYTES, STATUS } from '../../../protocol/constants.js';
import type { DigestIndex } from './digest-index.js';
import type { DirectorySyncer } from './dir-sync.js';
import { numberedName } from '../../uploads/names.js';
import { toStorageError } from './file-ops.js';
import type { LandingPool } from './landing/landing-pool.js';
import type { OpenDir } from './served-root.js';
import type { StoredReceipt, Upload } from '../storage.js';

/**
 * Largest body kept in memory and landed by a worker: exactly the protocol's largest file of a batch,
 * so that every file of a putmany takes this path (its write never asks to wait).
 */
export const SMALL_UPLOAD_MAX_BYTES = MAX_BATCH_FILE_BYTES;

/** Everything a SmallUpload needs. */
export interface SmallUploadPlan {
  filename: string;
  size: number;
  /** The target's directory, held open from the walk at begin until release. */
  dir: OpenDir;
  /** Names in `dir` of the temp file and of the target. */
  tempName: string;
  name: string;
  overwrite: boolean;
  rename: boolean;
  mode: number;
  mtime?: number;
  pool: LandingPool;
  digests: DigestIndex;
  dirSync: DirectorySyncer;
  release: () => void;
}

/** A small upload held in memory until it lands. */
export class SmallUpload implements Upload {
  readonly filename: string;
  readonly offset = 0;
  readonly size: number;
  received = 0;
  landing: Promise<void> | undefined;
  /** The body as it arrives (a copy: a chunk may be the connection's reusable read buffer), hashed whole at commit. */
  private readonly body: Buffer;
  private closed = false;

  constructor(private readonly plan: SmallUploadPlan) {
    this.filename = plan.filename;
    this.size = plan.size;
    this.body = Buffer.allocUnsafe(plan.size);
  }

  write(chunk: Buffer): undefined {
    this.received += chunk.copy(this.body, this.received);
    return undefined;
  }

  commit(claimedMd5: string): Promise<StoredReceipt> {
    this.closed = true;
    const work = (async (): Promise<StoredReceipt> => {
      const { plan } = this;
      try {
        const md5 = md5Hex(this.body.subarray(0, this.received));
        if (md5 !== claimedMd5) {
          throw new StatusError(STATUS.CHECKSUM_MISMATCH, ERROR_CODE.CHECKSUM_MISMATCH,
            `md5 mismatch: the received data hashes to ${md5}, the client sent ${claimedMd5}; nothing was stored`);
        }
        const land = (): ReturnType<LandingPool['land']> => {
          // Containment at the moment of landing: the directory is still where the name leads (else
          // 403); removed while the body arrived (a pruned tree), it is walked to and created again.
          if (plan.dir.verify() === 'removed') plan.dir.reopen();
          return plan.pool.land({
            dir: plan.dir.path, temp: plan.dir.at(plan.tempName), final: plan.dir.at(plan.name), data: this.body.subarray(0, this.received), mode: plan.mode,
            overwrite: plan.overwrite, rename: plan.rename,
            ...(plan.mtime !== undefined ? { mtime: plan.mtime, digest: { log: plan.digests.logPath, name: plan.filename, md5 } } : {}),
          });
        };
        const { n } = await Promise.resolve().then(land).catch((error: unknown) => {
          // Removed between the check and the worker's create: once more.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return land();
          throw error;
        }).catch((error: unknown) => {
          throw toStorageError(error, plan.filename);
        });
        const filename = n === 0 ? plan.filename : numberedName(plan.filename, n);
        // The worker fsynced the target's directory; directories created for it are fsynced here.
        await plan.dir.syncCreated((key, via) => plan.dirSync.sync(key, via));
        if (plan.mtime !== undefined) plan.digests.record(filename, { size: this.received, mtime: plan.mtime, md5 });
        return { filename, size: this.received, md5 };
      } catch (error) {
        this.plan.dir.removeCreated();
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
    this.plan.dir.removeCreated();
    this.plan.release();
  }
}
