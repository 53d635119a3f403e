/**
 * The progress bar as a user sees it, on real terminals: tmux panes of several widths (what the
 * screen shows) and script(1) (every byte written to the terminal). Transfers go through a
 * throttling proxy so that the bars are drawn for many frames.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTX_BIN, runCommand, runFtx, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { startCutProxy, type CutProxy } from './helpers/cut-proxy.js';
import { runInTmux } from './helpers/tmux.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let slow: CutProxy;
let bigFile: string;
let tree: string;

const MiB = 1024 * 1024;
const FTX = `${process.execPath} ${FTX_BIN}`;
const ESC = '\u001b';
const BAR = /[█░]/;

beforeAll(async () => {
  ({ tmp, serve } = await startServedDir('ftx-bar-'));
  slow = await startCutProxy(serve.port, Infinity, { bytesPerSecond: 6 * MiB });
  bigFile = join(tmp.dir, 'a-big-file-with-a-rather-long-name.bin');
  await writeFile(bigFile, randomBytes(20 * MiB));
  tree = join(tmp.dir, 'tree');
  await mkdir(tree);
  for (let i = 0; i < 2; i++) await writeFile(join(tree, `part-${i}-of-the-tree.bin`), randomBytes(10 * MiB));
  await writeFile(join(tree, 'note.txt'), 'small');
});

afterAll(async () => {
  await slow?.close();
  await stopServedDir({ tmp, serve });
});

/** Columns a row of plain text takes (the bars' characters are one column each). */
const width = (row: string): number => [...row].length;

/** The percent a bar row shows. */
const percentOf = (row: string): number => Number(/ (\d{1,3})%/.exec(row)?.[1]);

describe('the bar fits the terminal', () => {
  const widths = [120, 80, 60, 40];

  it.each([['one file', () => bigFile, 1], ['a tree', () => tree, 2]] as const)('%s at 120, 80, 60 and 40 columns', async (_what, source, barCount) => {
    const runs = await Promise.all(widths.map((columns) => runInTmux(`${FTX} put ${source()} --dir w${columns}-${barCount} 127.0.0.1:${slow.port}`, columns, 12)));
    try {
      const results = await Promise.all(runs.map((run) => run.frames(100)));
      results.forEach(({ frames, code }, index) => {
        const columns = widths[index]!;
        const context = `at ${columns} columns:\n${frames.map((f) => f.join('\n')).join('\n---\n')}`;
        expect(code, context).toBe(0);
        // While it runs, the pane holds exactly the bars, each on one row within the width.
        const barFrames = frames.map((rows) => rows.filter((row) => BAR.test(row))).filter((bars) => bars.length === barCount);
        expect(barFrames.length, context).toBeGreaterThan(3);
        for (const rows of frames) {
          for (const row of rows.filter((r) => BAR.test(r))) expect(width(row), context).toBeLessThan(columns);
          expect(rows.filter((row) => BAR.test(row)).length, context).toBeLessThanOrEqual(barCount);
        }
        const bars = barFrames.flat();
        // Percent on every row; the total's (or the one file's) ETA from 40 columns; rates from 60.
        for (const row of bars) expect(row, context).toMatch(/[█░]+ +\d{1,3}%/);
        const main = barFrames.map((rows) => rows[0]!);
        expect(main.some((row) => /ETA \d/.test(row)), context).toBe(true);
        if (barCount === 2) expect(barFrames.some((rows) => /MiB\/s/.test(rows[1]!)) || columns < 60, context).toBe(true);
        if (columns >= 60) expect(bars.some((row) => /\d MiB\/s/.test(row)), context).toBe(true);
        if (columns >= 80) expect(bars.some((row) => / MiB \/ +[\d.]+ MiB/.test(row)), context).toBe(true);
        if (barCount === 2) expect(main.some((row) => /^\d\/3 files /.test(row)), context).toBe(true);
        for (const row of bars) expect(row, context).not.toMatch(/(^|\s)0 B\/s|ETA 0s/);
        // Never going down.
        const percents = main.map(percentOf);
        for (let i = 1; i < percents.length; i++) expect(percents[i]!, context).toBeGreaterThanOrEqual(percents[i - 1]!);
        // At the end the bars are gone: the receipts and (for a tree) the summary remain.
        const last = frames.at(-1)!.filter((row) => row.trim() !== '');
        expect(last.some((row) => BAR.test(row)), context).toBe(false);
      });
      for (const run of runs) expect(await run.capture({ joined: true })).toMatch(/md5 [0-9a-f]{32} verified/);
    } finally {
      await Promise.all(runs.map((run) => run.close()));
    }
  });

  it('follows resizes: narrower, then wider, the bar is drawn again in the new width with no leftovers', async () => {
    // Lines above the bar: what a narrower terminal rewraps of the bar lands on the screen, above it.
    const run = await runInTmux(`printf 'first\\nsecond\\n'; ${FTX} put ${bigFile} --dir resized 127.0.0.1:${slow.port}`, 110, 10);
    try {
      // The scrollback too: tmux moves rows that a narrower pane pushes up into it.
      const rowsNow = async (): Promise<string[]> => (await run.capture()).split('\n').filter((row) => row.trim() !== '');
      await run.waitFor(/MiB\/s/);
      for (const columns of [56, 90, 44]) {
        await run.resize(columns);
        await new Promise((resolve) => setTimeout(resolve, 400));
        const rows = await rowsNow();
        if (rows.some((row) => row.startsWith('sent '))) break; // finished meanwhile (a slow machine)
        expect(rows.slice(0, 2), `at ${columns} columns`).toEqual(['first', 'second']);
        expect(rows, `at ${columns} columns`).toHaveLength(3);
        expect(width(rows[2]!)).toBeLessThan(columns);
        expect(rows[2]).toMatch(/^…?[\w./-]+ +[█░]+ +\d{1,3}%/);
      }
      expect(await run.exit()).toBe(0);
    } finally {
      await run.close();
    }
  });
});

describe('after an automatic retry', () => {
  it('the bar moves on from the resumed offset instead of freezing', async () => {
    const cutting = await startCutProxy(serve.port, 8 * MiB, { bytesPerSecond: 6 * MiB });
    const run = await runInTmux(`${FTX} put ${bigFile} --dir retried --retry-wait 0.2 127.0.0.1:${cutting.port}`, 100, 12);
    try {
      const { frames, code } = await run.frames(100);
      const context = frames.map((f) => f.join('\n')).join('\n---\n');
      expect(code, context).toBe(0);
      const retryAt = frames.findIndex((rows) => rows.some((row) => /retry 1\/5/.test(row)));
      expect(retryAt, context).toBeGreaterThan(0);
      const resumedAt = Number(/resumed at (\d+) B.* verified/.exec(await run.capture({ joined: true }))?.[1]);
      const resumedPercent = Math.floor((resumedAt / (20 * MiB)) * 100);
      const after = frames.slice(retryAt).map((rows) => rows.find((row) => BAR.test(row))).filter((row): row is string => row !== undefined);
      const percents = after.map(percentOf);
      // Moving on (several values, rising from the lowest one), never back below the resumed offset.
      const rest = percents.slice(percents.indexOf(Math.min(...percents)));
      expect(new Set(rest.filter((p) => p < 100)).size, `${percents.join(' ')}:\n${context}`).toBeGreaterThan(2);
      for (let i = 1; i < rest.length; i++) expect(rest[i]!, context).toBeGreaterThanOrEqual(rest[i - 1]!);
      expect(Math.min(...percents), context).toBeGreaterThanOrEqual(resumedPercent);
    } finally {
      await run.close();
      await cutting.close();
    }
  });
});

describe('what is written to the terminal', () => {
  /** Runs a shell command line under script(1): the output is every byte the terminal received. */
  const onPty = (command: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof runCommand> =>
    runCommand('script', ['-qfec', `stty cols 100 rows 30; ${command}`, '/dev/null'], env);

  it('never starts with a rate or ETA of zero: they are blank until measured', async () => {
    const result = await onPty(`${FTX} put ${bigFile} --dir first 127.0.0.1:${slow.port}`);
    expect(result.code, result.stdout).toBe(0);
    const frames = result.stdout.split(/\u001b\[1G/).filter((frame) => BAR.test(frame));
    expect(frames.length).toBeGreaterThan(3);
    expect(frames[0]).not.toMatch(/B\/s|ETA/);
    for (const frame of frames) expect(frame).not.toMatch(/(^|\s)0 B\/s|ETA 0s/);
  });

  it('--json on a terminal: only JSON lines, no bar, no escape sequence', async () => {
    const result = await onPty(`${FTX} put ${bigFile} --dir json --json 127.0.0.1:${slow.port}`);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).not.toContain(ESC);
    const lines = result.stdout.split(/\r?\n/).filter((line) => line.trim() !== '');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ event: 'summary', sent: 1 });
  });

  it('--json to a file with the terminal on stderr: the bar on the terminal, pure NDJSON in the file', async () => {
    const out = join(tmp.dir, 'events.ndjson');
    const result = await onPty(`${FTX} put ${bigFile} --dir json-file --json 127.0.0.1:${slow.port} > ${out}`);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/[█░]+ +\d+%/);
    const ndjson = await readFile(out, 'utf8');
    expect(ndjson).not.toContain(ESC);
    for (const line of ndjson.trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it.each([['TERM=dumb', { TERM: 'dumb' }], ['NO_COLOR', { NO_COLOR: '1' }]])('%s: no escape sequence at all, the receipt line', async (_name, env) => {
    const result = await onPty(`${FTX} put ${bigFile} --dir plain-${Object.keys(env)[0]} 127.0.0.1:${slow.port}`, env);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).not.toContain(ESC);
    expect(result.stdout).not.toMatch(BAR);
    expect(result.stdout.trim()).toMatch(/^sent .* md5 [0-9a-f]{32} verified$/);
  });

  it('a stream from stdin shows bytes and rate, without bar, percent or ETA', async () => {
    const result = await onPty(`head -c ${24 * MiB} /dev/urandom | ${FTX} put - 127.0.0.1:${slow.port} --name streamed.bin`);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/streamed\.bin +[\d.]+ (KiB|MiB) +[\d.]+ (B|KiB|MiB)\/s/);
    expect(result.stdout).not.toMatch(BAR);
    expect(result.stdout).not.toMatch(/ETA|\d%/);
  });

  it('prints no bar and no control characters when output is piped', async () => {
    const result = await runFtx(['put', bigFile, '--dir', 'piped', `127.0.0.1:${serve.port}`]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(result.stdout).toMatch(/^sent .*\.bin .*20\.0 MiB in .* md5 [0-9a-f]{32} verified\n$/);
  });

  it('--no-progress and --quiet silence the bar on a terminal; --quiet also the receipt', async () => {
    const base = `${FTX} put ${bigFile} 127.0.0.1:${serve.port} --force`;
    const noBar = await onPty(`${base} --dir np --no-progress`);
    expect(noBar.code).toBe(0);
    expect(noBar.stdout).not.toMatch(BAR);
    expect(noBar.stdout).toMatch(/verified/);
    const quiet = await onPty(`${base} --dir q --quiet`);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout.trim()).toBe('');
  });
});
