/** The savable md5 of S3 uploads: a saved state continues in a new object; the id names the pinned build. */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HASHER_ID, SavableMd5 } from '../src/server/storage/s3/s3-md5.js';

describe('SavableMd5', () => {
  it('continues from a saved state to the digest of the whole', async () => {
    const data = randomBytes(3_000_001);
    const first = await SavableMd5.create();
    first.update(data.subarray(0, 1_234_567));
    const second = await SavableMd5.create(first.save());
    second.update(data.subarray(1_234_567));
    expect(second.digestHex()).toBe(createHash('md5').update(data).digest('hex'));
  });

  it('names the hash-wasm version package.json pins and node_modules holds', () => {
    const pinned = JSON.parse(readFileSync('package.json', 'utf8')).optionalDependencies['hash-wasm'];
    const installed = JSON.parse(readFileSync('node_modules/hash-wasm/package.json', 'utf8')).version;
    expect(HASHER_ID).toBe(`hash-wasm@${pinned}/md5`);
    expect(installed).toBe(pinned);
  });
});
