import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedBlock } from '../src/hashing/hash-file.js';
import { HashPool } from '../src/hashing/md5-pool.js';
import { ChunkHasher } from '../src/server/uploads/chunk-hasher.js';

const pool = new HashPool(1);
afterAll(() => pool.close());

/** A shared block of `bytes` pseudo-random bytes. */
function filled(bytes: number, seed: number): Buffer {
  const block = sharedBlock(bytes);
  for (let i = 0; i < bytes; i++) block[i] = (i * 31 + seed) & 0xff;
  return block;
}

describe('ChunkHasher', () => {
  it('hashes whole chunks as they come and the partial last one at the end', async () => {
    const parts = [filled(10_000, 1), filled(3, 2), filled(4096 * 3, 3), filled(1, 4)];
    const hasher = new ChunkHasher(pool.open(), 4096, 0);
    for (const part of parts) await hasher.update(part);
    expect(hasher.hashed).toBe(Math.floor((10_000 + 3 + 4096 * 3 + 1) / 4096) * 4096);
    expect(await hasher.digest()).toBe(createHash('md5').update(Buffer.concat(parts)).digest('hex'));
  });

  it('resolves an update only once the thread is done with every block posted before it', async () => {
    // The caller reuses a block once the promise of a later update resolves (a thread works in
    // order): an update that posts nothing itself (bytes only copied into the tail) must still wait.
    const hasher = new ChunkHasher(pool.open(), 4096, 0);
    let bigDone = false;
    void hasher.update(filled(16 * 1024 * 1024, 5)).then(() => { bigDone = true; });
    await hasher.update(filled(100, 6));
    expect(bigDone).toBe(true);
    await hasher.digest();
  });
});
