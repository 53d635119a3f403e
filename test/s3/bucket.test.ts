/** The S3 primitives (s3-bucket.ts) against the real RGW: Content-MD5, conditions, multipart, deadlines. */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatusError } from '../../src/errors.js';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { createS3Client } from '../../src/server/storage/s3/s3-client.js';
import { freshBucket, storeEnv } from './helpers/store.js';

const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();

let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket('pre/fix/'); });
afterAll(async () => { await store?.remove(); });

describe('single objects', () => {
  it('stores a PUT with its metadata under the prefix, and refuses a wrong Content-MD5 without storing', async () => {
    const body = randomBytes(4096);
    const etag = await store.bucket.put('a.bin', body, md5(body), { 'ftx-md5': md5(body).toString('hex') });
    expect(etag).toBe(md5(body).toString('hex'));
    const head = await store.bucket.head('a.bin');
    expect(head).toMatchObject({ size: 4096, etag, metadata: { 'ftx-md5': md5(body).toString('hex') } });
    expect(Math.abs((head?.serverTime ?? 0) - Date.now())).toBeLessThan(60_000);
    expect((await store.bucket.listPage('', { limit: 10, recursive: true })).objects.map((o) => o.key)).toEqual(['a.bin']);
    const wrong = md5(Buffer.from('something else'));
    await expect(store.bucket.put('b.bin', body, wrong, {})).rejects.toBeInstanceOf(StatusError);
    expect(await store.bucket.head('b.bin')).toBeNull();
  });

  it('If-None-Match: * creates once; If-Match (unquoted ETag) swaps only from the current version', async () => {
    const one = Buffer.from('one'), two = Buffer.from('two'), three = Buffer.from('three');
    const e1 = await store.bucket.put('c', one, md5(one), {}, { ifNoneMatch: true });
    expect(await store.bucket.put('c', two, md5(two), {}, { ifNoneMatch: true })).toBe('conflict');
    expect(await store.bucket.getBuffer('c')).toEqual(one);
    const e2 = await store.bucket.put('c', two, md5(two), {}, { ifMatch: e1 as string });
    expect(e2).toBe(md5(two).toString('hex'));
    expect(await store.bucket.put('c', three, md5(three), {}, { ifMatch: e1 as string })).toBe('conflict');
    expect(await store.bucket.getBuffer('c')).toEqual(two);
  });

  it('replaces metadata in place', async () => {
    const body = randomBytes(100);
    const etag = await store.bucket.put('m', body, md5(body), { 'ftx-mode': '644' });
    await store.bucket.replaceMetadata('m', { 'ftx-mode': '600', 'ftx-md5': 'x' });
    expect(await store.bucket.head('m')).toMatchObject({ etag, metadata: { 'ftx-mode': '600', 'ftx-md5': 'x' } });
  });
});

describe('multipart driven by ftx', () => {
  it('uploads parts with Content-MD5, lists them, completes from the recorded ETags', async () => {
    const p1 = randomBytes(5 << 20), p2 = randomBytes(1000);
    const id = await store.bucket.createMultipart('big.bin', { 'ftx-mode': '644' });
    const e1 = await store.bucket.uploadPart('big.bin', id, 1, p1, md5(p1));
    await expect(store.bucket.uploadPart('big.bin', id, 2, p2, md5(p1))).rejects.toBeInstanceOf(StatusError);
    const e2 = await store.bucket.uploadPart('big.bin', id, 2, p2, md5(p2));
    expect(e1).toBe(md5(p1).toString('hex'));
    const listed = await store.bucket.listParts('big.bin', id);
    expect(listed).toEqual([{ n: 1, size: p1.length, etag: e1 }, { n: 2, size: 1000, etag: e2 }]);
    expect(await store.bucket.head('big.bin')).toBeNull(); // not visible before Complete
    expect((await store.bucket.listMultipart()).uploads.map((u) => u.key)).toContain('big.bin');
    await store.bucket.completeMultipart('big.bin', id, listed ?? [], true);
    expect(await store.bucket.head('big.bin')).toMatchObject({ size: p1.length + 1000, metadata: { 'ftx-mode': '644' } });
    const range = await store.bucket.getRange('big.bin', 5 << 20, (5 << 20) + 1000);
    const chunks: Buffer[] = [];
    for await (const c of range) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(p2);
  });

  it('an aborted upload is gone: ListParts null, abort again is fine', async () => {
    const id = await store.bucket.createMultipart('gone.bin', {});
    await store.bucket.abortMultipart('gone.bin', id);
    expect(await store.bucket.listParts('gone.bin', id)).toBeNull();
    await store.bucket.abortMultipart('gone.bin', id);
  });
});

describe('deadlines', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // A store that accepts connections and never answers, like a full RGW.
    silent = createServer((s) => { sockets.push(s); s.resume(); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('a write that hangs is 507 (never "nothing stored"), a read that hangs is 503', async () => {
    const port = (silent.address() as { port: number }).port;
    const env = { ...process.env, ...storeEnv() };
    const client = createS3Client({ endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: 400 }, env);
    const hung = new S3Bucket(client, { bucket: 'x', prefix: '' }, 400);
    const body = Buffer.from('hello');
    const t0 = Date.now();
    const write = await hung.put('k', body, md5(body), {}).catch((e: unknown) => e);
    expect(write).toBeInstanceOf(StatusError);
    expect(write).toMatchObject({ status: 507, code: 'insufficient_storage' });
    expect((write as Error).message).toMatch(/may still land later/);
    const read = await hung.head('k').catch((e: unknown) => e);
    expect(read).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect(Date.now() - t0).toBeLessThan(20_000);
    client.destroy();
  });
});
