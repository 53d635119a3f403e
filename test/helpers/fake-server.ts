/**
 * A hostile ftx server for client tests: speaks the handshake, then answers each request with
 * whatever the test scripts (frames and raw bytes), so that the client's defences can be tried.
 * In the "tls" project (test/helpers/transport-mode.ts) fakes speak TLS 1.3 with the test token's
 * PSK, as a real server with that token does: the misbehaviour a test scripts is then inside TLS.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { encodeFrame, FrameReader, type FrameObject } from '../../src/protocol/frame.js';
import { deriveTokenKeys } from '../../src/protocol/token-keys.js';
import { serverSecureContext } from '../../src/transport/tls-config.js';
import { TEST_OVER_TLS, TEST_TLS_TOKEN } from './transport-mode.js';

/** The `auth` of a fake's hello: what a real server says in this mode. */
export const FAKE_HELLO_AUTH = TEST_OVER_TLS ? 'tls-psk' : 'none';

/**
 * Wraps a fake peer's connection handler for the mode: plain, `onConnection` gets the TCP socket;
 * over TLS, the TLS socket once a PSK handshake with the test token is over (a failed one just closes).
 */
export function inModeTransport(onConnection: (socket: Socket) => void): (socket: Socket) => void {
  if (!TEST_OVER_TLS) return onConnection;
  const { tokenId, psk } = deriveTokenKeys(TEST_TLS_TOKEN);
  const secureContext = serverSecureContext({});
  return (socket) => {
    socket.on('error', () => undefined);
    // (pskCallback is missing from Node 20's TLSSocketOptions type, as in src/transport/tls-accept.ts.)
    const pskCallback = (_socket: TLSSocket, identity: string): Buffer | null => (identity === tokenId ? psk : null);
    const secure = new TLSSocket(socket, { isServer: true, secureContext, ...{ pskCallback } });
    secure.on('error', () => secure.destroy());
    secure.once('secure', () => onConnection(secure));
  };
}

/** What the fake answers to one request: frames (objects) and raw bytes, in order. */
export type Script = (request: FrameObject) => (object | Buffer)[];

/** A data-frame body of `data` in frames of at most 64 KiB, ended by the empty frame. */
export function dataFrames(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += 65536) {
    const piece = data.subarray(at, at + 65536);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(piece.length, 0);
    parts.push(header, piece);
  }
  return Buffer.concat([...parts, Buffer.alloc(4)]);
}

/** A listening fake; `requests` collects what clients asked. */
export interface FakeServer {
  port: number;
  requests: FrameObject[];
  close(): Promise<void>;
}

/** Starts a fake server on 127.0.0.1:0 answering by `script`. */
export async function startFakeServer(script: Script, hello: Record<string, unknown> = {}): Promise<FakeServer> {
  const requests: FrameObject[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer(inModeTransport((socket) => {
    socket.on('error', () => undefined);
    const reader = new FrameReader();
    let greeted = false;
    socket.write(encodeFrame({ type: 'hello', protocol: 1, server: 'fake/0', auth: FAKE_HELLO_AUTH, nonce: '0'.repeat(64), actions: ['put', 'check', 'mkdir', 'putmany', 'get', 'list'], features: [], maxFrame: 65536, ...hello }));
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let frame = reader.readFrame(); frame !== undefined; frame = reader.readFrame()) {
        if (!greeted) {
          greeted = true;
          socket.write(encodeFrame({ type: 'reply', status: 200, code: 'ok', message: 'welcome' }));
          continue;
        }
        requests.push(frame);
        for (const part of script(frame)) socket.write(Buffer.isBuffer(part) ? part : encodeFrame(part));
      }
    });
  }));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket); // the TCP socket (under the TLS one): destroying it ends both
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    port: address.port,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
