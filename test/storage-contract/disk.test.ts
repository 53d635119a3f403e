/** The storage contract against the disk backend, on a fresh temp directory per test. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { DiskStorage } from '../../src/server/storage/disk/disk-storage.js';
import { runStorageContract } from './contract.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('disk storage', () => {
  runStorageContract(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ftx-contract-disk-'));
    dirs.push(dir);
    return DiskStorage.open(dir);
  });
});
