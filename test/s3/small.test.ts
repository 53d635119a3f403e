/** Small uploads on the real RGW (s3-small-upload.ts): one verified PutObject, no overwrite, rename. */
import { createHash, randomBytes } from 'node:crypto';
import { numberedName } from '../../src/server/uploads/names.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { ClashChecks } from '../../src/server/storage/s3/s3-clash.js';
import { SmallUpload, type SmallSetup } from '../../src/server/storage/s3/s3-small-upload.js';
import { freshBucket, testClient } from './helpers/store.js';

const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const numbered = numberedName;

let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket(); });
afterAll(async () => { await store?.remove(); });

const setup = (filename: string, extra: Partial<SmallSetup> = {}): SmallSetup => ({
  bucket: extra.bucket ?? store.bucket, clash: new ClashChecks(extra.bucket ?? store.bucket), filename, overwrite: false, rename: false, numbered,
  facts: { mode: 0o600, mtime: 1_234_000, uploadId: 'u', source: null }, ...extra,
});

async function put(s: SmallSetup, data: Buffer, md5 = md5hex(data)) {
  const upload = new SmallUpload(s);
  upload.write(data.subarray(0, 100));
  upload.write(data.subarray(100));
  return upload.commit(md5);
}

describe('small uploads', () => {
  it('lands with ftx-md5 and the facts; a wrong md5 stores nothing', async () => {
    const data = randomBytes(4096);
    expect(await put(setup('s/a.txt'), data)).toEqual({ filename: 's/a.txt', size: 4096, md5: md5hex(data) });
    expect((await store.bucket.head('s/a.txt'))?.metadata).toMatchObject({ 'ftx-md5': md5hex(data), 'ftx-mode': '600', 'ftx-mtime': '1234000' });
    await expect(put(setup('s/b.txt'), data, md5hex(Buffer.from('no')))).rejects.toMatchObject({ status: 422 });
    expect(await store.bucket.head('s/b.txt')).toBeNull();
  });

  it('never overwrites without overwrite; overwrite replaces; rename moves on to stem.N.ext', async () => {
    const one = randomBytes(300), two = randomBytes(300);
    await put(setup('x.tar.gz'), one);
    await expect(put(setup('x.tar.gz'), two)).rejects.toMatchObject({ status: 409, code: 'exists' });
    expect(await store.bucket.getBuffer('x.tar.gz')).toEqual(one);
    expect((await put(setup('x.tar.gz', { rename: true }), two)).filename).toBe('x.1.tar.gz');
    expect((await put(setup('x.tar.gz', { rename: true }), two)).filename).toBe('x.2.tar.gz');
    await put(setup('x.tar.gz', { overwrite: true }), two);
    expect(await store.bucket.getBuffer('x.tar.gz')).toEqual(two);
  });

  it('eight servers landing one name: exactly one wins, the others get 409', async () => {
    const buckets = Array.from({ length: 8 }, () => new S3Bucket(testClient(), store.location));
    const bodies = buckets.map(() => randomBytes(2000));
    const results = await Promise.allSettled(buckets.map((b, i) => put(setup('race.bin', { bucket: b }), bodies[i] as Buffer)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409 });
    expect(await store.bucket.getBuffer('race.bin')).toEqual(bodies[won[0] as number]);
    for (const b of buckets) b.client.destroy();
  });
});
