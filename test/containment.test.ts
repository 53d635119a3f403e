/**
 * Containment against a local user with write access to the served directory (issue 10 item 4):
 * a directory inside the root is swapped for a symlink to an outside place at each moment of a put
 * (before it, while its body arrives, between the server's walk and the landing, right after another
 * put resolved the same directory), or a symlink leads into the server's own `.ftx-state`. Nothing
 * may land, be created or be changed outside the root, and the server's state is never reachable
 * through a client's name. The swaps need no privileges: they run in the normal suite.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { sha256Hex } from '../src/checksum.js';
import { md5, type ServerFixture, withServer, writeRandomFile } from './helpers/server.js';
import { RawPeer } from './helpers/raw-peer.js';
import { runFtx } from './helpers/cli.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { makeTempDir } from './helpers/server.js';

/** Moves `root/<dir>` to an outside place and leaves a symlink to it under the old name. */
async function swapForSymlink(fixture: ServerFixture, dir: string): Promise<string> {
  const outside = join(fixture.scratch, `moved-${randomBytes(3).toString('hex')}`);
  await rename(join(fixture.root, dir), outside);
  await symlink(outside, join(fixture.root, dir));
  return outside;
}

async function connectPeer(fixture: ServerFixture): Promise<RawPeer> {
  const peer = await RawPeer.connect(fixture.server.port);
  expect((await peer.handshake())?.status).toBe(200);
  return peer;
}

/** Polls (bounded) until `check` holds. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const exists = (path: string): Promise<boolean> => lstat(path).then(() => true, () => false);

/** Regular files (not the swapped-in symlink) anywhere under `dir`. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe('a directory swapped for a symlink to an outside place', () => {
  it('before the put: refused 403, nothing outside', async () => {
    await withServer({}, async (fixture) => {
      await mkdir(join(fixture.root, 'd'));
      const outside = await swapForSymlink(fixture, 'd');
      const peer = await connectPeer(fixture);
      peer.send({ action: 'put', id: 1, filename: 'd/x.bin', size: 3, chunkSize: 4096, overwrite: false });
      expect(await peer.frame()).toMatchObject({ status: 403, code: 'forbidden_path' });
      peer.destroy();
      expect(await filesUnder(outside)).toEqual([]);
    });
  });

  it('while the body arrives (a resumable put): refused, nothing lands outside, no "verified"', async () => {
    await withServer({}, async (fixture) => {
      await mkdir(join(fixture.root, 'd'));
      const body = randomBytes(3 * 1024 * 1024);
      const peer = await connectPeer(fixture);
      peer.send({ action: 'put', id: 1, filename: 'd/big.bin', size: body.length, chunkSize: 65536, overwrite: false });
      expect(await peer.frame()).toMatchObject({ status: 200 });
      peer.sendRaw(body.subarray(0, 1024 * 1024));
      await eventually(async () => (await readdir(join(fixture.root, 'd'))).some((n) => n.endsWith('.part')));
      const outside = await swapForSymlink(fixture, 'd');
      peer.sendRaw(body.subarray(1024 * 1024));
      peer.send({ action: 'end', id: 1, md5: md5(body) });
      const verdict = await peer.frame();
      peer.destroy();
      expect(verdict).toMatchObject({ status: 403, code: 'forbidden_path' });
      expect(await exists(join(outside, 'big.bin'))).toBe(false);
      expect(await filesUnder(outside)).toEqual([]);
    });
  });

  it('between the walk and the landing of a small file of a batch: refused, nothing outside', async () => {
    await withServer({}, async (fixture) => {
      const body = randomBytes(4096);
      const peer = await connectPeer(fixture);
      peer.send({ action: 'putmany', id: 7, files: [{ filename: 'fresh/small.bin', size: body.length, md5: md5(body), overwrite: false }] });
      // The server creates the missing directory before it reads the body: swap it then.
      await eventually(() => exists(join(fixture.root, 'fresh')));
      const outside = await swapForSymlink(fixture, 'fresh');
      peer.sendRaw(body);
      const verdict = await peer.frame();
      peer.destroy();
      expect(verdict).toMatchObject({ status: 200, files: [{ status: 403, code: 'forbidden_path' }] });
      expect(await filesUnder(outside)).toEqual([]);
    });
  });

  it('between the walk and the landing of a batch, right after another batch landed there: refused, nothing outside', async () => {
    await withServer({}, async (fixture) => {
      await mkdir(join(fixture.root, 'd'));
      const [first, second, marker] = [randomBytes(4096), randomBytes(4096), randomBytes(10)];
      const peer = await connectPeer(fixture);
      // The first batch's landing walks to d again and passes: a check not to be trusted after its turn.
      peer.send({ action: 'putmany', id: 1, files: [{ filename: 'd/first.bin', size: first.length, md5: md5(first), overwrite: false }] });
      peer.sendRaw(first);
      expect(await peer.frame()).toMatchObject({ status: 200, files: [{ status: 200 }] });
      peer.send({
        action: 'putmany', id: 2, files: [
          { filename: 'd/second.bin', size: second.length, md5: md5(second), overwrite: false },
          { filename: 'mark/m.bin', size: marker.length, md5: md5(marker), overwrite: false },
        ],
      });
      // Files are opened in order: once mark/ exists, d has been walked to for d/second.bin.
      await eventually(() => exists(join(fixture.root, 'mark')));
      const outside = await swapForSymlink(fixture, 'd');
      peer.sendRaw(Buffer.concat([second, marker]));
      const verdict = await peer.frame();
      peer.destroy();
      expect(verdict).toMatchObject({ status: 200, files: [{ status: 403, code: 'forbidden_path' }, { status: 200 }] });
      expect(await filesUnder(outside)).toEqual(['first.bin']);
    });
  });

  it('right after another put resolved the same directory (the former 2 s cache): refused', async () => {
    await withServer({}, async (fixture) => {
      await mkdir(join(fixture.root, 'd'));
      const { path } = await writeRandomFile(fixture.scratch, 'src', 5000);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      let outside: string;
      try {
        await client.put(path, { remoteName: 'd/first.bin' });
        outside = await swapForSymlink(fixture, 'd');
        await expect(client.put(path, { remoteName: 'd/second.bin' })).rejects.toMatchObject({ code: 'forbidden_path' });
      } finally {
        await client.close();
      }
      const peer = await connectPeer(fixture);
      peer.send({ action: 'check', id: 3, files: [{ filename: 'd/first.bin', size: 5000, mtime: 0 }] });
      expect(await peer.frame()).toMatchObject({ status: 200, results: [{ state: 'forbidden' }] });
      peer.destroy();
      expect(await filesUnder(outside)).toEqual(['first.bin']);
    });
  });

  it('a mkdir through a swapped directory: refused, nothing created outside', async () => {
    await withServer({}, async (fixture) => {
      await mkdir(join(fixture.root, 'd'));
      const peer = await connectPeer(fixture);
      peer.send({ action: 'mkdir', id: 1, path: 'd/sub' });
      expect(await peer.frame()).toMatchObject({ status: 200, created: true });
      const outside = await swapForSymlink(fixture, 'd');
      peer.send({ action: 'mkdir', id: 2, path: 'd/sub/deeper' });
      expect(await peer.frame()).toMatchObject({ status: 403, code: 'forbidden_path' });
      peer.destroy();
      expect(await readdir(join(outside, 'sub'))).toEqual([]);
    });
  });
});

describe('symlinks planted inside the root', () => {
  it('a symlink to a directory inside the root is not followed (documented): 403', async () => {
    await withServer({}, async (fixture) => {
      await mkdir(join(fixture.root, 'real'));
      await symlink(join(fixture.root, 'real'), join(fixture.root, 'alias'));
      const { path } = await writeRandomFile(fixture.scratch, 's', 10);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      try {
        await expect(client.put(path, { remoteName: 'alias/s' })).rejects.toMatchObject({ code: 'forbidden_path' });
      } finally {
        await client.close();
      }
      expect(await readdir(join(fixture.root, 'real'))).toEqual([]);
    });
  });

  it('a symlink into .ftx-state cannot overwrite the digest log or a partial state', async () => {
    await withServer({}, async (fixture) => {
      const { path } = await writeRandomFile(fixture.scratch, 'src', 100);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      await symlink('.ftx-state', join(fixture.root, 's'));
      try {
        await client.put(path, { remoteName: 'landed.bin' });
        await eventually(async () => (await readFile(join(fixture.root, '.ftx-state', 'digests.jsonl'), 'utf8').catch(() => '')).includes('landed.bin'));
        const log = await readFile(join(fixture.root, '.ftx-state', 'digests.jsonl'), 'utf8');
        await expect(client.put(path, { remoteName: 's/digests.jsonl', overwrite: true })).rejects.toMatchObject({ code: 'forbidden_path' });
        await expect(client.put(path, { remoteName: 's/partials/x.json', overwrite: true })).rejects.toMatchObject({ code: 'forbidden_path' });
        expect(await readFile(join(fixture.root, '.ftx-state', 'digests.jsonl'), 'utf8')).toBe(log);
        expect(await readdir(join(fixture.root, '.ftx-state', 'partials'))).toEqual([]);
      } finally {
        await client.close();
      }
    });
  });

  it('.ftx-state renamed to a name a client may use: still not reachable, a new one is made', async () => {
    await withServer({}, async (fixture) => {
      const { path } = await writeRandomFile(fixture.scratch, 'src', 100);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      try {
        await client.put(path, { remoteName: 'first.bin' });
        await rename(join(fixture.root, '.ftx-state'), join(fixture.root, 'st'));
        await expect(client.put(path, { remoteName: 'st/digests.jsonl', overwrite: true })).rejects.toMatchObject({ code: 'forbidden_path' });
        await expect(client.put(path, { remoteName: 'st/partials/x.bin' })).rejects.toMatchObject({ code: 'forbidden_path' });
        await client.put(path, { remoteName: 'second.bin' });
      } finally {
        await client.close();
      }
      expect(await readdir(join(fixture.root, 'st', 'partials'))).toEqual([]);
      expect((await lstat(join(fixture.root, '.ftx-state', 'partials'))).isDirectory()).toBe(true);
    });
  });

  it('a symlink at the server\'s temp name of a batched file is never written through', async () => {
    await withServer({}, async (fixture) => {
      const victim = join(fixture.scratch, 'victim');
      await writeFile(victim, 'precious');
      await mkdir(join(fixture.root, 'd'));
      const key = sha256Hex('d/x.bin').slice(0, 32);
      await symlink(victim, join(fixture.root, 'd', `.ftx-${key}.tmp`));
      const body = randomBytes(1000);
      const peer = await connectPeer(fixture);
      peer.send({ action: 'putmany', id: 1, files: [{ filename: 'd/x.bin', size: body.length, md5: md5(body), overwrite: false }] });
      peer.sendRaw(body);
      await peer.frame();
      peer.destroy();
      expect(await readFile(victim, 'utf8')).toBe('precious');
    });
  });

  it('a symlink planted at a kept partial\'s data name is never written through on resume', async () => {
    await withServer({}, async (fixture) => {
      const victim = join(fixture.scratch, 'victim');
      const precious = randomBytes(200_000);
      await writeFile(victim, precious);
      const body = randomBytes(300_000);
      const source = { size: body.length, mtime: 1_700_000_000_000 };
      const first = await connectPeer(fixture);
      first.send({ action: 'put', id: 1, filename: 'k.bin', size: body.length, chunkSize: 4096, overwrite: false, resume: true, source });
      expect(await first.frame()).toMatchObject({ status: 200 });
      first.sendRaw(body.subarray(0, 150_000));
      await new Promise((resolve) => setTimeout(resolve, 50));
      first.destroy();
      const part = join(fixture.root, `.ftx-${sha256Hex('k.bin').slice(0, 32)}.part`);
      await eventually(async () => fixture.records.length === 1 && (await exists(part)));
      await rm(part);
      await symlink(victim, part);
      const second = await connectPeer(fixture);
      second.send({ action: 'put', id: 2, filename: 'k.bin', size: body.length, chunkSize: 4096, overwrite: false, resume: true, source });
      const ack = await second.frame();
      expect(ack).toMatchObject({ status: 200, offset: 0 });
      second.sendRaw(body);
      second.send({ action: 'end', id: 2, md5: md5(body) });
      expect(await second.frame()).toMatchObject({ status: 200 });
      second.destroy();
      expect(md5(await readFile(victim))).toBe(md5(precious));
      expect(md5(await readFile(join(fixture.root, 'k.bin')))).toBe(md5(body));
    });
  });
});


describe('the served tree changed or pushed to its limits', () => {
  it('a mkdir of 2,048 nested levels that the file system cannot hold: 403, no directory left behind', async () => {
    await withServer({}, async (fixture) => {
      const peer = await connectPeer(fixture);
      const path = Array.from({ length: 2048 }, () => 'a').join('/');
      peer.send({ action: 'mkdir', id: 1, path });
      expect(await peer.frame()).toMatchObject({ status: 403, code: 'forbidden_path' });
      peer.destroy();
      expect(await readdir(fixture.root)).toEqual(['.ftx-state']);
    });
  });

  it('a put whose name would make the path too long creates no directory', async () => {
    await withServer({}, async (fixture) => {
      const peer = await connectPeer(fixture);
      const filename = `${Array.from({ length: 2040 }, () => 'b').join('/')}/file`;
      peer.send({ action: 'put', id: 1, filename, size: 3, chunkSize: 4096, overwrite: false });
      expect(await peer.frame()).toMatchObject({ status: 403, code: 'forbidden_path' });
      peer.destroy();
      expect(await readdir(fixture.root)).toEqual(['.ftx-state']);
    });
  });

  it('.ftx-state removed while the server runs: the next puts (small and over 1 MiB) still land', async () => {
    await withServer({}, async (fixture) => {
      const big = await writeRandomFile(fixture.scratch, 'big', 3 * 1024 * 1024);
      const small = await writeRandomFile(fixture.scratch, 'small', 1000);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      try {
        await client.put(small.path, { remoteName: 'before.bin' });
        await rm(join(fixture.root, '.ftx-state'), { recursive: true });
        await client.put(big.path, { remoteName: 'big.bin' });
        await client.put(small.path, { remoteName: 'small.bin' });
        await client.put(big.path, { remoteName: 'resumable.bin', resume: true });
      } finally {
        await client.close();
      }
      expect(md5(await readFile(join(fixture.root, 'big.bin')))).toBe(md5(big.data));
      expect(md5(await readFile(join(fixture.root, 'resumable.bin')))).toBe(md5(big.data));
      expect((await lstat(join(fixture.root, '.ftx-state', 'partials'))).isDirectory()).toBe(true);
    });
  });

  it('serve on a directory whose .ftx-state is a symlink: refused at start (exit 2), nothing written through it', async () => {
    const tmp = await makeTempDir();
    try {
      const root = join(tmp.dir, 'root');
      const elsewhere = join(tmp.dir, 'elsewhere');
      await mkdir(root);
      await mkdir(elsewhere);
      await symlink(elsewhere, join(root, '.ftx-state'));
      const result = await runFtx(['serve', root, '--port', '0'], {}, 20_000);
      expect(result.code).toBe(EXIT.USAGE);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining('.ftx-state')]);
      expect(await readdir(elsewhere)).toEqual([]);
    } finally {
      await tmp.cleanup();
    }
  });

  it('leaves no directory descriptor open: landed, refused, checked, made, resumed and moved uploads', async () => {
    await withServer({}, async (fixture) => {
      // Descriptors of this process (the server runs in it) open on something in the test's directory.
      const openFds = async (): Promise<number> => {
        const links = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
        return links.filter((link) => link.startsWith(fixture.root)).length;
      };
      const { path } = await writeRandomFile(fixture.scratch, 'src', 3000);
      const big = await writeRandomFile(fixture.scratch, 'big', 2 * 1024 * 1024);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      const peer = await connectPeer(fixture);
      await client.put(path, { remoteName: 'warm/up.bin' });
      const before = await openFds();
      try {
        for (let i = 0; i < 8; i++) {
          await client.put(path, { remoteName: `a/b${i % 3}/f${i}.bin` });
          await expect(client.put(path, { remoteName: `a/b${i % 3}/f${i}.bin` })).rejects.toMatchObject({ code: 'exists' });
          await client.put(big.path, { remoteName: `a/big${i}.bin`, resume: true });
          peer.send({ action: 'check', id: i, files: [{ filename: `a/b${i % 3}/f${i}.bin`, size: 3000, mtime: 0 }, { filename: 'none/x', size: 1, mtime: 0 }] });
          expect(await peer.frame()).toMatchObject({ status: 200 });
          peer.send({ action: 'mkdir', id: i, path: `m/${i}/n` });
          expect(await peer.frame()).toMatchObject({ status: 200 });
          const body = randomBytes(500);
          peer.send({ action: 'putmany', id: 100 + i, files: [{ filename: `p/${i}/small.bin`, size: body.length, md5: md5(body), overwrite: false }] });
          peer.sendRaw(body);
          expect(await peer.frame()).toMatchObject({ status: 200, files: [{ status: 200 }] });
        }
        await mkdir(join(fixture.root, 'mv'));
        await swapForSymlink(fixture, 'mv');
        await expect(client.put(path, { remoteName: 'mv/x.bin' })).rejects.toMatchObject({ code: 'forbidden_path' });
      } finally {
        await client.close();
        peer.destroy();
      }
      await eventually(async () => (await openFds()) <= before);
    });
  });
});
