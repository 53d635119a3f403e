/**
 * An object replaced while S3Storage reads it (between its HEAD and its GET, which carries If-Match
 * on the HEAD's ETag): the read is refused as the disk refuses a file changed while it is read,
 * 409 `changed`, never spliced from two versions; through a server, `ftx get` exits 5 and lands
 * nothing. The replacement is made by the real store at the exact moment (a bucket whose GET first
 * overwrites the object), so no timing decides the outcome.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { S3Storage } from '../../src/server/storage/s3/s3-storage.js';
import { runFtx } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/server.js';
import { freshBucket, testClient } from './helpers/store.js';

const md5Raw = (b: Buffer): Buffer => createHash('md5').update(b).digest();

/** A bucket whose next GET of `armed.key` first replaces that object with `armed.body` (same metadata). */
class ReplacingBucket extends S3Bucket {
  armed: { key: string; body: Buffer } | undefined;

  override async getRange(key: string, start: number, end: number, ifMatch?: string): Promise<Readable> {
    const armed = this.armed;
    if (armed?.key === key) {
      this.armed = undefined;
      const head = await this.head(key);
      await this.put(key, armed.body, md5Raw(armed.body), head?.metadata ?? {});
    }
    return super.getRange(key, start, end, ifMatch);
  }
}

let store: Awaited<ReturnType<typeof freshBucket>>;
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let bucket: ReplacingBucket;
let server: RunningServer;
let host: string;
beforeAll(async () => {
  store = await freshBucket('chg/');
  tmp = await makeTempDir('ftx-s3-changed-');
  bucket = new ReplacingBucket(testClient(), store.location);
  server = await startServer({ storage: new S3Storage(bucket), host: '127.0.0.1', port: 0, insecurePlaintext: true });
  host = `127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server?.close();
  await store?.remove();
  await tmp?.cleanup();
});

async function land(name: string, data: Buffer): Promise<void> {
  const src = join(tmp.dir, name);
  await writeFile(src, data);
  const put = await runFtx(['put', src, host, '--no-progress'], { FTX_TOKEN: '' });
  expect(put.code, put.stderr).toBe(0);
}

describe('S3Storage.read of an object replaced while it is read', () => {
  it('is 409 changed, as on disk; read again, it gives the new bytes', async () => {
    const data = randomBytes(100_000);
    await land('one.bin', data);
    const storage = new S3Storage(bucket);
    const other = randomBytes(100_000);
    bucket.armed = { key: 'one.bin', body: other };
    await expect(storage.read('one.bin')).rejects.toMatchObject({ status: 409, code: 'changed' });
    const chunks: Buffer[] = [];
    for await (const c of (await storage.read('one.bin'))!) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(other);
  });

  it('ftx get: exit 5 with "changed", nothing lands locally', async () => {
    await land('two.bin', randomBytes(300_000));
    bucket.armed = { key: 'two.bin', body: randomBytes(300_000) };
    const dest = join(tmp.dir, 'dest');
    await mkdir(dest);
    const got = await runFtx(['get', host, 'two.bin', `${dest}/`, '--no-progress'], { FTX_TOKEN: '' });
    expect(got.code, got.stderr).toBe(EXIT.REJECTED);
    expect(got.stderr).toContain('(server: 409 changed)');
    expect(await readdir(dest)).toEqual([]);
  });
});
