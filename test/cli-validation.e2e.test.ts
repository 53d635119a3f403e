/**
 * Options are checked by commander before anything is sent, and every complaint is one line
 * `ftx: error: …` that names the option or the environment variable it came from.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { runFtx, spawnServe } from './helpers/cli.js';
import { makeTempDir } from './helpers/server.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let big: string;
/** A listener that counts connections: a usage error must come before any. */
let listener: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  tmp = await makeTempDir('ftx-opts-');
  big = join(tmp.dir, 'big.bin');
  await writeFile(big, Buffer.alloc(3 * 1024 * 1024, 7));
  listener = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => listener.close(resolve));
  await tmp.cleanup();
});

/** One `ftx: error:` line naming `what`, exit 2, nothing sent. */
async function expectUsage(args: string[], what: RegExp, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const before = connections;
  const result = await runFtx(args, env);
  expect(result.code, result.stderr).toBe(EXIT.USAGE);
  expect(result.stderr).toMatch(/^ftx: error: [^\n]+\n$/);
  expect(result.stderr).toMatch(what);
  expect(connections - before).toBe(0);
  return result.stderr;
}

describe('option values are refused before anything is sent', () => {
  it('--chunk-size out of range, with the option named', async () => {
    const stderr = await expectUsage(['put', big, `127.0.0.1:${port}`, '--chunk-size', '100'], /--chunk-size/);
    expect(stderr).toContain('512');
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--chunk-size', '17M'], /--chunk-size/);
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--chunk-size', 'lots'], /--chunk-size/);
  });

  it('environment values are reported as the variable they came from', async () => {
    await expectUsage(['put', big, `127.0.0.1:${port}`], /FTX_IF_EXISTS/, { FTX_IF_EXISTS: 'bogus' });
    await expectUsage(['put', big], /FTX_HOST/, { FTX_HOST: '127.0.0.1:7420:1' });
  });

  it('numbers, choices and ports', async () => {
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--if-exists', 'clobber'], /--if-exists.*fail, overwrite, skip, rename/);
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--retries', 'many'], /--retries/);
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--connect-timeout', '0'], /--connect-timeout/);
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--idle-timeout', 'soon'], /--idle-timeout/);
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--retry-wait', '-1'], /--retry-wait/);
    await expectUsage(['serve', tmp.dir, '--port', '99999'], /--port/);
    await expectUsage(['serve', tmp.dir, '--max-size', 'huge'], /--max-size/);
    await expectUsage(['serve', tmp.dir, '--partial-ttl', 'never'], /--partial-ttl/);
  });

  it("commander's own errors have the same one-line form", async () => {
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--bogus'], /unknown option '--bogus'/);
    await expectUsage(['put', big, `127.0.0.1:${port}`, '--chunk-size'], /--chunk-size/);
    await expectUsage(['fetch'], /unknown command 'fetch'/);
    await expectUsage(['put'], /source/);
  });
});

describe('help', () => {
  it('lists the environment variables, the exit codes and examples', async () => {
    const help = await runFtx(['put', '--help']);
    expect(help.code).toBe(EXIT.OK);
    // Commander wraps descriptions at 80 columns: compare with the whitespace folded.
    const folded = help.stdout.replace(/\s+/g, ' ');
    for (const name of ['FTX_HOST', 'FTX_DIR', 'FTX_TOKEN', 'FTX_TOKEN_FILE', 'FTX_IF_EXISTS']) expect(folded).toMatch(new RegExp(`env: ${name}\\b`));
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*\b8\b.*not an ftx server[\s\S]*\b10\b.*partial/);
    expect(help.stdout).toMatch(/Examples:\n(\s+#.*\n\s+ftx put .*\n)+/);
    const serve = await runFtx(['serve', '--help']);
    for (const name of ['FTX_TOKEN', 'FTX_TOKEN_FILE']) expect(serve.stdout.replace(/\s+/g, ' ')).toMatch(new RegExp(`env: ${name}\\b`));
  });

  it('ftx with no arguments shows the help on stderr and exits 2', async () => {
    const result = await runFtx([]);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stderr).toMatch(/^Usage: ftx /);
    expect(result.stdout).toBe('');
    expect((await runFtx(['help', 'put'])).code).toBe(EXIT.OK);
  });
});

describe('serve honours FTX_TOKEN_FILE like put', () => {
  it('requires the token from the file', async () => {
    const root = join(tmp.dir, 'root');
    await mkdir(root);
    const tokenFile = join(tmp.dir, 'token');
    await writeFile(tokenFile, 'from-the-file-and-strong-enough-for-a-network\n');
    const serve = await spawnServe([root, '--port', '0'], { FTX_TOKEN_FILE: tokenFile });
    try {
      expect(serve.log()).toContain('token required');
      const small = join(tmp.dir, 'small.txt');
      await writeFile(small, 'x');
      expect((await runFtx(['put', small, `127.0.0.1:${serve.port}`])).code).toBe(EXIT.AUTH);
      expect((await runFtx(['put', small, `127.0.0.1:${serve.port}`], { FTX_TOKEN_FILE: tokenFile })).code).toBe(EXIT.OK);
    } finally {
      await serve.stop();
    }
  });
});
