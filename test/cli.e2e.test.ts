import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { encodeFrame, FrameReader } from '../src/protocol/frame.js';
import { FTX_VERSION } from '../src/version.js';
import { runFtx, spawnServe, startServedDir, stopServedDir, type ServeProcess } from './helpers/cli.js';
import { FAKE_HELLO_AUTH, inModeTransport } from './helpers/fake-server.js';
import { listPartialStates, listTree, md5 } from './helpers/server.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let root: string;

beforeAll(async () => ({ tmp, root, serve } = await startServedDir('ftx-cli-')));

afterAll(() => stopServedDir({ tmp, serve }));

async function source(name: string, size: number): Promise<{ path: string; data: Buffer }> {
  const data = randomBytes(size);
  const path = join(tmp.dir, name);
  await writeFile(path, data);
  return { path, data };
}

/** A fake server on loopback that speaks just enough protocol to misbehave in one chosen way. */
async function withFakeServer(onConnection: (socket: Socket) => void, fn: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as { port: number }).port);
  } finally {
    server.close();
  }
}

/** Fake server (inside TLS in the tls project): hello, accept any client hello and put, read the body, then call `verdict`. */
function fakeFtx(verdict: (socket: Socket, put: Record<string, unknown>) => void) {
  return inModeTransport((socket: Socket): void => {
    const reader = new FrameReader();
    let stage = 0;
    let put: Record<string, unknown> = {};
    let remaining = 0;
    socket.on('error', () => undefined);
    socket.write(encodeFrame({ type: 'hello', protocol: 1, server: 'fake', auth: FAKE_HELLO_AUTH, nonce: 'a'.repeat(64), actions: ['put'], maxFrame: 65536 }));
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (;;) {
        if (stage === 0 || stage === 1) {
          const frame = reader.readFrame();
          if (!frame) return;
          if (stage === 0) socket.write(encodeFrame({ type: 'reply', status: 200, code: 'ok', message: 'hi' }));
          else {
            put = frame;
            remaining = Number(frame.size);
            socket.write(encodeFrame({ type: 'reply', id: frame.id, status: 200, code: 'ok', message: 'go', offset: 0 }));
          }
          stage++;
        } else if (stage === 2) {
          const body = reader.readBody(remaining);
          if (!body) return;
          remaining -= body.length;
          if (remaining === 0) {
            stage = 3;
            verdict(socket, put);
            return;
          }
        } else return;
      }
    });
  });
}

describe('the ftx binary', () => {
  it('prints its version and help', async () => {
    const version = await runFtx(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(FTX_VERSION);
    const help = await runFtx(['put', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--dir', '--token', '--token-file', '--force', '--chunk-size', '--connect-timeout', '--idle-timeout', '--no-progress', '--quiet']) {
      expect(help.stdout).toContain(option);
    }
  });

  it('uploads files end to end, one receipt line per file, exit 0', async () => {
    const files = await Promise.all([source('a.bin', 0), source('b.bin', 4097), source('c.bin', 3 * 1024 * 1024 + 1)]);
    const result = await runFtx(['put', ...files.map((f) => f.path), '--dir', 'cli/run1', `127.0.0.1:${serve.port}`]);
    expect(result.stderr).toMatch(/^ftx: 3 sent, 0 skipped, 0 failed; 3\.00 MiB in [\d.]+ s\n$/);
    expect(result.code).toBe(EXIT.OK);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const [i, file] of files.entries()) {
      // Small files are pipelined: their lines come in the order they landed.
      expect(lines.find((line) => line.includes(`/${'abc'[i]}.bin `))).toContain(`md5 ${md5(file.data)} verified`);
      expect(md5(await readFile(join(root, 'cli', 'run1', `${'abc'[i]}.bin`)))).toBe(md5(file.data));
    }
    // Nothing but the landed files: no temp files left behind.
    expect(await listTree(join(root, 'cli', 'run1'))).toEqual(['a.bin', 'b.bin', 'c.bin']);
    expect(serve.log()).toMatch(/put "cli\/run1\/c\.bin" 3145729 B .* ok md5=/);
  });

  it('lands every edge size through the binary, and 10 binaries at once', async () => {
    const sizes = [0, 1, 4095, 4096, 4097, 20 * 1024 * 1024 + 7];
    const files = await Promise.all(sizes.map((size, i) => source(`size${i}.bin`, size)));
    const one = await runFtx(['put', ...files.map((f) => f.path), '--dir', 'sizes', `127.0.0.1:${serve.port}`]);
    expect(one.code, one.stderr).toBe(EXIT.OK);
    for (const [i, file] of files.entries()) {
      expect(md5(await readFile(join(root, 'sizes', `size${i}.bin`)))).toBe(md5(file.data));
    }
    const many = await Promise.all(Array.from({ length: 10 }, (_, i) => source(`many${i}.bin`, 2 * 1024 * 1024 + i)));
    const results = await Promise.all(many.map((file) => runFtx(['put', file.path, '--dir', 'many', `127.0.0.1:${serve.port}`])));
    expect(results.map((r) => r.code)).toEqual(Array(10).fill(EXIT.OK));
    for (const [i, file] of many.entries()) {
      expect(md5(await readFile(join(root, 'many', `many${i}.bin`)))).toBe(md5(file.data));
    }
  });

  it('accepts an IPv6 literal destination', async () => {
    // Its own directory: one server per directory.
    const v6Root = join(tmp.dir, 'v6root');
    await mkdir(v6Root);
    const v6 = await spawnServe([v6Root, '--port', '0', '--host', '::1']).catch(() => undefined);
    expect(v6, 'ftx serve --host ::1 must start (is IPv6 loopback available?)').toBeDefined();
    try {
      const file = await source('v6.bin', 1000);
      const result = await runFtx(['put', file.path, `[::1]:${v6!.port}`]);
      expect(result.code).toBe(EXIT.OK);
      expect(md5(await readFile(join(v6Root, 'v6.bin')))).toBe(md5(file.data));
    } finally {
      await v6?.stop();
    }
  });

  it.each([
    ['no destination', ['put', 'only-one-arg']],
    ['a bad port', ['put', 'x', 'localhost:99999']],
    ['an unknown option', ['put', '--bogus', 'x', 'h']],
    ['an unknown command', ['fly']],
    ['a bad chunk size', ['put', 'package.json', 'h', '--chunk-size', 'lots']],
  ])('exits %s with the usage code', async (_name, args) => {
    const result = await runFtx(args);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stderr.trim().length).toBeGreaterThan(0);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits with the local-file code for a missing source, before connecting', async () => {
    const result = await runFtx(['put', join(tmp.dir, 'missing'), '127.0.0.1:1']);
    expect(result.code).toBe(EXIT.LOCAL_FILE);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('exits with the connect code when nothing listens', async () => {
    const file = await source('n.bin', 10);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await runFtx(['put', file.path, `127.0.0.1:${port}`, '--retries', '0']);
    expect(result.code).toBe(EXIT.CONNECT);
    expect(result.stderr).toMatch(/^ftx: error: cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED\n$/);
  });

  it('exits with the auth code for a wrong or missing token, and 0 with the right one', async () => {
    const tokenDir = join(tmp.dir, 'auth-root');
    await mkdir(tokenDir);
    const secured = await spawnServe([tokenDir, '--port', '0', '--host', '127.0.0.1'], { FTX_TOKEN: 'tok' });
    try {
      const file = await source('t.bin', 10);
      expect((await runFtx(['put', file.path, `127.0.0.1:${secured.port}`])).code).toBe(EXIT.AUTH);
      const wrong = await runFtx(['put', file.path, `127.0.0.1:${secured.port}`, '--token', 'nope']);
      expect(wrong.code).toBe(EXIT.AUTH);
      // Over TLS (the default with a token) a wrong token fails the handshake: said as such, not as a TLS alert.
      expect(wrong.stderr).toContain('authentication failed');
      expect(wrong.stderr).not.toMatch(/alert|SSL/i);
      const tokenFile = join(tmp.dir, 'token.txt');
      await writeFile(tokenFile, 'tok\n');
      expect((await runFtx(['put', file.path, `127.0.0.1:${secured.port}`, '--token-file', tokenFile])).code).toBe(EXIT.OK);
      expect(await listTree(tokenDir)).toEqual(['t.bin']);
    } finally {
      await secured.stop();
    }
  });

  it('skips an identical file; exits with the rejected code for a changed one; --force overwrites', async () => {
    const file = await source('dup.bin', 100);
    expect((await runFtx(['put', file.path, `127.0.0.1:${serve.port}`])).code).toBe(EXIT.OK);
    const same = await runFtx(['put', file.path, `127.0.0.1:${serve.port}`]);
    expect(same.code).toBe(EXIT.OK);
    expect(same.stdout).toMatch(/^skipped .*dup\.bin -> dup\.bin: identical on the server\n$/);
    await writeFile(file.path, randomBytes(100));
    const again = await runFtx(['put', file.path, `127.0.0.1:${serve.port}`]);
    expect(again.code).toBe(EXIT.REJECTED);
    expect(again.stderr).toMatch(/^ftx: dup\.bin: dup\.bin exists on the server with other content .*\(server: 409 exists\)\n/);
    expect((await runFtx(['put', file.path, `127.0.0.1:${serve.port}`, '--force'])).code).toBe(EXIT.OK);
    expect(await readFile(join(root, 'dup.bin'))).toEqual(await readFile(file.path));
  });

  it('exits with the verification code when the server reports a different md5', async () => {
    const file = await source('v.bin', 5000);
    await withFakeServer(fakeFtx((socket, put) => {
      socket.write(encodeFrame({ type: 'reply', id: put.id, status: 200, code: 'ok', message: 'ok', receipt: { filename: 'v.bin', size: 5000, md5: 'f'.repeat(32) } }));
    }), async (port) => {
      const result = await runFtx(['put', file.path, `127.0.0.1:${port}`]);
      expect(result.code).toBe(EXIT.VERIFICATION);
      expect(result.stderr).toContain('md5');
    });
    await withFakeServer(fakeFtx((socket, put) => {
      socket.write(encodeFrame({ type: 'reply', id: put.id, status: 422, code: 'checksum_mismatch', message: 'md5 mismatch' }));
    }), async (port) => {
      expect((await runFtx(['put', file.path, `127.0.0.1:${port}`])).code).toBe(EXIT.VERIFICATION);
    });
  });

  it('exits with the connection-lost code when the server drops the connection mid-transfer', async () => {
    const file = await source('lost.bin', 2 * 1024 * 1024);
    await withFakeServer(fakeFtx((socket) => socket.destroy()), async (port) => {
      const result = await runFtx(['put', file.path, `127.0.0.1:${port}`, '--retries', '0']);
      expect(result.code).toBe(EXIT.CONNECTION_LOST);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      // With retries: one line per retry, then the final error.
      const retried = await runFtx(['put', file.path, `127.0.0.1:${port}`, '--retries', '2', '--retry-wait', '0.05']);
      expect(retried.code).toBe(EXIT.CONNECTION_LOST);
      const lines = retried.stderr.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/retry 1\/2 in/);
      expect(lines[1]).toMatch(/retry 2\/2 in/);
      expect(lines[2]).toMatch(/^ftx: error: /);
    });
  });

  it('exits with the protocol code when the peer is not an ftx server (a plain HTTP peer, also for a TLS client)', async () => {
    const file = await source('http.bin', 10);
    await withFakeServer((socket) => {
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    }, async (port) => {
      const result = await runFtx(['put', file.path, `127.0.0.1:${port}`]);
      expect(result.code).toBe(EXIT.PROTOCOL);
    });
  });

  it('exits with the connection-lost code on idle timeout', async () => {
    const file = await source('idle.bin', 10);
    // A server that accepts (over TLS: completes the handshake) and then says nothing.
    await withFakeServer(inModeTransport((socket) => socket.on('error', () => undefined)), async (port) => {
      const result = await runFtx(['put', file.path, `127.0.0.1:${port}`, '--idle-timeout', '0.5', '--retries', '0']);
      expect(result.code).toBe(EXIT.CONNECTION_LOST);
      expect(result.stderr).toContain('idle timeout');
    });
  });

  it('serve refuses a missing directory with the usage code', async () => {
    const result = await runFtx(['serve', join(tmp.dir, 'nope'), '--port', '0']);
    expect(result.code).toBe(EXIT.USAGE);
  });

  it('serve keeps in-flight uploads as resumable partials and exits 0 on SIGTERM', async () => {
    const dir = join(tmp.dir, 'sigterm-root');
    await mkdir(dir);
    const server = await spawnServe([dir, '--port', '0']);
    const { RawPeer } = await import('./helpers/raw-peer.js');
    const peer = await RawPeer.connect(server.port);
    await peer.handshake();
    peer.send({ action: 'put', id: 1, filename: 'half.bin', size: 1_000_000 });
    expect((await peer.frame())?.status).toBe(200);
    peer.sendRaw(randomBytes(300_000));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await readdir(dir)).some((name) => name.startsWith('.ftx-'))).toBe(true);
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(await listPartialStates(dir)).toHaveLength(1);
    expect((await listTree(dir)).filter((name) => !name.startsWith('.ftx-'))).toEqual([]);
    peer.destroy();
  });
});
