/**
 * On a terminal, every result line of a tree (receipts and failures) appears whole, once and in
 * order above the bars, and the bars are gone at the end: read from a real terminal (tmux).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FTX_BIN, runFtx, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { startCutProxy, type CutProxy } from './helpers/cut-proxy.js';
import { md5 } from './helpers/server.js';
import { runInTmux } from './helpers/tmux.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let proxy: CutProxy;

beforeAll(async () => {
  ({ tmp, serve } = await startServedDir('ftx-lines-'));
  // A slow link: the bars are on the screen for many frames while the lines are printed.
  proxy = await startCutProxy(serve.port, Infinity, { bytesPerSecond: 12 * 1024 * 1024 });
});

afterAll(async () => {
  await proxy?.close();
  await stopServedDir({ tmp, serve });
});

const FTX = `${process.execPath} ${FTX_BIN}`;
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('result lines on a terminal', () => {
  it('shows every receipt and failure of a tree whole, once, in order, then the summary; no bar is left', async () => {
    const src = join(tmp.dir, 'a-tree-whose-result-lines-are-wider-than-the-terminal');
    await mkdir(src);
    const contents = new Map<string, Buffer>();
    const add = async (name: string, size: number): Promise<void> => {
      const data = randomBytes(size);
      contents.set(name, data);
      await writeFile(join(src, name), data);
    };
    for (let i = 0; i < 3; i++) await add(`large-file-number-${i}-with-a-long-name.bin`, 6 * 1024 * 1024);
    await add('a-small-file.txt', 100);
    // Two files the server already has with other content: two failures (--if-exists fail).
    for (const name of ['conflict-one.dat', 'conflict-two.dat']) {
      await writeFile(join(src, name), 'old');
      expect((await runFtx(['put', join(src, name), '--dir', `lines/${src.split('/').at(-1)}`, `127.0.0.1:${serve.port}`])).code).toBe(0);
      await add(name, 2000);
    }
    const term = await runInTmux(`${FTX} put ${src} --dir lines 127.0.0.1:${proxy.port}`, 80, 24);
    try {
      expect(await term.exit()).toBe(EXIT.PARTIAL);
      const screen = await term.capture({ joined: true });
      const lines = screen.split('\n').filter((line) => line.trim() !== '');
      const remoteDir = `lines/${src.split('/').at(-1)}`;
      const at = (pattern: RegExp): number => {
        const found = lines.map((line, index) => (pattern.test(line) ? index : -1)).filter((index) => index >= 0);
        expect(found, `${pattern} once in:\n${screen}`).toHaveLength(1);
        return found[0]!;
      };
      const receipt = (name: string): number => at(new RegExp(
        `^sent ${escape(join(src, name))} -> 127\\.0\\.0\\.1:${proxy.port} ${escape(`${remoteDir}/${name}`)}  .* md5 ${md5(contents.get(name)!)} verified$`,
      ));
      const failures = ['conflict-one.dat', 'conflict-two.dat'].map((name) => at(new RegExp(`^ftx: ${escape(`${remoteDir}/${name}`)}: .*exists on the server`)));
      const small = receipt('a-small-file.txt');
      const large = [0, 1, 2].map((i) => receipt(`large-file-number-${i}-with-a-long-name.bin`));
      const summary = at(/^ftx: 4 sent, 0 skipped, 2 failed; /);
      // Failures are decided before anything is sent; small files go first, then the large ones in order.
      expect([...failures, small, ...large, summary]).toEqual([...failures, small, ...large, summary].sort((a, b) => a - b));
      expect(summary).toBe(lines.length - 1);
      expect(screen).not.toMatch(/[█░]/);
    } finally {
      await term.close();
    }
  });

  it('a line printed over two bars leaves nothing of them behind (a retry notice in a tree, 50 columns)', async () => {
    const src = join(tmp.dir, 'retried-tree');
    await mkdir(src);
    const contents = new Map<string, Buffer>();
    for (let i = 0; i < 2; i++) {
      const data = randomBytes(10 * 1024 * 1024);
      contents.set(`file-${i}.bin`, data);
      await writeFile(join(src, `file-${i}.bin`), data);
    }
    const cutting = await startCutProxy(serve.port, 6 * 1024 * 1024, { bytesPerSecond: 12 * 1024 * 1024 });
    const term = await runInTmux(`${FTX} put ${src} --dir cut --retry-wait 0.2 127.0.0.1:${cutting.port}`, 50, 24);
    try {
      expect(await term.exit()).toBe(0);
      const screen = await term.capture({ joined: true });
      const lines = screen.split('\n').filter((line) => line.trim() !== '');
      // The notice wraps onto the row of the second bar: that row holds its end and nothing else.
      expect(lines.filter((line) => /^ftx: .*; retry 1\/5 in \d\.\d s$/.test(line)), screen).toHaveLength(1);
      for (const [name, data] of contents) {
        expect(lines.filter((line) => line.startsWith(`sent ${join(src, name)} `) && line.endsWith(`md5 ${md5(data)} verified`)), screen).toHaveLength(1);
      }
      expect(lines.at(-1), screen).toMatch(/^ftx: 2 sent, 0 skipped, 0 failed; /);
      expect(screen).not.toMatch(/[█░]/);
    } finally {
      await term.close();
      await cutting.close();
    }
  });
});
