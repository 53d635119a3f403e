/**
 * `ftx ls` on an `ftx serve s3://...` server, end to end (the built CLI, the real RGW): listings
 * carry the md5 recorded in the object's ftx-md5 metadata (never the ETag, which for a multipart
 * object is not an md5 of the bytes; an object put by hand is "unrecorded"), flat and recursive,
 * and a directory of more entries than one page (1,000) is listed whole, once each.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFtx, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/server.js';
import { freshBucket, storeEnv } from './helpers/store.js';

const MiB = 1 << 20;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

interface Line { name: string; type: string; size: number; md5?: string | null }
const lines = (stdout: string): Line[] => stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);

let store: Awaited<ReturnType<typeof freshBucket>>;
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let server: ServeProcess;
beforeAll(async () => {
  store = await freshBucket('ls/');
  tmp = await makeTempDir('ftx-s3-ls-');
  server = await spawnServe([`s3://${store.name}/ls`, '--port', '0'], storeEnv());
});
afterAll(async () => {
  await server?.stop('SIGKILL');
  await store?.remove();
  await tmp?.cleanup();
});

describe('ftx ls on s3://', () => {
  it('shows the md5 recorded at landing, flat and recursive (small and multipart objects; none for a foreign object)', async () => {
    const small = randomBytes(3000);
    const big = randomBytes(20 * MiB + 3);
    await mkdir(join(tmp.dir, 'tree', 'sub'), { recursive: true });
    await writeFile(join(tmp.dir, 'tree', 'small.txt'), small);
    await writeFile(join(tmp.dir, 'tree', 'sub', 'big.bin'), big);
    const put = await runFtx(['put', join(tmp.dir, 'tree'), `127.0.0.1:${server.port}`, '--no-progress']);
    expect(put.code, put.stderr).toBe(0);
    // A multipart object: its ETag is not its md5, so only the recorded ftx-md5 can be right.
    const head = await store.bucket.head('tree/sub/big.bin');
    expect(head?.metadata['ftx-md5']).toBe(md5(big));
    expect(head?.etag).not.toContain(md5(big));
    // Put by hand, without ftx's metadata: nothing recorded.
    const foreign = Buffer.from('placed by other means\n');
    await store.bucket.put('tree/foreign.txt', foreign, createHash('md5').update(foreign).digest(), {}, { ifNoneMatch: true });

    const flat = lines((await runFtx(['ls', `127.0.0.1:${server.port}`, 'tree', '--json'])).stdout);
    expect(flat.map((e) => [e.name, e.type])).toEqual([['tree/foreign.txt', 'file'], ['tree/small.txt', 'file'], ['tree/sub', 'dir']]);
    expect(flat.find((e) => e.name === 'tree/small.txt')?.md5).toBe(md5(small));
    expect(flat.find((e) => e.name === 'tree/foreign.txt')?.md5).toBeNull();

    const deep = lines((await runFtx(['ls', `127.0.0.1:${server.port}`, '-r', '--json'])).stdout);
    expect(deep.find((e) => e.name === 'tree/sub/big.bin')).toMatchObject({ size: big.length, md5: md5(big) });
    expect(deep.find((e) => e.name === 'tree/small.txt')?.md5).toBe(md5(small));

    const text = await runFtx(['ls', `127.0.0.1:${server.port}`, '-r']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${md5(big)} tree/sub/big\\.bin`));
    expect(text.stdout).toMatch(new RegExp(`${md5(small)} tree/small\\.txt`));
    expect(text.stdout).toMatch(/unrecorded +tree\/foreign\.txt/);
  });

  it('lists a directory of more entries than one page whole, once each, with every md5', async () => {
    const count = 1050;
    const dir = join(tmp.dir, 'many');
    await mkdir(join(dir, 'deeper'), { recursive: true });
    const want = new Map<string, string>();
    for (let i = 0; i < count; i++) {
      const data = randomBytes(64 + (i % 50));
      const name = i % 10 === 0 ? `deeper/f${String(i).padStart(4, '0')}` : `f${String(i).padStart(4, '0')}`;
      await writeFile(join(dir, name), data);
      want.set(`many/${name}`, md5(data));
    }
    const put = await runFtx(['put', dir, `127.0.0.1:${server.port}`, '--no-progress', '-q']);
    expect(put.code, put.stderr).toBe(0);

    const deep = await runFtx(['ls', `127.0.0.1:${server.port}`, 'many', '-r', '--json']);
    expect(deep.code, deep.stderr).toBe(0);
    const files = lines(deep.stdout).filter((e) => e.type === 'file');
    expect(files).toHaveLength(count);
    expect(new Map(files.map((e) => [e.name, e.md5]))).toEqual(want);
    expect(lines(deep.stdout).filter((e) => e.type === 'dir').map((e) => e.name)).toEqual(['many/deeper']);

    const flat = await runFtx(['ls', `127.0.0.1:${server.port}`, 'many', '--json']);
    expect(flat.code, flat.stderr).toBe(0);
    const top = lines(flat.stdout);
    expect(top.filter((e) => e.type === 'file')).toHaveLength(count - Math.ceil(count / 10));
    expect(new Set(top.map((e) => e.name)).size).toBe(top.length);
    for (const e of top) if (e.type === 'file') expect(e.md5).toBe(want.get(e.name));
  });
});
