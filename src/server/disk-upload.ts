/** An upload into a hidden temp file beside its target, landed by fsync + link/rename + directory fsync. */
import type { FileHandle } from 'node:fs/promises';
import { link, lstat, open, rename, rmdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StatusError } from '../errors.js';
import { ERROR_CODE, STATUS } from '../protocol/constants.js';
import type { Upload } from './storage.js';

/** Start a file write once this many bytes are pending. */
const FLUSH_BYTES = 1024 * 1024;
/** Ask the writer to wait while this many bytes are pending behind a write in flight. */
const HIGH_WATER_BYTES = 8 * 1024 * 1024;

/** Everything a DiskUpload needs to know about where it writes and lands. */
export interface DiskUploadPlan {
  filename: string;
  size: number;
  tempPath: string;
  finalPath: string;
  overwrite: boolean;
  mtime?: number;
  /** Directories created for this upload, outermost first; removed again on abort if still empty. */
  createdDirs: string[];
  /** Called once when the upload is committed or aborted. */
  release: () => void;
}

/** Writes all buffers at `position`, continuing after short writes. */
async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const total = rest.reduce((sum, b) => sum + b.length, 0);
    const { bytesWritten } = await handle.writev(rest, at);
    at += bytesWritten;
    if (bytesWritten === total) return;
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const buffer of rest) {
      if (skip >= buffer.length) skip -= buffer.length;
      else { next.push(skip > 0 ? buffer.subarray(skip) : buffer); skip = 0; }
    }
    rest = next;
  }
}

/** Opens the directory and fsyncs it so a rename/link in it is durable. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function toStorageError(error: unknown): StatusError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StatusError(STATUS.INSUFFICIENT_STORAGE, ERROR_CODE.INSUFFICIENT_STORAGE, 'no space left on the server');
  }
  return new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, `storage error: ${code ?? String(error)}`);
}

/** One upload into a temp file. Writes are batched: large writev calls, at most one in flight. */
export class DiskUpload implements Upload {
  readonly filename: string;
  /** Declared size. */
  readonly size: number;
  /** Bytes handed to write() so far. */
  received = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private position = 0;
  private inFlight: Promise<void> | undefined;
  private error: StatusError | undefined;
  private done = false;

  constructor(private readonly handle: FileHandle, private readonly plan: DiskUploadPlan) {
    this.filename = plan.filename;
    this.size = plan.size;
  }

  write(chunk: Buffer): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.received += chunk.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.startWrite();
    if (this.pendingBytes >= HIGH_WATER_BYTES && this.inFlight) {
      return this.inFlight.then(() => {
        if (this.error) throw this.error;
      });
    }
    return undefined;
  }

  async commit(): Promise<void> {
    try {
      await this.flushAll();
      const { mtime, tempPath, finalPath } = this.plan;
      await this.handle.chmod(0o644);
      if (mtime !== undefined) await this.handle.utimes(new Date(), new Date(mtime));
      await this.handle.sync();
      await this.handle.close();
      this.done = true;
      await this.land(tempPath, finalPath);
      await syncDirectory(dirname(finalPath));
    } catch (error) {
      await this.abort();
      throw error instanceof StatusError ? error : toStorageError(error);
    }
    this.plan.release();
  }

  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.inFlight?.catch(() => undefined);
      await this.handle.close().catch(() => undefined);
    }
    await unlink(this.plan.tempPath).catch(() => undefined);
    for (const dir of [...this.plan.createdDirs].reverse()) {
      await rmdir(dir).catch(() => undefined);
    }
    this.plan.createdDirs = [];
    this.plan.release();
  }

  /** Without overwrite, link() fails atomically if the name was taken meanwhile; rename() replaces. */
  private async land(tempPath: string, finalPath: string): Promise<void> {
    if (this.plan.overwrite) {
      await rename(tempPath, finalPath);
      return;
    }
    try {
      await link(tempPath, finalPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw this.exists();
      // Filesystems without hard links: check, then rename (a narrower race, same result otherwise).
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw error;
      const taken = await lstat(finalPath).then(() => true, () => false);
      if (taken) throw this.exists();
      await rename(tempPath, finalPath);
      return;
    }
    await unlink(tempPath);
  }

  private exists(): StatusError {
    return new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, `${this.filename} already exists`);
  }

  private startWrite(): void {
    if (this.inFlight || this.pending.length === 0 || this.error) return;
    const batch = this.pending;
    const bytes = this.pendingBytes;
    const at = this.position;
    this.pending = [];
    this.pendingBytes = 0;
    this.position += bytes;
    this.inFlight = writeAll(this.handle, batch, at).then(
      () => {
        this.inFlight = undefined;
        if (this.pendingBytes >= FLUSH_BYTES) this.startWrite();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.error = toStorageError(error);
      },
    );
  }

  private async flushAll(): Promise<void> {
    while (this.inFlight || this.pending.length > 0) {
      if (this.error) throw this.error;
      if (!this.inFlight) this.startWrite();
      await this.inFlight;
    }
    if (this.error) throw this.error;
  }
}
