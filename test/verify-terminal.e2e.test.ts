/**
 * `ftx verify` on a real terminal (tmux): while a scrub reads, one progress line on stderr; a result
 * line (a corrupt file) is a whole line of its own, not glued to the progress text; at the end
 * nothing of the progress line is left, only the results and the summary. The server reads at
 * 1 MiB/s (--verify-rate), so that the scrub lasts long enough for the progress to be drawn.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FTX_BIN, runFtx, spawnServe, type ServeProcess } from './helpers/cli.js';
import { makeTempDir } from './helpers/server.js';
import { runInTmux } from './helpers/tmux.js';

const MiB = 1024 * 1024;
const FTX = `${process.execPath} ${FTX_BIN}`;
/** The byte rot() flips. b.bin holds 0x55 there: writing a fixed 0x55 (the old rot, which left random
 *  data unchanged once in 256 runs, and CI then saw "3 ok") would change nothing. */
const ROT_AT = 10;

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;

/** Flips the bits of one byte of a stored file, keeping its size and mtime (bit rot). */
async function rot(path: string): Promise<void> {
  const before = await stat(path);
  const handle = await open(path, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, ROT_AT);
  byte[0] = byte[0]! ^ 0xff;
  await handle.write(byte, 0, 1, ROT_AT);
  await handle.close();
  await utimes(path, before.atime, before.mtime);
}

beforeAll(async () => {
  tmp = await makeTempDir('ftx-verifytty-');
  const root = join(tmp.dir, 'root');
  const src = join(tmp.dir, 'src');
  for (const dir of [root, src]) await mkdir(dir);
  serve = await spawnServe([root, '--port', '0', '--verify-rate', '1']);
  // 4 MiB at 1 MiB/s: the progress is drawn for seconds; b.bin is found corrupt in between or after.
  await writeFile(join(src, 'a.bin'), randomBytes(2.5 * MiB));
  const b = randomBytes(64 * 1024);
  b[ROT_AT] = 0x55;
  await writeFile(join(src, 'b.bin'), b);
  await writeFile(join(src, 'c.bin'), randomBytes(1.5 * MiB));
  const host = `127.0.0.1:${serve.port}`;
  expect((await runFtx(['put', join(src, 'a.bin'), join(src, 'b.bin'), join(src, 'c.bin'), host])).code).toBe(0);
  await rot(join(root, 'b.bin'));
});

afterAll(async () => {
  await serve?.stop();
  await tmp?.cleanup();
});

describe('ftx verify on a terminal', () => {
  it('draws a progress line while it reads; a corrupt file is a line of its own; nothing of the progress is left', async () => {
    const run = await runInTmux(`${FTX} verify 127.0.0.1:${serve.port}`, 80, 12);
    try {
      const { frames, code } = await run.frames(100);
      const context = frames.map((f) => f.join('\n')).join('\n---\n');
      expect(code, context).toBe(EXIT.VERIFICATION);
      const drawn = frames.flatMap((rows) => rows.filter((row) => /^ftx: verifying… \d/.test(row)));
      expect(drawn.length, context).toBeGreaterThan(3);
      const screen = await run.capture({ joined: true });
      const lines = screen.split('\n').filter((line) => line.trim() !== '');
      expect(screen, screen).not.toContain('verifying');
      expect(lines, screen).toHaveLength(2);
      expect(lines[0], screen).toMatch(/^b\.bin: CORRUPT/);
      expect(lines[1], screen).toMatch(/^ftx: 127\.0\.0\.1:\d+: 3 files, .*: 2 ok, 1 corrupt, 0 missing, 0 unrecorded$/);
    } finally {
      await run.close();
    }
  });
});
