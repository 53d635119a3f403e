/** Storage on the local disk under one root directory that nothing is ever written outside of. */
import type { Hash } from 'node:crypto';
import { realpath, stat, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createMd5 } from '../../../checksum.js';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { DigestIndex } from './digest-index.js';
import { DirectorySyncer } from './dir-sync.js';
import { DiskUpload } from './disk-upload.js';
import { createExclusive, toStorageError } from './file-ops.js';
import { LandingPool } from './landing/landing-pool.js';
import { checkNames } from './check-names.js';
import { SMALL_UPLOAD_MAX_BYTES, SmallUpload } from './small-upload.js';
import { PartialStore } from './resume/partials.js';
import { lockDirectory, type DirectoryLock } from './dir-lock.js';
import { reopenPartial } from './resume/partial-reopen.js';
import { removeLeftTempNames, settleLandings } from './landing/landing-recovery.js';
import { splitSafeFilename } from '../../uploads/names.js';
import { checkTarget, ServedRoot, type OpenDir } from './served-root.js';
import { StateDir } from './state-dir.js';
import type {
  BeginResult, ByteRange, CheckQuery, CheckResult, ExpiryOptions, ListOptions, ListPage, Storage, StoredFile, StoredReceipt, UploadTarget,
} from '../storage.js';
import { DiskListings } from './listing.js';
import { readStored, statStored } from './reading.js';
import type { Readable } from 'node:stream';

/** Options of DiskStorage. */
export interface DiskStorageOptions {
  /** Largest file accepted, in bytes. */
  maxSize?: number;
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

const busy = (filename: string): StatusError =>
  new StatusError(STATUS.BUSY, ERROR_CODE.BUSY, `${filename} is being uploaded by another client; retry later`);

/** Files land under `root`; partial data sits beside its target as `.ftx-<key>.part`. */
export class DiskStorage implements Storage {
  private readonly reserved = new Map<string, Reservation>();

  private readonly dirSync = new DirectorySyncer();
  private readonly landingPool = new LandingPool();
  private readonly listings: DiskListings;
  private spaceCache: { dir: string; available: number; at: number } | undefined;

  private constructor(
    private readonly served: ServedRoot,
    private readonly stateDir: StateDir,
    readonly partials: PartialStore,
    private readonly digests: DigestIndex,
    private readonly lock: DirectoryLock,
    private readonly options: DiskStorageOptions,
  ) {
    this.listings = new DiskListings(served, digests);
  }

  /** The served root (a real path: resolved through symlinks once, at open). */
  get root(): string {
    return this.served.path;
  }

  get location(): string {
    return this.served.path;
  }

  /** Opens a storage on an existing directory (resolved through symlinks once, here, and held open). */
  static async open(root: string, options: DiskStorageOptions = {}): Promise<DiskStorage> {
    const real = await realpath(root);
    if (!(await stat(real)).isDirectory()) throw new Error(`${root} is not a directory`);
    const served = ServedRoot.open(real);
    let stateDir: StateDir | undefined;
    let lock: DirectoryLock | undefined;
    try {
      stateDir = StateDir.open(served);
      // Before anything reads or changes the state: one server per directory.
      lock = await lockDirectory(real, stateDir.path);
      const partials = await PartialStore.open(served, stateDir);
      const digests = await DigestIndex.open(stateDir);
      await settleLandings(partials, digests);
      await removeLeftTempNames(real, partials, digests);
      return new DiskStorage(served, stateDir, partials, digests, lock, options);
    } catch (error) {
      await lock?.release();
      stateDir?.close();
      served.close();
      throw error;
    }
  }

  /** False when no lock could be taken (flock(1) missing): a second server would not be refused. */
  get exclusive(): boolean {
    return this.lock.exclusive;
  }

  async beginUpload(target: UploadTarget): Promise<BeginResult> {
    const segments = splitSafeFilename(target.filename);
    const filename = segments.join('/');
    this.served.checkLength(filename);
    const maxSize = this.options.maxSize ?? Number.MAX_SAFE_INTEGER;
    if (target.size !== null && target.size > maxSize) {
      throw new StatusError(STATUS.TOO_LARGE, ERROR_CODE.TOO_LARGE, `${target.size} bytes is over the server's limit of ${maxSize}`);
    }
    let finalPath: string | undefined;
    let parent: OpenDir | undefined;
    try {
      // Opened from the root, component by component, never following a symlink; held by the upload.
      parent = this.served.walk(segments.slice(0, -1));
      const opened = parent;
      const dir = parent.path;
      const name = segments[segments.length - 1]!;
      finalPath = join(dir, name);
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
        parent.close();
        return { landed };
      }
      // Small files of a batch land through a worker; an existing name shows up there, at link time.
      const small = !target.keepPartial && target.size !== null && target.size <= SMALL_UPLOAD_MAX_BYTES;
      if (!small) checkTarget(parent, name, filename, target.overwrite || target.rename === true);

      // A batched or stream upload never touches a kept partial of the same name.
      const dataPath = this.partials.dataPathFor(dir, filename, target.keepPartial);
      // Batched files and stream puts never resume: no kept state to look for (saves a disk round trip).
      let state = target.keepPartial ? await this.partials.load(filename) : undefined;
      let kept: { handle: FileHandle; offset: number; hash: Hash } | undefined;
      if (state) {
        if (target.resume && target.size !== null && this.partials.matches(state, target.size, target.source) && state.data === dataPath && !parent.incomplete) {
          kept = await reopenPartial(this.partials, state, target, parent.at(this.partials.dataNameFor(filename)));
        }
        if (!kept) await this.partials.remove(state);
      }
      try {
        await this.checkSpace(parent, (target.size ?? 0) - (kept?.offset ?? 0), reservation);
        // The state must not claim more than the truncated file now holds.
        if (kept && state) await this.partials.save(state);
      } catch (error) {
        await kept?.handle.close().catch(() => undefined);
        throw error;
      }
      const release = (): void => {
        this.release(finalPath!, reservation);
        opened.close();
      };
      if (!kept) {
        parent.createMissing();
        if (small) {
          const upload = new SmallUpload({
            filename, size: target.size!, dir: parent, tempName: this.partials.dataNameFor(filename, false), name,
            overwrite: target.overwrite, rename: target.rename === true, mode: target.mode ?? 0o644,
            pool: this.landingPool, digests: this.digests, dirSync: this.dirSync, release,
            ...(target.mtime !== undefined ? { mtime: target.mtime } : {}),
          });
          reservation.upload = upload;
          return { upload };
        }
        state = { version: 1, filename, size: target.size ?? -1, source: target.source, durable: 0, data: dataPath, updated: Date.now() };
        // The state exists before its data: data never outlives a state that could expire it.
        if (target.keepPartial) await this.partials.save(state);
        kept = { handle: await createExclusive(parent.at(this.partials.dataNameFor(filename, target.keepPartial)), 0o600), offset: 0, hash: createMd5() };
      }
      const upload = new DiskUpload(kept.handle, {
        filename, size: target.size, chunkSize: target.chunkSize, dir: parent, name, overwrite: target.overwrite,
        maxSize, rename: target.rename === true, keepPartial: target.keepPartial, mode: target.mode ?? 0o644, digests: this.digests, dirSync: this.dirSync,
        offset: kept.offset, hash: kept.hash, partials: this.partials, state: state!,
        ...(target.uploadId !== undefined ? { uploadId: target.uploadId } : {}),
        release,
        ...(target.mtime !== undefined ? { mtime: target.mtime } : {}),
      });
      reservation.upload = upload;
      return { upload };
    } catch (error) {
      parent?.removeCreated();
      parent?.close();
      if (finalPath !== undefined && !(error instanceof StatusError && error.code === ERROR_CODE.BUSY)) {
        const reservation = this.reserved.get(finalPath);
        if (reservation && !reservation.upload) this.reserved.delete(finalPath);
      }
      throw toStorageError(error, filename);
    }
  }

  check(queries: CheckQuery[]): Promise<CheckResult[]> {
    // A check comes before a tree's files: have the landing workers ready if small ones may follow.
    if (queries.some((query) => query.size <= SMALL_UPLOAD_MAX_BYTES)) this.landingPool.warm();
    return checkNames(queries, {
      root: this.served, digests: this.digests, landingAt: (finalPath) => this.reserved.get(finalPath)?.upload?.landing,
    });
  }

  async makeDirectory(path: string): Promise<boolean> {
    const segments = splitSafeFilename(path);
    const name = segments.join('/');
    let dir: OpenDir | undefined;
    try {
      // The whole path is checked first: a name too long fails before any directory is made.
      this.served.checkLength(name);
      dir = this.served.walk(segments);
      const created = dir.incomplete;
      dir.createMissing();
      await dir.syncCreated((key, via) => this.dirSync.sync(key, via));
      return created;
    } catch (error) {
      dir?.removeCreated();
      throw toStorageError(error, name);
    } finally {
      dir?.close();
    }
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
    if (!info?.isFile() || this.digests.lookup(filename, info.size, info.mtimeMs, info.ino) !== md5) return undefined;
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

  stat(name: string): Promise<StoredFile | null> {
    return Promise.resolve().then(() => statStored(this.served, this.digests, name));
  }

  read(name: string, range?: ByteRange): Promise<Readable | null> {
    return readStored(this.served, name, range);
  }

  list(dir: string, options: ListOptions): Promise<ListPage | null> {
    return this.listings.list(dir, options);
  }

  /**
   * At shutdown: suspends the uploads still open, waits for background bookkeeping (the digest log)
   * to reach the disk, stops the landing workers, closes the fds of the root and of the state
   * directory, then lets go of the directory (another server may start on it).
   */
  async close(): Promise<void> {
    await this.suspendAll();
    await this.listings.close();
    await this.digests.flushed();
    await this.landingPool.close();
    this.stateDir.close();
    this.served.close();
    await this.lock.release();
  }

  private async suspendAll(): Promise<void> {
    const uploads = [...this.reserved.values()].flatMap((r) => (r.upload ? [r.upload] : []));
    // Small files already landing finish first (their fsync is under way); the rest is kept or dropped.
    await Promise.all(uploads.map((upload) => upload.landing));
    await Promise.all(uploads.map((upload) => upload.suspend()));
  }

  expirePartials(options: ExpiryOptions): Promise<number> {
    const names = new Set([...this.reserved.values()].map((r) => r.filename));
    return this.partials.expire(options.ttlMs, (filename) => names.has(filename) || options.isOpen?.(filename) === true);
  }

  private release(finalPath: string, reservation: Reservation): void {
    if (this.reserved.get(finalPath) === reservation) this.reserved.delete(finalPath);
  }

  /** Free space minus what other open uploads still have to write must hold `needed` bytes. */
  private async checkSpace(dir: OpenDir, needed: number, own: Reservation): Promise<void> {
    if (needed <= 0) return;
    let available: number;
    const cached = this.spaceCache;
    const existingDir = dir.path;
    if (cached && cached.dir === existingDir && Date.now() - cached.at < SPACE_CACHE_MS && needed < cached.available / 100) {
      available = cached.available;
    } else {
      const fs = await statfs(`/proc/self/fd/${dir.fd}`);
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
