/** Storage on the local disk under one root directory that nothing is ever written outside of. */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, realpath, rmdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusError } from '../errors.js';
import { ERROR_CODE, RESERVED_PREFIX, STATUS } from '../protocol/constants.js';
import { DiskUpload } from './disk-upload.js';
import { isInside, splitSafeFilename } from './safe-path.js';
import type { Storage, Upload, UploadTarget } from './storage.js';

/** Options of DiskStorage. */
export interface DiskStorageOptions {
  /** Largest file accepted, in bytes. */
  maxSize?: number;
}

interface ParentDir {
  /** The real path of the deepest existing directory. */
  existing: string;
  /** Directories still to create below it, outermost first. */
  missing: string[];
}

function forbidden(message: string): StatusError {
  return new StatusError(STATUS.FORBIDDEN, ERROR_CODE.FORBIDDEN_PATH, message);
}

function conflict(message: string): StatusError {
  return new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, message);
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Files land under `root`; temp files sit beside their targets as `.ftx-<random>.part`. */
export class DiskStorage implements Storage {
  /** Final paths with an upload open, or reserved while one is being opened. */
  private readonly active = new Map<string, DiskUpload | 'opening'>();

  private constructor(readonly root: string, private readonly options: DiskStorageOptions) {}

  /** Opens a storage on an existing directory (resolved through symlinks once, here). */
  static async open(root: string, options: DiskStorageOptions = {}): Promise<DiskStorage> {
    const real = await realpath(root);
    if (!(await stat(real)).isDirectory()) throw new Error(`${root} is not a directory`);
    return new DiskStorage(real, options);
  }

  async beginUpload(target: UploadTarget): Promise<Upload> {
    const segments = splitSafeFilename(target.filename);
    const filename = segments.join('/');
    const maxSize = this.options.maxSize ?? Number.MAX_SAFE_INTEGER;
    if (target.size > maxSize) {
      throw new StatusError(STATUS.TOO_LARGE, ERROR_CODE.TOO_LARGE, `${target.size} bytes is over the server's limit of ${maxSize}`);
    }
    const parent = await this.resolveParent(segments.slice(0, -1));
    const dir = join(parent.existing, ...parent.missing);
    const finalPath = join(dir, segments[segments.length - 1]!);
    if (this.active.has(finalPath)) {
      throw new StatusError(STATUS.BUSY, ERROR_CODE.BUSY, `${filename} is being uploaded by another client; retry later`);
    }
    await this.checkTarget(finalPath, filename, target.overwrite);
    await this.checkSpace(parent.existing, target.size);
    if (this.active.has(finalPath)) {
      throw new StatusError(STATUS.BUSY, ERROR_CODE.BUSY, `${filename} is being uploaded by another client; retry later`);
    }
    const createdDirs: string[] = [];
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.active.delete(finalPath);
    };
    // Reserve the name synchronously with the checks above: no await between has() and set().
    this.active.set(finalPath, 'opening');
    try {
      let path = parent.existing;
      for (const name of parent.missing) {
        path = join(path, name);
        await mkdir(path);
        createdDirs.push(path);
      }
      const tempPath = join(dir, `${RESERVED_PREFIX}${randomBytes(8).toString('hex')}.part`);
      const handle = await open(tempPath, 'wx', 0o600);
      const upload = new DiskUpload(handle, {
        filename, size: target.size, tempPath, finalPath, overwrite: target.overwrite, createdDirs, release,
        ...(target.mtime !== undefined ? { mtime: target.mtime } : {}),
      });
      this.active.set(finalPath, upload);
      return upload;
    } catch (error) {
      for (const created of createdDirs.reverse()) await rmdir(created).catch(() => undefined);
      release();
      throw error instanceof StatusError
        ? error
        : new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, `cannot create ${filename}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }

  async abortAll(): Promise<void> {
    const uploads = [...this.active.values()].filter((u): u is DiskUpload => u instanceof DiskUpload);
    await Promise.all(uploads.map((upload) => upload.abort()));
  }

  /** Walks the directory segments from the root; a symlink is followed only if it stays inside. */
  private async resolveParent(dirs: string[]): Promise<ParentDir> {
    let current = this.root;
    for (let i = 0; i < dirs.length; i++) {
      const path = join(current, dirs[i]!);
      const info = await lstatOrUndefined(path);
      if (info === undefined) return { existing: current, missing: dirs.slice(i) };
      if (info.isSymbolicLink()) {
        const real = await realpath(path).catch(() => undefined);
        if (real === undefined || !isInside(this.root, real)) {
          throw forbidden(`${dirs.slice(0, i + 1).join('/')} leads outside the served directory`);
        }
        if (!(await stat(real)).isDirectory()) throw conflict(`${dirs.slice(0, i + 1).join('/')} is not a directory`);
        current = real;
      } else if (info.isDirectory()) {
        current = path;
      } else {
        throw conflict(`${dirs.slice(0, i + 1).join('/')} exists and is not a directory`);
      }
    }
    return { existing: current, missing: [] };
  }

  private async checkTarget(finalPath: string, filename: string, overwrite: boolean): Promise<void> {
    const info = await lstatOrUndefined(finalPath);
    if (info === undefined) return;
    if (info.isDirectory()) throw conflict(`${filename} exists and is a directory`);
    if (!overwrite) throw conflict(`${filename} already exists (ask to overwrite with --force)`);
    // With overwrite, a symlink is replaced by the new file, never written through.
  }

  private async checkSpace(existingDir: string, size: number): Promise<void> {
    const fs = await statfs(existingDir);
    const available = fs.bavail * fs.bsize;
    let promised = 0;
    for (const upload of this.active.values()) {
      if (upload instanceof DiskUpload) promised += Math.max(0, upload.size - upload.received);
    }
    if (size > available - promised) {
      throw new StatusError(
        STATUS.INSUFFICIENT_STORAGE,
        ERROR_CODE.INSUFFICIENT_STORAGE,
        `${size} bytes do not fit: ${Math.max(0, available - promised)} bytes free on the server`,
      );
    }
  }
}
