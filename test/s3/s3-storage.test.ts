/**
 * S3Storage beyond the shared contract: a kept multipart partial is invisible and resumes through
 * another server's storage; check, already-landed and busy answered from the bucket; directories.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/server.js';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { S3Storage } from '../../src/server/storage/s3/s3-storage.js';
import type { Upload, UploadRequest } from '../../src/server/storage/storage.js';
import { Uploads } from '../../src/server/uploads/uploads.js';
import { freshBucket, testClient } from './helpers/store.js';

const MiB = 1 << 20;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

let store: Awaited<ReturnType<typeof freshBucket>>;
const opened: S3Storage[] = [];
beforeAll(async () => { store = await freshBucket('srv/'); });
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await store?.remove();
});

/** A "server": its own client and storage on the shared bucket. */
function server(): S3Storage {
  const storage = new S3Storage(new S3Bucket(testClient(), store.location), { partSize: 5 * MiB });
  opened.push(storage);
  return storage;
}

const target = (name: string, data: Buffer, extra: Partial<UploadRequest> = {}): UploadRequest => ({
  name, size: data.length, overwrite: false, rename: false, chunkSize: 4096, resume: true, keepPartial: true,
  source: { size: data.length, mtime: 42 }, mtime: 1_000_000, mode: 0o600, uploadId: `id-${name}`, ...extra,
});

function begin(storage: S3Storage, t: UploadRequest): Promise<Upload> {
  return storage.beginUpload(t);
}

async function writeRange(upload: Upload, data: Buffer, from: number, to: number): Promise<void> {
  for (let at = from; at < to; at += 256 * 1024) await upload.write(data.subarray(at, Math.min(to, at + 256 * 1024)));
}

describe('S3Storage', () => {
  it('a kept partial is invisible, resumes on another server, lands once, then is "already landed"', async () => {
    const a = server(), b = server();
    const data = randomBytes(12 * MiB + 5);
    const first = await begin(a, target('big/file.bin', data));
    await writeRange(first, data, 0, 11 * MiB);
    await first.suspend();
    expect(await a.stat('big/file.bin')).toBeNull();
    expect(await a.read('big/file.bin')).toBeNull();
    expect((await a.list('', { limit: 100, recursive: true }))?.entries).toEqual([]);
    const second = await begin(b, target('big/file.bin', data));
    expect(second.offset).toBe(10 * MiB);
    await writeRange(second, data, second.offset, data.length);
    expect(await second.commit(md5(data))).toEqual({ filename: 'big/file.bin', size: data.length, md5: md5(data) });
    expect(await a.stat('big/file.bin')).toMatchObject({ size: data.length, md5: md5(data), mode: 0o600, mtime: 1_000_000, uploadId: 'id-big/file.bin' });
    // The uploads layer answers a retry from what the bucket recorded with the object (any server).
    const { name: filename, ...rest } = target('big/file.bin', data);
    expect(await new Uploads(a).begin({ filename, ...rest })).toEqual({ landed: { filename: 'big/file.bin', size: data.length, md5: md5(data) } });
  });

  it('one winner per name across servers: large → 423 busy for the other upload, small → 409 for the loser', async () => {
    const a = server(), b = server();
    const data = randomBytes(9 * MiB); // over SMALL_MAX_BYTES: multipart, under the name's lease
    const upload = await begin(a, target('one.bin', data));
    await expect(b.beginUpload(target('one.bin', data, { uploadId: 'someone-else' }))).rejects.toMatchObject({ status: 423 });
    await upload.discard();
    const small = randomBytes(1000), other = randomBytes(1000);
    const ua = await begin(a, target('s.txt', small, { uploadId: 'x' }));
    const ub = await begin(b, target('s.txt', other, { uploadId: 'y' }));
    ua.write(small);
    ub.write(other);
    const results = await Promise.allSettled([ua.commit(md5(small)), ub.commit(md5(other))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { status: 409 } });
  });

  it('check answers identical / different / missing / forbidden from the bucket', async () => {
    const a = server();
    const data = randomBytes(5000);
    const u = await begin(a, target('c/x.txt', data));
    u.write(data);
    await u.commit(md5(data));
    expect(await server().check([
      { filename: 'c/x.txt', size: 5000, mtime: 1_000_000 },
      { filename: 'c/x.txt', size: 5000, mtime: 1_000_000, md5: md5(data) },
      { filename: 'c/x.txt', size: 5000, mtime: 1_000_000, md5: md5(Buffer.from('no')) },
      { filename: 'c/x.txt', size: 5001, mtime: 1_000_000 },
      { filename: 'c/none.txt', size: 1, mtime: 1 },
      { filename: '../up', size: 1, mtime: 1 },
    ])).toMatchObject([{ state: 'identical' }, { state: 'identical' }, { state: 'different' }, { state: 'different' }, { state: 'missing' }, { state: 'forbidden' }]);
  });

  it('makeDirectory: a marker, once; a file in the path is 409', async () => {
    const a = server();
    expect(await a.makeDirectory('d/e')).toBe(true);
    expect(await a.makeDirectory('d/e')).toBe(false);
    expect((await a.list('d', { limit: 10 }))?.entries).toMatchObject([{ name: 'd/e', type: 'directory' }]);
    await expect(a.makeDirectory('c/x.txt/sub')).rejects.toMatchObject({ status: 409 });
  });

  it('a large file where a directory is, or below a file, is 409 before any byte; a clash made meanwhile is 409 at commit', async () => {
    const a = server();
    const data = randomBytes(9 * MiB);
    const empty = createHash('md5').update(Buffer.alloc(0)).digest();
    await store.bucket.put('clash/file', Buffer.from('x'), createHash('md5').update('x').digest(), {});
    await store.bucket.put('clash/dir/inner.txt', Buffer.alloc(0), empty, {});
    await expect(begin(a, target('clash/file/below.bin', data))).rejects.toMatchObject({ status: 409, code: 'exists' });
    await expect(begin(a, target('clash/dir', data, { overwrite: true }))).rejects.toMatchObject({ status: 409, code: 'exists' });
    const late = await begin(a, target('clash/late.bin', data));
    await writeRange(late, data, 0, data.length);
    // Another server lands a file below the name while this upload is open.
    await store.bucket.put('clash/late.bin/x', Buffer.alloc(0), empty, {});
    await expect(late.commit(md5(data))).rejects.toMatchObject({ status: 409, code: 'exists' });
    expect(await store.bucket.head('clash/late.bin')).toBeNull();
    expect((await store.bucket.listMultipart()).uploads.filter((u) => u.key === 'clash/late.bin')).toEqual([]);
  });

  it('refuses names the rules refuse, before the store sees them', async () => {
    await expect(server().beginUpload(target('.ftx-state/partials/x', Buffer.alloc(1)))).rejects.toMatchObject({ status: 403 });
    expect(await server().stat('.ftx-state')).toBeNull();
  });
});

/** An S3Storage that counts its closes. */
class CountedStorage extends S3Storage {
  closes = 0;

  override async close(): Promise<void> {
    this.closes += 1;
    await super.close();
  }
}

describe('S3Storage given to startServer', () => {
  it('is left open when listening fails, serves on the next address, and is closed once with the server', async () => {
    // What ftx serve's "::" -> 0.0.0.0 fallback relies on to open the store once for both tries.
    const storage = new CountedStorage(new S3Bucket(testClient(), store.location));
    opened.push(storage);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await expect(startServer({ storage, host: '127.0.0.1', port, insecurePlaintext: true })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      taken.close();
    }
    expect(storage.closes).toBe(0);
    const running = await startServer({ storage, host: '127.0.0.1', port: 0, insecurePlaintext: true });
    const data = randomBytes(1000);
    const upload = await begin(storage, target('after-retry.bin', data, { resume: false, keepPartial: false }));
    await upload.write(data);
    await upload.commit(md5(data));
    expect((await storage.stat('after-retry.bin'))?.md5).toBe(md5(data));
    await running.close();
    expect(storage.closes).toBe(1);
  });
});
