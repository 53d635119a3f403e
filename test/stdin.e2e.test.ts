/**
 * `ftx put -` with stdin a pipe, a file (`< file`) or /dev/null: read by its file descriptor,
 * straight into the frame blocks (src/client/put/stream-input.ts), md5-verified end to end.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FTX_BIN, runCommand, startServedDir, stopServedDir, type ServedDir } from './helpers/cli.js';

let served: ServedDir;
let source: string;
let data: Buffer;

beforeAll(async () => {
  served = await startServedDir('ftx-stdin-');
  data = randomBytes(6 * 1024 * 1024 + 7);
  source = join(served.tmp.dir, 'source.bin');
  await writeFile(source, data);
});

afterAll(() => stopServedDir(served));

const md5 = (bytes: Buffer): string => createHash('md5').update(bytes).digest('hex');
const sh = (script: string) => runCommand('sh', ['-c', script]);
const put = (port: number, name: string): string => `"${process.execPath}" "${FTX_BIN}" put - 127.0.0.1:${port} --name ${name}`;

describe('ftx put - (stdin by its file descriptor)', () => {
  it('lands a pipe, a file and /dev/null, md5-verified', async () => {
    const port = served.serve.port;
    for (const [name, script, expected] of [
      ['piped.bin', `cat "${source}" | ${put(port, 'piped.bin')}`, data],
      ['redirected.bin', `${put(port, 'redirected.bin')} < "${source}"`, data],
      ['empty.bin', `${put(port, 'empty.bin')} < /dev/null`, Buffer.alloc(0)],
    ] as const) {
      const result = await sh(script);
      expect(result.code, result.stderr).toBe(EXIT.OK);
      expect(result.stdout).toContain(`md5 ${md5(expected)} verified`);
      expect(md5(await readFile(join(served.root, name)))).toBe(md5(expected));
    }
  });
});
