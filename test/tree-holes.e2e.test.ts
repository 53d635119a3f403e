/**
 * Trees that do not go through whole: a name that is not UTF-8 and a file that grows while it is
 * sent are failed entries with a clear reason; the run goes on and never ends as a clean success.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FtxClient } from '../src/client/client.js';
import { FtxError } from '../src/errors.js';
import { runFtx, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { listTree, md5 } from './helpers/server.js';
import { testClientAuth } from './helpers/transport-mode.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let root: string;

beforeAll(async () => ({ tmp, root, serve } = await startServedDir('ftx-holes-')));
afterAll(() => stopServedDir({ tmp, serve }));

const events = (stdout: string): Record<string, unknown>[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('names that are not UTF-8', () => {
  it('are one failed entry each, with the reason; the others are sent (exit 10)', async () => {
    const src = join(tmp.dir, 'latin1');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'fine.txt'), 'fine');
    // "caf\xe9.txt": Latin-1, not UTF-8.
    writeFileSync(Buffer.concat([Buffer.from(`${src}/sub/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin-1 name');
    const result = await runFtx(['put', src, `127.0.0.1:${serve.port}`, '--json']);
    expect(result.code, result.stderr).toBe(EXIT.PARTIAL);
    const fail = events(result.stdout).find((e) => e.event === 'fail')!;
    expect(fail).toMatchObject({ file: 'latin1/sub/caf\\xe9.txt', code: 'local_io' });
    expect(fail.message).toMatch(/not valid UTF-8/);
    expect(events(result.stdout).at(-1)).toMatchObject({ event: 'summary', sent: 1, failed: 1, exitCode: EXIT.PARTIAL });
    expect(await listTree(join(root, 'latin1'))).toEqual(['fine.txt', 'sub']);
  });
});

describe('a file that grows while it is sent', () => {
  it('is not landed truncated (library: the put fails with local_io, nothing under the name)', async () => {
    const path = join(tmp.dir, 'growing-lib.bin');
    await writeFile(path, randomBytes(16 * 1024 * 1024));
    const client = await FtxClient.connect({ host: '127.0.0.1', port: serve.port, ...testClientAuth });
    let grown = false;
    const outcome = await client.put(path, {
      remoteName: 'grow/lib.bin',
      onProgress: (done) => {
        if (grown || done === 0) return;
        grown = true;
        appendFileSync(path, 'appended while sending');
      },
    }).then(() => 'landed', (error: unknown) => (error instanceof FtxError ? error.code : String(error)));
    client.destroy();
    expect(grown).toBe(true);
    expect(outcome).toBe('local_io');
    expect(await listTree(root).then((all) => all.filter((n) => n === 'grow/lib.bin'))).toEqual([]);
  });

  it('makes the CLI exit 9 with a clear line, and a re-run of the settled file lands it whole', async () => {
    const path = join(tmp.dir, 'growing-cli.log');
    await writeFile(path, randomBytes(32 * 1024 * 1024));
    // Appends a line every few ms until stopped, as a log being written does.
    const appender = spawn(process.execPath, ['-e', `setInterval(() => require('fs').appendFileSync(${JSON.stringify(path)}, 'line\\n'), 2)`], { stdio: 'ignore' });
    try {
      const before = (await readFile(path)).length;
      while ((await readFile(path)).length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      const result = await runFtx(['put', path, '--dir', 'grow', `127.0.0.1:${serve.port}`]);
      expect(result.code, result.stderr).toBe(EXIT.LOCAL_FILE);
      expect(result.stderr).toMatch(/ftx: grow\/growing-cli\.log: .*changed while it was being sent/);
      expect(result.stdout).not.toContain('verified');
    } finally {
      appender.kill();
      await new Promise((resolve) => appender.once('exit', resolve));
    }
    expect(await listTree(join(root, 'grow')).then((all) => all.filter((n) => !n.startsWith('.ftx-')))).not.toContain('growing-cli.log');
    const again = await runFtx(['put', path, '--dir', 'grow', `127.0.0.1:${serve.port}`]);
    expect(again.code, again.stderr).toBe(EXIT.OK);
    expect(md5(await readFile(join(root, 'grow', 'growing-cli.log')))).toBe(md5(await readFile(path)));
  });
});
