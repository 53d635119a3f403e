import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { HashPool } from '../src/hashing/md5-pool.js';
import { startServer } from '../src/server/server.js';
import { DiskStorage } from '../src/server/storage/disk/disk-storage.js';
import { BLOCK_BUDGET, blocksHeld } from '../src/server/storage/disk/write-blocks.js';
import { md5, withTempRoot, writeRandomFile } from './helpers/server.js';

describe('memory of many uploads at once', () => {
  it('16 uploads on one hash thread hold two blocks each over BLOCK_BUDGET, not a window each', async () => {
    const pool = new HashPool(1); // the slowest case: every upload waits for the same thread
    await withTempRoot('ftx-budget-', async (root, scratch) => {
      const storage = await DiskStorage.open(root, { hashPool: pool });
      const server = await startServer({ storage, host: '127.0.0.1', port: 0 });
      const size = 8 * 1024 * 1024 + 5;
      const files = await Promise.all([...Array(16).keys()].map((i) => writeRandomFile(scratch, `src-${i}.bin`, size)));
      const clients = files.map(() => new FtxClient({ host: '127.0.0.1', port: server.port }));
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, blocksHeld()); }, 1);
      // Keep the one thread busy with other work too, so that the uploads' bytes pile up behind it.
      const busy = pool.open();
      const ballast = new Uint8Array(new SharedArrayBuffer(32 * 1024 * 1024));
      let done = false;
      const keepBusy = (async () => { while (!done) await busy.update(ballast); })();
      try {
        const receipts = await Promise.all(files.map((f, i) => clients[i]!.put(f.path, { remoteName: `up-${i}.bin`, resume: false })));
        expect(receipts.map((r) => r.md5)).toEqual(files.map((f) => md5(f.data)));
      } finally {
        done = true;
        await keepBusy;
        busy.dispose();
        clearInterval(sampler);
        await Promise.all(clients.map((c) => c.close()));
        await server.close();
        await pool.close();
      }
      // Over the budget each upload holds the block it fills and the one being written and hashed
      // (2 x 16 = 32 here); without the budget each also keeps its window behind the thread (43).
      expect(peak).toBeGreaterThanOrEqual(BLOCK_BUDGET);
      expect(peak).toBeLessThanOrEqual(Math.max(BLOCK_BUDGET, 2 * files.length) + 4);
      expect(blocksHeld()).toBe(0); // finished uploads let go of everything
    });
  });
});
