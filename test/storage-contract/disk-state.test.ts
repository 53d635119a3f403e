/**
 * The disk backend's own bookkeeping, beyond the storage contract: stray temp files of the state
 * directory are removed at expiry, and a mostly stale digest log is compacted at start.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskStorage } from '../../src/server/storage/disk/disk-storage.js';
import { put } from './contract.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ftx-disk-state-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('disk storage bookkeeping', () => {
  it('expiry removes stray .tmp files of the partials directory older than a minute, and only those', async () => {
    const storage = await DiskStorage.open(dir);
    try {
      const partials = join(dir, '.ftx-state', 'partials');
      await mkdir(partials, { recursive: true });
      await writeFile(join(partials, 'old.json.123.tmp'), '{');
      await writeFile(join(partials, 'new.json.456.tmp'), '{');
      const longAgo = new Date(Date.now() - 5 * 60_000);
      await utimes(join(partials, 'old.json.123.tmp'), longAgo, longAgo);
      await storage.expirePartials({ ttlMs: 24 * 3600_000 });
      expect((await readdir(partials)).sort()).toEqual(['new.json.456.tmp']);
    } finally {
      await storage.close();
    }
  });

  it('a digest log mostly of stale lines is rewritten at start with one line per name, and still answers', async () => {
    const first = await DiskStorage.open(dir);
    const receipt = await put(first, 'kept.txt', Buffer.from('kept content'));
    await first.close();
    const log = join(dir, '.ftx-state', 'digests.jsonl');
    const stale = Array.from({ length: 1500 }, (_, i) => JSON.stringify({ f: 'churn.txt', size: i, mtime: i, md5: '0'.repeat(32) })).join('\n');
    await writeFile(log, `${await readFile(log, 'utf8')}${stale}\n`);
    const second = await DiskStorage.open(dir);
    try {
      const lines = (await readFile(log, 'utf8')).split('\n').filter((line) => line !== '');
      expect(lines).toHaveLength(2);
      expect((await second.stat('kept.txt'))?.md5).toBe(receipt.md5);
    } finally {
      await second.close();
    }
  });
});
