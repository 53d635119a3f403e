/**
 * --max-size on S3: the limit in front of every backend's body (server/uploads/body-pieces.ts,
 * limitBody) is the only one; S3Storage and its writers have none of their own.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FtxClient } from '../../src/client/client.js';
import { startServer } from '../../src/server/server.js';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { S3Storage } from '../../src/server/storage/s3/s3-storage.js';
import { md5 } from '../helpers/server.js';
import { freshBucket, testClient } from './helpers/store.js';

let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket(); });
afterAll(async () => { await store?.remove(); });

describe('--max-size on an S3 server', () => {
  it('a stream of unknown size that grows past it is 413, nothing lands, the server goes on', async () => {
    const storage = new S3Storage(new S3Bucket(testClient(), store.location));
    const server = await startServer({ storage, host: '127.0.0.1', port: 0, maxSize: 256 * 1024 });
    const client = new FtxClient({ host: '127.0.0.1', port: server.port });
    const next = new FtxClient({ host: '127.0.0.1', port: server.port });
    try {
      const blocks = Array.from({ length: 8 }, () => randomBytes(64 * 1024)); // 512 KiB, size unknown
      await expect(client.putStream(Readable.from(blocks), { remoteName: 'grows.bin' })).rejects.toMatchObject({ code: 'too_large', status: 413 });
      expect(await store.bucket.head('grows.bin')).toBeNull();
      const small = Buffer.from('still serving');
      expect(await next.putStream(Readable.from([small]), { remoteName: 'after.txt' })).toMatchObject({ filename: 'after.txt', md5: md5(small) });
      expect(await store.bucket.head('after.txt')).not.toBeNull();
    } finally {
      client.destroy();
      await next.close();
      await server.close();
    }
  });
});
