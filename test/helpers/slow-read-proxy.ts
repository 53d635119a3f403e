/**
 * A loopback TCP relay that throttles what the server sends back (downloads), so that a `get`'s
 * progress is drawn for many frames. The client's direction passes unthrottled. Bytes are relayed
 * as they are (TLS passes through untouched).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A running relay. */
export interface SlowReadProxy {
  port: number;
  close(): Promise<void>;
}

/** Relays 127.0.0.1:<port> to `targetPort`, the server's bytes at `bytesPerSecond` at most. */
export async function startSlowReadProxy(targetPort: number, bytesPerSecond: number): Promise<SlowReadProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    let linkFreeAt = 0;
    client.on('data', (data: Buffer) => upstream.write(data));
    upstream.on('data', (data: Buffer) => {
      // Hold the server until this piece's share of the link time has passed.
      const now = Date.now();
      linkFreeAt = Math.max(now, linkFreeAt) + (data.length / bytesPerSecond) * 1000;
      upstream.pause();
      setTimeout(() => {
        client.write(data);
        upstream.resume();
      }, linkFreeAt - now);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => setTimeout(() => client.end(), Math.max(0, linkFreeAt - Date.now())));
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        (socket === client ? upstream : client).destroy();
      });
    }
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
