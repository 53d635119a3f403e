/**
 * What a listing costs on the store (S3 commands counted, deterministically) and that reading ahead
 * changes nothing a client sees: a listing through the real list handler (FtxClient over loopback,
 * the server in this process) of 1,250 objects, more than one LIST page, flat and recursive; a
 * listing continued on another server (no window of its own) after a page that ended on a
 * subdirectory; and a fresh listing sees an object landed after the last one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FtxClient } from '../../src/client/client.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { landedMetadata } from '../../src/server/storage/s3/s3-metadata.js';
import { S3Storage } from '../../src/server/storage/s3/s3-storage.js';
import type { ListEntry } from '../../src/server/storage/storage.js';
import { counted } from './helpers/counted.js';
import { freshBucket, testClient } from './helpers/store.js';

const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
const COUNT = 1250;

let store: Awaited<ReturnType<typeof freshBucket>>;
let counts: Map<string, number>;
let storage: S3Storage;
let server: RunningServer;
let client: FtxClient;
/** Every file put, by name, with its md5. */
const want = new Map<string, string>();

/** Puts `name` as ftx lands it (its md5, mode and mtime in its metadata). */
async function putLanded(name: string): Promise<void> {
  const body = randomBytes(20 + (want.size % 30));
  want.set(name, md5(body).toString('hex'));
  await store.bucket.put(name, body, md5(body), landedMetadata({
    mode: 0o640, mtime: 1_700_000_000_000 + want.size, uploadId: '', source: null, md5: md5(body).toString('hex'),
  }));
}

beforeAll(async () => {
  store = await freshBucket('lr/');
  // 1,250 files in "d", 1 in "d/sub" (named so that it sorts among them), and a marker "d/empty/".
  const names = Array.from({ length: COUNT }, (_, i) => `d/f${String(i).padStart(4, '0')}`);
  for (let i = 0; i < names.length; i += 32) await Promise.all(names.slice(i, i + 32).map(putLanded));
  await putLanded('d/f0600sub/inner');
  await store.bucket.put('d/empty/', Buffer.alloc(0), md5(Buffer.alloc(0)), {});
  const s3 = testClient();
  counts = counted(s3);
  storage = new S3Storage(new S3Bucket(s3, store.location));
  server = await startServer({ storage, host: '127.0.0.1', port: 0, insecurePlaintext: true });
  client = new FtxClient({ host: '127.0.0.1', port: server.port, insecurePlaintext: true });
});
afterAll(async () => {
  await client?.close();
  await server?.close();
  await store?.remove();
});

const files = (entries: { name: string; type: string; md5?: string | null }[]): Map<string, string | null | undefined> =>
  new Map(entries.filter((e) => e.type === 'file').map((e) => [e.name, e.md5]));

describe('list on S3: LIST pages of 1,000 keys, HEADs read ahead', () => {
  it('flat: every entry once with its md5, from 2 LISTs and one HEAD per file (plus one for the path), read ahead 32 at once', async () => {
    counts.clear();
    const entries = await client.list('d');
    expect(entries.filter((e) => e.type === 'file')).toHaveLength(COUNT);
    expect(new Set(entries.map((e) => e.name)).size).toBe(entries.length);
    expect(entries.filter((e) => e.type === 'dir').map((e) => e.name)).toEqual(['d/empty', 'd/f0600sub']);
    for (const [name, sum] of files(entries)) expect(sum, name).toBe(want.get(name));
    expect(entries.find((e) => e.name === 'd/f0001')).toMatchObject({ mode: 0o640, mtime: 1_700_000_000_002 });
    expect(counts.get('ListObjectsV2Command')).toBe(2);
    expect(counts.get('HeadObjectCommand')).toBe(COUNT + 1);
    // Read ahead of the pages (which the handler asks 1 to 7 entries at a time), 32 at most at once.
    expect(counts.get('HEAD in flight')).toBeGreaterThan(7);
    expect(counts.get('HEAD in flight')).toBeLessThanOrEqual(32);
  });

  it('recursive: every file once with its md5, from 2 LISTs', async () => {
    counts.clear();
    const entries = await client.list('d', { recursive: true });
    expect(files(entries)).toEqual(new Map([...want].filter(([n]) => n.startsWith('d/'))));
    expect(entries.filter((e) => e.type === 'dir').map((e) => e.name)).toEqual(['d/empty', 'd/f0600sub']);
    expect(counts.get('ListObjectsV2Command')).toBe(2);
    expect(counts.get('HeadObjectCommand')).toBe(COUNT + 2);
  });

  it('a listing continued on another server, after a page that ended on a subdirectory, gives every entry once', async () => {
    const other = new S3Storage(new S3Bucket(testClient(), store.location));
    try {
      for (const recursive of [false, true]) {
        const seen: ListEntry[] = [];
        // d/empty, d/f0000 ... d/f0600, then the directory d/f0600sub ends the page.
        let page = await storage.list('d', { limit: 603, recursive });
        seen.push(...page!.entries);
        expect(seen.at(-1)?.name).toBe('d/f0600sub');
        // The next page, asked of both servers in turn, 7 entries at a time as the handler asks.
        for (let turn = 0; page!.nextCursor !== null; turn++) {
          page = await (turn % 2 === 0 ? other : storage).list('d', { limit: 7, recursive, cursor: page!.nextCursor });
          seen.push(...page!.entries);
        }
        expect(new Set(seen.map((e) => e.name)).size, `recursive ${recursive}`).toBe(seen.length);
        expect(seen.filter((e) => e.type === 'file')).toHaveLength(recursive ? COUNT + 1 : COUNT);
      }
    } finally {
      await other.close();
    }
  });

  it('a fresh listing LISTs again: an object landed since the last listing is in it', async () => {
    await client.list('d');
    await putLanded('d/f9999');
    const entries = await client.list('d');
    expect(files(entries).get('d/f9999')).toBe(want.get('d/f9999'));
  });
});
