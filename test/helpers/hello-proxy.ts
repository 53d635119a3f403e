/**
 * A TCP proxy on loopback in front of a real server that rewrites the server hello (the first frame
 * it sends) and forwards every other byte untouched: a real server that lists fewer actions or
 * features, for testing a client's fallbacks.
 */
import { connect, createServer, type Socket } from 'node:net';
import { encodeFrame, type FrameObject } from '../../src/protocol/frame.js';

/** A running proxy. */
export interface HelloProxy {
  port: number;
  close: () => Promise<void>;
}

/** Forwards 127.0.0.1:<port> to `targetPort`, passing each server hello through `rewrite`. */
export async function startHelloProxy(targetPort: number, rewrite: (hello: FrameObject) => FrameObject): Promise<HelloProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let head: Buffer | undefined = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (head === undefined) return void client.write(chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < 4 || head.length < 4 + head.readUInt32BE(0)) return;
      const length = head.readUInt32BE(0);
      const hello = JSON.parse(head.subarray(4, 4 + length).toString('utf8')) as FrameObject;
      client.write(Buffer.concat([encodeFrame(rewrite(hello)), head.subarray(4 + length)]));
      head = undefined;
    });
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A hello rewrite that drops `names` from its actions and features. */
export const withoutOffers = (...names: string[]) => (hello: FrameObject): FrameObject => ({
  ...hello,
  actions: (hello.actions as string[]).filter((a) => !names.includes(a)),
  features: (hello.features as string[]).filter((f) => !names.includes(f)),
});
