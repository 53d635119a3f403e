/**
 * The disk backend's kept-partial states are files a local user (or a restored backup) could edit:
 * a state whose data path lies outside the served root is neither resumed from nor removed through,
 * and removing a partial never follows a symlink out of the root to delete a file there.
 *
 * The containment check in PartialStore.load is one of three layers: the upload reopens its data by
 * its own name under its own directory (never the state's path), and removeData refuses a path
 * outside the root. Disabling load's check alone therefore changes nothing observable; the first
 * test goes red when it and removeData's check are both off, the second when removeData's walk
 * is replaced by a plain unlink.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskStorage } from '../../src/server/storage/disk/disk-storage.js';
import { beginPut } from './contract.js';

const MTIME = Date.UTC(2024, 4, 6, 7, 8, 9, 123);
const CHUNK = 4096;

let scratch: string;
let root: string;
let outside: string;
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ftx-partial-guard-'));
  root = join(scratch, 'root');
  outside = join(scratch, 'outside');
  await mkdir(root);
  await mkdir(outside);
});
afterEach(async () => { await rm(scratch, { recursive: true, force: true }); });

const keyOf = (filename: string): string => createHash('sha256').update(filename).digest('hex').slice(0, 32);

/** Writes a kept-partial state for `filename` whose data file is `data`, `durable` bytes of `size`. */
async function plantState(filename: string, data: string, size: number, durable: number, updated = Date.now()): Promise<string> {
  const partials = join(root, '.ftx-state', 'partials');
  await mkdir(partials, { recursive: true });
  const path = join(partials, `${keyOf(filename)}.json`);
  await writeFile(path, JSON.stringify({ version: 1, filename, size, source: { size, mtime: MTIME }, durable, data, updated }));
  return path;
}

describe('kept partial states that point out of the root', () => {
  it('a state whose data file lies outside the root is not resumed from: the upload starts at 0, the outside file is untouched', async () => {
    const data = randomBytes(4 * CHUNK);
    const planted = join(outside, `.ftx-${keyOf('f.bin')}.part`);
    await writeFile(planted, data.subarray(0, 2 * CHUNK));
    const storage = await DiskStorage.open(root);
    try {
      await plantState('f.bin', planted, data.length, 2 * CHUNK);
      const upload = await beginPut(storage, 'f.bin', data, { resume: true, chunkSize: CHUNK });
      expect(upload.offset).toBe(0);
      await upload.discard();
    } finally {
      await storage.close();
    }
    expect(await readFile(planted)).toEqual(data.subarray(0, 2 * CHUNK));
  });

  it('expiring a state whose data path runs through a symlink out of the root removes the state, not the outside file', async () => {
    await symlink(outside, join(root, 'link'));
    const name = `.ftx-${keyOf('link/g.bin')}.part`;
    await writeFile(join(outside, name), 'not the server\'s to delete');
    const storage = await DiskStorage.open(root);
    try {
      const state = await plantState('link/g.bin', join(root, 'link', name), 100, 0, Date.now() - 3600_000);
      expect(await storage.expirePartials({ ttlMs: 1000 })).toBe(1);
      await expect(readFile(state)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await storage.close();
    }
    expect(await readdir(outside)).toEqual([name]);
  });
});
