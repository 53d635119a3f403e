import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTX_BIN, runCommand, runFtx, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let bigFile: string;

beforeAll(async () => {
  ({ tmp, serve } = await startServedDir('ftx-bar-'));
  bigFile = join(tmp.dir, 'big.bin');
  await writeFile(bigFile, randomBytes(48 * 1024 * 1024));
});

afterAll(() => stopServedDir({ tmp, serve }));

const ESC = '\u001b';

describe('progress display', () => {
  it('draws a cli-progress bar under a pseudo-terminal, never going down, ending at 100%', async () => {
    // script(1) from util-linux gives the command a pty; its output is what a terminal would show.
    const command = `${process.execPath} ${FTX_BIN} put ${bigFile} --dir tty 127.0.0.1:${serve.port}`;
    const result = await runCommand('script', ['-qec', command, '/dev/null'], { COLUMNS: '120' });
    expect(result.code, result.stdout).toBe(0);
    const screen = result.stdout;
    expect(screen).toContain(ESC);
    expect(screen).toContain('big.bin');
    expect(screen).toMatch(/[█░]{24}/);
    expect(screen).toMatch(/MiB\/s/);
    expect(screen).toContain('48.0 MiB / 48.0 MiB');
    const percents = [...screen.matchAll(/\| (\d{1,3})% \|/g)].map((m) => Number(m[1]));
    expect(percents.length).toBeGreaterThan(0);
    for (let i = 1; i < percents.length; i++) expect(percents[i]!).toBeGreaterThanOrEqual(percents[i - 1]!);
    expect(percents.at(-1)).toBe(100);
    expect(screen).toMatch(/md5 [0-9a-f]{32} verified/);
  });

  it('draws an overall bar and a current-file bar for several files on a terminal', async () => {
    const dir = join(tmp.dir, 'several');
    await mkdir(dir);
    for (let i = 0; i < 3; i++) await writeFile(join(dir, `part${i}.bin`), randomBytes(6 * 1024 * 1024));
    await writeFile(join(dir, 'note.txt'), 'small');
    const command = `${process.execPath} ${FTX_BIN} put ${dir} --dir multi 127.0.0.1:${serve.port}`;
    const result = await runCommand('script', ['-qec', command, '/dev/null'], { COLUMNS: '120' });
    expect(result.code, result.stdout).toBe(0);
    const screen = result.stdout;
    expect(screen).toMatch(/total\s+\|[█░]{16}\| \d+% \| .* \| \d\/4 files \|/);
    expect(screen).toMatch(/part\d\.bin\s+\|[█░]{16}\|/);
    expect(screen).toContain('4/4 files');
    expect(screen).toMatch(/4 sent, 0 skipped, 0 failed/);
  });

  it('shows bytes and rate, without percent or ETA, for a stream from stdin', async () => {
    const command = `head -c 30000000 /dev/urandom | ${process.execPath} ${FTX_BIN} put - 127.0.0.1:${serve.port} --name streamed.bin`;
    const result = await runCommand('script', ['-qec', command, '/dev/null'], { COLUMNS: '120' });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/streamed\.bin\s+\| [\d.]+ (KiB|MiB) \| [\d.]+ (B|KiB|MiB)\/s/);
    expect(result.stdout).not.toMatch(/streamed\.bin\s+\|[█░]/);
    expect(result.stdout).not.toContain('ETA');
  });

  it('prints no bar and no control characters when output is piped', async () => {
    const result = await runFtx(['put', bigFile, '--dir', 'piped', `127.0.0.1:${serve.port}`]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(result.stdout).toMatch(/^sent .*big\.bin .*48\.0 MiB in .* md5 [0-9a-f]{32} verified\n$/);
  });

  it('--no-progress and --quiet silence the bar on a terminal; --quiet also the receipt', async () => {
    const base = `${process.execPath} ${FTX_BIN} put ${bigFile} 127.0.0.1:${serve.port} --force`;
    const noBar = await runCommand('script', ['-qec', `${base} --dir np --no-progress`, '/dev/null']);
    expect(noBar.code).toBe(0);
    expect(noBar.stdout).not.toContain('█');
    expect(noBar.stdout).toMatch(/verified/);
    const quiet = await runCommand('script', ['-qec', `${base} --dir q --quiet`, '/dev/null']);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout.trim()).toBe('');
  });
});
