/**
 * A hostile ftx server for client tests: speaks the handshake, then answers each request with
 * whatever the test scripts (frames and raw bytes), so that the client's defences can be tried.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { encodeFrame, FrameReader, type FrameObject } from '../../src/protocol/frame.js';

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
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const reader = new FrameReader();
    let greeted = false;
    socket.write(encodeFrame({ type: 'hello', protocol: 1, server: 'fake/0', auth: 'none', nonce: '0'.repeat(64), actions: ['put', 'check', 'mkdir', 'putmany', 'get', 'list'], features: [], maxFrame: 65536, ...hello }));
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
