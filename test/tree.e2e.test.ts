import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FTX_BIN, runFtx, spawnFtx, spawnServe, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { listPartialStates, listTree, md5 } from './helpers/server.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let root: string;

beforeAll(async () => ({ tmp, root, serve } = await startServedDir('ftx-tree-')));

afterAll(() => stopServedDir({ tmp, serve }));

/** A source tree with nested and empty dirs, a symlink, odd names and an excluded file. */
async function makeTree(name: string): Promise<string> {
  const src = join(tmp.dir, name);
  await mkdir(join(src, 'a', 'b'), { recursive: true });
  await mkdir(join(src, 'empty', 'inner'), { recursive: true });
  await mkdir(join(src, 'with space'));
  await writeFile(join(src, 'a', 'b', 'deep.bin'), randomBytes(3 * 1024 * 1024));
  await writeFile(join(src, 'a', 'small.txt'), 'small');
  await writeFile(join(src, 'with space', 'ünï cödé €.txt'), 'unicode');
  await writeFile(join(src, 'a', 'skip.log'), 'excluded');
  await writeFile(join(src, 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(src, 'script.sh'), 0o750);
  await chmod(join(src, 'a', 'small.txt'), 0o600);
  const old = new Date('2023-06-07T08:09:10.123Z');
  await utimes(join(src, 'a', 'small.txt'), old, old);
  await symlink(join(src, 'a', 'small.txt'), join(src, 'link-to-small'));
  return src;
}

/** Relative paths, sizes, md5s, modes and mtimes of every file and dir under `dir`. */
async function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await listTree(dir)) {
    if (skip(rel)) continue;
    const info = await stat(join(dir, rel));
    out[rel] = info.isDirectory() ? 'dir' : `${md5(await readFile(join(dir, rel)))} ${(info.mode & 0o777).toString(8)} ${Math.round(info.mtimeMs)}`;
  }
  return out;
}

function parseNdjson(text: string): Record<string, unknown>[] {
  return text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('directory trees', () => {
  it('lands the tree as it is (content, paths, mode, mtime, empty dirs); skips symlinks with a warning; honours --exclude', async () => {
    const src = await makeTree('tree1');
    const result = await runFtx(['put', src, '--dir', 'run1', '--exclude', '*.log', `127.0.0.1:${serve.port}`]);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    expect(result.stderr).toMatch(/skipped symlink .*link-to-small/);
    const landed = await snapshot(join(root, 'run1', 'tree1'));
    const source = await snapshot(src, (rel) => rel.endsWith('.log') || rel === 'link-to-small');
    expect(landed).toEqual(source);
    expect(landed['empty/inner']).toBe('dir');
    expect(landed['a/small.txt']).toMatch(/ 600 1686125350123$/);
    expect(landed['script.sh']).toMatch(/ 750 /);
    expect(Object.keys(landed)).not.toContain('a/skip.log');
  });

  it('follows symlinks with --follow-symlinks; "dir/" uploads the contents only', async () => {
    const src = await makeTree('tree2');
    const result = await runFtx(['put', `${src}/`, '--dir', 'run2', '--follow-symlinks', `127.0.0.1:${serve.port}`]);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    expect(await readFile(join(root, 'run2', 'link-to-small'), 'utf8')).toBe('small');
    expect(await readFile(join(root, 'run2', 'a', 'small.txt'), 'utf8')).toBe('small');
  });

  it('a re-run sends no file data and skips everything; a touched file is the only one sent', async () => {
    const src = await makeTree('tree3');
    const dest = `127.0.0.1:${serve.port}`;
    expect((await runFtx(['put', src, '--dir', 'run3', dest])).code).toBe(EXIT.OK);
    const again = await runFtx(['put', src, '--dir', 'run3', dest, '--json']);
    expect(again.code).toBe(EXIT.OK);
    const events = parseNdjson(again.stdout);
    const summary = events.at(-1)!;
    expect(summary).toMatchObject({ event: 'summary', sent: 0, failed: 0, bytes: 0, exitCode: 0 });
    expect(summary.skipped).toBe(events.filter((e) => e.event === 'skip').length);
    expect(events.some((e) => e.event === 'done')).toBe(false);

    const touched = new Date();
    await utimes(join(src, 'a', 'small.txt'), touched, touched);
    const third = await runFtx(['put', src, '--dir', 'run3', dest, '--json', '--if-exists', 'overwrite']);
    expect(third.code).toBe(EXIT.OK);
    const sent = parseNdjson(third.stdout).filter((e) => e.event === 'done');
    expect(sent.map((e) => e.file)).toEqual(['run3/tree3/a/small.txt']);

    // By content (--checksum): a touch alone changes nothing.
    await utimes(join(src, 'a', 'small.txt'), new Date(), new Date(Date.now() + 5000));
    const byContent = await runFtx(['put', src, '--dir', 'run3', dest, '--json', '--checksum']);
    expect(parseNdjson(byContent.stdout).at(-1)).toMatchObject({ sent: 0, failed: 0 });
  });

  it('changed content: the default refuses it (partial exit code), rename keeps both, skip leaves it', async () => {
    const src = await makeTree('tree4');
    const dest = `127.0.0.1:${serve.port}`;
    expect((await runFtx(['put', src, '--dir', 'run4', dest])).code).toBe(EXIT.OK);
    await writeFile(join(src, 'a', 'small.txt'), 'changed!');
    const refused = await runFtx(['put', src, '--dir', 'run4', dest, '--json']);
    expect(refused.code).toBe(EXIT.PARTIAL);
    const fail = parseNdjson(refused.stdout).find((e) => e.event === 'fail');
    expect(fail).toMatchObject({ file: 'run4/tree4/a/small.txt', code: 'exists', status: 409 });
    expect(await readFile(join(root, 'run4', 'tree4', 'a', 'small.txt'), 'utf8')).toBe('small');

    const skipped = await runFtx(['put', src, '--dir', 'run4', dest, '--if-exists', 'skip']);
    expect(skipped.code).toBe(EXIT.OK);
    expect(await readFile(join(root, 'run4', 'tree4', 'a', 'small.txt'), 'utf8')).toBe('small');

    const renamed = await runFtx(['put', src, '--dir', 'run4', dest, '--if-exists', 'rename', '--json']);
    expect(renamed.code).toBe(EXIT.OK);
    expect(parseNdjson(renamed.stdout).find((e) => e.event === 'done')).toMatchObject({ landedAs: 'run4/tree4/a/small.1.txt' });
    expect(await readFile(join(root, 'run4', 'tree4', 'a', 'small.txt'), 'utf8')).toBe('small');
    expect(await readFile(join(root, 'run4', 'tree4', 'a', 'small.1.txt'), 'utf8')).toBe('changed!');
  });

  it('--json: every line parses, the summary matches what landed; one refused file gives "partial" while the rest land', async () => {
    const src = join(tmp.dir, 'tree5');
    await mkdir(src);
    for (let i = 0; i < 300; i++) await writeFile(join(src, `f${i}.txt`), `file ${i}`);
    await writeFile(join(src, 'bad\\name.txt'), 'backslashes are refused by the server');
    const result = await runFtx(['put', src, '--dir', 'run5', `127.0.0.1:${serve.port}`, '--json']);
    expect(result.code).toBe(EXIT.PARTIAL);
    const events = parseNdjson(result.stdout);
    const summary = events.at(-1)!;
    expect(summary).toMatchObject({ event: 'summary', sent: 300, failed: 1, skipped: 0, exitCode: EXIT.PARTIAL });
    expect(events.find((e) => e.event === 'fail')).toMatchObject({ code: 'forbidden_path', status: 403 });
    const landed = (await listTree(join(root, 'run5', 'tree5'))).sort();
    expect(landed).toHaveLength(300);
    expect(events.filter((e) => e.event === 'done').map((e) => String(e.landedAs).split('/').at(-1)).sort()).toEqual(landed);
  });

  it('keeps uploading when the reader of its output goes away (| head -1)', async () => {
    const src = join(tmp.dir, 'tree7');
    await mkdir(src);
    for (let i = 0; i < 200; i++) await writeFile(join(src, `f${i}.txt`), `file ${i}`);
    const { runCommand } = await import('./helpers/cli.js');
    const script = `${process.execPath} ${FTX_BIN} put ${src} --dir run7 127.0.0.1:${serve.port} | head -1; echo "exit=\${PIPESTATUS[0]}" >&2`;
    const result = await runCommand('bash', ['-c', script]);
    expect(result.stderr).toContain('exit=0');
    expect(result.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(await listTree(join(root, 'run7', 'tree7'))).toHaveLength(200);
  });

  it('a tree pruned on the server while it runs is uploaded again in full (no stale directory is trusted)', async () => {
    const src = await makeTree('pruned');
    // Many files per directory, so that the server has walked (and remembered) these directories.
    await mkdir(join(src, 'many'));
    for (let i = 0; i < 20; i++) await writeFile(join(src, 'many', `f${i}.txt`), `file ${i}`);
    await writeFile(join(src, 'many', 'zz-big.bin'), randomBytes(2 * 1024 * 1024 + 5));
    const args = ['put', src, '--dir', 'prune', '--exclude', '*.log', `127.0.0.1:${serve.port}`];
    const first = await runFtx(args);
    expect(first.code, first.stderr).toBe(EXIT.OK);
    const expected = await snapshot(join(root, 'prune', 'pruned'));
    // Someone rotates the backups on the server, right away (the server still remembers these dirs).
    await rm(join(root, 'prune'), { recursive: true });
    const second = await runFtx(args);
    expect(second.code, second.stderr).toBe(EXIT.OK);
    expect(await snapshot(join(root, 'prune', 'pruned'))).toEqual(expected);
    expect(expected['empty/inner']).toBe('dir');
    expect(expected['many/zz-big.bin']).toBeDefined();
  });

  it('many small files go in batches that respect the limits (128 files, 24 KiB of names): all land, each verified', async () => {
    const src = join(tmp.dir, 'batches');
    await mkdir(src);
    const names: string[] = [];
    // 300 files: more than two batches by count; long names: more than one batch by name bytes.
    for (let i = 0; i < 300; i++) {
      const name = i < 150 ? `${String(i).padStart(3, '0')}-${'n'.repeat(200)}.txt` : `f${i}.txt`;
      names.push(name);
      await writeFile(join(src, name), `file ${i}\n`.repeat(i % 7));
    }
    const result = await runFtx(['put', src, '--json', `127.0.0.1:${serve.port}`]);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    const summary = parseNdjson(result.stdout).find((line) => line.event === 'summary');
    expect(summary).toMatchObject({ sent: 300, failed: 0 });
    expect((await listTree(join(root, 'batches'))).sort()).toEqual([...names].sort());
    expect(await readFile(join(root, 'batches', names[299]!), 'utf8')).toBe('file 299\n'.repeat(299 % 7));
  });

  it('--dry-run lists what would happen and sends nothing', async () => {
    const src = await makeTree('tree6');
    const result = await runFtx(['put', src, '--dir', 'run6', `127.0.0.1:${serve.port}`, '--dry-run']);
    expect(result.code).toBe(EXIT.OK);
    expect(result.stdout).toMatch(/would send: .*deep\.bin -> run6\/tree6\/a\/b\/deep\.bin/);
    expect(result.stdout).toMatch(/would create directory: .* -> run6\/tree6\/empty\/inner\//);
    expect(result.stderr).toMatch(/dry run: 7 to send or create, 0 to skip, 0 would fail; nothing was sent/);
    await expect(stat(join(root, 'run6'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('stdin streams', () => {
  async function pipeInto(args: string[], source: string, killAfterBytes?: number) {
    const producer = spawn('cat', [source], { stdio: ['ignore', 'pipe', 'ignore'] });
    const ftx = spawnFtx(args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    ftx.stdout!.on('data', (d: Buffer) => (stdout += d));
    ftx.stderr!.on('data', (d: Buffer) => (stderr += d));
    let piped = 0;
    producer.stdout.on('data', (d: Buffer) => {
      piped += d.length;
      if (killAfterBytes !== undefined && piped >= killAfterBytes) {
        // The whole pipeline dies mid-stream (as with Ctrl-C or a killed cron job).
        producer.kill('SIGKILL');
        ftx.kill('SIGKILL');
      }
    });
    producer.stdout.pipe(ftx.stdin!);
    ftx.stdin!.on('error', () => undefined);
    const code = await new Promise<number | null>((resolve) => ftx.on('close', resolve));
    return { code, stdout, stderr };
  }

  it('streams ~50 MiB from a child process, md5-verified, without a temp file on the client', async () => {
    const source = join(tmp.dir, 'stream.bin');
    const data = randomBytes(50 * 1024 * 1024 + 13);
    await writeFile(source, data);
    const result = await pipeInto(['put', '-', `127.0.0.1:${serve.port}`, '--name', 'dumps/db.sql.gz'], source);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    expect(result.stdout).toContain(`md5 ${md5(data)} verified`);
    expect(md5(await readFile(join(root, 'dumps', 'db.sql.gz')))).toBe(md5(data));
  });

  it('a slow producer whose pauses add up to more than the server\'s idle timeout lands intact: partly filled blocks go out at once', async () => {
    // A server that drops a connection after 1 s without data: the bursts must not wait for a full block.
    const slowRoot = join(tmp.dir, 'slow-root');
    await mkdir(slowRoot);
    const slowServe = await spawnServe([slowRoot, '--port', '0', '--idle-timeout', '1']);
    const bursts = [randomBytes(5), randomBytes(70_000), randomBytes(3), randomBytes(2 * 1024 * 1024 + 1)];
    const files = await Promise.all(bursts.map(async (data, i) => {
      const path = join(tmp.dir, `burst-${i}.bin`);
      await writeFile(path, data);
      return path;
    }));
    const script = `const fs = require('node:fs'); const files = ${JSON.stringify(files)};
      (async () => { for (const f of files) { process.stdout.write(fs.readFileSync(f)); await new Promise((r) => setTimeout(r, 700)); } })();`;
    try {
      const producer = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
      const ftx = spawnFtx(['put', '-', `127.0.0.1:${slowServe.port}`, '--name', 'slow.bin'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      ftx.stderr!.on('data', (d: Buffer) => (stderr += d));
      producer.stdout.pipe(ftx.stdin!);
      const code = await new Promise<number | null>((resolve) => ftx.on('close', resolve));
      expect(code, stderr).toBe(EXIT.OK);
      expect(md5(await readFile(join(slowRoot, 'slow.bin')))).toBe(md5(Buffer.concat(bursts)));
    } finally {
      await slowServe.stop();
    }
  });

  it('a stream cut off early leaves nothing under the name and no partial', async () => {
    const source = join(tmp.dir, 'stream2.bin');
    await writeFile(source, randomBytes(40 * 1024 * 1024));
    const result = await pipeInto(['put', '-', `127.0.0.1:${serve.port}`, '--name', 'dumps/cut.sql.gz'], source, 8 * 1024 * 1024);
    expect(result.code).toBeNull();
    const until = Date.now() + 5000;
    const leftovers = async (): Promise<string[]> => (await listTree(join(root, 'dumps')).catch(() => [])).filter((n) => n.includes('cut') || n.startsWith('.ftx-'));
    while ((await leftovers()).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await leftovers()).toEqual([]);
    expect(await listPartialStates(root)).toEqual([]);
  });
});
