/** The per-name lease (s3-lease.ts) on the real RGW: one holder, take-over by the same upload, expiry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lease } from '../../src/server/storage/s3/s3-lease.js';
import { freshBucket, testClient } from './helpers/store.js';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';

let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket(); });
afterAll(async () => { await store?.remove(); });

describe('lease', () => {
  it('has one holder; another upload is refused until it is released', async () => {
    const a = await Lease.acquire(store.bucket, 'one', { owner: 'srv-a', uploadId: 'u1' });
    expect(a).not.toBeNull();
    expect(await Lease.acquire(store.bucket, 'one', { owner: 'srv-b', uploadId: 'u2' })).toBeNull();
    expect(await a?.check()).toBe('held');
    expect(await a?.renew()).toBe(true);
    await a?.release();
    const b = await Lease.acquire(store.bucket, 'one', { owner: 'srv-b', uploadId: 'u2' });
    expect(b).not.toBeNull();
    expect(await a?.renew()).toBe(false);
    expect(await a?.check()).toBe('lost');
  });

  it('exactly one of 8 racers from separate clients wins a fresh name (5 trials)', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const buckets = Array.from({ length: 8 }, () => new S3Bucket(testClient(), store.location));
      const got = await Promise.all(buckets.map((b, i) => Lease.acquire(b, `race-${trial}`, { owner: `s${i}`, uploadId: `u${i}` })));
      expect(got.filter((l) => l !== null)).toHaveLength(1);
      for (const b of buckets) b.client.destroy();
    }
  });

  it('a retry of the same upload takes over: the holder sees handover, frees it, and loses it', async () => {
    const old = await Lease.acquire(store.bucket, 'take', { owner: 'srv-a', uploadId: 'same' });
    const taking = Lease.acquire(store.bucket, 'take', { owner: 'srv-b', uploadId: 'same' });
    // The holder notices at its next check and hands over (as an upload does between parts).
    let seen: string | undefined;
    for (let i = 0; i < 40 && seen !== 'handover'; i++) {
      seen = await old?.check();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen).toBe('handover');
    await old?.release();
    const t0 = Date.now();
    const taken = await taking;
    expect(taken).not.toBeNull();
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(await old?.renew()).toBe(false);
    expect(await taken?.check()).toBe('held');
  });

  it('a holder that stops renewing loses the lease after it expires (store clock)', async () => {
    const dead = await Lease.acquire(store.bucket, 'exp', { owner: 'srv-a', uploadId: 'u1', leaseMs: 1_000 });
    expect(await Lease.acquire(store.bucket, 'exp', { owner: 'srv-b', uploadId: 'u2', leaseMs: 1_000 })).toBeNull();
    await new Promise((r) => setTimeout(r, 4_500));
    const next = await Lease.acquire(store.bucket, 'exp', { owner: 'srv-b', uploadId: 'u2', leaseMs: 1_000 });
    expect(next).not.toBeNull();
    expect(await dead?.renew()).toBe(false);
  });
});
