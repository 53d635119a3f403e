/** Storage on the local disk under one root directory that nothing is ever written outside of. */
import type { Hash } from 'node:crypto';
import { mkdir, realpath, rmdir, stat, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createMd5 } from '../checksum.js';
import { StatusError } from '../errors.js';
import { ERROR_CODE, STATUS } from '../protocol/constants.js';
import { DigestIndex } from './digest-index.js';
import { DirectorySyncer } from './dir-sync.js';
import { DiskUpload } from './disk-upload.js';
import { createExclusive, toStorageError } from './file-ops.js';
import { LandingPool } from './landing-pool.js';
import { checkNames } from './name-check.js';
import { SMALL_UPLOAD_MAX_BYTES, SmallUpload } from './small-upload.js';
import { PartialStore, STATE_DIR } from './partials.js';
import { lockDirectory, type DirectoryLock } from './dir-lock.js';
import { reopenPartial } from './partial-reopen.js';
import { settleLandings } from './landing-recovery.js';
import { splitSafeFilename } from './safe-path.js';
import { createMissing, TargetResolver, type ParentDir } from './target-resolver.js';
import type { BeginResult, CheckQuery, CheckResult, Storage, StoredReceipt, UploadTarget } from './storage.js';

/** Options of DiskStorage. */
export interface DiskStorageOptions {
  /** Largest file accepted, in bytes. */
  maxSize?: number;
  /** Remove kept partials not updated for this long (default 24 h). */
  partialTtlMs?: number;
}


/** What the storage tracks of an open upload. */
type TrackedUpload = DiskUpload | SmallUpload;

/** A reservation of a final path while its upload is being opened or is open. */
interface Reservation {
  filename: string;
  size: number | null;
  /** The client's id of the logical upload holding the name. */
  uploadId?: string;
  /** Asks the holder to let go (its connection is presumed dead). */
  preempt?: () => void;
  upload?: TrackedUpload;
}

/** How long a free-space reading is reused (the reservations of open uploads are still counted). */
const SPACE_CACHE_MS = 500;


/** A remembered parent directory turned out removed: begin again with a fresh walk. */
class StaleParentError extends Error {}

const busy = (filename: string): StatusError =>
  new StatusError(STATUS.BUSY, ERROR_CODE.BUSY, `${filename} is being uploaded by another client; retry later`);

/** Files land under `root`; partial data sits beside its target as `.ftx-<key>.part`. */
export class DiskStorage implements Storage {
  private readonly reserved = new Map<string, Reservation>();

  private readonly dirSync = new DirectorySyncer();
  private readonly landingPool = new LandingPool();
  private readonly targets: TargetResolver;
  private spaceCache: { dir: string; available: number; at: number } | undefined;

  private constructor(
    readonly root: string,
    readonly partials: PartialStore,
    private readonly digests: DigestIndex,
    private readonly lock: DirectoryLock,
    private readonly options: DiskStorageOptions,
  ) {
    this.targets = new TargetResolver(root);
  }

  /** Opens a storage on an existing directory (resolved through symlinks once, here). */
  static async open(root: string, options: DiskStorageOptions = {}): Promise<DiskStorage> {
    const real = await realpath(root);
    if (!(await stat(real)).isDirectory()) throw new Error(`${root} is not a directory`);
    await mkdir(join(real, STATE_DIR), { recursive: true, mode: 0o700 });
    // Before anything reads or changes the state: one server per directory.
    const lock = await lockDirectory(real, join(real, STATE_DIR));
    try {
      const partials = await PartialStore.open(real, options.partialTtlMs ?? 24 * 3600 * 1000);
      const digests = await DigestIndex.open(real);
      await settleLandings(partials, digests);
      return new DiskStorage(real, partials, digests, lock, options);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** False when no lock could be taken (flock(1) missing): a second server would not be refused. */
  get exclusive(): boolean {
    return this.lock.exclusive;
  }

  async beginUpload(target: UploadTarget): Promise<BeginResult> {
    try {
      return await this.beginUploadOnce(target, false);
    } catch (error) {
      if (!(error instanceof StaleParentError)) throw error;
      // A remembered directory was removed meanwhile (the tree is being pruned): walk again, once.
      this.targets.forget();
      return this.beginUploadOnce(target, true);
    }
  }

  private async beginUploadOnce(target: UploadTarget, fresh: boolean): Promise<BeginResult> {
    const segments = splitSafeFilename(target.filename);
    const filename = segments.join('/');
    const maxSize = this.options.maxSize ?? Number.MAX_SAFE_INTEGER;
    if (target.size !== null && target.size > maxSize) {
      throw new StatusError(STATUS.TOO_LARGE, ERROR_CODE.TOO_LARGE, `${target.size} bytes is over the server's limit of ${maxSize}`);
    }
    let finalPath: string | undefined;
    let parent: ParentDir | undefined;
    const createdDirs: string[] = [];
    try {
      parent = await this.targets.resolveParent(segments.slice(0, -1), fresh);
      const dir = join(parent.existing, ...parent.missing);
      finalPath = join(dir, segments[segments.length - 1]!);
      await this.takeOverFromOwnRetry(finalPath, target.uploadId);
      // Reserve synchronously after the check: no await between has() and set().
      if (this.reserved.has(finalPath)) throw busy(filename);
      const reservation: Reservation = {
        filename, size: target.size,
        ...(target.uploadId !== undefined ? { uploadId: target.uploadId } : {}),
        ...(target.preempt !== undefined ? { preempt: target.preempt } : {}),
      };
      this.reserved.set(finalPath, reservation);

      const landed = await this.alreadyLanded(finalPath, filename, target);
      if (landed) {
        this.release(finalPath, reservation);
        return { landed };
      }
      // Small pipelined files land through a worker; an existing name shows up there, at link time.
      const small = !target.keepPartial && target.size !== null && target.size <= SMALL_UPLOAD_MAX_BYTES;
      if (!small) await this.targets.checkTarget(finalPath, filename, target.overwrite || target.rename === true);

      // A pipelined or stream upload never touches a kept partial of the same name.
      const dataPath = this.partials.dataPathFor(dir, filename, target.keepPartial);
      // Pipelined and stream puts never resume: no kept state to look for (saves a disk round trip).
      let state = target.keepPartial ? await this.partials.load(filename) : undefined;
      let kept: { handle: FileHandle; offset: number; hash: Hash } | undefined;
      if (state) {
        if (target.resume && target.size !== null && this.partials.matches(state, target.size, target.source) && state.data === dataPath) {
          kept = await reopenPartial(this.partials, state, target);
        }
        if (!kept) await this.partials.remove(state);
      }
      try {
        await this.checkSpace(parent.existing, (target.size ?? 0) - (kept?.offset ?? 0), reservation);
        // The state must not claim more than the truncated file now holds.
        if (kept && state) await this.partials.save(state);
      } catch (error) {
        await kept?.handle.close().catch(() => undefined);
        throw error;
      }
      if (!kept) {
        await createMissing(parent, (path) => void createdDirs.push(path));
        if (small) {
          const upload = new SmallUpload({
            filename, size: target.size!, tempPath: this.partials.dataPathFor(dir, filename, false), finalPath,
            overwrite: target.overwrite, rename: target.rename === true, mode: target.mode ?? 0o644, createdDirs,
            pool: this.landingPool, digests: this.digests, dirSync: this.dirSync,
            release: () => this.release(finalPath!, reservation),
            recreateDir: () => this.recreateDir(segments.slice(0, -1), dir, createdDirs),
            ...(target.mtime !== undefined ? { mtime: target.mtime } : {}),
          });
          reservation.upload = upload;
          return { upload };
        }
        state = { version: 1, filename, size: target.size ?? -1, source: target.source, durable: 0, data: dataPath, updated: Date.now() };
        // The state exists before its data: data never outlives a state that could expire it.
        if (target.keepPartial) await this.partials.save(state);
        kept = { handle: await createExclusive(dataPath, 0o600), offset: 0, hash: createMd5() };
      }
      const upload = new DiskUpload(kept.handle, {
        filename, size: target.size, chunkSize: target.chunkSize, finalPath, overwrite: target.overwrite,
        maxSize, rename: target.rename === true, keepPartial: target.keepPartial, mode: target.mode ?? 0o644, digests: this.digests, dirSync: this.dirSync,
        offset: kept.offset, hash: kept.hash, partials: this.partials, state: state!, createdDirs,
        ...(target.uploadId !== undefined ? { uploadId: target.uploadId } : {}),
        release: () => this.release(finalPath!, reservation),
        ...(target.mtime !== undefined ? { mtime: target.mtime } : {}),
      });
      reservation.upload = upload;
      return { upload };
    } catch (error) {
      for (const dir of createdDirs.reverse()) await rmdir(dir).catch(() => undefined);
      if (finalPath !== undefined && !(error instanceof StatusError && error.code === ERROR_CODE.BUSY)) {
        const reservation = this.reserved.get(finalPath);
        if (reservation && !reservation.upload) this.reserved.delete(finalPath);
      }
      if (parent?.cached && (error as NodeJS.ErrnoException).code === 'ENOENT') throw new StaleParentError();
      throw toStorageError(error, filename);
    }
  }

  check(queries: CheckQuery[]): Promise<CheckResult[]> {
    // A check comes before a tree's files: have the landing workers ready if small ones may follow.
    if (queries.some((query) => query.size <= SMALL_UPLOAD_MAX_BYTES)) this.landingPool.warm();
    return checkNames(queries, {
      targets: this.targets, digests: this.digests, landingAt: (finalPath) => this.reserved.get(finalPath)?.upload?.landing,
    });
  }

  async makeDirectory(path: string): Promise<boolean> {
    const segments = splitSafeFilename(path);
    try {
      // Never from the cache: a directory removed since must be created again.
      const parent = await this.targets.resolveParent(segments, true);
      await createMissing(parent, (path) => this.dirSync.sync(dirname(path)).catch(() => undefined));
      return parent.missing.length > 0;
    } catch (error) {
      throw toStorageError(error, segments.join('/'));
    }
  }

  /**
   * The directory a small upload was to land in was removed while its body arrived: walk again
   * and create it, if that gives the same path (else the tree changed shape under us: give up).
   */
  private async recreateDir(dirs: string[], expected: string, createdDirs: string[]): Promise<boolean> {
    this.targets.forget();
    const parent = await this.targets.resolveParent(dirs, true);
    if (join(parent.existing, ...parent.missing) !== expected) return false;
    await createMissing(parent, (path) => void createdDirs.push(path));
    return true;
  }

  /**
   * This logical upload (same uploadId and size) already landed and the target is still that file:
   * remembered in memory, or (after a restart) by the digest log line its landing wrote.
   */
  private async alreadyLanded(finalPath: string, filename: string, target: UploadTarget): Promise<StoredReceipt | undefined> {
    if (!target.resume || target.uploadId === undefined || target.size === null) return undefined;
    const md5 = this.partials.findLanded(filename, target.uploadId, target.size, target.source)?.md5 ??
      this.digests.landedBy(filename, target.uploadId, target.size);
    if (md5 === undefined) return undefined;
    const info = await stat(finalPath).catch(() => undefined);
    // Still the very file that landed (not replaced since): its digest entry still holds.
    if (!info?.isFile() || this.digests.lookup(filename, info.size, info.mtimeMs) !== md5) return undefined;
    return { filename, size: target.size, md5 };
  }

  /**
   * A new attempt of the same logical upload (same uploadId) while the old attempt still holds the
   * name: the old connection is dead from the client's point of view (it retried), though this
   * server may not know yet. Ask the old one to let go, and wait (bounded) until it has suspended.
   */
  private async takeOverFromOwnRetry(finalPath: string, uploadId: string | undefined): Promise<void> {
    const holder = this.reserved.get(finalPath);
    if (!holder || uploadId === undefined || holder.uploadId !== uploadId || !holder.preempt) return;
    holder.preempt();
    const until = Date.now() + 5000;
    while (this.reserved.get(finalPath) === holder && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }

  /** Waits for background bookkeeping (the digest log) to reach the disk; stops the landing workers. */
  async flush(): Promise<void> {
    await this.digests.flushed();
    await this.landingPool.close();
  }

  /** Flushes, then lets go of the directory (another server may start on it). */
  async close(): Promise<void> {
    await this.flush();
    await this.lock.release();
  }

  async suspendAll(): Promise<void> {
    const uploads = [...this.reserved.values()].flatMap((r) => (r.upload ? [r.upload] : []));
    // Small files already landing finish first (their fsync is under way); the rest is kept or dropped.
    await Promise.all(uploads.map((upload) => upload.landing));
    await Promise.all(uploads.map((upload) => upload.suspend()));
  }

  expirePartials(): Promise<number> {
    const names = new Set([...this.reserved.values()].map((r) => r.filename));
    return this.partials.expire((filename) => names.has(filename));
  }

  private release(finalPath: string, reservation: Reservation): void {
    if (this.reserved.get(finalPath) === reservation) this.reserved.delete(finalPath);
  }

  /** Free space minus what other open uploads still have to write must hold `needed` bytes. */
  private async checkSpace(existingDir: string, needed: number, own: Reservation): Promise<void> {
    if (needed <= 0) return;
    let available: number;
    const cached = this.spaceCache;
    if (cached && cached.dir === existingDir && Date.now() - cached.at < SPACE_CACHE_MS && needed < cached.available / 100) {
      available = cached.available;
    } else {
      const fs = await statfs(existingDir);
      available = fs.bavail * fs.bsize;
      this.spaceCache = { dir: existingDir, available, at: Date.now() };
    }
    let promised = 0;
    for (const reservation of this.reserved.values()) {
      if (reservation === own) continue;
      const upload = reservation.upload;
      promised += upload ? Math.max(0, (upload.size ?? 0) - upload.received) : (reservation.size ?? 0);
    }
    if (needed > available - promised) {
      throw new StatusError(STATUS.INSUFFICIENT_STORAGE, ERROR_CODE.INSUFFICIENT_STORAGE,
        `${needed} bytes do not fit: ${Math.max(0, available - promised)} bytes free on the server`);
    }
  }
}
