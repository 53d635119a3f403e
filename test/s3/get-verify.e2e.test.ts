/**
 * The way back from an `ftx serve s3://...` server, end to end (the built CLI, the real RGW): get of
 * a multipart and a single-PUT object verified against the recorded md5, a download broken midway
 * resumed (through the other server sharing the bucket), and verify's four verdicts: ok, corrupt
 * (an object's bytes replaced behind ftx's back, its ftx-* metadata kept: verify exits 6 and get
 * fails with 6, landing nothing), missing, and unrecorded (an object put by hand).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFtx, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/server.js';
import { startAlternatingProxy } from './helpers/alternating-proxy.js';
import { freshBucket, storeEnv } from './helpers/store.js';

const MiB = 1 << 20;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const md5Raw = (b: Buffer): Buffer => createHash('md5').update(b).digest();
const events = (stdout: string): Record<string, unknown>[] =>
  stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

let store: Awaited<ReturnType<typeof freshBucket>>;
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let a: ServeProcess;
let b: ServeProcess;
const big = randomBytes(40 * MiB + 5);
const small = randomBytes(5000);
let host: string;

beforeAll(async () => {
  store = await freshBucket('rv/');
  tmp = await makeTempDir('ftx-s3-get-');
  [a, b] = [await spawnServe([`s3://${store.name}/rv`, '--port', '0'], storeEnv()), await spawnServe([`s3://${store.name}/rv`, '--port', '0'], storeEnv())];
  host = `127.0.0.1:${a.port}`;
  await mkdir(join(tmp.dir, 'src'));
  await writeFile(join(tmp.dir, 'src', 'big.bin'), big);
  await writeFile(join(tmp.dir, 'src', 'small.txt'), small);
  const put = await runFtx(['put', join(tmp.dir, 'src'), host, '--no-progress']);
  expect(put.code, put.stderr).toBe(0);
});
afterAll(async () => {
  await Promise.all([a, b].map((s) => s?.stop('SIGKILL')));
  await store?.remove();
  await tmp?.cleanup();
});

async function outDir(name: string): Promise<string> {
  const dir = join(tmp.dir, name);
  await mkdir(dir);
  return dir;
}

describe('ftx get and verify on s3://', () => {
  it('gets a multipart and a small object back, verified against the recorded md5', async () => {
    // The multipart object's ETag is no md5 of its bytes: only ftx-md5 can vouch for it.
    expect((await store.bucket.head('src/big.bin'))?.etag).toMatch(/-\d+$/);
    const out = await outDir('whole');
    const got = await runFtx(['get', host, 'src', out, '--json', '--no-progress']);
    expect(got.code, got.stderr).toBe(0);
    const done = events(got.stdout).filter((e) => e.event === 'done');
    expect(done).toHaveLength(2);
    expect(done.every((d) => d.verified === 'recorded')).toBe(true);
    expect(md5(await readFile(join(out, 'src', 'big.bin')))).toBe(md5(big));
    expect(await readFile(join(out, 'src', 'small.txt'))).toEqual(small);
  });

  it('a download broken midway resumes from the bytes kept, through the other server', async () => {
    const proxy = await startAlternatingProxy([a.port, b.port], { cutFirstDownAfter: 24 * MiB });
    const out = await outDir('resumed');
    const got = await runFtx(['get', `127.0.0.1:${proxy.port}`, 'src/big.bin', out, '--json', '--no-progress', '--retry-wait', '0.2']);
    expect(got.code, got.stderr).toBe(0);
    expect(proxy.connections()).toBeGreaterThanOrEqual(2);
    const done = events(got.stdout).find((e) => e.event === 'done');
    expect(done?.verified).toBe('recorded');
    expect(done?.resumedFrom as number).toBeGreaterThan(0);
    // Started again from 0 it would take 24 + 40 MiB; resumed, about 40 (plus frames and what the cut lost).
    expect(proxy.returned()).toBeLessThan(40 * MiB + 8 * MiB);
    expect(md5(await readFile(join(out, 'big.bin')))).toBe(md5(big));
    await proxy.close();
  });

  it('verify: ok, then corrupt when an object\'s bytes are replaced keeping its metadata (exit 6; get lands nothing)', async () => {
    const clean = await runFtx(['verify', host, '--json']);
    expect(clean.code, clean.stderr).toBe(0);
    expect(events(clean.stdout).pop()).toMatchObject({ event: 'summary', files: 2, ok: 2, corrupt: 0, unrecorded: 0 });

    // Bit rot or tampering behind ftx's back: same size, the ftx-* metadata (md5, mtime) kept.
    const head = await store.bucket.head('src/small.txt');
    const rotten = Buffer.from(small);
    rotten[1234] = rotten[1234]! ^ 0xff;
    await store.bucket.put('src/small.txt', rotten, md5Raw(rotten), head!.metadata, {});
    expect((await store.bucket.head('src/small.txt'))?.metadata['ftx-md5']).toBe(md5(small));

    const dirty = await runFtx(['verify', host, 'src']);
    expect(dirty.code, dirty.stderr).toBe(6);
    expect(dirty.stdout).toContain('src/small.txt: CORRUPT');
    expect(dirty.stderr).toMatch(/2 files, .*: 1 ok, 1 corrupt/);
    const out = await outDir('corrupt');
    const got = await runFtx(['get', host, 'src/small.txt', out, '--no-progress']);
    expect(got.code, got.stderr).toBe(6);
    expect(got.stderr).toContain('corrupt');
    expect(await readdir(out)).toEqual([]);
    await store.bucket.put('src/small.txt', small, md5Raw(small), head!.metadata, {});
  });

  it('verify: missing for a name that is not stored (exit 6), unrecorded for an object put by hand (exit 0)', async () => {
    const gone = await runFtx(['verify', host, 'src/nope.bin']);
    expect(gone.code).toBe(6);
    expect(gone.stdout).toContain('MISSING');

    const hand = Buffer.from('placed by other means\n');
    await store.bucket.put('hand/made.txt', hand, md5Raw(hand), {}, { ifNoneMatch: true });
    const verified = await runFtx(['verify', host, 'hand', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    const results = events(verified.stdout);
    expect(results.find((r) => r.filename === 'hand/made.txt')).toMatchObject({ state: 'unrecorded', md5: md5(hand) });
    expect(results.pop()).toMatchObject({ event: 'summary', files: 1, unrecorded: 1 });
    const named = await runFtx(['get', host, 'hand/made.txt', join(tmp.dir, 'made.txt')]);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toContain('unrecorded');
    expect(await readFile(join(tmp.dir, 'made.txt'))).toEqual(hand);
  });
});
