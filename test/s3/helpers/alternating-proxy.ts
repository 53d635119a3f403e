/**
 * A TCP load balancer on loopback for tests: connection i goes to targets[i % n] (so a client's
 * retry reaches the other server). Counts client→server bytes; `onBytes` sees the running total.
 */
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy. */
export interface AlternatingProxy {
  port: number;
  forwarded: () => number;
  connections: () => number;
  close: () => Promise<void>;
}

/** Starts the proxy; `cutFirstAfter` cuts the first connection after that many client bytes. */
export async function startAlternatingProxy(targets: number[], options: { cutFirstAfter?: number; bytesPerSecond?: number } = {}): Promise<AlternatingProxy> {
  let forwarded = 0;
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const index = count++;
    const upstream = connect({ host: '127.0.0.1', port: targets[index % targets.length] as number });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    let sent = 0;
    client.on('data', (data: Buffer) => {
      const cut = index === 0 && options.cutFirstAfter !== undefined && sent + data.length >= options.cutFirstAfter;
      const piece = cut ? data.subarray(0, (options.cutFirstAfter as number) - sent) : data;
      sent += piece.length;
      forwarded += piece.length;
      if (!upstream.write(piece)) client.pause();
      if (cut) {
        client.destroy();
        upstream.destroy();
        return;
      }
      if (options.bytesPerSecond !== undefined) {
        client.pause();
        setTimeout(() => { if (!upstream.writableNeedDrain) client.resume(); }, (piece.length / options.bytesPerSecond) * 1000);
      }
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (data: Buffer) => { if (!client.write(data)) upstream.pause(); });
    client.on('drain', () => upstream.resume());
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    forwarded: () => forwarded,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
