/**
 * The state of a resumable multipart upload, kept in the bucket (`.ftx-state/partials/<key>.json`)
 * so that any server sharing the bucket can continue it, after a dropped connection, a restart or a
 * crash. Written after every recorded part: the durable offset is the end of the last part whose
 * ETag came back, and the md5 state saved at that boundary continues the whole-file digest.
 */
import { createHash } from 'node:crypto';
import type { PartInfo, S3Bucket } from './s3-bucket.js';
import { partialKey } from './s3-keys.js';
import { HASHER_ID } from './s3-md5.js';

/** Most parts of one S3 upload. */
export const MAX_PARTS = 10_000;
/** A part is about this big (whole protocol chunks, at least size / 10,000). */
export const TARGET_PART_SIZE = 16 << 20;
/** S3's smallest non-last part. */
export const MIN_PART_SIZE = 5 << 20;

/** What the bucket holds about one upload in progress. */
export interface PartialState {
  v: 1;
  /** The requested name (the state's key). */
  name: string;
  /** The key it lands under (a numbered one with rename); the multipart upload's key. */
  target: string;
  size: number;
  source: { size: number; mtime: number } | null;
  /** The client's id of the logical upload. */
  uploadId: string;
  /** The store's id of the multipart upload. */
  s3UploadId: string;
  partSize: number;
  chunkSize: number;
  parts: PartInfo[];
  /** End of the last recorded part. */
  durable: number;
  /** SavableMd5 state at `durable`. */
  md5State: string;
  hasher: string;
  mode: number;
  mtime: number | null;
  /** Last write, ms (the writer's clock; the sweeper also looks at the object's Last-Modified). */
  updated: number;
}

/** The part size of an upload: whole chunks, ≥ 5 MiB, few enough parts for the size. */
export function partSizeFor(size: number, chunkSize: number): number {
  const wanted = Math.max(TARGET_PART_SIZE, Math.ceil(size / MAX_PARTS));
  return Math.ceil(wanted / chunkSize) * chunkSize;
}

const isInt = (v: unknown, min = 0): v is number => Number.isSafeInteger(v) && (v as number) >= min;

/** Parses a state object; null when it is not one this build can continue (then the upload restarts at 0). */
export function parsePartialState(body: Buffer): PartialState | null {
  let s: Partial<PartialState>;
  try {
    s = JSON.parse(body.toString('utf8')) as Partial<PartialState>;
  } catch {
    return null;
  }
  if (s === null || typeof s !== 'object' || s.v !== 1 || s.hasher !== HASHER_ID) return null;
  if (typeof s.name !== 'string' || typeof s.target !== 'string' || typeof s.uploadId !== 'string' || typeof s.s3UploadId !== 'string') return null;
  if (!isInt(s.size) || !isInt(s.partSize, MIN_PART_SIZE) || !isInt(s.chunkSize, 1) || !isInt(s.durable) || !isInt(s.mode)) return null;
  if (typeof s.md5State !== 'string' || !Array.isArray(s.parts) || !isInt(s.updated)) return null;
  if (s.source !== null && (typeof s.source !== 'object' || !isInt(s.source?.size) || !isInt(s.source?.mtime))) return null;
  let end = 0;
  for (const [i, p] of s.parts.entries()) {
    if (p === null || typeof p !== 'object' || p.n !== i + 1 || !isInt(p.size, 1) || typeof p.etag !== 'string') return null;
    end += p.size;
  }
  if (end !== s.durable || s.durable > s.size) return null;
  return s as PartialState;
}

/** Reads the state of `name`; null when there is none or it cannot be continued. */
export async function loadPartialState(bucket: S3Bucket, name: string): Promise<{ state: PartialState | null; exists: boolean }> {
  const body = await bucket.getBuffer(partialKey(name));
  if (body === null) return { state: null, exists: false };
  const state = parsePartialState(body);
  return { state: state !== null && state.name === name ? state : null, exists: true };
}

/** Writes the state (a few ms; after every recorded part). */
export async function savePartialState(bucket: S3Bucket, state: PartialState): Promise<void> {
  const body = Buffer.from(JSON.stringify({ ...state, updated: Date.now() }));
  await bucket.put(partialKey(state.name), body, createHash('md5').update(body).digest(), { 'ftx-s3-upload-id': state.s3UploadId });
}

/** Removes the state (after Complete, or when the upload is discarded). */
export async function deletePartialState(bucket: S3Bucket, name: string): Promise<void> {
  await bucket.delete(partialKey(name));
}

/**
 * Does the store still hold every recorded part with its recorded ETag? A part beyond the state (an
 * upload that got its ETag lost, or a late part of a timed-out call) is fine: it is re-sent under the
 * same number, never left out (RGW refuses a Complete that omits an uploaded part).
 */
export function partsStillHeld(state: PartialState, listed: PartInfo[]): boolean {
  const byNumber = new Map(listed.map((p) => [p.n, p]));
  return state.parts.every((p) => byNumber.get(p.n)?.etag === p.etag && byNumber.get(p.n)?.size === p.size);
}
