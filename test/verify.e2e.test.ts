/** `ftx verify`: a scrub on the server (verify action) and of a local served directory; exit 6 on corruption. */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenSet } from '../src/server/auth/token-set.js';
import { runFtx, spawnServe, startServedDir, stopServedDir } from './helpers/cli.js';
import { withServer } from './helpers/server.js';

async function rot(path: string, at: number): Promise<void> {
  const before = await stat(path);
  const handle = await open(path, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, at);
  await handle.write(Buffer.from([byte[0]! ^ 0x40]), 0, 1, at);
  await handle.close();
  await utimes(path, before.atime, before.mtime);
}

describe('ftx verify', () => {
  it('reports ok, corrupt, missing and unrecorded; exit 6 on corruption, 0 when clean', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      for (const name of ['a.bin', 'b.bin']) await writeFile(join(scratch, name), randomBytes(100_000));
      const host = `127.0.0.1:${server.port}`;
      expect((await runFtx(['put', join(scratch, 'a.bin'), join(scratch, 'b.bin'), host, '--dir', 'd'])).code).toBe(0);
      await writeFile(join(root, 'd', 'hand.txt'), 'placed by hand');
      const clean = await runFtx(['verify', host, '--json']);
      expect(clean.code, clean.stderr).toBe(0);
      const summary = JSON.parse(clean.stdout.trim().split('\n').pop()!) as Record<string, number>;
      expect(summary).toMatchObject({ event: 'summary', files: 3, ok: 2, unrecorded: 1, corrupt: 0 });
      await rot(join(root, 'd', 'b.bin'), 5000);
      const dirty = await runFtx(['verify', host, 'd']);
      expect(dirty.code).toBe(6);
      expect(dirty.stdout).toContain('d/b.bin: CORRUPT');
      expect(dirty.stdout).toContain('d/hand.txt: unrecorded');
      expect(dirty.stderr).toContain('1 corrupt');
      const one = await runFtx(['verify', host, 'd/a.bin']);
      expect(one.code).toBe(0);
      const gone = await runFtx(['verify', host, 'd/nope.bin']);
      expect(gone.code).toBe(6);
      expect(gone.stdout).toContain('MISSING');
      // The same check on the server box, without a connection (while the server runs).
      const local = await runFtx(['verify', root, '--json']);
      expect(local.code, local.stderr).toBe(6);
      expect(JSON.parse(local.stdout.trim().split('\n').pop()!)).toMatchObject({ files: 3, ok: 1, corrupt: 1, unrecorded: 1 });
      expect((await runFtx(['verify', scratch])).code).toBe(2); // not a served directory
      const url = await runFtx(['verify', 's3://bucket/prefix']);
      expect(url.code).toBe(2);
      expect(url.stderr).toBe('ftx: error: s3://bucket/prefix is a URL: an object store is scrubbed through a server that serves it (ftx verify <host[:port]>)\n');
    });
  });

  it('reports files recorded at landing and gone since as missing, under the path asked for only (exit 6)', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const tree = join(scratch, 'tree');
      await mkdir(join(tree, 'sub'), { recursive: true });
      for (const name of ['a.bin', 'sub/b.bin', 'sub/c.bin']) await writeFile(join(tree, name), randomBytes(5000));
      await writeFile(join(scratch, 'k.bin'), randomBytes(5000));
      const host = `127.0.0.1:${server.port}`;
      expect((await runFtx(['put', tree, host])).code).toBe(0);
      expect((await runFtx(['put', join(scratch, 'k.bin'), host, '--dir', 'keep'])).code).toBe(0);
      expect((await runFtx(['verify', host])).code).toBe(0);
      await rm(join(root, 'tree', 'sub', 'b.bin'));
      const files = (stdout: string): Record<string, unknown>[] => stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      const dir = await runFtx(['verify', host, 'tree', '--json']);
      expect(dir.code, dir.stderr).toBe(6);
      expect(files(dir.stdout)).toContainEqual(expect.objectContaining({ event: 'file', filename: 'tree/sub/b.bin', state: 'missing' }));
      expect(files(dir.stdout).pop()).toMatchObject({ event: 'summary', files: 3, ok: 2, missing: 1 });
      const human = await runFtx(['verify', host, 'tree/']);
      expect(human.code).toBe(6);
      expect(human.stdout).toContain('tree/sub/b.bin: MISSING');
      expect((await runFtx(['verify', host])).code).toBe(6);
      // Another directory does not hear of it.
      const other = await runFtx(['verify', host, 'keep', '--json']);
      expect(other.code, other.stdout).toBe(0);
      expect(files(other.stdout).pop()).toMatchObject({ files: 1, ok: 1, missing: 0 });
      // A whole directory gone: each file recorded under it, not one entry for the directory.
      await rm(join(root, 'tree', 'sub'), { recursive: true });
      const sub = await runFtx(['verify', host, 'tree/sub', '--json']);
      expect(sub.code).toBe(6);
      expect(files(sub.stdout).filter((e) => e.event === 'file').map((e) => [e.filename, e.state]))
        .toEqual([['tree/sub/b.bin', 'missing'], ['tree/sub/c.bin', 'missing']]);
      // The same on the server box, without a connection.
      const local = await runFtx(['verify', root, 'tree', '--json']);
      expect(local.code, local.stderr).toBe(6);
      expect(files(local.stdout).pop()).toMatchObject({ files: 3, ok: 1, missing: 2 });
    });
  });

  it('reads at the server\'s --verify-rate: 3 MiB at 1 MiB/s take at least 2.5 s, unbounded locally', async () => {
    // A lower bound only (the token bucket cannot hand out bytes faster than its rate; burst 1/4 s).
    await withServer({ verifyRate: 1024 * 1024 }, async ({ server, root, scratch }) => {
      await writeFile(join(scratch, 'big.bin'), randomBytes(3 * 1024 * 1024));
      const host = `127.0.0.1:${server.port}`;
      expect((await runFtx(['put', join(scratch, 'big.bin'), host])).code).toBe(0);
      const started = Date.now();
      const bounded = await runFtx(['verify', host, 'big.bin']);
      const seconds = (Date.now() - started) / 1000;
      expect(bounded.code, bounded.stderr).toBe(0);
      expect(seconds).toBeGreaterThanOrEqual(2.5);
      expect((await runFtx(['verify', root, 'big.bin'])).code).toBe(0);
    });
  });

  it('--forget-missing drops the records of files removed on purpose: refused while served, then clean', async () => {
    const served = await startServedDir('ftx-forget-');
    try {
      const { root, tmp } = served;
      for (const name of ['old.bin', 'new.bin', 'rot.bin']) await writeFile(join(tmp.dir, name), randomBytes(5000));
      const host = `127.0.0.1:${served.serve.port}`;
      expect((await runFtx(['put', join(tmp.dir, 'old.bin'), join(tmp.dir, 'new.bin'), join(tmp.dir, 'rot.bin'), host])).code).toBe(0);
      await rm(join(root, 'old.bin')); // pruned by the admin
      // The running server holds the directory (and its records in memory): not while it runs.
      const busy = await runFtx(['verify', root, '--forget-missing']);
      expect(busy.code, busy.stderr).toBe(12);
      expect(busy.stderr).toMatch(/^ftx: error: .* is already served by another ftx serve \(pid \d+\); stop it first\n$/);
      expect((await runFtx(['verify', host, '--forget-missing'])).code).toBe(2);
      await served.serve.stop();
      const forgot = await runFtx(['verify', root, '--forget-missing']);
      expect(forgot.code, forgot.stderr).toBe(0);
      expect(forgot.stdout).toBe('old.bin: MISSING, its record dropped (--forget-missing)\n');
      expect(forgot.stderr).toMatch(/3 files, .*: 2 ok, 0 corrupt, 1 missing \(1 forgotten\), 0 unrecorded/);
      const again = await runFtx(['verify', root, '--json']);
      expect(again.code, again.stdout).toBe(0);
      expect(JSON.parse(again.stdout.trim().split('\n').pop()!)).toMatchObject({ files: 2, ok: 2, missing: 0 });
      // A restarted server reads the rewritten log: its scrub agrees.
      served.serve = await spawnServe([root, '--port', '0']);
      expect((await runFtx(['verify', `127.0.0.1:${served.serve.port}`])).code).toBe(0);
      await served.serve.stop();
      // Corruption is never forgotten.
      await rot(join(root, 'rot.bin'), 100);
      expect((await runFtx(['verify', root, '--forget-missing'])).code).toBe(6);
    } finally {
      await stopServedDir(served);
    }
  });

  it('needs the verify scope', async () => {
    const reader = 'ftx1_reader-only-token-0123456789abcdef';
    await withServer({ tokens: TokenSet.parse(`r read ${reader}`, 't') }, async ({ server }) => {
      const result = await runFtx(['verify', `127.0.0.1:${server.port}`], { FTX_TOKEN: reader });
      expect(result.code).toBe(5);
      expect(result.stderr).toContain('needs_verify');
    });
  });
});
