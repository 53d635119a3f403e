/**
 * The seam between the server and where files live. Handlers and the uploads layer talk only to
 * this interface; `storage/disk/` implements it on a local directory, `storage/memory/` in memory
 * (tests), `storage/s3/` on an object store. Nothing here is a disk concept: no paths, descriptors,
 * fsync, rename or link. The rules every backend shares (name rules, size limit, one upload per
 * name, take-over, already landed, space accounting) live above it, in server/uploads/.
 * Names are normalized relative names ("a/b.txt", "/"-separated), already
 * checked by the uploads layer's name rules (server/uploads/names.ts) before a backend sees them;
 * a backend may still refuse a name it cannot hold (StatusError 403).
 *
 * Errors: every refusal a client should see is a StatusError (its status and code go on the wire).
 */
import type { Readable } from 'node:stream';
import type { CheckQuery } from '../../protocol/messages.js';

/** How the client identifies its source file: a changed source is never stitched onto an old prefix. */
export interface SourceIdentity {
  size: number;
  mtime: number;
}

/**
 * What the uploads layer asks a backend to open, after its own rules (name, size limit,
 * reservation, already landed) have passed.
 */
export interface UploadRequest {
  /** Normalized name the file will land under. */
  name: string;
  /** Exact number of bytes the complete file has; null for a stream of unknown length. */
  size: number | null;
  /** Replace an existing file of that name. */
  overwrite: boolean;
  /** If the name is taken, land under the first free "stem.N.ext" instead. */
  rename: boolean;
  /** Permission bits for the landed file (0o777 at most). */
  mode: number;
  /** Modification time to give the landed file, ms since the epoch. */
  mtime?: number;
  /** Protocol chunk size: resume offsets are whole chunks. */
  chunkSize: number;
  /** Continue a kept partial of the same source if there is one. */
  resume: boolean;
  /** Keep a partial if the connection breaks; false for batched files and stream puts. */
  keepPartial: boolean;
  /** The client's identity of its source (needed to resume). */
  source: SourceIdentity | null;
  /** The client's id of this logical upload, recorded at landing (StoredFile.uploadId). */
  uploadId?: string;
  /** Called every few seconds while beginUpload works long (re-reading a kept prefix). */
  onWait?: (done: number, total: number) => void;
  /**
   * Asks the holder to let go: for a backend that learns that a newer attempt of this upload took
   * the name over elsewhere (another server sharing the store).
   */
  preempt?: () => void;
}

/** A finished upload's facts. */
export interface StoredReceipt {
  /** The name it landed under (a numbered one when `rename` moved it on). */
  filename: string;
  size: number;
  md5: string;
}

/** One upload in progress: nothing is visible under its name until commit() has verified it. */
export interface Upload {
  /** The normalized filename the file will land under (relative to the root, "/"-separated). */
  readonly filename: string;
  /** Bytes already held from an earlier attempt: the body starts at this offset. */
  readonly offset: number;
  /** Absolute position after the last byte received so far. */
  readonly received: number;
  /** Set once the whole body is here and the upload is verifying and landing. */
  readonly landing?: Promise<void> | undefined;
  /**
   * Appends body bytes in order. A returned promise asks the caller to wait before writing more.
   * The chunk is only valid during the call (copy what is kept).
   */
  write(chunk: Buffer): Promise<void> | undefined;
  /**
   * Verifies the whole file's md5 against `claimedMd5`, makes it durable and lands it atomically.
   * On a mismatch the partial is discarded and StatusError 422 thrown.
   */
  commit(claimedMd5: string): Promise<StoredReceipt>;
  /** The connection broke: makes the received bytes durable and keeps them for a resume. */
  suspend(): Promise<void>;
  /** Removes everything this upload created; nothing appears under the final name. Idempotent. */
  discard(): Promise<void>;
}

/** What `check` says about one name. */
export type CheckState = 'missing' | 'identical' | 'different' | 'forbidden';

/** One name to check, with what the client knows of its source: the protocol's own entry (§6.8). */
export type { CheckQuery };

/** The answer for one name. */
export interface CheckResult {
  state: CheckState;
  message?: string;
}

/** A stored file's facts. */
export interface StoredFile {
  size: number;
  /** Modification time, whole ms since the epoch. */
  mtime: number;
  /** Permission bits (0o777 at most). */
  mode: number;
  /** The md5 recorded when it landed, while the file is still that one; null when none is known. */
  md5: string | null;
  /** The client's id of the upload that landed it, when known (lets a lost verdict be answered). */
  uploadId?: string;
}

/** Which bytes of a file to read: `start` inclusive, `end` exclusive (defaults: 0 and the size). */
export interface ByteRange {
  start?: number;
  end?: number;
}

/** One entry of a listing. */
export interface ListEntry {
  /** Normalized name relative to the root ("dir/sub/file"), not to the listed directory. */
  name: string;
  type: 'file' | 'directory';
  /** Bytes (0 for a directory). */
  size: number;
  mtime: number;
  mode: number;
  /** Files: the md5 recorded when it landed, while it is still that file; null when none is known. */
  md5?: string | null;
}

/** What to list. */
export interface ListOptions {
  /** From where the previous page stopped (its `nextCursor`); absent for the first page. */
  cursor?: string;
  /** Most entries in this page (the backend may return fewer, but at least one unless done). */
  limit: number;
  /** Descend into subdirectories (each directory is listed before its contents). */
  recursive?: boolean;
}

/** One page of a listing. */
export interface ListPage {
  entries: ListEntry[];
  /** Pass as `cursor` for the next page; null when the listing is complete. */
  nextCursor: string | null;
}

/** What expirePartials removes, and what it must leave alone. */
export interface ExpiryOptions {
  /** Kept partials not touched for longer than this go. */
  ttlMs: number;
  /** Names with an upload open right now: never expired. */
  isOpen?: (name: string) => boolean;
}

/** A place to land files and read them back. */
export interface Storage {
  /** What is served, for people: a directory, a bucket URL. */
  readonly location: string;
  /** False when this store could not make sure no other server writes to it at the same time. */
  readonly exclusive: boolean;

  /**
   * Opens an upload: refuses an existing name without overwrite or rename (409, also when it is a
   * directory; at the latest at commit for a backend that cannot tell before, and never replacing
   * it), finds a kept partial of the same source to resume (its offset), and is ready for
   * bytes. Throws StatusError with the reply's status and code. The uploads layer has checked the
   * name, the size limit and that no other upload of this name is open.
   */
  beginUpload(request: UploadRequest): Promise<Upload>;
  /**
   * Bytes that can still be stored where `name` would land (free space, a quota); absent or
   * Infinity when there is no such limit. A reading up to half a second old may be reused when
   * `needed` is a small share of it.
   */
  freeSpace?(name: string, needed: number): Promise<number>;
  /**
   * Says for each name whether the server has it, identical (size and mtime; with an md5, size and
   * the md5 recorded at landing, whatever the mtime: docs/PROTOCOL.md §6.8) or not;
   * one answer per query, in order (a batch, so that names sharing a directory share its lookup).
   */
  check(queries: CheckQuery[]): Promise<CheckResult[]>;
  /** Creates a directory (and missing parents); false if it already existed. */
  makeDirectory(name: string): Promise<boolean>;
  /** Removes kept partials older than the TTL; returns how many. */
  expirePartials(options: ExpiryOptions): Promise<number>;

  /** A stored file's facts; null when there is no file of that name (a directory is not a file). */
  stat(name: string): Promise<StoredFile | null>;
  /** The bytes of a stored file (a range of them); null when there is no file of that name. */
  read(name: string, range?: ByteRange): Promise<Readable | null>;
  /**
   * One page of the directory `dir` ("" for the root), never the whole directory in memory; null
   * when there is no directory of that name. Entries the server keeps for itself are never listed.
   * Throws StatusError 400 for an unknown or expired cursor.
   */
  list(dir: string, options: ListOptions): Promise<ListPage | null>;
  /**
   * The names of every file recorded as landed under the directory `dir` ("" = everything), in
   * name order, including those whose file has since gone (deleted or moved by other means): a scrub
   * stats each and reports the ones no longer there as `missing`. Optional: a backend whose record
   * lives with the file itself (S3 object metadata) keeps no record that outlives its file.
   */
  recordedNames?(dir: string): Promise<string[]>;

  /**
   * Shutdown, once every upload is committed, suspended or discarded (the uploads layer sees to
   * that): waits for background bookkeeping, lets go of the store (another server may start on it).
   */
  close(): Promise<void>;
}
