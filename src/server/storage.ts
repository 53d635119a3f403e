/**
 * Where landed files live. The put handler talks only to this interface, so the local disk
 * (disk-storage.ts) can later be joined by an object store without touching the protocol code.
 */

/** What a put asks the storage to prepare. */
export interface UploadTarget {
  /** The client's filename, not yet checked. */
  filename: string;
  /** Exact number of bytes that will be written. */
  size: number;
  /** Replace an existing file of that name. */
  overwrite: boolean;
  /** Modification time to give the landed file, ms since the epoch. */
  mtime?: number;
}

/** One upload in progress: bytes go to a hidden temporary object until commit(). */
export interface Upload {
  /** The normalized filename the file will land under (relative to the root, "/"-separated). */
  readonly filename: string;
  /** Appends body bytes in order. A returned promise asks the caller to wait before writing more. */
  write(chunk: Buffer): Promise<void> | undefined;
  /** Makes the bytes durable and atomically lands them under the final name. Throws StatusError. */
  commit(): Promise<void>;
  /** Removes everything this upload created; nothing appears under the final name. Idempotent. */
  abort(): Promise<void>;
}

/** A place to land files. */
export interface Storage {
  /**
   * Checks everything that can be checked before the first byte (name safety, size limit, free
   * space, existing file, concurrent upload of the same name) and opens the upload.
   * Throws StatusError with the reply's status and code.
   */
  beginUpload(target: UploadTarget): Promise<Upload>;
  /** Aborts every upload still open (used at shutdown). */
  abortAll(): Promise<void>;
}
