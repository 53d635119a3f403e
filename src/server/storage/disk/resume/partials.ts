/**
 * Kept partial uploads (docs/PROTOCOL.md, "Resume"). The bytes of an unfinished upload stay in a
 * hidden `.ftx-<key>.part` beside the target; what is needed to continue it is a small JSON state in
 * `<root>/.ftx-state/partials/<key>.json`, written only after the bytes it counts are fsynced, so after a
 * crash the state never claims more than the disk holds. States older than the TTL are removed
 * with their data. A live server also keeps, in memory, the md5 state at the durable offset so a
 * resume after a dropped connection need not re-read the prefix.
 */
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { sha256Hex } from '../../../../checksum.js';
import type { PooledMd5 } from '../../../../hashing/md5-pool.js';
import { RESERVED_PREFIX } from '../../../../protocol/constants.js';
import { fsyncDirectory } from '../dir-sync.js';
import { isInside, type ServedRoot } from '../served-root.js';
import { STATE_DIR, type StateDir } from '../state-dir.js';
import type { SourceIdentity } from '../../storage.js';

export { STATE_DIR };
/** Directory under the root that holds partial states. */
export const PARTIALS_DIR = `${STATE_DIR}/partials`;


/** The persisted state of one partial upload. */
export interface PartialState {
  version: 1;
  /** Normalized target filename, relative to the root. */
  filename: string;
  /** Declared total size. */
  size: number;
  /** The client's identity of the source; null when the client gave none. */
  source: SourceIdentity | null;
  /** Bytes of the data file known to be on disk (fsynced). */
  durable: number;
  /** Absolute path of the data file. */
  data: string;
  /** Last update, ms since the epoch (drives expiry). */
  updated: number;
  /** Set (and made durable) just before the verified data file is linked to its final name. */
  landing?: LandingIntent;
}

/**
 * What a partial about to land records first, so that a restart after a crash in the landing
 * window can tell whether it landed (the final name has this inode) and answer its retry.
 */
export interface LandingIntent {
  md5: string;
  /** The mtime the landed file has, whole ms. */
  mtime: number;
  /** Identity of the data file (decimal strings: inode numbers may exceed 2^53). */
  dev: string;
  ino: string;
  uploadId?: string;
}

/** In-memory md5 state (on a hash thread) at a partial's durable offset, valid while the data file is untouched. */
export interface HashSnapshot {
  offset: number;
  hash: PooledMd5;
  /** mtime and size of the data file when the snapshot was taken. */
  fileMtimeMs: number;
  fileSize: number;
}

function sameSource(a: SourceIdentity | null, b: SourceIdentity | null): boolean {
  return a !== null && b !== null && a.size === b.size && a.mtime === b.mtime;
}

function isLandingIntent(value: unknown): value is LandingIntent {
  const v = value as LandingIntent;
  return typeof v === 'object' && v !== null && typeof v.md5 === 'string' && Number.isSafeInteger(v.mtime) &&
    typeof v.dev === 'string' && typeof v.ino === 'string' && (v.uploadId === undefined || typeof v.uploadId === 'string');
}

function isPartialState(value: unknown): value is PartialState {
  const v = value as PartialState;
  return typeof v === 'object' && v !== null && v.version === 1 && typeof v.filename === 'string' &&
    Number.isSafeInteger(v.size) && Number.isSafeInteger(v.durable) && typeof v.data === 'string' &&
    Number.isFinite(v.updated) && (v.source === null || (typeof v.source === 'object' && Number.isSafeInteger(v.source.size))) &&
    (v.landing === undefined || isLandingIntent(v.landing));
}

/** The partial states of one root. */
export class PartialStore {
  private readonly snapshots = new Map<string, HashSnapshot>();

  private constructor(private readonly served: ServedRoot, private readonly stateDir: StateDir) {}

  /** The partial states of `root`, kept in its state directory. */
  static async open(root: ServedRoot, stateDir: StateDir): Promise<PartialStore> {
    return new PartialStore(root, stateDir);
  }

  /** The served root's path. */
  get root(): string {
    return this.served.path;
  }

  /** The directory of the states, through its fd (recreated if it was removed). */
  get dir(): string {
    return this.stateDir.partials;
  }

  /** Stable key of a target filename (also names its data file). */
  keyOf(filename: string): string {
    return sha256Hex(filename).slice(0, 32);
  }

  /** Data file of a target in directory `dir`: `.part` when kept for resume, `.tmp` otherwise. */
  dataPathFor(dir: string, filename: string, kept = true): string {
    return join(dir, this.dataNameFor(filename, kept));
  }

  /** The name (in its directory) of a target's data file. */
  dataNameFor(filename: string, kept = true): string {
    return `${RESERVED_PREFIX}${this.keyOf(filename)}.${kept ? 'part' : 'tmp'}`;
  }

  /** The saved state of `filename`, or undefined (an unreadable state is removed). */
  async load(filename: string): Promise<PartialState | undefined> {
    const path = this.statePath(filename);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const state: unknown = JSON.parse(text);
      if (isPartialState(state) && state.filename === filename && isInside(this.root, state.data)) return state;
    } catch {
      // fall through: corrupt state
    }
    await unlink(path).catch(() => undefined);
    return undefined;
  }

  /** Saves a state atomically (temp file + rename): a crash leaves the old or the new one. */
  async save(state: PartialState): Promise<void> {
    const path = this.statePath(state.filename);
    const temp = `${path}.${process.pid}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify({ ...state, updated: Date.now() }));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  }

  /** Saves a state and fsyncs the state directory: the new state survives a power loss too. */
  async saveDurably(state: PartialState): Promise<void> {
    await this.save(state);
    await fsyncDirectory(this.dir);
  }

  /**
   * Removes a partial: its data first, then its state (a state may point at no data, never the
   * reverse). `dataAt`: the data file through its open directory (an upload's own), else it is
   * reached by a walk from the root.
   */
  async remove(state: Pick<PartialState, 'filename' | 'data'>, dataAt?: string): Promise<void> {
    this.forgetSnapshot(state.filename);
    if (dataAt !== undefined) await unlink(dataAt).catch(() => undefined);
    else await this.removeData(state.data);
    await unlink(this.statePath(state.filename)).catch(() => undefined);
  }

  /** Unlinks a data file, reached from the root without following a symlink (never out of the root). */
  private async removeData(data: string): Promise<void> {
    const rel = relative(this.root, dirname(data));
    if (!isInside(this.root, data) || !basename(data).startsWith(RESERVED_PREFIX)) return;
    let dir;
    try {
      dir = this.served.walk(rel === '' ? [] : rel.split('/'));
      if (!dir.incomplete) await unlink(dir.at(basename(data))).catch(() => undefined);
    } catch {
      // a symlink or a file on the way: the data is not ours to remove
    } finally {
      dir?.close();
    }
  }

  /** Remembers the md5 state at the durable offset of a suspended upload. */
  async keepSnapshot(filename: string, offset: number, hash: PooledMd5, dataPath: string): Promise<void> {
    const info = await stat(dataPath);
    this.forgetSnapshot(filename);
    this.snapshots.set(filename, { offset, hash, fileMtimeMs: info.mtimeMs, fileSize: info.size });
  }

  /** Drops a kept md5 state (its thread forgets it too). */
  private forgetSnapshot(filename: string): void {
    this.snapshots.get(filename)?.hash.dispose();
    this.snapshots.delete(filename);
  }

  /** The snapshot of `filename` if the data file is exactly as it was left; it is then forgotten. */
  async takeSnapshot(filename: string, dataPath: string): Promise<HashSnapshot | undefined> {
    const snapshot = this.snapshots.get(filename);
    this.snapshots.delete(filename);
    if (!snapshot) return undefined;
    const info = await stat(dataPath).catch(() => undefined);
    if (!info || info.mtimeMs !== snapshot.fileMtimeMs || info.size !== snapshot.fileSize || snapshot.hash.lost) {
      snapshot.hash.dispose();
      return undefined;
    }
    return snapshot;
  }

  /** True when a kept state may continue an upload of `size` bytes from `source`. */
  matches(state: PartialState, size: number, source: SourceIdentity | null): boolean {
    return state.size === size && sameSource(state.source, source);
  }

  /**
   * Removes partials not updated for the TTL, and stray temp files of the state directory.
   * `busy` names filenames with an upload open right now (never expired). Returns how many went.
   */
  async expire(ttlMs: number, busy: (filename: string) => boolean, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const state of await this.loadAll(now)) {
      if (busy(state.filename) || now - state.updated <= ttlMs) continue;
      await this.remove(state);
      removed++;
    }
    return removed;
  }

  /**
   * Every valid state. On the way, an invalid state (or one whose data lies outside the root) is
   * deleted without touching its data path, and stray temp files older than a minute go.
   */
  async loadAll(now = Date.now()): Promise<PartialState[]> {
    const states: PartialState[] = [];
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(this.dir, name);
      if (name.endsWith('.tmp')) {
        const info = await stat(path).catch(() => undefined);
        if (info && now - info.mtimeMs > 60_000) await unlink(path).catch(() => undefined);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      let state: unknown;
      try {
        state = JSON.parse(await readFile(path, 'utf8'));
      } catch {
        state = undefined;
      }
      if (isPartialState(state) && isInside(this.root, state.data)) states.push(state);
      else await unlink(path).catch(() => undefined);
    }
    return states;
  }

  private statePath(filename: string): string {
    return join(this.dir, `${this.keyOf(filename)}.json`);
  }
}
