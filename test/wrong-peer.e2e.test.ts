/**
 * Pointed at something that is not an ftx server, or at nothing, `ftx put` says so at once with
 * one line and its exit code: no retries before a connection has ever worked.
 */
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { encodeFrame, FrameReader } from '../src/protocol/frame.js';
import { runFtx } from './helpers/cli.js';
import { makeTempDir } from './helpers/server.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let file: string;

beforeAll(async () => {
  tmp = await makeTempDir('ftx-peer-');
  file = join(tmp.dir, 'f.bin');
  await writeFile(file, 'twelve bytes');
});

afterAll(() => tmp.cleanup());

/** Listens on 127.0.0.1:0 with `server`, runs `fn` with its port, always closes it. */
async function withListening(server: Server | ReturnType<typeof createHttpServer>, fn: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as { port: number }).port);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Runs put against the port with default retries; the bound is far below the old 383 s. */
const putTo = (port: number): ReturnType<typeof runFtx> => runFtx(['put', file, `127.0.0.1:${port}`], {}, 30_000);

describe('a peer that is not an ftx server', () => {
  it('an HTTP server (waits for a request): exit 8, one line, no retries', async () => {
    let connections = 0;
    const http = createHttpServer((_req, res) => res.end('hello'));
    http.on('connection', () => connections++);
    await withListening(http, async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr).toMatch(/^ftx: error: 127\.0\.0\.1:\d+ is not an ftx server: no ftx hello within 5 s[^\n]*\n$/);
      expect(connections).toBe(1);
    });
  });

  it('an HTTP server that answers at once: named from its first bytes', async () => {
    await withListening(createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr).toMatch(/^ftx: error: 127\.0\.0\.1:\d+ is not an ftx server: it answered like an HTTP server \("HTTP\/1\.1 400 Bad Request"\)\n$/);
    });
  });

  it('an SSH server: named from its banner, not "frame length 1397966893"', async () => {
    let connections = 0;
    await withListening(createServer((socket) => {
      connections++;
      socket.write('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n');
    }), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr).toMatch(/^ftx: error: 127\.0\.0\.1:\d+ is not an ftx server: it answered like an SSH server \("SSH-2\.0-OpenSSH_9\.6p1 Ubuntu-3ubuntu13"\)\n$/);
      expect(result.stderr).not.toContain('frame length');
      expect(connections).toBe(1);
    });
  });

  it('a TLS record or other binary: said so, with what it sent escaped', async () => {
    await withListening(createServer((socket) => socket.write(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x7a, 0x02]))), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr).toMatch(/is not an ftx server: it answered like a TLS server\n$/);
    });
    await withListening(createServer((socket) => socket.write('220 mail.example ESMTP\r\n')), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr).toMatch(/is not an ftx server: it sent "220 mail\.example ESMTP"\n$/);
    });
  });

  it('a peer that accepts and stays silent: exit 8 after the hello timeout, one connection', async () => {
    let connections = 0;
    await withListening(createServer(() => connections++), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('no ftx hello within 5 s');
      expect(connections).toBe(1);
    });
  });
});

describe('the first connect is not retried', () => {
  it('connection refused with the default retries: exit 3, one line', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await putTo(port);
    expect(result.code).toBe(EXIT.CONNECT);
    expect(result.stderr).toMatch(/^ftx: error: cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED\n$/);
  });
});

describe('a server that answered once', () => {
  it('going silent on a reconnect is a lost connection (retried, exit 7), not a wrong peer', async () => {
    let connections = 0;
    await withListening(createServer((socket) => {
      if (++connections > 1) return; // the reconnect: accepted, never a hello
      const reader = new FrameReader();
      let frames = 0;
      socket.write(encodeFrame({ type: 'hello', protocol: 1, server: 'fake', auth: 'none', nonce: 'a'.repeat(64), actions: ['put'], maxFrame: 65536 }));
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        while (reader.readFrame() !== undefined) {
          if (++frames === 1) socket.write(encodeFrame({ type: 'reply', status: 200, code: 'ok', message: 'hi' }));
          else socket.destroy(); // the first request: cut
        }
      });
    }), async (port) => {
      const result = await runFtx(['put', file, `127.0.0.1:${port}`, '--retries', '1', '--retry-wait', '0.05'], {}, 30_000);
      expect(result.code, result.stderr).toBe(EXIT.CONNECTION_LOST);
      expect(result.stderr).toMatch(/retry 1\/1 in/);
      expect(result.stderr).toMatch(/ftx: error: no hello from 127\.0\.0\.1:\d+ within 5 s\n$/);
      expect(connections).toBe(2);
    });
  });
});
