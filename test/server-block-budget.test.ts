import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { HashPool, type PooledMd5 } from '../src/hashing/md5-pool.js';
import { startServer } from '../src/server/server.js';
import { DiskStorage } from '../src/server/storage/disk/disk-storage.js';
import { BLOCK_BUDGET, BlockAccount, blocksHeld } from '../src/server/storage/disk/write-blocks.js';
import { md5, withTempRoot, writeRandomFile } from './helpers/server.js';
import { beginPut } from './storage-contract/contract.js';

/** Keeps the pool's one thread busy with other work, so that an upload's bytes pile up behind it. */
function keepThreadBusy(pool: HashPool): () => Promise<void> {
  const busy: PooledMd5 = pool.open();
  const ballast = new Uint8Array(new SharedArrayBuffer(32 * 1024 * 1024));
  let done = false;
  const loop = (async () => { while (!done) await busy.update(ballast); })();
  return async () => {
    done = true;
    await loop;
    busy.dispose();
  };
}

describe('memory of one upload', () => {
  it('behind a slow hash thread holds its 5 MiB hash window and the block it fills, and reads on as soon as the oldest block is hashed', async () => {
    const pool = new HashPool(1);
    await withTempRoot('ftx-window-', async (root) => {
      const storage = await DiskStorage.open(root, { hashPool: pool });
      const stopBusy = keepThreadBusy(pool);
      try {
        const data = Buffer.alloc(12 * 1024 * 1024 + 5, 7);
        const upload = await beginPut(storage, 'one.bin', data);
        let most = 0;
        const heldAfterWaits: number[] = [];
        for (let at = 0; at < data.length; at += 64 * 1024) {
          const wait = upload.write(data.subarray(at, at + 64 * 1024));
          const held = blocksHeld(); // read right after each write: exact, not sampled
          most = Math.max(most, held);
          await wait;
          if (wait && held >= 5) heldAfterWaits.push(blocksHeld()); // a wait for the full hash window
        }
        // The server's peak memory for a lone upload: 8 MiB of window held 9 blocks (5 MB more RSS).
        expect(most).toBeLessThanOrEqual(6);
        // Each wait ends when one block is hashed, the other four still queued on the thread
        // (behind the 32 MiB ballast it hashes in between): waiting for all of them would leave
        // the thread without work until the next block is filled, and at most 1 block held here.
        expect(heldAfterWaits.length).toBeGreaterThan(4);
        expect(Math.min(...heldAfterWaits)).toBeGreaterThanOrEqual(4);
        expect((await upload.commit(md5(data))).md5).toBe(md5(data));
      } finally {
        await stopBusy();
        await storage.close();
        await pool.close();
      }
    });
  });
});

describe('memory of many uploads at once', () => {
  it('over BLOCK_BUDGET an upload holds at most the block it fills and the one being written and hashed', async () => {
    const pool = new HashPool(1);
    await withTempRoot('ftx-budget-', async (root) => {
      const storage = await DiskStorage.open(root, { hashPool: pool });
      const others = new BlockAccount(); // other uploads holding the whole budget
      for (let i = 0; i < BLOCK_BUDGET; i++) others.take();
      const stopBusy = keepThreadBusy(pool);
      try {
        const data = Buffer.alloc(12 * 1024 * 1024 + 5, 7);
        const upload = await beginPut(storage, 'one.bin', data);
        let most = 0;
        for (let at = 0; at < data.length; at += 64 * 1024) {
          const wait = upload.write(data.subarray(at, at + 64 * 1024));
          most = Math.max(most, blocksHeld() - BLOCK_BUDGET); // read right after each write: exact, not sampled
          await wait;
        }
        // A 64 KiB piece can start a block after filling one: 3 at most. Without the budget the
        // upload keeps its 8 MiB window behind the busy thread (9 blocks).
        expect(most).toBeLessThanOrEqual(3);
        expect((await upload.commit(md5(data))).md5).toBe(md5(data));
      } finally {
        others.finish();
        await stopBusy();
        await storage.close();
        await pool.close();
      }
    });
  });

  it('16 uploads at once on one busy hash thread land whole and let go of every block', async () => {
    const pool = new HashPool(1);
    await withTempRoot('ftx-budget-', async (root, scratch) => {
      const storage = await DiskStorage.open(root, { hashPool: pool });
      const server = await startServer({ storage, host: '127.0.0.1', port: 0 });
      const files = await Promise.all([...Array(16).keys()].map((i) => writeRandomFile(scratch, `src-${i}.bin`, 8 * 1024 * 1024 + 5)));
      const clients = files.map(() => new FtxClient({ host: '127.0.0.1', port: server.port }));
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, blocksHeld()); }, 1);
      const stopBusy = keepThreadBusy(pool);
      try {
        const receipts = await Promise.all(files.map((f, i) => clients[i]!.put(f.path, { remoteName: `up-${i}.bin`, resume: false })));
        expect(receipts.map((r) => r.md5)).toEqual(files.map((f) => md5(f.data)));
      } finally {
        await stopBusy();
        clearInterval(sampler);
        await Promise.all(clients.map((c) => c.close()));
        await server.close();
        await pool.close();
      }
      expect(peak).toBeGreaterThanOrEqual(BLOCK_BUDGET); // the budget was reached
      expect(blocksHeld()).toBe(0); // finished uploads let go of everything
    });
  });
});
