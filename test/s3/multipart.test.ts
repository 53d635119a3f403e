/**
 * Large uploads on the real RGW (s3-multipart-begin/upload.ts): verified before visible, resume from
 * the state in the bucket in a fresh "process" (new client, new md5 object), no overwrite at commit,
 * a lost lease never completes, and the sweeper.
 */
import { createHash, randomBytes } from 'node:crypto';
import { numberedName } from '../../src/server/uploads/names.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { partialKey } from '../../src/server/storage/s3/s3-keys.js';
import { Lease } from '../../src/server/storage/s3/s3-lease.js';
import { openMultipart, type MultipartRequest } from '../../src/server/storage/s3/s3-multipart-begin.js';
import { sweepStaleUploads } from '../../src/server/storage/s3/s3-sweeper.js';
import { freshBucket, testClient } from './helpers/store.js';

const MiB = 1 << 20;
const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const numbered = numberedName;

let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket('served/'); });
afterAll(async () => { await store?.remove(); });

function request(name: string, data: Buffer, extra: Partial<MultipartRequest> = {}): MultipartRequest {
  return {
    name, size: data.length, chunkSize: 4096, overwrite: false, rename: false, resume: true, keepPartial: true,
    facts: { mode: 0o640, mtime: 1_700_000_000_000, uploadId: `up-${name}`, source: { size: data.length, mtime: 1 } },
    owner: 'srv-a', numbered, partSize: 5 * MiB, ...extra,
  };
}

/** Writes data[from, to) in uneven chunks, waiting when asked to. */
async function feed(upload: { write(c: Buffer): Promise<void> | undefined }, data: Buffer, from: number, to: number): Promise<void> {
  for (let at = from; at < to;) {
    const n = Math.min(to - at, 1 + Math.floor(Math.random() * 700_000));
    await upload.write(data.subarray(at, at + n));
    at += n;
  }
}

async function content(bucket: S3Bucket, key: string, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await bucket.getRange(key, 0, size)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('multipart uploads', () => {
  it('lands only after the whole md5 matched, with ftx-md5 and the facts in its metadata', async () => {
    const data = randomBytes(12 * MiB + 777);
    const upload = await openMultipart(store.bucket, request('a/big.bin', data));
    await feed(upload, data, 0, data.length);
    expect(await store.bucket.head('a/big.bin')).toBeNull();
    const receipt = await upload.commit(md5hex(data));
    expect(receipt).toEqual({ filename: 'a/big.bin', size: data.length, md5: md5hex(data) });
    const head = await store.bucket.head('a/big.bin');
    expect(head?.metadata).toMatchObject({ 'ftx-md5': md5hex(data), 'ftx-mode': '640', 'ftx-mtime': '1700000000000', 'ftx-upload-id': 'up-a/big.bin' });
    expect((await content(store.bucket, 'a/big.bin', data.length)).equals(data)).toBe(true);
    expect(await store.bucket.getBuffer(partialKey('a/big.bin'))).toBeNull();
  });

  it('a wrong md5 is 422 and leaves nothing: no object, no multipart upload, no state', async () => {
    const data = randomBytes(6 * MiB);
    const upload = await openMultipart(store.bucket, request('bad.bin', data));
    await feed(upload, data, 0, data.length);
    await expect(upload.commit(md5hex(Buffer.from('x')))).rejects.toMatchObject({ status: 422 });
    expect(await store.bucket.head('bad.bin')).toBeNull();
    expect((await store.bucket.listMultipart()).uploads.filter((u) => u.key === 'bad.bin')).toEqual([]);
    expect(await store.bucket.getBuffer(partialKey('bad.bin'))).toBeNull();
  });

  it('a wrong md5 leaves no state even when the state write of the last part is still on its way', async () => {
    // Every PutObject of a partial state takes 400 ms longer (a loaded store): the commit's md5 check
    // fails while the write queued by the first part is in flight, and the discard must come after it.
    const slow = testClient();
    slow.middlewareStack.add((next, context) => async (args) => {
      const input = (args as { input?: { Key?: string } }).input;
      if ((context as { commandName?: string }).commandName === 'PutObjectCommand' && input?.Key === `served/${partialKey('late.bin')}`) {
        await new Promise((r) => setTimeout(r, 400));
      }
      return next(args);
    }, { step: 'initialize', name: 'ftxTestSlowState' });
    const bucket = new S3Bucket(slow, store.location);
    const data = randomBytes(6 * MiB);
    const upload = await openMultipart(bucket, request('late.bin', data));
    await feed(upload, data, 0, data.length);
    await expect(upload.commit(md5hex(Buffer.from('x')))).rejects.toMatchObject({ status: 422 });
    await new Promise((r) => setTimeout(r, 1_000)); // any state write still on its way has landed by now
    expect(await store.bucket.getBuffer(partialKey('late.bin'))).toBeNull();
    expect((await store.bucket.listMultipart()).uploads.filter((u) => u.key === 'late.bin')).toEqual([]);
    slow.destroy();
  });

  it('resumes after a suspend from another client at the last recorded part, and the md5 continues', async () => {
    const data = randomBytes(17 * MiB + 12_345);
    const first = await openMultipart(store.bucket, request('resume.bin', data));
    await feed(first, data, 0, 11 * MiB + 777);
    await first.suspend();
    // A "restarted server": its own client, nothing in memory.
    const other = new S3Bucket(testClient(), store.location);
    const second = await openMultipart(other, request('resume.bin', data, { owner: 'srv-b' }));
    expect(second.offset).toBe(10 * MiB);
    await feed(second, data, second.offset, data.length);
    expect((await second.commit(md5hex(data))).md5).toBe(md5hex(data));
    expect((await content(store.bucket, 'resume.bin', data.length)).equals(data)).toBe(true);
    other.client.destroy();
  });

  it('a changed source starts again at 0 (never stitched onto the old prefix)', async () => {
    const data = randomBytes(11 * MiB);
    const first = await openMultipart(store.bucket, request('changed.bin', data));
    await feed(first, data, 0, 10 * MiB);
    await first.suspend();
    const req = request('changed.bin', data);
    const second = await openMultipart(store.bucket, { ...req, facts: { ...req.facts, source: { size: data.length, mtime: 2 } } });
    expect(second.offset).toBe(0);
    await second.discard();
  });

  it('without overwrite, a name landed meanwhile wins: 409 at commit, the other file intact', async () => {
    const data = randomBytes(6 * MiB);
    const upload = await openMultipart(store.bucket, request('taken.bin', data));
    await feed(upload, data, 0, data.length);
    const small = Buffer.from('landed first');
    await store.bucket.put('taken.bin', small, createHash('md5').update(small).digest(), {}, { ifNoneMatch: true });
    await expect(upload.commit(md5hex(data))).rejects.toMatchObject({ status: 409, code: 'exists' });
    expect(await store.bucket.getBuffer('taken.bin')).toEqual(small);
  });

  it('another upload of the name is 423 busy; an upload that lost its lease never completes', async () => {
    const data = randomBytes(11 * MiB);
    let preempted = false;
    const upload = await openMultipart(store.bucket, request('leased.bin', data, { preempt: () => { preempted = true; } }));
    await expect(openMultipart(store.bucket, request('leased.bin', data, { facts: { ...request('x', data).facts, uploadId: 'other' } })))
      .rejects.toMatchObject({ status: 423, code: 'busy' });
    await feed(upload, data, 0, 5 * MiB);
    // A retry of the same upload on another server takes the lease over (the old holder does not answer).
    const taker = await Lease.acquire(store.bucket, 'leased.bin', { owner: 'srv-b', uploadId: 'up-leased.bin' });
    expect(taker).not.toBeNull();
    await feed(upload, data, 5 * MiB, data.length).catch(() => undefined);
    await expect(upload.commit(md5hex(data))).rejects.toMatchObject({ status: 423 });
    expect(preempted).toBe(true);
    expect(await store.bucket.head('leased.bin')).toBeNull();
  });

  it('the sweeper aborts stale partials and orphaned multipart uploads, and leaves fresh ones', async () => {
    const data = randomBytes(6 * MiB);
    const kept = await openMultipart(store.bucket, request('stale.bin', data));
    await feed(kept, data, 0, 5 * MiB);
    await kept.suspend();
    const orphan = await store.bucket.createMultipart('orphan.bin', {});
    expect(await sweepStaleUploads(store.bucket, { ttlMs: 60_000, owner: 'sweeper' })).toBe(0);
    const removed = await sweepStaleUploads(store.bucket, { ttlMs: 60_000, owner: 'sweeper', now: Date.now() + 120_000 });
    expect(removed).toBeGreaterThanOrEqual(2);
    expect(await store.bucket.getBuffer(partialKey('stale.bin'))).toBeNull();
    const left = (await store.bucket.listMultipart()).uploads.map((u) => u.uploadId);
    expect(left).not.toContain(orphan);
  });
});
