/**
 * A Storage kept in memory: the second implementation that proves the seam (it runs the same
 * contract suite as the disk, test/storage-contract/), and a quick backend for tests. Nothing
 * survives the process. Directories exist explicitly (makeDirectory) or as parents of files.
 */
import { Readable } from 'node:stream';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { numberedName } from '../../uploads/names.js';
import type {
  ByteRange, CheckQuery, CheckResult, ExpiryOptions, ListOptions, ListPage, Storage, StoredFile, Upload, UploadRequest,
} from '../storage.js';
import { MemoryUpload, type KeptPartial, type MemoryFile } from './memory-upload.js';

/** Options of MemoryStorage. */
export interface MemoryStorageOptions {
  /** Bytes it may hold in all (default: unlimited). */
  capacity?: number;
}

const conflict = (message: string): StatusError => new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, message);
const parentsOf = (name: string): string[] => name.split('/').slice(0, -1).map((_, i, all) => all.slice(0, i + 1).join('/'));

/** Files, directories and kept partials in maps. */
export class MemoryStorage implements Storage {
  readonly location = 'memory:';
  readonly exclusive = true;
  private readonly files = new Map<string, MemoryFile>();
  private readonly dirs = new Set<string>();
  private readonly partials = new Map<string, KeptPartial>();

  constructor(private readonly options: MemoryStorageOptions = {}) {}

  async beginUpload(request: UploadRequest): Promise<Upload> {
    this.checkParents(request.name);
    if (this.dirs.has(request.name)) throw conflict(`${request.name} exists and is a directory`);
    if (this.files.has(request.name) && !request.overwrite && !request.rename) {
      throw conflict(`${request.name} already exists (ask to overwrite with --force)`);
    }
    let kept = this.partials.get(request.name);
    this.partials.delete(request.name);
    const same = kept && request.resume && request.size !== null && kept.size === request.size &&
      kept.source !== null && request.source !== null && kept.source.size === request.source.size && kept.source.mtime === request.source.mtime;
    if (!same) kept = undefined;
    return new MemoryUpload(request, kept, {
      land: (name, file, policy) => this.land(name, file, policy),
      keep: (partial) => this.partials.set(request.name, partial),
    });
  }

  /** Puts a verified file under its name (or the first free numbered one); returns the name used. */
  private land(name: string, file: MemoryFile, policy: { overwrite: boolean; rename: boolean }): string {
    this.checkParents(name);
    let target = name;
    for (let n = 1; !policy.overwrite && (this.files.has(target) || this.dirs.has(target)); n++) {
      if (!policy.rename || n > 1000) throw conflict(`${name} already exists`);
      target = numberedName(name, n);
    }
    if (this.dirs.has(target)) throw conflict(`${target} exists and is a directory`);
    for (const dir of parentsOf(target)) this.dirs.add(dir);
    this.files.set(target, file);
    return target;
  }

  /** A file where a directory of `name` should be: 409. */
  private checkParents(name: string): void {
    for (const dir of parentsOf(name)) if (this.files.has(dir)) throw conflict(`${dir} exists and is not a directory`);
  }

  async check(queries: CheckQuery[]): Promise<CheckResult[]> {
    return queries.map((query) => {
      const file = this.files.get(query.filename);
      if (!file) return { state: 'missing' };
      if (file.size !== query.size) return { state: 'different' };
      const same = query.md5 === undefined ? file.mtime === query.mtime : file.md5 === query.md5;
      return { state: same ? 'identical' : 'different' };
    });
  }

  async makeDirectory(name: string): Promise<boolean> {
    this.checkParents(name);
    if (this.files.has(name)) throw conflict(`${name} already exists`);
    if (this.dirs.has(name)) return false;
    for (const dir of [...parentsOf(name), name]) this.dirs.add(dir);
    return true;
  }

  async expirePartials(options: ExpiryOptions): Promise<number> {
    let removed = 0;
    for (const [name, partial] of this.partials) {
      if (options.isOpen?.(name) || Date.now() - partial.updated <= options.ttlMs) continue;
      this.partials.delete(name);
      removed++;
    }
    return removed;
  }

  async freeSpace(): Promise<number> {
    if (this.options.capacity === undefined) return Infinity;
    let used = 0;
    for (const file of this.files.values()) used += file.size;
    for (const partial of this.partials.values()) used += partial.data.length;
    return Math.max(0, this.options.capacity - used);
  }

  async stat(name: string): Promise<StoredFile | null> {
    const file = this.files.get(name);
    if (!file) return null;
    const { data: _data, ...facts } = file;
    return facts;
  }

  async read(name: string, range: ByteRange = {}): Promise<Readable | null> {
    const file = this.files.get(name);
    if (!file) return null;
    const start = range.start ?? 0;
    const end = range.end ?? file.size;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > file.size) {
      throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, `range ${start}-${end} is not within ${name} (${file.size} bytes)`);
    }
    return Readable.from(start === end ? [] : [file.data.subarray(start, end)]);
  }

  /** Pages in name order; the cursor is the last name returned (fine for a test backend). */
  async list(dir: string, options: ListOptions): Promise<ListPage | null> {
    if (dir !== '' && !this.dirs.has(dir)) return null;
    if (options.cursor !== undefined && !options.cursor.startsWith('m:')) {
      throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, 'unknown or expired list cursor (start the listing again)');
    }
    const after = options.cursor?.slice(2);
    const prefix = dir === '' ? '' : `${dir}/`;
    const inside = (name: string): boolean => name.startsWith(prefix) && (options.recursive === true || !name.slice(prefix.length).includes('/'));
    const names = [...this.dirs, ...this.files.keys()].filter((name) => inside(name) && (after === undefined || name > after)).sort();
    const entries = names.slice(0, options.limit).map((name) => {
      const file = this.files.get(name);
      return file
        ? { name, type: 'file' as const, size: file.size, mtime: file.mtime, mode: file.mode, md5: file.md5 }
        : { name, type: 'directory' as const, size: 0, mtime: 0, mode: 0o755 };
    });
    const more = names.length > options.limit;
    return { entries, nextCursor: more ? `m:${entries[entries.length - 1]!.name}` : null };
  }

  async close(): Promise<void> {
    this.partials.clear();
  }
}
