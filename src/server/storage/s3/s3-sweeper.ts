/**
 * The server's own clean-up of stale uploads (`--partial-ttl`): a bucket lifecycle rule
 * (AbortIncompleteMultipartUpload) counts whole days and runs in a nightly window, so it is only a
 * backstop. Safe with several servers: a partial is only removed by whoever takes its lease, and a
 * live upload holds (and renews) it.
 */
import type { S3Bucket } from './s3-bucket.js';
import { Lease } from './s3-lease.js';
import { PARTIALS_PREFIX } from './s3-keys.js';
import { deletePartialState, parsePartialState } from './s3-partial-state.js';

/** What a sweep may remove. */
export interface SweepOptions {
  ttlMs: number;
  /** This server's id (for the lease it takes while removing). */
  owner: string;
  /** Names with an upload open on this server: left alone. */
  isOpen?: (name: string) => boolean;
  now?: number;
}

/** Removes partials not written for longer than the TTL, and orphaned multipart uploads; returns how many. */
export async function sweepStaleUploads(bucket: S3Bucket, options: SweepOptions): Promise<number> {
  const now = options.now ?? Date.now();
  const live = new Set<string>();
  let removed = 0;
  let cursor: string | undefined;
  do {
    const page = await bucket.listPage(PARTIALS_PREFIX, { limit: 1000, recursive: true, ...(cursor !== undefined ? { cursor } : {}) });
    for (const object of page.objects) {
      const body = await bucket.getBuffer(object.key);
      const state = body === null ? null : parsePartialState(body);
      if (state === null) {
        if (now - object.lastModified > options.ttlMs) await bucket.delete(object.key);
        continue;
      }
      const stale = now - Math.max(object.lastModified, state.updated) > options.ttlMs;
      if (!stale || options.isOpen?.(state.name) === true) {
        live.add(state.s3UploadId);
        continue;
      }
      const lease = await Lease.acquire(bucket, state.name, { owner: options.owner, uploadId: '' });
      if (lease === null) {
        live.add(state.s3UploadId); // someone is writing it right now
        continue;
      }
      try {
        // Under the lease nobody else writes it; but it may have been resumed just before.
        const again = await bucket.getBuffer(object.key);
        const still = again === null ? null : parsePartialState(again);
        if (still === null || still.s3UploadId !== state.s3UploadId || now - still.updated <= options.ttlMs) {
          if (still !== null) live.add(still.s3UploadId);
          continue;
        }
        await bucket.abortMultipart(state.target, state.s3UploadId);
        await deletePartialState(bucket, state.name);
        removed++;
      } finally {
        await lease.release();
      }
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return removed + (await abortOrphans(bucket, live, now, options.ttlMs));
}

/** Multipart uploads no state refers to (a crash before the first state write, a stream put), older than the TTL. */
async function abortOrphans(bucket: S3Bucket, live: Set<string>, now: number, ttlMs: number): Promise<number> {
  let removed = 0;
  let cursor: { key: string; uploadId: string } | undefined;
  do {
    const page = await bucket.listMultipart(cursor);
    for (const upload of page.uploads) {
      if (live.has(upload.uploadId) || now - upload.initiated <= ttlMs) continue;
      await bucket.abortMultipart(upload.key, upload.uploadId);
      removed++;
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return removed;
}
