/**
 * The file/directory clash check for a batch of small files (s3-clash.ts): what it costs on the
 * store (counted per S3 command, deterministically) and that it still refuses every clash when
 * many files are checked together.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { ClashChecks } from '../../src/server/storage/s3/s3-clash.js';
import { S3Storage } from '../../src/server/storage/s3/s3-storage.js';
import { counted } from './helpers/counted.js';
import { freshBucket, testClient } from './helpers/store.js';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const empty = Buffer.alloc(0);
const EMPTY_MD5 = Buffer.from(md5(empty), 'hex');

let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket(); });
afterAll(async () => { await store?.remove(); });

/** Lands `files` as putmany does: every upload opened, written, then all committed at once. */
async function landTogether(storage: S3Storage, files: { name: string; data: Buffer }[]): Promise<PromiseSettledResult<unknown>[]> {
  const uploads = [];
  for (const f of files) {
    uploads.push(await storage.beginUpload({
      name: f.name, size: f.data.length, overwrite: false, rename: false, chunkSize: 4096, resume: false,
      keepPartial: false, source: null, mode: 0o644,
    }));
  }
  for (const [i, u] of uploads.entries()) await u.write(files[i]!.data);
  return Promise.allSettled(uploads.map((u, i) => u.commit(md5(files[i]!.data))));
}

describe('clash check of a batch', () => {
  it('128 small files into one directory: one PutObject each, and one LIST and one HEAD per level for the batch', async () => {
    const client = testClient();
    const counts = counted(client);
    const storage = new S3Storage(new S3Bucket(client, { bucket: store.name, prefix: 'cost/' }));
    const files = Array.from({ length: 128 }, (_, i) => ({ name: `d/e/f${String(i).padStart(4, '0')}.bin`, data: randomBytes(64) }));
    const results = await landTogether(storage, files);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(counts.get('PutObjectCommand')).toBe(128);
    // "d" and "d/e" are not files (two HEADs), nothing lies below any of the 128 names (one LIST).
    expect(counts.get('HeadObjectCommand') ?? 0).toBeLessThanOrEqual(2);
    expect(counts.get('ListObjectsV2Command') ?? 0).toBeLessThanOrEqual(1);
    await storage.close();
  });

  it('refuses exactly the names that are directories, among many checked together', async () => {
    const bucket = new S3Bucket(testClient(), { bucket: store.name, prefix: 'many/' });
    // A marker "d/b2/", a deep key below "d/b5", and foreign keys all around and between them.
    for (const key of ['d/b2/', 'd/b5/x/y', 'd/a', 'd/b1.x', 'd/b3', 'd/b4z', 'd/b6/', 'd/b9', 'd/\u{1F600}/', 'd/\uFF5E']) {
      await bucket.put(key, empty, EMPTY_MD5, {});
    }
    const names = ['d/b1', 'd/b2', 'd/b4', 'd/b5', 'd/b7', 'd/b8', 'd/\u{1F600}', 'd/\uFF5D', 'd/c'];
    const storage = new S3Storage(bucket);
    const results = await landTogether(storage, names.map((name) => ({ name, data: randomBytes(10) })));
    const refused = names.filter((_, i) => results[i]!.status === 'rejected');
    expect(refused).toEqual(['d/b2', 'd/b5', 'd/\u{1F600}']);
    for (const [i, r] of results.entries()) if (r.status === 'rejected') expect(r.reason, names[i]).toMatchObject({ status: 409, code: 'exists' });
    await storage.close();
  });

  it('pages through foreign keys in the range, and asks name by name beyond its page budget', async () => {
    const bucket = new S3Bucket(testClient(), { bucket: store.name, prefix: 'pages/' });
    const keys = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((k) => bucket.put(k, empty, EMPTY_MD5, {})));
    await bucket.put('k05x/', empty, EMPTY_MD5, {});
    await bucket.put('k27x/deep', empty, EMPTY_MD5, {});
    // Pages of 4 keys, at most 2 pages: "k05x" is found by the listing, "k27x" by the fallback.
    for (const options of [{ pageSize: 4, maxPages: 2 }, { pageSize: 1000, maxPages: 1 }]) {
      const checks = new ClashChecks(bucket, options);
      const asked = ['k01x', 'k05x', 'k13x', 'k27x', 'k29x'];
      expect(await Promise.all(asked.map((n) => checks.isDirectory(n)))).toEqual([false, true, false, true, false]);
    }
  });

  it('a name asked by several commits beyond the page budget is looked up once', async () => {
    const client = testClient();
    const counts = counted(client);
    const bucket = new S3Bucket(client, { bucket: store.name, prefix: 'dupes/' });
    await Promise.all(Array.from({ length: 8 }, (_, i) => bucket.put(`k${i}`, empty, EMPTY_MD5, {})));
    await bucket.put('k9x/deep', empty, EMPTY_MD5, {});
    counts.clear();
    // One page of 2 keys: "k9x" is not reached, and is asked by three commits of the same turn.
    const checks = new ClashChecks(bucket, { pageSize: 2, maxPages: 1 });
    const asked = ['k0x', 'k9x', 'k9x', 'k9x'];
    expect(await Promise.all(asked.map((n) => checks.isDirectory(n)))).toEqual([false, true, true, true]);
    // The range LIST, then one LIST below "k9x/" for the three.
    expect(counts.get('ListObjectsV2Command')).toBe(2);
  });

  it('a file above the names is refused for every file of the batch', async () => {
    const bucket = new S3Bucket(testClient(), { bucket: store.name, prefix: 'above/' });
    await bucket.put('f', empty, EMPTY_MD5, {});
    const storage = new S3Storage(bucket);
    const results = await landTogether(storage, ['f/a', 'f/b', 'g/c'].map((name) => ({ name, data: randomBytes(10) })));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    await storage.close();
  });
});

describe('check of many names', () => {
  it('names of one directory: absent ones answered from one LIST, present ones from their metadata', async () => {
    const client = testClient();
    const counts = counted(client);
    const storage = new S3Storage(new S3Bucket(client, { bucket: store.name, prefix: 'check/' }));
    const data = randomBytes(100);
    const landed = ['q/f010', 'q/f020', 'q/f030'];
    await landTogether(storage, landed.map((name) => ({ name, data })));
    counts.clear();
    const queries = Array.from({ length: 256 }, (_, i) => ({ filename: `q/f${String(i).padStart(3, '0')}`, size: 100, mtime: 0, md5: md5(data) }));
    queries[20] = { ...queries[20]!, md5: md5(Buffer.from('other')) };
    const results = await storage.check([...queries, { filename: '../escape', size: 1, mtime: 0 }]);
    const states = results.map((r) => r.state);
    expect(states[10]).toBe('identical');
    expect(states[20]).toBe('different');
    expect(states[30]).toBe('identical');
    expect(states[256]).toBe('forbidden');
    expect(states.filter((s) => s === 'missing')).toHaveLength(253);
    // One LIST for the 256 names, a HEAD only for the 3 that exist.
    expect(counts.get('ListObjectsV2Command')).toBe(1);
    expect(counts.get('HeadObjectCommand')).toBe(3);
    await storage.close();
  });
});
