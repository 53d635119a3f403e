/**
 * Client-side path safety and verification of `ftx get` against a hostile fake server (it speaks the
 * protocol, but lies): nothing may be written outside the local target, nothing unverified lands.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FrameObject } from '../src/protocol/frame.js';
import { runFtx } from './helpers/cli.js';
import { dataFrames, startFakeServer, type Script } from './helpers/fake-server.js';
import { makeTempDir } from './helpers/server.js';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const MTIME = 1_700_000_000_000;

/** A server whose listing of anything is `names` (files of `content`), and which sends what is asked for (or `lie`). */
function liar(names: string[], content: Buffer, lie?: (file: FrameObject, index: number, id: number) => (object | Buffer)[]): Script {
  return (request) => {
    const id = request.id as number;
    if (request.action === 'list') {
      return [{ type: 'reply', id, status: 200, code: 'ok', message: 'listed', nextCursor: null,
        entries: names.map((name) => ({ name, type: 'file', size: content.length, mtime: MTIME, mode: 0o644, md5: md5(content) })) }];
    }
    if (request.action !== 'get') return [];
    const files = request.files as FrameObject[];
    const out: (object | Buffer)[] = [];
    files.forEach((file, index) => {
      if (lie) out.push(...lie(file, index, id));
      else {
        out.push({ type: 'file', id, index, status: 200, code: 'ok', filename: file.filename, size: content.length, mtime: MTIME, mode: 0o644, md5: md5(content), offset: 0 });
        out.push(dataFrames(content));
        out.push({ type: 'end', id, index, status: 200, code: 'ok', md5: md5(content) });
      }
    });
    out.push({ type: 'reply', id, status: 200, code: 'ok', message: 'done' });
    return out;
  };
}

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => { tmp = await makeTempDir('get-hostile-'); });
afterEach(async () => { await tmp.cleanup(); });

async function treeOf(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('ftx get against a hostile server', () => {
  it('never writes outside the target: .., absolute names, backslashes, names outside the asked directory', async () => {
    const outside = join(tmp.dir, 'outside');
    const target = join(tmp.dir, 'target');
    await mkdir(outside);
    const evil = ['d/../../outside/evil', '/etc/../' + join(outside, 'abs'), 'd/..\\..\\outside\\bs', 'elsewhere/x', 'd/./dot', 'd//double', 'd/ok.txt'];
    const fake = await startFakeServer(liar(evil, Buffer.from('pwned')));
    try {
      const result = await runFtx(['get', `127.0.0.1:${fake.port}`, 'd', target]);
      expect(result.code, result.stderr).toBe(10); // the one good file landed, the others failed
      expect(await readdir(outside)).toEqual([]);
      expect(await treeOf(target)).toEqual(['ok.txt']); // like cp -r: a missing target becomes the copy of d
      expect(result.stderr).toContain('unsafe name');
      // The fake was only ever asked for the good name.
      const asked = fake.requests.filter((r) => r.action === 'get').flatMap((r) => (r.files as FrameObject[]).map((f) => f.filename));
      expect(asked).toEqual(['d/ok.txt']);
    } finally {
      await fake.close();
    }
  });

  it('refuses a second name that equals the first after Unicode normalization', async () => {
    const target = join(tmp.dir, 'target');
    const fake = await startFakeServer(liar(['d/caf\u00e9', 'd/cafe\u0301'], Buffer.from('x')));
    try {
      const result = await runFtx(['get', `127.0.0.1:${fake.port}`, 'd', target]);
      expect(result.code).toBe(10);
      expect(await treeOf(target)).toEqual(['caf\u00e9']);
    } finally {
      await fake.close();
    }
  });

  it('does not write through a symlink in the local tree', async () => {
    const outside = join(tmp.dir, 'outside');
    const target = join(tmp.dir, 'target');
    await mkdir(outside);
    await mkdir(join(target, 'd'), { recursive: true });
    await symlink(outside, join(target, 'd', 'sub'));
    const fake = await startFakeServer(liar(['d/sub/planted'], Buffer.from('pwned')));
    try {
      const result = await runFtx(['get', `127.0.0.1:${fake.port}`, 'd', target]);
      expect(result.code).toBe(9);
      expect(result.stderr).toContain('symlink');
      expect(await readdir(outside)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('lands nothing when the bytes do not match the md5 (exit 6), nor when the server sends another name (exit 8)', async () => {
    const target = join(tmp.dir, 'target');
    await mkdir(target);
    const good = Buffer.from('the real content');
    const bad = liar(['f.txt'], good, (file, index, id) => [
      { type: 'file', id, index, status: 200, code: 'ok', filename: file.filename, size: good.length, mtime: MTIME, mode: 0o644, md5: md5(good), offset: 0 },
      dataFrames(Buffer.from('the fake content')), { type: 'end', id, index, status: 200, code: 'ok', md5: md5(good) },
    ]);
    let fake = await startFakeServer(bad);
    try {
      const result = await runFtx(['get', `127.0.0.1:${fake.port}`, 'f.txt', target]);
      expect(result.code, result.stderr).toBe(6);
      expect(await readdir(target)).toEqual([]);
    } finally {
      await fake.close();
    }
    fake = await startFakeServer(liar(['f.txt'], good, (_file, index, id) => [
      { type: 'file', id, index, status: 200, code: 'ok', filename: '../../etc/passwd', size: good.length, mtime: MTIME, mode: 0o644, md5: md5(good), offset: 0 },
      dataFrames(good), { type: 'end', id, index, status: 200, code: 'ok', md5: md5(good) },
    ]));
    try {
      const result = await runFtx(['get', `127.0.0.1:${fake.port}`, 'f.txt', target, '--retries', '0']);
      expect(result.code, result.stderr).toBe(8);
      expect(await readdir(target)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('resumes after the connection breaks mid-body: asks for the kept offset, lands the whole verified file', async () => {
    const target = join(tmp.dir, 'target');
    await mkdir(target);
    const data = randomBytes(3 * 1024 * 1024);
    let connection = 0;
    const fake = await startFakeServer((request) => {
      const id = request.id as number;
      if (request.action === 'list') {
        connection += 1;
        return [{ type: 'reply', id, status: 200, code: 'ok', message: 'listed', nextCursor: null, entries: [{ name: 'big.bin', type: 'file', size: data.length, mtime: MTIME, mode: 0o600, md5: md5(data) }] }];
      }
      const file = (request.files as FrameObject[])[0]!;
      const offset = file.offset as number;
      const header = { type: 'file', id, index: 0, status: 200, code: 'ok', filename: 'big.bin', size: data.length, mtime: MTIME, mode: 0o600, md5: md5(data), offset };
      if (offset === 0) {
        // First attempt: half the body, then the server "dies" (the fake destroys after this write).
        const half = dataFrames(data.subarray(0, 1_500_000));
        setTimeout(() => fake.close(), 200);
        return [header, half.subarray(0, half.length - 4)]; // without the empty end frame
      }
      return [header, dataFrames(data.subarray(offset)), { type: 'end', id, index: 0, status: 200, code: 'ok', md5: md5(data) }, { type: 'reply', id, status: 200, code: 'ok', message: 'done' }];
    });
    // The fake closes once; a second fake on the same port is not possible, so the test drives two runs.
    const first = await runFtx(['get', `127.0.0.1:${fake.port}`, 'big.bin', target, '--retries', '0', '--json']);
    expect(first.code).toBe(7);
    expect((await readdir(target)).some((n) => n.startsWith('.ftx-get-') && n.endsWith('.part'))).toBe(true);
    const again = await startFakeServer((request) => {
      const id = request.id as number;
      if (request.action === 'list') return [{ type: 'reply', id, status: 200, code: 'ok', message: 'listed', nextCursor: null, entries: [{ name: 'big.bin', type: 'file', size: data.length, mtime: MTIME, mode: 0o600, md5: md5(data) }] }];
      const file = (request.files as FrameObject[])[0]!;
      const offset = file.offset as number;
      return [{ type: 'file', id, index: 0, status: 200, code: 'ok', filename: 'big.bin', size: data.length, mtime: MTIME, mode: 0o600, md5: md5(data), offset },
        dataFrames(data.subarray(offset)), { type: 'end', id, index: 0, status: 200, code: 'ok', md5: md5(data) }, { type: 'reply', id, status: 200, code: 'ok', message: 'done' }];
    });
    try {
      const second = await runFtx(['get', `127.0.0.1:${again.port}`, 'big.bin', target, '--json']);
      expect(second.code, second.stderr).toBe(0);
      const asked = again.requests.find((r) => r.action === 'get')!;
      expect((asked.files as FrameObject[])[0]).toMatchObject({ offset: 1_500_000, match: { size: data.length, mtime: MTIME, md5: md5(data) } });
      expect(await readFile(join(target, 'big.bin'))).toEqual(data);
      expect(await readdir(target)).toEqual(['big.bin']);
      expect(second.stdout).toContain('"resumedFrom":1500000');
    } finally {
      await again.close();
      await writeFile(join(tmp.dir, 'done'), '');
    }
  });

  it('skips heartbeat data frames (FF FF FF FF) inside a body once heartbeats are agreed, and lands the file', async () => {
    const target = join(tmp.dir, 'target');
    await mkdir(target);
    const data = randomBytes(100_000);
    const heartbeat = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const body = dataFrames(data);
    const fake = await startFakeServer(liar(['hb.bin'], data, (file, index, id) => [
      { type: 'file', id, index, status: 200, code: 'ok', filename: file.filename, size: data.length, mtime: MTIME, mode: 0o644, md5: md5(data), offset: 0 },
      heartbeat, body.subarray(0, 65540), heartbeat, body.subarray(65540),
      { type: 'end', id, index, status: 200, code: 'ok', md5: md5(data) },
    ]), { heartbeat: 5000 });
    try {
      const result = await runFtx(['get', `127.0.0.1:${fake.port}`, 'hb.bin', target]);
      expect(result.code, result.stderr).toBe(0);
      expect(await readFile(join(target, 'hb.bin'))).toEqual(data);
    } finally {
      await fake.close();
    }
  });
});
