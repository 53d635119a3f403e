/** A TCP proxy on loopback that cuts its first connection after N client→server bytes, optionally throttled. */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A running proxy. */
export interface CutProxy {
  port: number;
  /** Client→server bytes forwarded over all connections. */
  forwarded: () => number;
  /** Number of connections accepted. */
  connections: () => number;
  /** Everything the first connection's client sent (for finding frame offsets). */
  firstStream: () => Buffer;
  close: () => Promise<void>;
}

/**
 * Forwards 127.0.0.1:<port> to `targetPort`. The first connection is cut (both sides destroyed)
 * once exactly `cutAfter` client bytes have been forwarded; later connections pass untouched.
 * `cutAfter` = Infinity never cuts (used to record a clean run). With `bytesPerSecond`, each
 * connection forwards client bytes at most that fast (a slow link: bars draw many frames).
 */
export async function startCutProxy(targetPort: number, cutAfter: number, options: { bytesPerSecond?: number } = {}): Promise<CutProxy> {
  const rate = options.bytesPerSecond;
  let forwarded = 0;
  let count = 0;
  const first: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const index = count++;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    let sent = 0;
    let cut = false;
    /** When the throttled link is free again (ms since the epoch). */
    let linkFreeAt = 0;
    const cutNow = (): void => {
      cut = true;
      client.destroy();
      upstream.destroy();
    };
    const forward = (data: Buffer): void => {
      if (cut) return;
      let piece = data;
      if (index === 0 && sent + piece.length >= cutAfter) piece = piece.subarray(0, cutAfter - sent);
      sent += piece.length;
      forwarded += piece.length;
      if (index === 0) first.push(Buffer.from(piece));
      if (piece.length > 0) upstream.write(piece);
      if (index === 0 && sent >= cutAfter) {
        // Let the forwarded bytes leave before the cut.
        upstream.end();
        setImmediate(cutNow);
      }
    };
    client.on('data', (data: Buffer) => {
      if (rate === undefined) return forward(data);
      // Hold the client until this piece's share of the link time has passed.
      const now = Date.now();
      linkFreeAt = Math.max(now, linkFreeAt) + (data.length / rate) * 1000;
      client.pause();
      setTimeout(() => {
        forward(data);
        if (!cut) client.resume();
      }, linkFreeAt - now);
    });
    upstream.on('data', (data: Buffer) => {
      if (!cut) client.write(data);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        (socket === client ? upstream : client).destroy();
      });
    }
    if (index === 0 && cutAfter === 0) cutNow();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    forwarded: () => forwarded,
    connections: () => count,
    firstStream: () => Buffer.concat(first),
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
