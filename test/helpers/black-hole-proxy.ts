/**
 * A loopback TCP proxy that can turn its first connection into a black hole: after `freezeAfter`
 * client→server bytes it stops forwarding in both directions and closes nothing, as a dead path, a
 * suspended laptop or a NAT that forgot the flow look to both ends. Later connections pass.
 */
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy. */
export interface BlackHoleProxy {
  port: number;
  /** Resolves once the first connection has gone silent. */
  frozen: Promise<void>;
  close: () => Promise<void>;
}

/** Forwards 127.0.0.1:<port> to `targetPort`; the first connection goes silent after `freezeAfter` client bytes. */
export async function startBlackHoleProxy(targetPort: number, freezeAfter: number): Promise<BlackHoleProxy> {
  const sockets = new Set<Socket>();
  let count = 0;
  let onFrozen: () => void = () => undefined;
  const frozen = new Promise<void>((resolve) => (onFrozen = resolve));
  const server = createServer((client) => {
    const first = count++ === 0;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    let sent = 0;
    let silent = false;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (data: Buffer) => {
      if (silent) return;
      const piece = first ? data.subarray(0, Math.max(0, freezeAfter - sent)) : data;
      sent += piece.length;
      if (piece.length > 0) upstream.write(piece);
      if (first && sent >= freezeAfter) {
        // Nothing more either way, and no FIN or RST: both ends must notice the silence themselves.
        silent = true;
        onFrozen();
      }
    });
    upstream.on('data', (data: Buffer) => {
      if (!silent) client.write(data);
    });
    // A black hole forwards no close either; a healthy connection does.
    client.on('end', () => silent || upstream.end());
    upstream.on('end', () => silent || client.end());
    client.on('close', () => silent || upstream.destroy());
    upstream.on('close', () => silent || client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    frozen,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
