import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { HashPool, sharedHashPool } from '../src/hashing/md5-pool.js';
import { sharedBlock } from '../src/hashing/hash-file.js';
import { startCutProxy } from './helpers/cut-proxy.js';
import { md5, withServer, writeRandomFile } from './helpers/server.js';

describe('hash pool', () => {
  it('hashes shared and copied blocks, and a copy() is a snapshot of the bytes posted before it', async () => {
    const pool = new HashPool(2);
    try {
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const block = sharedBlock(data.length);
      data.copy(block);
      const whole = pool.open();
      const first = block.subarray(0, 1024 * 1024);
      await whole.update(first); // shared: no copy
      const snapshot = whole.copy();
      await whole.update(data.subarray(1024 * 1024)); // not shared: copied
      expect(await whole.digest()).toBe(md5(data));
      expect(await snapshot.digest()).toBe(md5(data.subarray(0, 1024 * 1024)));
      expect(pool.hashedBytes).toBe(data.length);
    } finally {
      await pool.close();
    }
  });

  it('spreads concurrent md5s over its threads, up to its size', async () => {
    const pool = new HashPool(3);
    try {
      const states = Array.from({ length: 5 }, () => pool.open());
      expect(pool.running).toBe(3);
      const digests = await Promise.all(states.map(async (s, i) => { await s.update(Buffer.from(`x${i}`)); return s.digest(); }));
      expect(digests).toEqual(states.map((_, i) => createHash('md5').update(`x${i}`).digest('hex')));
    } finally {
      await pool.close();
    }
  });

  it('a thread that dies fails what it held with hash_failed, and the next md5 gets a new thread', async () => {
    const pool = new HashPool(1);
    const doomed = pool.open();
    await doomed.update(Buffer.from('abc'));
    await pool.close();
    await expect(doomed.digest()).rejects.toMatchObject({ code: 'hash_failed' });
    const fresh = pool.open();
    await fresh.update(Buffer.from('abc'));
    expect(await fresh.digest()).toBe(createHash('md5').update('abc').digest('hex'));
    await pool.close();
  });
});

describe('the client hashes on the hash pool', () => {
  it('a put is hashed by the pool\'s threads, not on the event loop', async () => {
    await withServer({}, async (fixture) => {
      const size = 8 * 1024 * 1024 + 99;
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      const client = new FtxClient({ host: '127.0.0.1', port: fixture.server.port });
      try {
        const before = sharedHashPool().hashedBytes;
        const receipt = await client.put(path, { remoteName: 'up.bin', resume: false });
        expect(receipt.md5).toBe(md5(data));
        // The threads confirmed hashing every byte sent (the server's own hashing is not on this pool).
        expect(sharedHashPool().hashedBytes - before).toBeGreaterThanOrEqual(size);
      } finally {
        await client.close();
      }
    });
  });

  it('a hash thread dying mid-upload fails the put with hash_failed; nothing lands; the next put works', async () => {
    await withServer({}, async (fixture) => {
      const size = 48 * 1024 * 1024;
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      const client = new FtxClient({ host: '127.0.0.1', port: fixture.server.port });
      try {
        let killed = false;
        const put = client.put(path, {
          remoteName: 'up.bin', resume: false,
          onProgress: (done) => { if (!killed && done > size / 4) { killed = true; void sharedHashPool().close(); } },
        });
        await expect(put).rejects.toMatchObject({ code: 'hash_failed' });
        expect(killed).toBe(true);
        expect((await readdir(fixture.root)).filter((n) => !n.startsWith('.ftx-'))).toEqual([]);
        // The dropped connection's upload may still hold the name for a moment (423 busy: retried).
        const next = new FtxClient({ host: '127.0.0.1', port: fixture.server.port, retry: { retries: 20, baseDelayMs: 20, maxDelayMs: 100 } });
        const receipt = await next.put(path, { remoteName: 'up.bin', resume: false }).finally(() => next.close());
        expect(receipt.md5).toBe(md5(data));
      } finally {
        await client.close().catch(() => undefined);
      }
    });
  });

  it('a resume after a cut continues from a snapshot kept on the hash thread, and verifies', async () => {
    await withServer({}, async (fixture) => {
      const size = 24 * 1024 * 1024 + 4321;
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      const proxy = await startCutProxy(fixture.server.port, Math.floor(size * 0.6));
      const client = new FtxClient({ host: '127.0.0.1', port: proxy.port, retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 20 } });
      try {
        const before = sharedHashPool().hashedBytes;
        const receipt = await client.put(path, { remoteName: 'up.bin' });
        expect(receipt.md5).toBe(md5(data));
        expect(receipt.resumedFrom).toBeGreaterThan(0);
        // The second attempt continued a snapshot: the prefix was not hashed again from disk.
        expect(sharedHashPool().hashedBytes - before).toBeLessThan(size * 1.2);
        expect(md5(await readFile(join(fixture.root, 'up.bin')))).toBe(md5(data));
      } finally {
        await client.close().catch(() => undefined);
        await proxy.close();
      }
    });
  });
});

describe('a stream on the hash pool', () => {
  /** The put request a client sent first through `proxy`, parsed (after the hello frame). */
  const putRequestOf = (stream: Buffer): { chunkSize: number } => {
    const hello = 4 + stream.readUInt32BE(0);
    return JSON.parse(stream.subarray(hello + 4, hello + 4 + stream.readUInt32BE(hello)).toString('utf8')) as { chunkSize: number };
  };

  it('is hashed by the pool\'s threads, in 256 KiB data frames unless a chunk size is asked for', async () => {
    await withServer({}, async (fixture) => {
      const data = randomBytes(5 * 1024 * 1024 + 3);
      const pieces = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
      for (const [asked, expected] of [[undefined, 256 * 1024], [4096, 4096]] as const) {
        const proxy = await startCutProxy(fixture.server.port, Infinity);
        const client = new FtxClient({ host: '127.0.0.1', port: proxy.port });
        try {
          const before = sharedHashPool().hashedBytes;
          const receipt = await client.putStream(Readable.from(pieces), { remoteName: `s-${expected}.bin`, ...(asked ? { chunkSize: asked } : {}) });
          expect(receipt.md5).toBe(md5(data));
          expect(sharedHashPool().hashedBytes - before).toBeGreaterThanOrEqual(data.length);
          expect(putRequestOf(proxy.firstStream()).chunkSize).toBe(expected);
          expect(md5(await readFile(join(fixture.root, `s-${expected}.bin`)))).toBe(md5(data));
        } finally {
          await client.close().catch(() => undefined);
          await proxy.close();
        }
      }
    });
  });
});
