/**
 * What ftx records on a landed object (user metadata, returned by HEAD, not by listings): md5, the
 * file's mode and mtime (S3's Last-Modified cannot be set and has 1 s resolution), and the upload's
 * id and source identity, so that `check` and "this upload already landed" are answered from the
 * store by whichever server the client reaches.
 */
import type { HeadInfo } from './s3-bucket.js';

/** Facts to record about an object. */
export interface ObjectFacts {
  mode: number;
  /** ms since the epoch; null: the landing time. */
  mtime: number | null;
  uploadId: string;
  source: { size: number; mtime: number } | null;
  /** Known only once verified (a multipart object gets it after Complete). */
  md5?: string;
}

/** The x-amz-meta-* map for these facts. */
export function landedMetadata(facts: ObjectFacts): Record<string, string> {
  return {
    'ftx-mode': facts.mode.toString(8),
    ...(facts.mtime !== null ? { 'ftx-mtime': String(facts.mtime) } : {}),
    ...(facts.uploadId !== '' ? { 'ftx-upload-id': facts.uploadId } : {}),
    ...(facts.source !== null ? { 'ftx-source-size': String(facts.source.size), 'ftx-source-mtime': String(facts.source.mtime) } : {}),
    ...(facts.md5 !== undefined ? { 'ftx-md5': facts.md5 } : {}),
  };
}

const intOr = (text: string | undefined, fallback: number, radix = 10): number => {
  const n = text === undefined ? NaN : parseInt(text, radix);
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
};

/** A stored object's facts as the Storage interface reports them. */
export interface StoredFacts {
  size: number;
  mtime: number;
  mode: number;
  md5: string | null;
  uploadId?: string;
  source: { size: number; mtime: number } | null;
}

/** Reads the facts back from a HEAD (objects not written by ftx: mode 0644, Last-Modified, md5 unknown). */
export function factsOf(head: HeadInfo): StoredFacts {
  const m = head.metadata;
  const md5 = m['ftx-md5'];
  const sourceSize = intOr(m['ftx-source-size'], -1);
  const sourceMtime = intOr(m['ftx-source-mtime'], -1);
  return {
    size: head.size,
    mtime: intOr(m['ftx-mtime'], head.lastModified),
    mode: intOr(m['ftx-mode'], 0o644, 8) & 0o777,
    md5: md5 !== undefined && /^[0-9a-f]{32}$/.test(md5) ? md5 : null,
    ...(m['ftx-upload-id'] !== undefined ? { uploadId: m['ftx-upload-id'] } : {}),
    source: sourceSize >= 0 && sourceMtime >= 0 ? { size: sourceSize, mtime: sourceMtime } : null,
  };
}
