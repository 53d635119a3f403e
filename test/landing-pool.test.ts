import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LandingPool } from '../src/server/storage/disk/landing/landing-pool.js';

let dir: string;
let pool: LandingPool | undefined;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ftx-landing-')); });
afterEach(async () => {
  await pool?.close();
  pool = undefined;
  await rm(dir, { recursive: true, force: true });
});

const job = (name: string, text: string, extra: { overwrite?: boolean; rename?: boolean } = {}) => ({
  dir, temp: join(dir, `.ftx-${name}.tmp`), final: join(dir, name), data: Buffer.from(text), mode: 0o640, mtime: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
  overwrite: extra.overwrite ?? false, rename: extra.rename ?? false,
});

describe('landing pool', () => {
  it('lands files of one batch with their bytes, mode and mtime; refuses or numbers a taken name', async () => {
    pool = new LandingPool(2);
    const results = await Promise.all(['a.txt', 'b.txt', 'c.txt'].map((name) => pool!.land(job(name, `content of ${name}`))));
    expect(results).toEqual([{ n: 0 }, { n: 0 }, { n: 0 }]);
    expect(await readFile(join(dir, 'b.txt'), 'utf8')).toBe('content of b.txt');
    const info = await stat(join(dir, 'c.txt'));
    expect(info.mode & 0o777).toBe(0o640);
    expect(Math.round(info.mtimeMs)).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 678));

    await expect(pool.land(job('a.txt', 'other'))).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('content of a.txt');
    expect(await pool.land(job('a.txt', 'renamed', { rename: true }))).toEqual({ n: 1 });
    expect(await readFile(join(dir, 'a.1.txt'), 'utf8')).toBe('renamed');
    expect(await pool.land(job('a.txt', 'replaced', { overwrite: true }))).toEqual({ n: 0 });
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('replaced');
  });

  it('spreads a batch that arrives while every worker is busy over all of them (not all to the first one free)', async () => {
    pool = new LandingPool(4);
    // One file per worker: each has a batch in hand (they are still starting) when the next 128 arrive.
    const first = ['w0', 'w1', 'w2', 'w3'].map((name) => pool!.land(job(name, name)));
    await new Promise((resolve) => setImmediate(resolve));
    const before = pool.load;
    const names = Array.from({ length: 128 }, (_, i) => `f${i}.bin`);
    const second = names.map((name) => pool!.land(job(name, name)));
    const shares = pool.load.map((n, i) => n - before[i]!);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(128);
    for (const share of shares) expect(share).toBeGreaterThanOrEqual(31);
    await Promise.all([...first, ...second]);
    expect(await readFile(join(dir, 'f127.bin'), 'utf8')).toBe('f127.bin');
  });

  it('stops its workers after a quiet spell and starts them again for the next file', async () => {
    pool = new LandingPool(2, 100);
    expect(pool.running).toBe(0);
    await pool.land(job('first.bin', 'first'));
    expect(pool.running).toBe(2);
    const until = Date.now() + 5000;
    while (pool.running > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pool.running).toBe(0);
    await pool.land(job('second.bin', 'second'));
    expect(await readFile(join(dir, 'second.bin'), 'utf8')).toBe('second');
  });

  it('warm() starts the workers ahead of the files, and they still stop if no file comes', async () => {
    pool = new LandingPool(2, 100);
    pool.warm();
    expect(pool.running).toBe(2);
    pool.warm();
    const until = Date.now() + 5000;
    while (pool.running > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pool.running).toBe(0);
  });

  it('reports a directory removed meanwhile as ENOENT (the caller creates it again and retries)', async () => {
    pool = new LandingPool(1);
    const bad = { ...job('x.txt', 'data'), temp: join(dir, 'gone', '.ftx-x.tmp'), final: join(dir, 'gone', 'x.txt') };
    await expect(pool.land(bad)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
