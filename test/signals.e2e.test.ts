/**
 * Ctrl-C and SIGTERM stop `ftx put` on a terminal as anywhere else: nothing still open lands, a
 * large file's partial is kept for resume, exit 130 / 143, the cursor and line wrap come back.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTX_BIN, runFtx, spawnFtx, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { runInPty } from './helpers/pty.js';
import { md5, waitForPartial } from './helpers/server.js';
import { startStallProxy } from './helpers/stall-proxy.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let root: string;

beforeAll(async () => ({ tmp, root, serve } = await startServedDir('ftx-signals-')));
afterAll(() => stopServedDir({ tmp, serve }));

const FTX = `${process.execPath} ${FTX_BIN}`;
const ESC = '\u001b';

/** Resolves once the server has logged the end (ok or FAILED) of the transfer of `name`. */
async function serverVerdict(name: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = serve.log().split('\n').find((l) => l.includes(` put "${name}" `));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`the server never logged ${name}:\n${serve.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whatever the bars turned off (cursor, line wrap) is on again at the end of the screen. */
function expectTerminalRestored(screen: string): void {
  for (const [off, on] of [[`${ESC}[?25l`, `${ESC}[?25h`], [`${ESC}[?7l`, `${ESC}[?7h`]]) {
    if (screen.includes(off!)) expect(screen.lastIndexOf(on!), JSON.stringify(screen.slice(-400))).toBeGreaterThan(screen.lastIndexOf(off!));
  }
  expect(screen).toContain(ESC); // a bar was drawn at all
}

describe('Ctrl-C on a terminal', () => {
  it('stops a stream from an endless producer without landing it (repeated: the signal races the end of input)', async () => {
    for (let i = 0; i < 6; i++) {
      const dir = `race-${i}`;
      // ftx dies by the signal it got (as a plain program would), so the script stops at the pipeline.
      const run = runInPty(`yes | ${FTX} put - 127.0.0.1:${serve.port} --dir ${dir} --name endless.bin; echo "after=$?"`);
      await waitForPartial(join(root, dir), 1024 * 1024);
      run.press('\u0003');
      expect(await run.exit(), run.screen()).toBe(130);
      expect(run.screen()).not.toContain('after=');
      expect(run.screen()).not.toContain('verified');
      expect(run.screen()).toContain('ftx: error: interrupted by SIGINT');
      expect(await serverVerdict(`${dir}/endless.bin`)).toContain('FAILED');
      expect(await readdir(join(root, dir)).catch(() => [])).toEqual([]);
    }
  });

  it('stops a file upload mid-way: exit 130, nothing landed, partial kept, terminal restored; a re-run resumes', async () => {
    const data = randomBytes(48 * 1024 * 1024);
    const source = join(tmp.dir, 'interrupted.bin');
    await writeFile(source, data);
    const proxy = await startStallProxy(serve.port, 16 * 1024 * 1024);
    try {
      const run = runInPty(`${FTX} put ${source} --dir cut 127.0.0.1:${proxy.port}`);
      while (proxy.forwarded() < 16 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 50));
      run.press('\u0003');
      expect(await run.exit(), run.screen()).toBe(130);
      const screen = run.screen();
      expect(screen).toContain('ftx: error: interrupted by SIGINT');
      expect(screen).not.toContain('verified');
      expectTerminalRestored(screen);
    } finally {
      await proxy.close();
    }
    expect(await serverVerdict('cut/interrupted.bin')).toContain('FAILED');
    const kept = await readdir(join(root, 'cut'));
    expect(kept).not.toContain('interrupted.bin');
    expect(kept.some((n) => n.startsWith('.ftx-') && n.endsWith('.part'))).toBe(true);

    const again = await runFtx(['put', source, '--dir', 'cut', `127.0.0.1:${serve.port}`, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const done = again.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.event === 'done')!;
    expect(done.md5).toBe(md5(data));
    expect(done.resumedFrom as number).toBeGreaterThan(0);
  });
  it('stops a tree mid-way with its overall bar: exit 130, the files verified so far stay, the open one does not land', async () => {
    const src = join(tmp.dir, 'tree');
    await mkdir(src);
    await writeFile(join(src, 'a-small.txt'), 'small');
    for (const name of ['b-big.bin', 'c-big.bin']) await writeFile(join(src, name), randomBytes(12 * 1024 * 1024));
    const proxy = await startStallProxy(serve.port, 8 * 1024 * 1024);
    try {
      const run = runInPty(`${FTX} put ${src} --dir multi 127.0.0.1:${proxy.port}`);
      await waitForPartial(join(root, 'multi', 'tree'), 1024 * 1024);
      run.press('\u0003');
      expect(await run.exit(), run.screen()).toBe(130);
      expect(run.screen()).toContain('ftx: error: interrupted by SIGINT');
      expectTerminalRestored(run.screen());
    } finally {
      await proxy.close();
    }
    expect(await serverVerdict('multi/tree/b-big.bin')).toContain('FAILED');
    const landed = (await readdir(join(root, 'multi', 'tree'))).filter((n) => !n.startsWith('.ftx-'));
    expect(landed).toEqual(['a-small.txt']);
  });
});

describe('Ctrl-C in a shell script', () => {
  it('stops the script too, as for any program killed by Ctrl-C (ftx re-raises the signal after cleaning up)', async () => {
    const source = join(tmp.dir, 'scripted.bin');
    await writeFile(source, randomBytes(24 * 1024 * 1024));
    const proxy = await startStallProxy(serve.port, 4 * 1024 * 1024);
    try {
      const run = runInPty(`bash -c '${FTX} put ${source} --dir scripted 127.0.0.1:${proxy.port}; echo "next-line=$?"'`);
      while (proxy.forwarded() < 4 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 50));
      run.press('\u0003');
      expect(await run.exit(), run.screen()).toBe(130);
      expect(run.screen()).toContain('ftx: error: interrupted by SIGINT');
      expect(run.screen()).not.toContain('next-line=');
    } finally {
      await proxy.close();
    }
  });
});

describe('SIGTERM', () => {
  it('stops a file upload without a terminal: exit 143, the error then the summary as the last JSON lines, the partial kept', async () => {
    const source = join(tmp.dir, 'terminated.bin');
    await writeFile(source, randomBytes(24 * 1024 * 1024));
    const proxy = await startStallProxy(serve.port, 4 * 1024 * 1024);
    try {
      const child = spawnFtx(['put', source, '--dir', 'term', `127.0.0.1:${proxy.port}`, '--json']);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<string | number | null>((resolve) => child.on('close', (code, signal) => resolve(signal ?? code)));
      while (proxy.forwarded() < 4 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 50));
      child.kill('SIGTERM');
      // ftx cleans up, then dies by the signal itself: a shell reports 143.
      expect(await exited, stderr).toBe('SIGTERM');
      expect(stderr).toContain('ftx: error: interrupted by SIGTERM');
      // The error, then the summary: always the last line (issue 9 item 8).
      const [error, summary] = stdout.trim().split('\n').slice(-2).map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(error).toMatchObject({ event: 'error', code: 'interrupted', exitCode: 143 });
      expect(summary).toMatchObject({ event: 'summary', sent: 0, exitCode: 143 });
    } finally {
      await proxy.close();
    }
    expect(await serverVerdict('term/terminated.bin')).toContain('FAILED');
    const kept = await readdir(join(root, 'term'));
    expect(kept).not.toContain('terminated.bin');
    expect(kept.some((n) => n.startsWith('.ftx-') && n.endsWith('.part'))).toBe(true);
  });
});
