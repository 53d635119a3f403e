/**
 * The Storage interface on an S3-compatible object store (`ftx serve s3://bucket[/prefix]`). No
 * state another server needs lives in this process: busy/take-over (the lease), partial uploads,
 * landed records and digests are all in the bucket, so several servers can share one.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { StatusError, StoreUnavailableError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { numberedName, splitSafeFilename } from '../../uploads/names.js';
import type {
  ByteRange, CheckQuery, CheckResult, ExpiryOptions, ListOptions, ListPage, Storage, StoredFile, Upload, UploadRequest,
} from '../storage.js';
import { S3Bucket } from './s3-bucket.js';
import { createS3Client } from './s3-client.js';
import { ClashChecks } from './s3-clash.js';
import { checkS3 } from './s3-check.js';
import { httpStatusOf } from './s3-errors.js';
import { ensureBackstopRule } from './s3-lifecycle.js';
import { ListWindows } from './s3-list-window.js';
import { listS3 } from './s3-listing.js';
import { factsOf, type ObjectFacts } from './s3-metadata.js';
import { openMultipart } from './s3-multipart-begin.js';
import { SmallUpload } from './s3-small-upload.js';
import { sweepStaleUploads } from './s3-sweeper.js';
import type { S3ClientSettings, S3Location } from './s3-location.js';

/** Files up to this size land as one PutObject (the body is held in memory until verified). */
export const SMALL_MAX_BYTES = 8 << 20;
/** The code of a file changed while it was read (docs/PROTOCOL.md §5.3, as the disk's get trailer says it). */
const CHANGED = 'changed';

/** Options of an S3 storage. */
export interface S3StorageOptions {
  /**
   * Writes the bucket lifecycle backstop for stale multipart uploads of this prefix
   * (s3-lifecycle.ts), days from this TTL; none when absent.
   */
  partialTtlMs?: number;
  /** Told one line when the store refuses the lifecycle rule (serving goes on). */
  warn?: (line: string) => void;
  /** Part size override (tests). */
  partSize?: number;
  /** Parts in flight per upload (default 2). */
  maxInFlight?: number;
}

/** An upload this server has open, for a fast take-over by a retry reaching the same server. */
interface OpenUpload { uploadId: string | undefined; preempt: (() => void) | undefined; settled: Promise<void> }

/** Storage on a bucket. */
export class S3Storage implements Storage {
  readonly location: string;
  /** Several servers may share a bucket: every guarantee is kept through the store itself. */
  readonly exclusive = true;
  /** This process's id in leases. */
  readonly owner = `ftx-${randomBytes(6).toString('hex')}`;
  private readonly open = new Map<string, OpenUpload & { upload: Upload }>();
  private readonly clash: ClashChecks;
  private readonly listings: ListWindows;

  constructor(readonly bucket: S3Bucket, private readonly options: S3StorageOptions = {}) {
    this.location = `s3://${bucket.bucket}/${bucket.prefix}`;
    this.clash = new ClashChecks(bucket);
    this.listings = new ListWindows(bucket);
  }

  /** Connects and checks that the bucket answers (credentials, endpoint) before serving. */
  static async open(location: S3Location, settings: S3ClientSettings = {}, options: S3StorageOptions = {}): Promise<S3Storage> {
    const bucket = new S3Bucket(createS3Client(settings), location, settings.requestTimeoutMs);
    try {
      await bucket.listPage('.ftx-state/', { limit: 1, recursive: true });
    } catch (error) {
      bucket.client.destroy();
      const why = error instanceof Error ? error.message : String(error);
      throw new StoreUnavailableError(`cannot use s3://${location.bucket}/${location.prefix}: ${why}`, { cause: error });
    }
    if (options.partialTtlMs !== undefined) {
      const backstop = await ensureBackstopRule(bucket, options.partialTtlMs);
      if (backstop.state === 'refused') {
        options.warn?.(`ftx: warning: the store refused the bucket lifecycle rule (${backstop.reason}); stale multipart uploads are aborted by ftx's own sweeper only`);
      }
    }
    return new S3Storage(bucket, options);
  }

  async beginUpload(request: UploadRequest): Promise<Upload> {
    const name = splitSafeFilename(request.name).join('/');
    await this.takeOverHere(name, request.uploadId);
    const facts: ObjectFacts = {
      mode: request.mode & 0o777, mtime: request.mtime ?? null, uploadId: request.uploadId ?? '', source: request.source,
    };
    const small = request.size !== null && request.size <= SMALL_MAX_BYTES;
    const upload: Upload = small
      ? new SmallUpload({
        bucket: this.bucket, clash: this.clash, filename: name, overwrite: request.overwrite, rename: request.rename, facts,
        numbered: numberedName,
      })
      : await openMultipart(this.bucket, {
        name, size: request.size ?? 0, chunkSize: request.chunkSize, overwrite: request.overwrite, rename: request.rename,
        resume: request.resume, keepPartial: request.keepPartial && request.size !== null, facts, owner: this.owner,
        numbered: numberedName,
        ...(request.preempt !== undefined ? { preempt: request.preempt } : {}),
        ...(this.options.partSize !== undefined ? { partSize: this.options.partSize } : {}),
        ...(this.options.maxInFlight !== undefined ? { maxInFlight: this.options.maxInFlight } : {}),
      });
    return this.track(name, upload, request);
  }

  /** Remembers an open upload until it commits, suspends or is discarded. */
  private track(name: string, upload: Upload, target: UploadRequest): Upload {
    let settle: () => void = () => undefined;
    const entry = { upload, uploadId: target.uploadId, preempt: target.preempt, settled: new Promise<void>((r) => { settle = r; }) };
    if (!(upload instanceof SmallUpload)) this.open.set(name, entry);
    const done = <T>(p: Promise<T>): Promise<T> => p.finally(() => {
      if (this.open.get(name) === entry) this.open.delete(name);
      settle();
    });
    return {
      get filename() { return upload.filename; },
      get offset() { return upload.offset; },
      get received() { return upload.received; },
      write: (chunk) => upload.write(chunk),
      commit: (md5) => done(upload.commit(md5)),
      suspend: () => done(upload.suspend()),
      discard: () => done(upload.discard()),
    };
  }

  /** A retry of an upload open on this very server: drop the old attempt and wait (≤ 5 s) for it to suspend. */
  private async takeOverHere(name: string, uploadId: string | undefined): Promise<void> {
    const old = this.open.get(name);
    if (old === undefined || uploadId === undefined || old.uploadId !== uploadId) return;
    old.preempt?.();
    await Promise.race([old.settled, new Promise((r) => setTimeout(r, 5_000).unref())]);
  }

  async check(queries: CheckQuery[]): Promise<CheckResult[]> {
    return checkS3(this.bucket, queries, (name) => this.stat(name));
  }

  /** A marker object "name/" (S3 has no directories); false when the directory already existed. */
  async makeDirectory(path: string): Promise<boolean> {
    const segments = splitSafeFilename(path);
    const name = segments.join('/');
    for (let i = 1; i <= segments.length; i++) {
      const above = segments.slice(0, i).join('/');
      if ((await this.bucket.head(above)) !== null) {
        throw new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, `${above} exists and is not a directory`);
      }
    }
    const existing = await this.bucket.listPage(`${name}/`, { limit: 1, recursive: true });
    if (existing.objects.length > 0) return false;
    const empty = Buffer.alloc(0);
    const md5 = Buffer.from('d41d8cd98f00b204e9800998ecf8427e', 'hex');
    return (await this.bucket.put(`${name}/`, empty, md5, {}, { ifNoneMatch: true })) !== 'conflict';
  }

  async expirePartials(options: ExpiryOptions): Promise<number> {
    return sweepStaleUploads(this.bucket, {
      ttlMs: options.ttlMs, owner: this.owner,
      isOpen: (name) => this.open.has(name) || options.isOpen?.(name) === true,
    });
  }

  async stat(name: string): Promise<StoredFile | null> {
    if (!isClientName(name)) return null;
    const head = await this.bucket.head(name);
    if (head === null) return null;
    const facts = factsOf(head);
    return { size: facts.size, mtime: facts.mtime, mode: facts.mode, md5: facts.md5, ...(facts.uploadId !== undefined ? { uploadId: facts.uploadId } : {}) };
  }

  async read(name: string, range: ByteRange = {}): Promise<Readable | null> {
    if (!isClientName(name)) return null;
    const head = await this.bucket.head(name);
    if (head === null) return null;
    const start = range.start ?? 0;
    const end = range.end ?? head.size;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > head.size) {
      throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, `range ${start}-${end} is outside ${name} (${head.size} bytes)`);
    }
    if (start === end) return Readable.from([]);
    try {
      // The version HEAD described, or none: a file replaced meanwhile is not spliced from two versions.
      return await this.bucket.getRange(name, start, end, head.etag);
    } catch (error) {
      const status = httpStatusOf(error);
      if (status === 404) return null;
      // Replaced between the HEAD and the GET: what disk says of a file changed while it is read.
      if (status === 412) throw new StatusError(STATUS.CONFLICT, CHANGED, `${name} changed while it was being read; read it again`);
      throw error;
    }
  }

  async list(dir: string, options: ListOptions): Promise<ListPage | null> {
    if (dir !== '' && !isClientName(dir)) return null;
    return listS3(this.listings, dir, options);
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((entry) => entry.upload.suspend().catch(() => undefined)));
    this.open.clear();
    this.bucket.client.destroy();
  }
}

function isClientName(name: string): boolean {
  try {
    return splitSafeFilename(name).join('/') === name;
  } catch {
    return false;
  }
}
