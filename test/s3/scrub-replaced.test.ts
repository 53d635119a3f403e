/**
 * A scrub (`ftx verify`) of an object that is replaced while the scrub reads it: the md5 of the bytes
 * read is compared with a record (ftx-md5) read before them, so without a second look a legitimate
 * replacement (`put --force`, or a write by other means) would be called corrupt. The replacement is
 * made by the real store at the exact moment, deterministically: between the scrub's record read
 * (its listing) and its body read (a storage whose read first replaces the object), or between the
 * read's HEAD and its GET (a bucket whose GET first replaces it: the read is 409 `changed`).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { VerifyResult } from '../../src/protocol/read-replies.js';
import { ReadRate } from '../../src/server/limits/read-rate.js';
import { scrub } from '../../src/server/scrub.js';
import { startServer } from '../../src/server/server.js';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { S3Storage } from '../../src/server/storage/s3/s3-storage.js';
import { DiskStorage } from '../../src/server/storage/disk/disk-storage.js';
import type { ByteRange, Storage } from '../../src/server/storage/storage.js';
import { runFtx } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/server.js';
import { freshBucket, testClient } from './helpers/store.js';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** How a replacement records itself: as `put --force` does (its own ftx-md5), by other means (no metadata), or not at all (tampering: the old record kept). */
type Replacement = 'force' | 'foreign' | 'tamper';

/** Overwrites `key` with `body`, its metadata as `how` says. */
async function replace(bucket: S3Bucket, key: string, body: Buffer, how: Replacement): Promise<void> {
  const old = (await bucket.head(key))?.metadata ?? {};
  const metadata = how === 'foreign' ? {} : how === 'force' ? { ...old, 'ftx-md5': md5(body) } : old;
  await bucket.put(key, body, createHash('md5').update(body).digest(), metadata);
}

interface Armed { key: string; body: Buffer; how: Replacement }

/** A bucket whose next GET of the armed key first replaces that object (after the read's HEAD). */
class ReplacingBucket extends S3Bucket {
  armed: Armed | undefined;

  override async getRange(key: string, start: number, end: number, ifMatch?: string): Promise<Readable> {
    const armed = this.armed;
    if (armed?.key === key) {
      this.armed = undefined;
      await replace(this, key, armed.body, armed.how);
    }
    return super.getRange(key, start, end, ifMatch);
  }
}

/** A storage whose next read of the armed name first replaces that object (after the scrub listed it). */
class ReplacingStorage extends S3Storage {
  armed: Armed | undefined;

  override async read(name: string, range?: ByteRange): Promise<Readable | null> {
    const armed = this.armed;
    if (armed?.key === name) {
      this.armed = undefined;
      await replace(this.bucket, name, armed.body, armed.how);
    }
    return super.read(name, range);
  }
}

let store: Awaited<ReturnType<typeof freshBucket>>;
let bucket: ReplacingBucket;
let storage: ReplacingStorage;
beforeAll(async () => {
  store = await freshBucket('scrub/');
  bucket = new ReplacingBucket(testClient(), store.location);
  storage = new ReplacingStorage(bucket);
});
afterAll(async () => {
  await storage?.close();
  await store?.remove();
});

/** Lands `data` under `name` through a storage, as a put does (its md5 recorded). */
async function land(name: string, data: Buffer, into: Storage = storage): Promise<void> {
  const upload = await into.beginUpload({
    name, size: data.length, overwrite: true, rename: false, chunkSize: 4096, resume: false, keepPartial: false,
    source: null, mode: 0o644, mtime: 1_700_000_000_000,
  });
  await upload.write(data);
  await upload.commit(md5(data));
}

/** Scrubs `dir` and returns the result of `name`. */
async function scrubbed(dir: string, name: string, of: Parameters<typeof scrub>[0] = storage): Promise<VerifyResult | undefined> {
  const results: VerifyResult[] = [];
  await scrub(of, dir, new ReadRate(Infinity), { result: (r) => results.push(r), progress: () => undefined });
  return results.find((r) => r.filename === name);
}

describe('scrub of an object replaced while it is verified', () => {
  it('replaced between its record read and its body read, with its new md5 recorded (put --force): ok', async () => {
    await land('a/one.bin', randomBytes(5000));
    const now = randomBytes(5000);
    storage.armed = { key: 'a/one.bin', body: now, how: 'force' };
    expect(await scrubbed('a', 'a/one.bin')).toMatchObject({ state: 'ok', md5: md5(now) });
  });

  it('replaced by other means (no md5 recorded) between its record read and its body read: unrecorded, changed during verify', async () => {
    await land('b/two.bin', randomBytes(5000));
    const now = randomBytes(5000);
    storage.armed = { key: 'b/two.bin', body: now, how: 'foreign' };
    const result = await scrubbed('b', 'b/two.bin');
    expect(result).toMatchObject({ state: 'unrecorded', md5: md5(now) });
    expect(result?.message).toMatch(/changed during verify/);
  });

  it('replaced between the read\'s HEAD and its GET (the read is 409 changed): read again, ok', async () => {
    await land('c/three.bin', randomBytes(5000));
    const now = randomBytes(5000);
    bucket.armed = { key: 'c/three.bin', body: now, how: 'force' };
    expect(await scrubbed('c', 'c/three.bin')).toMatchObject({ state: 'ok', md5: md5(now) });
  });

  it('bytes changed under an unchanged record (tampering) are still corrupt', async () => {
    const landed = randomBytes(5000);
    await land('d/four.bin', landed);
    storage.armed = { key: 'd/four.bin', body: randomBytes(5000), how: 'tamper' };
    expect(await scrubbed('d', 'd/four.bin')).toMatchObject({ state: 'corrupt', recorded: md5(landed) });
  });

  it('ftx verify: a file replaced by other means mid-scrub is a line "changed during verify", exit 0; a tampered one exit 6', async () => {
    await land('e/five.bin', randomBytes(5000));
    await land('e/six.bin', randomBytes(5000));
    const server = await startServer({ storage, host: '127.0.0.1', port: 0, insecurePlaintext: true });
    try {
      const host = `127.0.0.1:${server.port}`;
      storage.armed = { key: 'e/five.bin', body: randomBytes(5000), how: 'foreign' };
      const changed = await runFtx(['verify', host, 'e'], { FTX_TOKEN: '' });
      expect(changed.code, changed.stderr).toBe(EXIT.OK);
      expect(changed.stdout).toMatch(/^e\/five\.bin: unrecorded: changed during verify/m);
      expect(changed.stderr).toContain('2 files');
      expect(changed.stderr).toContain('1 ok, 0 corrupt, 0 missing, 1 unrecorded');
      storage.armed = { key: 'e/six.bin', body: randomBytes(5000), how: 'tamper' };
      const tampered = await runFtx(['verify', host, 'e'], { FTX_TOKEN: '' });
      expect(tampered.code, tampered.stderr).toBe(EXIT.VERIFICATION);
      expect(tampered.stdout).toMatch(/^e\/six\.bin: CORRUPT/m);
    } finally {
      await server.close();
    }
  });
});

describe('the same on disk (the scrub is above the backends)', () => {
  it('a file landed again with put --force between its listing and its read: ok, not corrupt', async () => {
    const tmp = await makeTempDir('ftx-scrub-disk-');
    const disk = await DiskStorage.open(tmp.dir);
    try {
      await land('f/one.bin', randomBytes(5000), disk);
      const now = randomBytes(5000);
      let armed = true;
      const replacing: Parameters<typeof scrub>[0] = {
        stat: (name) => disk.stat(name),
        list: (dir, options) => disk.list(dir, options),
        recordedNames: (dir) => disk.recordedNames(dir),
        read: async (name, range) => {
          if (armed) {
            armed = false;
            await land(name, now, disk);
          }
          return disk.read(name, range);
        },
      };
      expect(await scrubbed('f', 'f/one.bin', replacing)).toMatchObject({ state: 'ok', md5: md5(now) });
    } finally {
      await disk.close();
      await tmp.cleanup();
    }
  });
});
