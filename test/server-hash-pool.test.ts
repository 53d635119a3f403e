import { readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { HashPool } from '../src/hashing/md5-pool.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { DiskStorage } from '../src/server/storage/disk/disk-storage.js';
import { startCutProxy } from './helpers/cut-proxy.js';
import { spawnServe } from './helpers/cli.js';
import { md5, withTempRoot, writeRandomFile } from './helpers/server.js';

/** A server on `root` whose uploads are hashed on `pool` (the test's, to look at). */
async function withPooledServer(pool: HashPool, fn: (server: RunningServer, root: string, scratch: string) => Promise<void>): Promise<void> {
  await withTempRoot('ftx-hashpool-', async (root, scratch) => {
    const storage = await DiskStorage.open(root, { hashPool: pool });
    const server = await startServer({ storage, host: '127.0.0.1', port: 0 });
    try {
      await fn(server, root, scratch);
    } finally {
      await server.close();
      await pool.close();
    }
  });
}

const visible = async (root: string): Promise<string[]> => (await readdir(root)).filter((n) => !n.startsWith('.ftx-')).sort();

describe('the server hashes uploads on its hash pool', () => {
  it('spreads concurrent uploads over its threads', async () => {
    const pool = new HashPool(3);
    await withPooledServer(pool, async (server, root, scratch) => {
      const size = 6 * 1024 * 1024 + 11;
      const files = await Promise.all([0, 1, 2].map((i) => writeRandomFile(scratch, `src-${i}.bin`, size)));
      const clients = files.map(() => new FtxClient({ host: '127.0.0.1', port: server.port }));
      try {
        const receipts = await Promise.all(files.map((f, i) => clients[i]!.put(f.path, { remoteName: `up-${i}.bin`, resume: false })));
        expect(receipts.map((r) => r.md5)).toEqual(files.map((f) => md5(f.data)));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      expect(pool.running).toBe(3); // one thread per upload open at once
      expect(pool.hashedBytes).toBeGreaterThanOrEqual(3 * size);
      for (const [i, f] of files.entries()) expect(md5(await readFile(join(root, `up-${i}.bin`)))).toBe(md5(f.data));
    });
  });

  it('ftx serve --hash-threads N: N uploads at once hash on N threads of the server', async () => {
    const threadsOf = (pid: number): number => readdirSync(`/proc/${pid}/task`).length;
    // Threads the server process starts for 3 uploads at once (its pool keeps them until it stops).
    const threadsStartedWith = async (hashThreads: number): Promise<number> => {
      let started = NaN;
      await withTempRoot('ftx-hashthreads-', async (root, scratch) => {
        const serve = await spawnServe([root, '--port', '0', '--quiet', '--hash-threads', String(hashThreads)]);
        try {
          const before = threadsOf(serve.child.pid!);
          const files = await Promise.all([0, 1, 2].map((i) => writeRandomFile(scratch, `src-${i}.bin`, 6 * 1024 * 1024)));
          const clients = files.map(() => new FtxClient({ host: '127.0.0.1', port: serve.port }));
          try {
            await Promise.all(files.map((f, i) => clients[i]!.put(f.path, { remoteName: `up-${i}.bin`, resume: false })));
          } finally {
            await Promise.all(clients.map((c) => c.close()));
          }
          started = threadsOf(serve.child.pid!) - before;
        } finally {
          await serve.stop();
        }
      });
      return started;
    };
    const one = await threadsStartedWith(1);
    const three = await threadsStartedWith(3);
    expect(three - one).toBe(2);
  });

  it('an upload whose hash thread dies is refused, never lands, and the server goes on', async () => {
    const pool = new HashPool(1);
    await withPooledServer(pool, async (server, root, scratch) => {
      const size = 48 * 1024 * 1024;
      const { path, data } = await writeRandomFile(scratch, 'src.bin', size);
      const client = new FtxClient({ host: '127.0.0.1', port: server.port });
      let killed = false;
      try {
        const put = client.put(path, {
          remoteName: 'up.bin', resume: false,
          onProgress: (done) => { if (!killed && done > size / 4) { killed = true; void pool.close(); } },
        });
        await expect(put).rejects.toMatchObject({ code: 'internal' });
      } finally {
        await client.close().catch(() => undefined);
      }
      expect(killed).toBe(true);
      expect(await visible(root)).toEqual([]);
      const next = new FtxClient({ host: '127.0.0.1', port: server.port, retry: { retries: 20, baseDelayMs: 20, maxDelayMs: 100 } });
      const receipt = await next.put(path, { remoteName: 'up.bin', resume: false }).finally(() => next.close());
      expect(receipt.md5).toBe(md5(data));
      expect(await visible(root)).toEqual(['up.bin']);
    });
  });

  it('a resume continues from the md5 state the thread kept at the break, and verifies', async () => {
    const pool = new HashPool(2);
    await withPooledServer(pool, async (server, root, scratch) => {
      const size = 24 * 1024 * 1024 + 4321;
      const { path, data } = await writeRandomFile(scratch, 'src.bin', size);
      const proxy = await startCutProxy(server.port, Math.floor(size * 0.6));
      const client = new FtxClient({ host: '127.0.0.1', port: proxy.port, retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 20 } });
      try {
        const receipt = await client.put(path, { remoteName: 'up.bin' });
        expect(receipt.md5).toBe(md5(data));
        expect(receipt.resumedFrom).toBeGreaterThan(0);
      } finally {
        await client.close().catch(() => undefined);
        await proxy.close();
      }
      // The kept prefix was not read back and hashed again: the snapshot carried it.
      expect(pool.hashedBytes).toBeLessThan(size * 1.2);
      expect(md5(await readFile(join(root, 'up.bin')))).toBe(md5(data));
    });
  });
});
