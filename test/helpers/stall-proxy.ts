/** A TCP proxy on loopback that stops forwarding client bytes after N: an upload stuck mid-way. */
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy. */
export interface StallProxy {
  port: number;
  /** Client→server bytes forwarded so far (all connections). */
  forwarded: () => number;
  close: () => Promise<void>;
}

/**
 * Forwards 127.0.0.1:<port> to `targetPort`. Each connection forwards its first `stallAfter` client
 * bytes, then stops reading from the client (its sends back up, as on a stalled network). Replies
 * always pass; either side closing closes the other.
 */
export async function startStallProxy(targetPort: number, stallAfter: number): Promise<StallProxy> {
  let forwarded = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    let sent = 0;
    client.on('data', (data: Buffer) => {
      const piece = data.subarray(0, Math.max(0, stallAfter - sent));
      sent += piece.length;
      forwarded += piece.length;
      if (piece.length > 0) upstream.write(piece);
      if (sent >= stallAfter) client.pause();
    });
    upstream.on('data', (data: Buffer) => client.write(data));
    for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        other.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    forwarded: () => forwarded,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
