/**
 * `ftx put --json`: one object per line, the `summary` always last (also after a fatal error),
 * stdin's size unknown (null), the local source on every file event, and --dry-run exiting as the
 * real run would.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { runFtx, startServedDir, stopServedDir, type ServedDir } from './helpers/cli.js';

let served: ServedDir;
let to: string;

beforeAll(async () => {
  served = await startServedDir('ftx-json-');
  to = `127.0.0.1:${served.serve.port}`;
});

afterAll(() => stopServedDir(served));

async function source(name: string, size: number): Promise<string> {
  const path = join(served.tmp.dir, name);
  await writeFile(path, randomBytes(size));
  return path;
}

/** The NDJSON events of a run (every stdout line must be JSON). */
function eventsOf(stdout: string): Array<Record<string, unknown>> {
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A loopback listener that runs `onSocket` for each connection; closed after `fn`. */
async function withPeer(onSocket: Parameters<typeof createServer>[1], fn: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as { port: number }).port);
  } finally {
    server.close();
  }
}

describe('--json', () => {
  it('ends with the summary after a fatal error too', async () => {
    const file = await source('fatal.bin', 100);
    await withPeer((socket) => {
      socket.on('error', () => undefined);
      socket.write('SSH-2.0-OpenSSH_9.6\r\n');
    }, async (port) => {
      const result = await runFtx(['put', file, `127.0.0.1:${port}`, '--json']);
      expect(result.code).toBe(EXIT.PROTOCOL);
      const events = eventsOf(result.stdout);
      expect(events.at(-2)).toMatchObject({ event: 'error', code: 'protocol_error', exitCode: EXIT.PROTOCOL });
      expect(events.at(-1)).toMatchObject({ event: 'summary', sent: 0, skipped: 0, failed: 0, exitCode: EXIT.PROTOCOL });
      expect(events.filter((e) => e.event === 'summary')).toHaveLength(1);
    });
  });

  it('ends with the summary after a refused first connect', async () => {
    const file = await source('refused.bin', 10);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await runFtx(['put', file, `127.0.0.1:${port}`, '--json']);
    expect(result.code).toBe(EXIT.CONNECT);
    const events = eventsOf(result.stdout);
    expect(events.map((e) => e.event)).toEqual(['plan', 'error', 'summary']);
    expect(events.at(-1)).toMatchObject({ event: 'summary', sent: 0, failed: 0, exitCode: EXIT.CONNECT });
  });

  it("says stdin's size is unknown: null, not 0", async () => {
    const result = await runFtx(['put', '-', to, '--name', 'stdin.bin', '--json']);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    const events = eventsOf(result.stdout);
    expect(events[0]).toEqual({ event: 'plan', files: 1, bytes: null });
    expect(events.find((e) => e.event === 'done')).toMatchObject({ file: 'stdin.bin', source: '-' });
  });

  it('carries the local source path on file events', async () => {
    const a = await source('src-a.bin', 10);
    const b = await source('src-b.bin', 5000);
    const first = eventsOf((await runFtx(['put', a, b, to, '--dir', 'src', '--json'])).stdout);
    expect(first.filter((e) => e.event === 'done').map((e) => [e.file, e.source]).sort()).toEqual([['src/src-a.bin', a], ['src/src-b.bin', b]]);
    for (const start of first.filter((e) => e.event === 'start')) expect([a, b]).toContain(start.source);
    const again = eventsOf((await runFtx(['put', a, to, '--dir', 'src', '--json'])).stdout);
    expect(again.find((e) => e.event === 'skip')).toMatchObject({ file: 'src/src-a.bin', source: a });
    await writeFile(a, randomBytes(11));
    const refused = await runFtx(['put', a, to, '--dir', 'src', '--json']);
    expect(eventsOf(refused.stdout).find((e) => e.event === 'fail')).toMatchObject({ file: 'src/src-a.bin', source: a, status: 409 });
  });
});

describe('--dry-run exits as the real run would', () => {
  it('non-zero when it reports files that would fail', async () => {
    const taken = await source('taken.bin', 10);
    expect((await runFtx(['put', taken, to, '--dir', 'dry'])).code).toBe(EXIT.OK);
    await writeFile(taken, randomBytes(12));
    const fresh = await source('fresh.bin', 10);

    const alone = await runFtx(['put', taken, to, '--dir', 'dry', '--dry-run', '--json']);
    const real = await runFtx(['put', taken, to, '--dir', 'dry']);
    expect(real.code).toBe(EXIT.REJECTED);
    expect(alone.code).toBe(real.code);
    expect(eventsOf(alone.stdout).at(-1)).toMatchObject({ event: 'summary', exitCode: EXIT.REJECTED });

    const mixed = await runFtx(['put', taken, fresh, to, '--dir', 'dry', '--dry-run']);
    expect(mixed.code).toBe(EXIT.PARTIAL);
    const clean = await runFtx(['put', fresh, to, '--dir', 'dry', '--dry-run']);
    expect(clean.code).toBe(EXIT.OK);
  });
});
