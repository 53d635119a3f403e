/**
 * Pointed at something that is not an ftx server, or at nothing, `ftx put` says so at once with
 * one line and its exit code: no retries before a connection has ever worked. In the tls project
 * the client has a token and so speaks TLS: a plain peer is then named as speaking plain text
 * (docs/PROTOCOL.md §14.5), from the greeting a second, plain connection reads.
 */
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { encodeFrame, FrameReader } from '../src/protocol/frame.js';
import { runFtx } from './helpers/cli.js';
import { FAKE_HELLO_AUTH, inModeTransport } from './helpers/fake-server.js';
import { makeTempDir } from './helpers/server.js';
import { TEST_OVER_TLS } from './helpers/transport-mode.js';

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

/**
 * The one line for a plain peer that is not ftx, ending in `what` (how its greeting is named). A
 * TLS client first reads non-TLS bytes in its handshake, then the greeting on a plain connection.
 */
function wrongPeerLine(what: string): RegExp {
  const head = TEST_OVER_TLS
    ? String.raw`127\.0\.0\.1:\d+ speaks plain text, not TLS, and this client speaks TLS \(it has a token or --tls-ca/--tls-fingerprint\)`
    : String.raw`127\.0\.0\.1:\d+ is not an ftx server`;
  return new RegExp(`^ftx: error: ${head}: ${what}\n$`);
}

/** Connections a TLS client opens to a plain peer: its TLS one, and the plain one that reads the greeting. */
const PLAIN_PEER_CONNECTIONS = TEST_OVER_TLS ? 2 : 1;

describe('a peer that is not an ftx server', () => {
  it('an HTTP server (waits for a request): exit 8, one line, no retries', async () => {
    let connections = 0;
    const http = createHttpServer((_req, res) => res.end('hello'));
    http.on('connection', () => connections++);
    await withListening(http, async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      // Plain: it says nothing for 5 s. TLS: it answers the ClientHello with an HTTP 400, then waits on the plain probe.
      expect(result.stderr).toMatch(TEST_OVER_TLS
        ? wrongPeerLine(String.raw`it is not an ftx server \(it sends nothing until the client speaks, as HTTP servers do\)`)
        : wrongPeerLine(String.raw`no ftx hello within 5 s[^\n]*`));
      expect(connections).toBe(PLAIN_PEER_CONNECTIONS);
    });
  });

  it('an HTTP server that answers at once: named from its first bytes', async () => {
    await withListening(createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr).toMatch(wrongPeerLine(String.raw`it answered like an HTTP server \("HTTP\/1\.1 400 Bad Request"\)`));
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
      expect(result.stderr).toMatch(wrongPeerLine(String.raw`it answered like an SSH server \("SSH-2\.0-OpenSSH_9\.6p1 Ubuntu-3ubuntu13"\)`));
      expect(result.stderr).not.toContain('frame length');
      expect(connections).toBe(PLAIN_PEER_CONNECTIONS);
    });
  });

  it('a TLS record or other binary: said so, with what it sent escaped', async () => {
    await withListening(createServer((socket) => socket.write(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x7a, 0x02]))), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      // A TLS client reads the start of a record that never ends: its handshake stalls (the hello timeout).
      expect(result.stderr).toMatch(TEST_OVER_TLS
        ? /^ftx: error: 127\.0\.0\.1:\d+ is not an ftx server: it accepted the connection but did not complete a TLS handshake within 5 s\n$/
        : wrongPeerLine('it answered like a TLS server'));
    });
    await withListening(createServer((socket) => socket.write('220 mail.example ESMTP\r\n')), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      expect(result.stderr).toMatch(wrongPeerLine(String.raw`it sent "220 mail\.example ESMTP"`));
    });
  });

  it('a peer that accepts and stays silent: exit 8 after the hello timeout, one connection', async () => {
    let connections = 0;
    await withListening(createServer(() => connections++), async (port) => {
      const result = await putTo(port);
      expect(result.code).toBe(EXIT.PROTOCOL);
      // A plain client waits 5 s for the hello; a TLS client 5 s for the answer to its ClientHello.
      expect(result.stderr).toMatch(TEST_OVER_TLS
        ? /^ftx: error: 127\.0\.0\.1:\d+ is not an ftx server: it accepted the connection but did not complete a TLS handshake within 5 s\n$/
        : wrongPeerLine(String.raw`no ftx hello within 5 s \(it may wait for the client to speak first, as HTTP and TLS servers do\)`));
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
    // The first connection is an ftx server (inside TLS in the tls project) that cuts the first request.
    const answerOnce = inModeTransport((socket) => {
      const reader = new FrameReader();
      let frames = 0;
      socket.write(encodeFrame({ type: 'hello', protocol: 1, server: 'fake', auth: FAKE_HELLO_AUTH, nonce: 'a'.repeat(64), actions: ['put'], maxFrame: 65536 }));
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        while (reader.readFrame() !== undefined) {
          if (++frames === 1) socket.write(encodeFrame({ type: 'reply', status: 200, code: 'ok', message: 'hi' }));
          else socket.destroy(); // the first request: cut
        }
      });
    });
    await withListening(createServer((socket) => {
      if (++connections === 1) answerOnce(socket); // the reconnect: accepted, then nothing (no handshake, no hello)
    }), async (port) => {
      const result = await runFtx(['put', file, `127.0.0.1:${port}`, '--retries', '1', '--retry-wait', '0.05'], {}, 30_000);
      expect(result.code, result.stderr).toBe(EXIT.CONNECTION_LOST);
      expect(result.stderr).toMatch(/retry 1\/1 in/);
      expect(result.stderr).toMatch(TEST_OVER_TLS
        ? /ftx: error: connection to the server lost, no retry left: no TLS handshake from 127\.0\.0\.1:\d+ within 5 s\n$/
        : /ftx: error: connection to the server lost, no retry left: no hello from 127\.0\.0\.1:\d+ within 5 s\n$/);
      expect(connections).toBe(2);
    });
  });
});
