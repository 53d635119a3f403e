/** `ftx get` and `ftx ls` against a real server: round trips, verification, policies, stdout, scopes. */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenSet } from '../src/server/auth/token-set.js';
import { runFtx } from './helpers/cli.js';
import { md5, withServer } from './helpers/server.js';

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('ftx get', () => {
  it('gets a tree back as it was put: contents, mtimes, modes; a re-run fetches nothing', async () => {
    await withServer({}, async ({ server, scratch }) => {
      const src = join(scratch, 'site');
      await mkdir(join(src, 'img'), { recursive: true });
      const big = randomBytes(3 * 1024 * 1024 + 17);
      await writeFile(join(src, 'big.bin'), big);
      for (let i = 0; i < 50; i++) await writeFile(join(src, 'img', `p${i}.txt`), `small ${i}`);
      await chmod(join(src, 'img', 'p1.txt'), 0o600);
      await chmod(join(src, 'img', 'p2.txt'), 0o755);
      await utimes(join(src, 'img', 'p3.txt'), 1_500_000_000, 1_500_000_000);
      await utimes(join(src, 'big.bin'), 1_600_000_000, 1_600_000_000);
      const host = `127.0.0.1:${server.port}`;
      expect((await runFtx(['put', src, host])).code).toBe(0);
      const restore = join(scratch, 'restore');
      await mkdir(restore); // an existing directory: site lands inside it, as cp -r does
      const got = await runFtx(['get', host, 'site', restore, '--json']);
      expect(got.code, got.stderr).toBe(0);
      expect(await tree(restore)).toHaveLength(53); // site, site/big.bin, site/img and its 50 files
      expect(await readFile(join(restore, 'site/big.bin'))).toEqual(big);
      expect(await readFile(join(restore, 'site/img/p7.txt'), 'utf8')).toBe('small 7');
      expect((await stat(join(restore, 'site/big.bin'))).mtimeMs).toBe(1_600_000_000_000);
      expect((await stat(join(restore, 'site/img/p1.txt'))).mode & 0o777).toBe(0o600);
      // Small files (landed from memory) too: not the partial's 0600, and their own mtime.
      expect((await stat(join(restore, 'site/img/p2.txt'))).mode & 0o777).toBe(0o755);
      expect((await stat(join(restore, 'site/img/p3.txt'))).mtimeMs).toBe(1_500_000_000_000);
      const done = got.stdout.split('\n').filter((l) => l.includes('"event":"done"')).map((l) => JSON.parse(l) as { verified: string });
      expect(done).toHaveLength(51);
      expect(done.every((d) => d.verified === 'recorded')).toBe(true);
      // Small files went in batches, not one request each.
      const again = await runFtx(['get', host, 'site', restore, '--json']);
      expect(again.code).toBe(0);
      expect(again.stdout).not.toContain('"event":"done"');
      expect(JSON.parse(again.stdout.trim().split('\n').pop()!)).toMatchObject({ event: 'summary', fetched: 0, skipped: 51 });
    });
  });

  it('bit rot on the server: exit 6, nothing lands locally (no file, no partial)', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const data = randomBytes(200_000);
      await writeFile(join(scratch, 'db.sql'), data);
      const host = `127.0.0.1:${server.port}`;
      expect((await runFtx(['put', join(scratch, 'db.sql'), host])).code).toBe(0);
      const path = join(root, 'db.sql');
      const before = await stat(path);
      const handle = await open(path, 'r+');
      await handle.write(Buffer.from([data[1000]! ^ 0xff]), 0, 1, 1000);
      await handle.close();
      await utimes(path, before.atime, before.mtime);
      const out = join(scratch, 'out');
      await mkdir(out);
      const got = await runFtx(['get', host, 'db.sql', out]);
      expect(got.code, got.stderr).toBe(6);
      expect(got.stderr).toContain('corrupt');
      expect(await readdir(out)).toEqual([]);
    });
  });

  it('a single file to a name, to stdout, and an unrecorded file said so', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      await writeFile(join(root, 'hand.txt'), 'placed by hand\n');
      const host = `127.0.0.1:${server.port}`;
      const named = await runFtx(['get', host, 'hand.txt', join(scratch, 'copy.txt')]);
      expect(named.code, named.stderr).toBe(0);
      expect(named.stdout).toContain('unrecorded');
      expect(await readFile(join(scratch, 'copy.txt'), 'utf8')).toBe('placed by hand\n');
      const piped = await runFtx(['get', host, 'hand.txt', '-']);
      expect(piped.code).toBe(0);
      expect(piped.stdout).toBe('placed by hand\n');
      const missing = await runFtx(['get', host, 'nope.txt', '-']);
      expect(missing.code).toBe(5);
      expect(missing.stdout).toBe('');
    });
  });

  it('--if-exists fail (exit 5), skip, rename, overwrite; --dry-run and --exclude write nothing', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      await writeFile(join(root, 'a.txt'), 'server');
      await writeFile(join(root, 'b.log'), 'log');
      const host = `127.0.0.1:${server.port}`;
      const out = join(scratch, 'out');
      await mkdir(out);
      await writeFile(join(out, 'a.txt'), 'local');
      expect((await runFtx(['get', host, 'a.txt', out])).code).toBe(5);
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('local');
      expect((await runFtx(['get', host, 'a.txt', out, '--if-exists', 'skip'])).code).toBe(0);
      expect((await runFtx(['get', host, 'a.txt', out, '--if-exists', 'rename'])).code).toBe(0);
      expect(await readFile(join(out, 'a.1.txt'), 'utf8')).toBe('server');
      expect((await runFtx(['get', host, 'a.txt', out, '--force'])).code).toBe(0);
      expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('server');
      const dry = join(scratch, 'dry');
      const planned = await runFtx(['get', host, '.', dry, '--dry-run']);
      expect(planned.code, planned.stderr).toBe(0);
      expect(planned.stdout + planned.stderr).toContain('would get');
      await expect(stat(dry)).rejects.toThrow();
      const some = join(scratch, 'some');
      expect((await runFtx(['get', host, '.', some, '--exclude', '*.log'])).code).toBe(0);
      expect(await tree(some)).toEqual(['a.txt']);
    });
  });

  it('an existing local file of the same size: same mtime is identical; --checksum compares md5s instead', async () => {
    await withServer({}, async ({ server, scratch }) => {
      const host = `127.0.0.1:${server.port}`;
      await writeFile(join(scratch, 'c.txt'), 'server copy');
      await utimes(join(scratch, 'c.txt'), new Date(), new Date(1_600_000_000_000));
      expect((await runFtx(['put', join(scratch, 'c.txt'), host])).code).toBe(0);
      const out = join(scratch, 'out');
      await mkdir(out);
      // Same bytes, another mtime: differs by size and mtime, identical by md5.
      await writeFile(join(out, 'c.txt'), 'server copy');
      expect((await runFtx(['get', host, 'c.txt', out])).code).toBe(5);
      const byMd5 = await runFtx(['get', host, 'c.txt', out, '--checksum', '--json']);
      expect(byMd5.code, byMd5.stderr).toBe(0);
      expect(byMd5.stdout).toContain('identical (md5)');
      // Other bytes of the same size, the same mtime: identical by size and mtime, differs by md5.
      await writeFile(join(out, 'c.txt'), 'local edits');
      await utimes(join(out, 'c.txt'), new Date(), new Date(1_600_000_000_000));
      const byMtime = await runFtx(['get', host, 'c.txt', out, '--json']);
      expect(byMtime.code, byMtime.stderr).toBe(0);
      expect(byMtime.stdout).toContain('identical (size and mtime)');
      expect((await runFtx(['get', host, 'c.txt', out, '--checksum'])).code).toBe(5);
      expect(await readFile(join(out, 'c.txt'), 'utf8')).toBe('local edits');
    });
  });

  it('a write-only token cannot get, ls or verify (exit 5, needs_read / needs_verify, one line)', async () => {
    const writer = 'ftx1_writer-only-token-0123456789abcdef';
    await withServer({ tokens: TokenSet.parse(`w write ${writer}`, 't') }, async ({ server, root, scratch }) => {
      await writeFile(join(root, 'secret.txt'), 'x');
      const host = `127.0.0.1:${server.port}`;
      const got = await runFtx(['get', host, 'secret.txt', scratch], { FTX_TOKEN: writer });
      expect(got.code).toBe(5);
      expect(got.stderr).toContain('needs_read');
      expect(got.stderr.trim().split('\n').filter((line) => !/ fetched, .* failed/.test(line)), got.stderr).toHaveLength(1);
      expect(existsSync(join(scratch, 'secret.txt'))).toBe(false);
      const listed = await runFtx(['ls', host], { FTX_TOKEN: writer });
      expect(listed.code).toBe(5);
      expect(listed.stderr).toContain('needs_read');
      expect(listed.stdout).toBe('');
      // Nor can it make the server read its files back for it (verify is its own scope).
      const verified = await runFtx(['verify', host], { FTX_TOKEN: writer });
      expect(verified.code).toBe(5);
      expect(verified.stderr).toContain('needs_verify');
      expect(verified.stdout).toBe('');
    });
  });
});

describe('ftx ls', () => {
  it('lists names, sizes, mtimes and md5s, aligned; -r descends; --json is one object per line', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      await writeFile(join(scratch, 'a.txt'), 'hello');
      const host = `127.0.0.1:${server.port}`;
      expect((await runFtx(['put', join(scratch, 'a.txt'), host, '--dir', 'd'])).code).toBe(0);
      await mkdir(join(root, 'd/sub'));
      await writeFile(join(root, 'd/sub/long-name-file.bin'), randomBytes(123_456));
      const flat = await runFtx(['ls', host, 'd']);
      expect(flat.code, flat.stderr).toBe(0);
      const lines = flat.stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines.find((l) => l.endsWith('d/a.txt'))).toContain(md5(Buffer.from('hello')));
      // Aligned: the name column starts at the same place on every line.
      expect(new Set(lines.map((l) => l.lastIndexOf(' d/'))).size).toBe(1);
      const deep = await runFtx(['ls', host, 'd', '-r', '--json']);
      const entries = deep.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; md5?: string | null });
      expect(entries.map((e) => e.name).sort()).toEqual(['d/a.txt', 'd/sub', 'd/sub/long-name-file.bin']);
      expect(entries.find((e) => e.name === 'd/sub/long-name-file.bin')!.md5).toBeNull();
    });
  });
});
