/**
 * The rules every backend shares, between the handlers and a Storage: name rules, the size limit,
 * one upload per name (423, take-over by uploadId), the already-landed answer to a retry whose
 * verdict was lost, and space accounting for what other open uploads still have to write.
 * A backend sees only checked, normalized names and uploads this layer has let through.
 */
import { StatusError } from '../../errors.js';
import { ERROR_CODE, STATUS } from '../../protocol/constants.js';
import type { CheckQuery, CheckResult, Storage, StoredReceipt, Upload, UploadRequest } from '../storage/storage.js';
import { LandedMemory } from './landed-memory.js';
import { normalizeName } from './names.js';
import { Reservations, type Reservation } from './reservations.js';
import { ServedUpload } from './served-upload.js';

/**
 * What a put asks for: the backend's request before the rules ran, so the client's filename not
 * yet checked or normalized, and rename and mode (default 0o644) still optional.
 */
export interface UploadTarget extends Omit<UploadRequest, 'name' | 'rename' | 'mode'> {
  /** The client's filename, not yet checked. */
  filename: string;
  rename?: boolean;
  mode?: number;
}

/** The answer to a put: an upload to feed, or the news that this exact upload already landed. */
export type BeginResult = { upload: Upload } | { landed: StoredReceipt };

/** Options of the uploads layer. */
export interface UploadsOptions {
  /** Largest file accepted, in bytes (default: no limit). */
  maxSize?: number;
}

/** The uploads of one server, over one storage. */
export class Uploads {
  private readonly reservations = new Reservations();
  private readonly landed = new LandedMemory();
  private readonly maxSize: number;

  constructor(readonly storage: Storage, options: UploadsOptions = {}) {
    this.maxSize = options.maxSize ?? Number.MAX_SAFE_INTEGER;
  }

  /**
   * Checks what can be checked before the first byte, in this order: name, size limit, the name's
   * reservation (423), already landed, then the backend's own checks and resume, then free space.
   * Throws StatusError with the reply's status and code.
   */
  async begin(target: UploadTarget): Promise<BeginResult> {
    const name = normalizeName(target.filename);
    if (target.size !== null && target.size > this.maxSize) {
      throw new StatusError(STATUS.TOO_LARGE, ERROR_CODE.TOO_LARGE, `${target.size} bytes is over the server's limit of ${this.maxSize}`);
    }
    const reservation = await this.reservations.reserve({
      name, size: target.size,
      ...(target.uploadId !== undefined ? { uploadId: target.uploadId } : {}),
      ...(target.preempt !== undefined ? { preempt: target.preempt } : {}),
    });
    try {
      const landed = await this.alreadyLanded(name, target);
      if (landed) {
        this.reservations.release(reservation);
        return { landed };
      }
      const upload = await this.open(name, target, reservation);
      return { upload };
    } catch (error) {
      if (!reservation.upload) this.reservations.release(reservation);
      throw error;
    }
  }

  /** Opens the backend's upload and makes sure what it still needs fits. */
  private async open(name: string, target: UploadTarget, reservation: Reservation): Promise<Upload> {
    const inner = await this.storage.beginUpload({
      name, size: target.size, overwrite: target.overwrite, rename: target.rename === true, mode: target.mode ?? 0o644,
      chunkSize: target.chunkSize, resume: target.resume, keepPartial: target.keepPartial, source: target.source,
      ...(target.mtime !== undefined ? { mtime: target.mtime } : {}),
      ...(target.uploadId !== undefined ? { uploadId: target.uploadId } : {}),
      ...(target.onWait !== undefined ? { onWait: target.onWait } : {}),
      ...(target.preempt !== undefined ? { preempt: target.preempt } : {}),
    });
    try {
      await this.checkSpace(name, (target.size ?? 0) - inner.offset, reservation);
    } catch (error) {
      // A kept prefix stays kept (the client may retry when there is room); a new upload goes.
      await (inner.offset > 0 ? inner.suspend() : inner.discard());
      throw error;
    }
    const upload = new ServedUpload(inner, target, reservation, { reservations: this.reservations, landed: this.landed, maxSize: this.maxSize });
    reservation.upload = upload;
    return upload;
  }

  /** Free space minus what other open uploads still have to write must hold `needed` bytes. */
  private async checkSpace(name: string, needed: number, own: Reservation): Promise<void> {
    if (needed <= 0 || !this.storage.freeSpace) return;
    const available = await this.storage.freeSpace(name, needed);
    // What the others may still write fits anyway: no pass over them (per file of a batch, it added up).
    if (needed <= available - this.reservations.promisedAtMost(own)) return;
    const promised = this.reservations.promisedBytes(own);
    if (needed > available - promised) {
      throw new StatusError(STATUS.INSUFFICIENT_STORAGE, ERROR_CODE.INSUFFICIENT_STORAGE,
        `${needed} bytes do not fit: ${Math.max(0, available - promised)} bytes free on the server`);
    }
  }

  /**
   * This logical upload (same uploadId and size) already landed and the file there is still that
   * one: remembered here for a while, or (after a restart) recorded by the backend with the file.
   */
  private async alreadyLanded(name: string, target: UploadTarget): Promise<StoredReceipt | undefined> {
    if (!target.resume || target.uploadId === undefined || target.size === null) return undefined;
    const stored = await this.storage.stat(name);
    if (stored === null || stored.md5 === null || stored.size !== target.size) return undefined;
    const md5 = this.landed.find(name, target.uploadId, target.size, target.source) ??
      (stored.uploadId === target.uploadId ? stored.md5 : undefined);
    // Still the very file that landed (not replaced since): the backend's md5 for it is that one.
    return md5 === stored.md5 ? { filename: name, size: target.size, md5 } : undefined;
  }

  /**
   * `check` for a batch of names: a name the rules refuse is 'forbidden'; a file that has fully
   * arrived and is landing right now is answered for once it has landed (or not).
   */
  async check(queries: CheckQuery[]): Promise<CheckResult[]> {
    const results: (CheckResult | undefined)[] = [];
    const asked: CheckQuery[] = [];
    for (const query of queries) {
      try {
        const filename = normalizeName(query.filename);
        asked.push({ ...query, filename });
        results.push(undefined);
      } catch (error) {
        results.push({ state: 'forbidden', message: (error as Error).message });
      }
    }
    await Promise.all(asked.map((query) => this.reservations.uploadOf(query.filename)?.landing));
    const answers = asked.length > 0 ? await this.storage.check(asked) : [];
    let next = 0;
    return results.map((result) => result ?? answers[next++]!);
  }

  /** Creates a directory (and missing parents); false if it already existed. */
  makeDirectory(path: string): Promise<boolean> {
    return this.storage.makeDirectory(normalizeName(path));
  }

  /** Removes kept partials not touched for `ttlMs`, never one of an upload open now; returns how many. */
  async expirePartials(ttlMs: number): Promise<number> {
    this.landed.prune();
    return this.storage.expirePartials({ ttlMs, isOpen: (name) => this.reservations.has(name) });
  }

  /** Shutdown: files already landing finish, every other open upload is suspended (kept for a resume). */
  async suspendAll(): Promise<void> {
    const uploads = this.reservations.uploads();
    await Promise.all(uploads.map((upload) => upload.landing));
    await Promise.all(uploads.map((upload) => upload.suspend()));
  }
}
