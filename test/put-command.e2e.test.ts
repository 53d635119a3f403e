/**
 * `ftx put --name NAME -- COMMAND [ARGS...]`: ftx runs the producer, streams its stdout and commits
 * only when it exits 0. A failed producer never becomes a backup.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FTX_BIN, runFtx, spawnFtx, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { runInPty } from './helpers/pty.js';
import { md5, waitForPartial } from './helpers/server.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let root: string;

beforeAll(async () => ({ tmp, root, serve } = await startServedDir('ftx-producer-')));
afterAll(() => stopServedDir({ tmp, serve }));

const host = (): string => `127.0.0.1:${serve.port}`;
const events = (stdout: string): Record<string, unknown>[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
/** A node producer writing endlessly (after recording its pid in `pidFile`). */
const endless = (pidFile: string): string[] => [process.execPath, '-e',
  `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
   const b = Buffer.alloc(65536, 97); (function w() { while (process.stdout.write(b)); process.stdout.once('drain', w); })();`];
/** A node producer that writes 1 MiB, then thinks (a slow query): it would not notice a closed pipe. */
const thinking = (pidFile: string): string[] => [process.execPath, '-e',
  `process.stdout.write(Buffer.alloc(1 << 20, 97), () => require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)));
   setInterval(() => undefined, 1000);`];

/** Resolves once the server has logged the end (ok or FAILED) of the transfer of `name`. */
async function serverVerdict(name: string): Promise<string> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
    const line = serve.log().split('\n').find((l) => l.includes(` put "${name}" `));
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the server never logged ${name}:\n${serve.log()}`);
}

/** Nothing under `dir` of the served root: no file, no partial. */
async function nothingIn(dir: string): Promise<string[]> {
  return readdir(join(root, dir)).catch(() => []);
}

async function gone(pid: number): Promise<boolean> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe('put -- COMMAND', () => {
  it('lands the output of a producer that exits 0, md5-verified; its stderr passes through', async () => {
    const script = "head -c 3000000 /dev/zero | tr '\\0' x; echo 'dumping' >&2";
    const result = await runFtx(['put', '--name', 'ok.dump', '--dir', 'ok', host(), '--', 'sh', '-c', script]);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    expect(result.stderr).toContain('dumping');
    expect(result.stdout).toMatch(/ok\/ok\.dump .* verified/);
    expect(md5(await readFile(join(root, 'ok', 'ok.dump')))).toBe(md5(Buffer.alloc(3_000_000, 'x')));
  });

  it('discards the upload when the producer exits non-zero after writing everything: nothing lands, exit 11, status in the message and --json', async () => {
    // The output ends (stdout closed) well before the exit status is known.
    const script = "head -c 2000000 /dev/zero; exec >&-; echo 'pg_dump: error: lost connection' >&2; sleep 0.3; exit 3";
    const result = await runFtx(['put', '--name', 'db.dump', '--dir', 'failed', host(), '--json', '--', 'sh', '-c', script]);
    expect(result.code, result.stderr).toBe(EXIT.PRODUCER);
    expect(result.stderr).toContain('pg_dump: error: lost connection');
    expect(result.stderr).toMatch(/ftx: failed\/db\.dump: .*sh exited with status 3/);
    const fail = events(result.stdout).find((e) => e.event === 'fail')!;
    expect(fail).toMatchObject({ file: 'failed/db.dump', code: 'producer_failed', producer: { command: ['sh', '-c', script], exitCode: 3, signal: null } });
    expect(events(result.stdout).at(-1)).toMatchObject({ event: 'summary', sent: 0, failed: 1, exitCode: EXIT.PRODUCER });
    expect(await serverVerdict('failed/db.dump')).toContain('FAILED');
    expect(await nothingIn('failed')).toEqual([]);
  });

  it('discards the upload of a producer killed by a signal, and of one that cannot start', async () => {
    const killed = await runFtx(['put', '--name', 'k.dump', '--dir', 'killed', host(), '--', 'sh', '-c', 'echo some; kill -KILL $$']);
    expect(killed.code, killed.stderr).toBe(EXIT.PRODUCER);
    expect(killed.stderr).toMatch(/killed by SIGKILL/);
    const missing = await runFtx(['put', '--name', 'm.dump', '--dir', 'missing', host(), '--', 'no-such-producer-ftx']);
    expect(missing.code, missing.stderr).toBe(EXIT.PRODUCER);
    expect(missing.stderr).toMatch(/cannot start no-such-producer-ftx: ENOENT/);
    expect(await nothingIn('killed')).toEqual([]);
    expect(await nothingIn('missing')).toEqual([]);
  });

  it('SIGTERM to ftx while the producer runs: the producer is stopped, nothing lands, exit 143', async () => {
    const pidFile = join(tmp.dir, 'producer.pid');
    const child = spawnFtx(['put', '--name', 't.dump', '--dir', 'term', host(), '--', ...thinking(pidFile)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'exit', not 'close': a producer left running would hold ftx's stderr open.
    const exited = new Promise<string | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
    let pid = 0;
    for (const deadline = Date.now() + 20_000; pid === 0 && Date.now() < deadline;) {
      pid = Number(await readFile(pidFile, 'utf8').catch(() => '0'));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe('SIGTERM'); // cleaned up, then re-raised: a shell reports 143
    expect(await gone(pid)).toBe(true);
    expect(await serverVerdict('term/t.dump')).toContain('FAILED');
    expect(await nothingIn('term')).toEqual([]);
  });

  it('Ctrl-C on a terminal while the producer runs: exit 130, nothing lands', async () => {
    const pidFile = join(tmp.dir, 'producer-tty.pid');
    const command = [FTX_BIN, 'put', '--name', 'c.dump', '--dir', 'ctrlc', host(), '--', ...endless(pidFile)]
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const run = runInPty(`${process.execPath} ${command}`);
    await waitForPartial(join(root, 'ctrlc'), 1024 * 1024);
    run.press('\u0003');
    expect(await run.exit(), run.screen()).toBe(130);
    expect(run.screen()).not.toContain('verified');
    expect(await gone(Number(await readFile(pidFile, 'utf8')))).toBe(true);
    expect(await serverVerdict('ctrlc/c.dump')).toContain('FAILED');
    expect(await nothingIn('ctrlc')).toEqual([]);
  });

  it('--dry-run names the command, does not run it and sends nothing', async () => {
    const marker = join(tmp.dir, 'dry-run-ran');
    const result = await runFtx(['put', '--dry-run', '--name', 'dry.dump', '--dir', 'dry', host(), '--',
      process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`]);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    expect(result.stdout + result.stderr).toContain('stream from the output of:');
    expect(existsSync(marker)).toBe(false);
    expect(await nothingIn('dry')).toEqual([]);
  });

  it('refuses a command without --name, with file sources, or an empty command (usage, exit 2)', async () => {
    for (const args of [
      ['put', host(), '--', 'echo', 'x'],
      ['put', '--name', 'x', 'some-file', host(), '--', 'echo', 'x'],
      ['put', '--name', 'x', host(), '--'],
      ['put', '--name', 'x', '-', host(), '--', 'echo'],
    ]) {
      const result = await runFtx(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(EXIT.USAGE);
      expect(result.stderr).toMatch(/^ftx: error: /);
    }
  });
});
