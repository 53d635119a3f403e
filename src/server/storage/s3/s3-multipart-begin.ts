/**
 * Opening a large upload: take the name's lease (423 when another upload holds it), find a kept
 * partial of the same source in the bucket and check that the store still holds every recorded part
 * (ListParts), or start a new multipart upload with the metadata known up front.
 */
import { StatusError } from '../../../errors.js';
import { ERROR_CODE } from '../../../protocol/constants.js';
import type { S3Bucket } from './s3-bucket.js';
import { isDirectory, isObject, refuseFileAbove } from './s3-clash.js';
import { Lease } from './s3-lease.js';
import { SavableMd5, HASHER_ID } from './s3-md5.js';
import { landedMetadata, type ObjectFacts } from './s3-metadata.js';
import { MultipartUpload } from './s3-multipart-upload.js';
import {
  deletePartialState, loadPartialState, partsStillHeld, partSizeFor, savePartialState, type PartialState,
} from './s3-partial-state.js';

/** Most numbered names tried with rename (as on disk). */
const MAX_RENAME = 1000;

/** What a large put asks for. */
export interface MultipartRequest {
  name: string;
  size: number;
  chunkSize: number;
  overwrite: boolean;
  rename: boolean;
  resume: boolean;
  keepPartial: boolean;
  facts: ObjectFacts;
  /** This server's id. */
  owner: string;
  preempt?: () => void;
  /** "stem.N.ext" for a name (the uploads layer's rule). */
  numbered: (name: string, n: number) => string;
  /** Override the part size (tests: 5 MiB parts keep files small). */
  partSize?: number;
  maxInFlight?: number;
}

const busy = (name: string): StatusError =>
  new StatusError(423, ERROR_CODE.BUSY, `another upload of ${name} is in progress (here or on another server)`);
const exists = (name: string): StatusError => new StatusError(409, ERROR_CODE.EXISTS, `${name} exists`);

/** Opens (or resumes) a multipart upload under the name's lease. */
export async function openMultipart(bucket: S3Bucket, req: MultipartRequest): Promise<MultipartUpload> {
  const claim = { owner: req.owner, uploadId: req.facts.uploadId };
  const lease = await Lease.acquire(bucket, req.name, claim);
  if (lease === null) throw busy(req.name);
  const leases = [lease];
  try {
    // Refused before any byte is sent, as on disk; commit looks again just before Complete.
    await refuseFileAbove(req.name, (key) => isObject(bucket, key));
    const kept = await keptPartial(bucket, req);
    let target = kept?.state.target ?? req.name;
    const directory = kept === null && (await isDirectory(bucket, target));
    if (directory && !req.rename) throw new StatusError(409, ERROR_CODE.EXISTS, `${req.name} exists and is a directory`);
    if (kept === null && (directory || (!req.overwrite && (await bucket.head(target)) !== null))) {
      if (!req.rename) throw exists(req.name);
      target = await freeNumberedName(bucket, req, leases);
    }
    if (target !== req.name && kept !== null) {
      const extra = await Lease.acquire(bucket, target, claim);
      if (extra === null) throw busy(target);
      leases.push(extra);
    }
    const state = kept?.state ?? (await newPartial(bucket, req, target));
    const md5 = kept?.md5 ?? (await SavableMd5.create());
    return new MultipartUpload({
      bucket, leases, state, md5, target, overwrite: req.overwrite, keepPartial: req.keepPartial, facts: req.facts,
      ...(req.preempt !== undefined ? { preempt: req.preempt } : {}),
      ...(req.maxInFlight !== undefined ? { maxInFlight: req.maxInFlight } : {}),
    });
  } catch (error) {
    for (const held of leases) await held.release().catch(() => undefined);
    throw error;
  }
}

/** The first free "stem.N.ext" whose lease this upload can take (a busy candidate counts as taken). */
async function freeNumberedName(bucket: S3Bucket, req: MultipartRequest, leases: Lease[]): Promise<string> {
  for (let n = 1; n <= MAX_RENAME; n++) {
    const candidate = req.numbered(req.name, n);
    if ((await bucket.head(candidate)) !== null || (await isDirectory(bucket, candidate))) continue;
    const lease = await Lease.acquire(bucket, candidate, { owner: req.owner, uploadId: req.facts.uploadId });
    if (lease === null) continue;
    leases.push(lease);
    return candidate;
  }
  throw new StatusError(409, ERROR_CODE.EXISTS, `${req.name} and its numbered names are taken`);
}

/** A kept partial of this exact source that the store still holds; else null (and a stale one removed). */
async function keptPartial(bucket: S3Bucket, req: MultipartRequest): Promise<{ state: PartialState; md5: SavableMd5 } | null> {
  const { state, exists: found } = await loadPartialState(bucket, req.name);
  if (state === null) {
    if (found) await deletePartialState(bucket, req.name);
    return null;
  }
  const source = req.facts.source;
  const same = req.resume && source !== null && state.source !== null && state.source.size === source.size
    && state.source.mtime === source.mtime && state.size === req.size && state.durable % req.chunkSize === 0
    && state.partSize % req.chunkSize === 0 && state.hasher === HASHER_ID && (state.target === req.name || !req.overwrite);
  const listed = same ? await bucket.listParts(state.target, state.s3UploadId) : null;
  if (same && listed !== null && partsStillHeld(state, listed)) {
    try {
      return { state: { ...state, chunkSize: req.chunkSize }, md5: await SavableMd5.create(state.md5State) };
    } catch {
      // a state this hash-wasm cannot load: start again
    }
  }
  await bucket.abortMultipart(state.target, state.s3UploadId);
  await deletePartialState(bucket, req.name);
  return null;
}

/** Starts a new multipart upload and writes its first state. */
async function newPartial(bucket: S3Bucket, req: MultipartRequest, target: string): Promise<PartialState> {
  const s3UploadId = await bucket.createMultipart(target, landedMetadata(req.facts));
  const state: PartialState = {
    v: 1, name: req.name, target, size: req.size, source: req.facts.source, uploadId: req.facts.uploadId, s3UploadId,
    partSize: req.partSize ?? partSizeFor(req.size, req.chunkSize), chunkSize: req.chunkSize, parts: [], durable: 0,
    md5State: (await SavableMd5.create()).save(), hasher: HASHER_ID, mode: req.facts.mode, mtime: req.facts.mtime, updated: Date.now(),
  };
  if (req.keepPartial) await savePartialState(bucket, state);
  return state;
}
