/**
 * A TCP load balancer on loopback for tests: connection i goes to targets[i % n] (so a client's
 * retry reaches the other server). Counts client→server bytes (`forwarded`, and `forwardedFrom(i)`:
 * on connection i and later ones) and server→client bytes (`returned`); can cut its first
 * connection after so many bytes either way.
 */
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy. */
export interface AlternatingProxy {
  port: number;
  forwarded: () => number;
  /** Client→server bytes on connections `index`, `index + 1`, …: what a retry sent. */
  forwardedFrom: (index: number) => number;
  returned: () => number;
  connections: () => number;
  close: () => Promise<void>;
}

/**
 * Starts the proxy; `cutFirstAfter` cuts the first connection after that many client bytes,
 * `cutFirstDownAfter` after that many server bytes (a download broken midway).
 */
export async function startAlternatingProxy(targets: number[], options: { cutFirstAfter?: number; cutFirstDownAfter?: number; bytesPerSecond?: number } = {}): Promise<AlternatingProxy> {
  let forwarded = 0;
  const forwardedOn: number[] = [];
  let returned = 0;
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const index = count++;
    forwardedOn[index] = 0;
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
      forwardedOn[index] = (forwardedOn[index] ?? 0) + piece.length;
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
    let down = 0;
    upstream.on('data', (data: Buffer) => {
      const limit = index === 0 ? options.cutFirstDownAfter : undefined;
      const cut = limit !== undefined && down + data.length >= limit;
      const piece = cut ? data.subarray(0, limit - down) : data;
      down += piece.length;
      returned += piece.length;
      if (cut) {
        // Let the bytes forwarded so far reach the client, then break both sides.
        client.end(piece, () => { client.destroy(); upstream.destroy(); });
        upstream.pause();
        return;
      }
      if (!client.write(piece)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    forwarded: () => forwarded,
    forwardedFrom: (index) => forwardedOn.slice(index).reduce((sum, n) => sum + n, 0),
    returned: () => returned,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
