/** Storage on the local disk under one root directory that nothing is ever written outside of. */
import { availableParallelism } from 'node:os';
import { realpath, stat, statfs, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { HashPool, type PooledMd5 } from '../../../hashing/md5-pool.js';
import { splitSafeFilename } from '../../uploads/names.js';
import type {
  ByteRange, CheckQuery, CheckResult, ExpiryOptions, ListOptions, ListPage, Storage, StoredFile, Upload, UploadRequest,
} from '../storage.js';
import { checkNames } from './check-names.js';
import { DigestIndex } from './digest-index.js';
import { lockDirectory, type DirectoryLock } from './dir-lock.js';
import { DirectorySyncer } from './dir-sync.js';
import { DiskUpload } from './disk-upload.js';
import { createExclusive, toStorageError } from './file-ops.js';
import { LandingPool } from './landing/landing-pool.js';
import { removeLeftTempNames, settleLandings } from './landing/landing-recovery.js';
import { DiskListings } from './listing.js';
import { readStored, statStored } from './reading.js';
import { reopenPartial } from './resume/partial-reopen.js';
import { PartialStore, type PartialState } from './resume/partials.js';
import { checkTarget, ServedRoot, type OpenDir } from './served-root.js';
import { SMALL_UPLOAD_MAX_BYTES, SmallUpload } from './small-upload.js';
import { StateDir } from './state-dir.js';

/** Options of DiskStorage.open. */
export interface DiskStorageOptions {
  /** Threads of the storage's own hash pool: N uploads at once are hashed on up to N of them (default: one per core). */
  hashThreads?: number;
  /** A pool to hash on instead (the caller's: not closed with the storage). */
  hashPool?: HashPool;
}

/** How long a free-space reading is reused (the uploads layer still counts what open uploads will write). */
const SPACE_CACHE_MS = 500;

/** A data file opened for an upload: new, or a kept partial reopened at its durable offset. */
interface OpenedData {
  handle: FileHandle;
  offset: number;
  hash: PooledMd5;
  state: PartialState;
}

/** Files land under `root`; partial data sits beside its target as `.ftx-<key>.part`. */
export class DiskStorage implements Storage {
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
    /** Where uploads are hashed (off the event loop). */
    private readonly hashPool: HashPool,
    /** True when the pool is the storage's own: it is closed with it. */
    private readonly ownsPool: boolean,
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
      const pool = options.hashPool ?? new HashPool(options.hashThreads ?? availableParallelism());
      return new DiskStorage(served, stateDir, partials, digests, lock, pool, options.hashPool === undefined);
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

  async beginUpload(request: UploadRequest): Promise<Upload> {
    const segments = splitSafeFilename(request.name);
    const filename = segments.join('/');
    const name = segments[segments.length - 1]!;
    let parent: OpenDir | undefined;
    try {
      this.served.checkLength(filename);
      // Opened from the root, component by component, never following a symlink; held by the upload.
      parent = this.served.walk(segments.slice(0, -1));
      const opened = parent;
      // Small files of a batch land through a worker; an existing name shows up there, at link time.
      const small = !request.keepPartial && request.size !== null && request.size <= SMALL_UPLOAD_MAX_BYTES;
      if (!small) checkTarget(parent, name, filename, request.overwrite || request.rename);
      const kept = await this.reopenKept(parent, filename, request);
      const release = (): void => opened.close();
      if (!kept && small) {
        parent.createMissing();
        return new SmallUpload({
          filename, size: request.size!, dir: parent, tempName: this.partials.dataNameFor(filename, false), name,
          overwrite: request.overwrite, rename: request.rename, mode: request.mode,
          pool: this.landingPool, digests: this.digests, dirSync: this.dirSync, release,
          ...(request.mtime !== undefined ? { mtime: request.mtime } : {}),
        });
      }
      const data = kept ?? (await this.createData(parent, filename, request));
      return new DiskUpload(data.handle, {
        filename, size: request.size, chunkSize: request.chunkSize, dir: parent, name, overwrite: request.overwrite,
        rename: request.rename, keepPartial: request.keepPartial, mode: request.mode, digests: this.digests, dirSync: this.dirSync,
        offset: data.offset, hash: data.hash, partials: this.partials, state: data.state, release,
        ...(request.uploadId !== undefined ? { uploadId: request.uploadId } : {}),
        ...(request.mtime !== undefined ? { mtime: request.mtime } : {}),
      });
    } catch (error) {
      parent?.removeCreated();
      parent?.close();
      throw toStorageError(error, filename);
    }
  }

  /** A kept partial of the same source, reopened at its durable offset; any other kept state of the name goes. */
  private async reopenKept(parent: OpenDir, filename: string, request: UploadRequest): Promise<OpenedData | undefined> {
    // Batched files and stream puts never resume: no kept state to look for (saves a disk round trip).
    const state = request.keepPartial ? await this.partials.load(filename) : undefined;
    if (!state) return undefined;
    const dataPath = this.partials.dataPathFor(parent.path, filename, true);
    let kept: OpenedData | undefined;
    if (request.resume && request.size !== null && this.partials.matches(state, request.size, request.source) && state.data === dataPath && !parent.incomplete) {
      const reopened = await reopenPartial(this.partials, state, request, parent.at(this.partials.dataNameFor(filename)), this.hashPool);
      if (reopened) kept = { ...reopened, state };
    }
    if (!kept) {
      await this.partials.remove(state);
      return undefined;
    }
    try {
      // The state must not claim more than the truncated file now holds.
      await this.partials.save(state);
      return kept;
    } catch (error) {
      await kept.handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** A new, empty data file (and, for a resumable upload, its state first). */
  private async createData(parent: OpenDir, filename: string, request: UploadRequest): Promise<OpenedData> {
    parent.createMissing();
    // A batched or stream upload never touches a kept partial of the same name.
    const data = this.partials.dataPathFor(parent.path, filename, request.keepPartial);
    const state: PartialState = { version: 1, filename, size: request.size ?? -1, source: request.source, durable: 0, data, updated: Date.now() };
    // The state exists before its data: data never outlives a state that could expire it.
    if (request.keepPartial) await this.partials.save(state);
    const handle = await createExclusive(parent.at(this.partials.dataNameFor(filename, request.keepPartial)), 0o600);
    return { handle, offset: 0, hash: this.hashPool.open(), state };
  }

  check(queries: CheckQuery[]): Promise<CheckResult[]> {
    // A check comes before a tree's files: have the landing workers ready if small ones may follow.
    if (queries.some((query) => query.size <= SMALL_UPLOAD_MAX_BYTES)) this.landingPool.warm();
    return checkNames(queries, { root: this.served, digests: this.digests });
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

  stat(name: string): Promise<StoredFile | null> {
    return Promise.resolve().then(() => statStored(this.served, this.digests, name));
  }

  read(name: string, range?: ByteRange): Promise<Readable | null> {
    return readStored(this.served, name, range);
  }

  list(dir: string, options: ListOptions): Promise<ListPage | null> {
    return this.listings.list(dir, options);
  }

  recordedNames(dir: string): Promise<string[]> {
    return Promise.resolve(this.digests.namesUnder(dir));
  }

  /**
   * At shutdown: suspends the uploads still open, waits for background bookkeeping (the digest log)
   * to reach the disk, stops the landing workers and its own hash threads, closes the fds of the root
   * and of the state directory, then lets go of the directory (another server may start on it).
   */
  async close(): Promise<void> {
    await this.listings.close();
    await this.digests.flushed();
    await this.landingPool.close();
    if (this.ownsPool) await this.hashPool.close();
    this.stateDir.close();
    this.served.close();
    await this.lock.release();
  }

  expirePartials(options: ExpiryOptions): Promise<number> {
    return this.partials.expire(options.ttlMs, (filename) => options.isOpen?.(filename) === true);
  }

  async freeSpace(name: string, needed: number): Promise<number> {
    const dirs = splitSafeFilename(name).slice(0, -1);
    const key = dirs.join('/');
    const cached = this.spaceCache;
    if (cached && cached.dir === key && Date.now() - cached.at < SPACE_CACHE_MS && needed < cached.available / 100) return cached.available;
    // The deepest directory of the path that exists: where the file's blocks will come from.
    const dir = this.served.walk(dirs);
    try {
      const fs = await statfs(`/proc/self/fd/${dir.fd}`);
      const available = fs.bavail * fs.bsize;
      this.spaceCache = { dir: key, available, at: Date.now() };
      return available;
    } finally {
      dir.close();
    }
  }
}
