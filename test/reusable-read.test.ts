import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../src/protocol/frame.js';
import { deriveTokenKeys } from '../src/protocol/token-keys.js';
import { FramedConnection } from '../src/transport/framed-connection.js';
import { acceptTls } from '../src/transport/tls-accept.js';
import { serverSecureContext } from '../src/transport/tls-config.js';
import { md5 } from './helpers/server.js';

const TOKEN = 'ftx1_ReusableReadTlsTest0123456789abcdefghijkl';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server whose accepted sockets read into one reusable buffer, as `ftx serve` does. */
async function acceptOne(options: { pauseOnConnect: boolean }): Promise<{ port: number; accepted: Promise<Socket> }> {
  let onSocket!: (socket: Socket) => void;
  const accepted = new Promise<Socket>((resolve) => (onSocket = resolve));
  server = createServer({ pauseOnConnect: options.pauseOnConnect }, onSocket);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, accepted };
}

/** Writes `data` in pieces of random sizes (1 byte to 100 KiB), so reads and frames never line up. */
async function writeInOddPieces(socket: Socket, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length;) {
    const n = Math.min(data.length - at, 1 + Math.floor(Math.random() * 100 * 1024));
    if (!socket.write(data.subarray(at, at + n))) await new Promise((resolve) => socket.once('drain', resolve));
    at += n;
  }
}

/** Writes a frame header in three pieces that arrive as separate reads (a pause between them). */
async function writeSplitFrame(socket: Socket, frame: Buffer): Promise<void> {
  for (const [from, to] of [[0, 2], [2, 9], [9, frame.length]] as const) {
    socket.write(frame.subarray(from, to));
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

/** Receives one put per body (ids from `firstId`) and checks each body arrived whole, with a slow consumer now and then. */
async function receivePutsIntact(conn: FramedConnection, bodies: Buffer[], firstId: number): Promise<void> {
  for (const [i, body] of bodies.entries()) {
    expect(await conn.receive()).toMatchObject({ action: 'put', id: firstId + i, size: body.length });
    const kept: Buffer[] = [];
    let calls = 0;
    await conn.readBody(body.length, (chunk) => {
      kept.push(Buffer.from(chunk));
      // What arrives while the consumer waits must not overwrite what is buffered.
      if (++calls % 7 === 0) return new Promise((resolve) => setTimeout(resolve, 5));
      return undefined;
    });
    expect(md5(Buffer.concat(kept))).toBe(md5(body));
  }
}

describe('reads into a reusable buffer (server side)', () => {
  it('is in effect on an accepted socket that is paused on connect, and delivers frames and bodies intact under backpressure', async () => {
    const { port, accepted } = await acceptOne({ pauseOnConnect: true });
    const bodies = [randomBytes(3 * 1024 * 1024 + 17), randomBytes(1), randomBytes(200_000)];
    const client = connect(port, '127.0.0.1');
    const sending = new Promise<void>((resolve) => client.once('connect', resolve)).then(async () => {
      for (const [i, body] of bodies.entries()) {
        // A header split over reads: its first bytes must survive the reads that bring the rest.
        await writeSplitFrame(client, encodeFrame({ action: 'put', id: i, size: body.length }));
        await writeInOddPieces(client, body);
      }
    });

    const conn = new FramedConnection(await accepted, { reuseReadBuffer: true });
    expect(conn.reusesReadBuffer).toBe(true);
    await receivePutsIntact(conn, bodies, 0);
    await sending;
    client.end();
    expect(await conn.receive()).toBeNull();
    conn.destroy();
  });

  it('is in effect on an accepted TLS socket (claimed before its handshake): the frames sent with the handshake and the bodies after arrive intact', async () => {
    const { tokenId, psk } = deriveTokenKeys(TOKEN);
    const { port, accepted } = await acceptOne({ pauseOnConnect: true });
    const bodies = [randomBytes(2 * 1024 * 1024 + 5), randomBytes(70_000)];
    const client = tlsConnect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', pskCallback: () => ({ psk, identity: tokenId }) });
    client.on('error', () => undefined);
    // Written before the handshake is over: they arrive before the connection has a reader.
    const early = [encodeFrame({ action: 'hello', id: 0 }), encodeFrame({ action: 'check', id: 1 })];
    for (const frame of early) client.write(frame);
    const sending = new Promise<void>((resolve) => client.once('secureConnect', resolve)).then(async () => {
      for (const [i, body] of bodies.entries()) {
        await writeSplitFrame(client as unknown as Socket, encodeFrame({ action: 'put', id: 10 + i, size: body.length }));
        await writeInOddPieces(client as unknown as Socket, body);
      }
    });
    const { socket } = await acceptTls(await accepted, {
      context: serverSecureContext({}), psk: (id) => (id === tokenId ? psk : null),
      plainWaitMs: 2000, handshakeTimeoutMs: 10_000, plainRefusal: Buffer.alloc(0),
    });
    await new Promise((resolve) => setTimeout(resolve, 50)); // the early frames are read before anyone reads them
    const conn = new FramedConnection(socket);
    expect(conn.reusesReadBuffer).toBe(true);
    expect(await conn.receive()).toMatchObject({ action: 'hello', id: 0 });
    expect(await conn.receive()).toMatchObject({ action: 'check', id: 1 });
    await receivePutsIntact(conn, bodies, 10);
    await sending;
    client.end();
    expect(await conn.receive()).toBeNull();
    conn.destroy();
  });

  it('is not used (normal reads) on a socket that already reads', async () => {
    const { port, accepted } = await acceptOne({ pauseOnConnect: false });
    const client = connect(port, '127.0.0.1');
    const conn = new FramedConnection(await accepted, { reuseReadBuffer: true });
    expect(conn.reusesReadBuffer).toBe(false);
    client.end(encodeFrame({ action: 'check', id: 1 }));
    expect(await conn.receive()).toMatchObject({ action: 'check', id: 1 });
    conn.destroy();
  });
});
