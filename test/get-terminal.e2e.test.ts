/**
 * `ftx get` on a real terminal (tmux): while a large file comes down the pane shows one bar with its
 * name, bytes and percent, within the width; at the end nothing of the bar is left, each result line
 * is there whole and once, and a failure is one line. Downloads go through a relay that throttles the
 * server's direction, so that the bar is drawn for many frames.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FTX_BIN, runFtx, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { md5 } from './helpers/server.js';
import { startSlowReadProxy, type SlowReadProxy } from './helpers/slow-read-proxy.js';
import { runInTmux } from './helpers/tmux.js';

const MiB = 1024 * 1024;
const FTX = `${process.execPath} ${FTX_BIN}`;
const BAR = /[█░]/;
const BIG = 'a-big-download-with-a-rather-long-name.bin';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let slow: SlowReadProxy;
const contents = new Map<string, Buffer>();

beforeAll(async () => {
  ({ tmp, serve } = await startServedDir('ftx-getbar-'));
  slow = await startSlowReadProxy(serve.port, 6 * MiB);
  const src = join(tmp.dir, 'src');
  await mkdir(join(src, 'tree'), { recursive: true });
  const add = async (name: string, size: number): Promise<void> => {
    const data = randomBytes(size);
    contents.set(name, data);
    await writeFile(join(src, name), data);
  };
  await add(BIG, 16 * MiB);
  await add('tree/first-part.bin', 6 * MiB);
  await add('tree/second-part.bin', 6 * MiB);
  await add('tree/small.txt', 100);
  const host = `127.0.0.1:${serve.port}`;
  expect((await runFtx(['put', join(src, BIG), host])).code).toBe(0);
  expect((await runFtx(['put', join(src, 'tree'), host])).code).toBe(0);
});

afterAll(async () => {
  await slow?.close();
  await stopServedDir({ tmp, serve });
});

/** Columns a row takes (the bar's characters are one column each). */
const width = (row: string): number => [...row].length;
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('ftx get on a terminal', () => {
  it('draws one bar with the name, bytes and percent while a large file comes down; nothing of it is left', async () => {
    const dest = join(tmp.dir, 'one');
    await mkdir(dest);
    const columns = 100;
    const run = await runInTmux(`${FTX} get 127.0.0.1:${slow.port} ${BIG} ${dest}/`, columns, 12);
    try {
      const { frames, code } = await run.frames(100);
      const context = frames.map((f) => f.join('\n')).join('\n---\n');
      expect(code, context).toBe(EXIT.OK);
      const bars = frames.map((rows) => rows.filter((row) => BAR.test(row)));
      // Never more than one bar row, always within the width.
      for (const rows of bars) {
        expect(rows.length, context).toBeLessThanOrEqual(1);
        for (const row of rows) expect(width(row), context).toBeLessThan(columns);
      }
      const drawn = bars.flat();
      expect(drawn.length, context).toBeGreaterThan(3);
      for (const row of drawn) expect(row, context).toMatch(new RegExp(`^…?[\\w.-]*${escape(BIG.slice(-12))} +[█░]+ +\\d{1,3}%`));
      expect(drawn.some((row) => / MiB \/ +16(\.0)? MiB/.test(row)), context).toBe(true);
      expect(drawn.some((row) => /\d(\.\d)? MiB\/s/.test(row)), context).toBe(true);
      const percents = drawn.map((row) => Number(/ (\d{1,3})%/.exec(row)?.[1]));
      for (let i = 1; i < percents.length; i++) expect(percents[i]!, context).toBeGreaterThanOrEqual(percents[i - 1]!);
      expect(new Set(percents).size, context).toBeGreaterThan(2);
      // The end: no bar anywhere (scrollback included), the result line whole and once, the summary last.
      const screen = await run.capture({ joined: true });
      expect(screen, screen).not.toMatch(BAR);
      const lines = screen.split('\n').filter((line) => line.trim() !== '');
      const receipt = new RegExp(`^${escape(join(dest, BIG))}  16(\\.0+)? MiB  verified md5 ${md5(contents.get(BIG)!)}$`);
      expect(lines.filter((line) => receipt.test(line)), screen).toHaveLength(1);
      expect(lines.at(-1), screen).toMatch(/^ftx: 1 fetched, 0 skipped, 0 failed, /);
      expect(lines, screen).toHaveLength(2);
      expect(md5(await readFile(join(dest, BIG)))).toBe(md5(contents.get(BIG)!));
    } finally {
      await run.close();
    }
  });

  it('a tree: the result lines and a failure are each one whole line above the bar, then the summary; no bar is left', async () => {
    const dest = join(tmp.dir, 'tree-dest');
    await mkdir(join(dest, 'tree'), { recursive: true });
    // Already here with other content: a failure (--if-exists fail), told as one line.
    await writeFile(join(dest, 'tree', 'small.txt'), 'other content');
    const columns = 70;
    const run = await runInTmux(`${FTX} get 127.0.0.1:${slow.port} tree ${dest}/`, columns, 12);
    try {
      const { frames, code } = await run.frames(100);
      const context = frames.map((f) => f.join('\n')).join('\n---\n');
      expect(code, context).toBe(EXIT.PARTIAL);
      const drawn = frames.flatMap((rows) => rows.filter((row) => BAR.test(row)));
      expect(drawn.length, context).toBeGreaterThan(3);
      for (const rows of frames) expect(rows.filter((row) => BAR.test(row)).length, context).toBeLessThanOrEqual(1);
      for (const row of drawn) {
        expect(width(row), context).toBeLessThan(columns);
        // The file already here is refused before anything comes down: the bar counts the other two.
        expect(row, context).toMatch(/^2 files +[█░]+ +\d{1,3}%/);
      }
      const screen = await run.capture({ joined: true });
      expect(screen, screen).not.toMatch(BAR);
      const lines = screen.split('\n').filter((line) => line.trim() !== '');
      const once = (pattern: RegExp): void => expect(lines.filter((line) => pattern.test(line)), `${pattern} in\n${screen}`).toHaveLength(1);
      for (const name of ['tree/first-part.bin', 'tree/second-part.bin']) {
        once(new RegExp(`^${escape(join(dest, name))}  6(\\.0+)? MiB  verified md5 ${md5(contents.get(name)!)}$`));
      }
      const failures = lines.filter((line) => line.startsWith('ftx: ') && !/fetched, .* skipped, .* failed/.test(line));
      expect(failures, screen).toHaveLength(1);
      expect(failures[0], screen).toMatch(/^ftx: tree\/small\.txt: .*exists/);
      expect(lines.at(-1), screen).toMatch(/^ftx: 2 fetched, 0 skipped, 1 failed, /);
      expect(lines, screen).toHaveLength(4);
      expect(await readFile(join(dest, 'tree', 'small.txt'), 'utf8')).toBe('other content');
    } finally {
      await run.close();
    }
  });

  it('a connection lost mid-file with no retry left: one failure line, nothing of the bar, nothing landed', async () => {
    const dest = join(tmp.dir, 'lost');
    await mkdir(dest);
    const dying = await startSlowReadProxy(serve.port, 6 * MiB);
    const run = await runInTmux(`${FTX} get --retries 0 127.0.0.1:${dying.port} ${BIG} ${dest}/`, 80, 12);
    try {
      await run.waitFor(/ \d+%/);
      await dying.close();
      const code = await run.exit();
      const screen = await run.capture({ joined: true });
      const lines = screen.split('\n').filter((line) => line.trim() !== '');
      expect(code, screen).toBe(EXIT.CONNECTION_LOST);
      expect(lines, screen).toHaveLength(1);
      expect(lines[0], screen).toMatch(/^ftx: error: connection to the server lost, no retry left: /);
      expect(screen).not.toMatch(BAR);
      // Nothing under the name; only the hidden partial kept for a resume.
      expect((await readdir(dest)).filter((name) => !name.startsWith('.ftx-get-')), screen).toEqual([]);
    } finally {
      await run.close();
      await dying.close();
    }
  });
});
