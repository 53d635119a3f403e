/**
 * Where landed files live. The put handler talks only to this interface, so the local disk
 * (disk-storage.ts) can later be joined by an object store without touching the protocol code.
 */
import type { SourceIdentity } from './partials.js';

export type { SourceIdentity };

/** What a put asks the storage to prepare. */
export interface UploadTarget {
  /** The client's filename, not yet checked. */
  filename: string;
  /** Exact number of bytes the complete file has; null for a stream of unknown length. */
  size: number | null;
  /** Replace an existing file of that name. */
  overwrite: boolean;
  /** If the name is taken, land under the first free "stem.N.ext" instead. */
  rename?: boolean;
  /** Permission bits for the landed file (0o777 at most; default 0o644). */
  mode?: number;
  /** Modification time to give the landed file, ms since the epoch. */
  mtime?: number;
  /** Protocol chunk size: resume offsets are whole chunks. */
  chunkSize: number;
  /** Continue a kept partial of the same source if there is one. */
  resume: boolean;
  /** Keep a partial (with its state) if the connection breaks; false for batched files and stream puts. */
  keepPartial: boolean;
  /** The client's identity of its source (needed to resume). */
  source: SourceIdentity | null;
  /** The client's id of this logical upload (same in all attempts). */
  uploadId?: string;
  /** Called if a newer attempt of the same upload arrives while this one holds the name. */
  preempt?: () => void;
  /** Called every few seconds while beginUpload works long (re-reading a kept prefix). */
  onWait?: (done: number, total: number) => void;
}

/** A finished upload's facts. */
export interface StoredReceipt {
  filename: string;
  size: number;
  md5: string;
}

/** One upload in progress: bytes go to a hidden partial until commit(). */
export interface Upload {
  /** The normalized filename the file will land under (relative to the root, "/"-separated). */
  readonly filename: string;
  /** Bytes already held from an earlier attempt: the body starts at this offset. */
  readonly offset: number;
  /** Absolute position after the last byte received so far. */
  readonly received: number;
  /** Appends body bytes in order. A returned promise asks the caller to wait before writing more. */
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

/** One name to check, with what the client knows of its source. */
export interface CheckQuery {
  filename: string;
  size: number;
  mtime: number;
  /** With a digest, "identical" also requires the md5 recorded at landing to match. */
  md5?: string;
}

/** The answer for one name. */
export interface CheckResult {
  state: CheckState;
  message?: string;
}

/** The answer to a put: an upload to feed, or the news that this exact upload already landed. */
export type BeginResult = { upload: Upload } | { landed: StoredReceipt };

/** A place to land files. */
export interface Storage {
  /**
   * Checks everything that can be checked before the first byte (name safety, size limit, free
   * space, existing file, concurrent upload of the same name), finds a kept partial to resume,
   * and opens the upload. Throws StatusError with the reply's status and code.
   */
  beginUpload(target: UploadTarget): Promise<BeginResult>;
  /**
   * Says for each name whether the server has it, identical (size+mtime, and md5 if given) or not;
   * one answer per query, in order (a batch, so that names sharing a directory share its lookup).
   */
  check(queries: CheckQuery[]): Promise<CheckResult[]>;
  /** Creates a directory (and missing parents) inside the root; false if it already existed. */
  makeDirectory(path: string): Promise<boolean>;
  /** Suspends every upload still open (shutdown): kept partials survive a restart. */
  suspendAll(): Promise<void>;
  /** Removes expired partials; returns how many. */
  expirePartials(): Promise<number>;
}
