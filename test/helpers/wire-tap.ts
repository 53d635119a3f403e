/** A relay on loopback between a client and a server that records (and may alter) every byte, both ways. */
import { connect, createServer, type Socket } from 'node:net';

/** Which way bytes go. */
export type Direction = 'up' | 'down';

/** Changes a piece in flight: `offset` is where it starts in its connection's stream of that direction. */
export type Tamper = (direction: Direction, offset: number, piece: Buffer, connection: number) => Buffer;

/** A running tap. */
export interface WireTap {
  port: number;
  /** Everything sent client→server ('up') or server→client ('down') on connection `index` (all when omitted). */
  captured: (direction: Direction, index?: number) => Buffer;
  connections: () => number;
  close: () => Promise<void>;
}

/** Relays 127.0.0.1:<port> to `targetPort`, recording what passes after `tamper` (if any) changed it. */
export async function startWireTap(targetPort: number, tamper?: Tamper): Promise<WireTap> {
  const streams: Array<Record<Direction, Buffer[]>> = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const index = streams.length;
    const record: Record<Direction, Buffer[]> = { up: [], down: [] };
    streams.push(record);
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const offsets: Record<Direction, number> = { up: 0, down: 0 };
    const relay = (direction: Direction, from: Socket, to: Socket): void => {
      from.on('data', (data: Buffer) => {
        const piece = tamper ? tamper(direction, offsets[direction], Buffer.from(data), index) : data;
        offsets[direction] += data.length;
        record[direction].push(Buffer.from(piece));
        to.write(piece);
      });
      from.on('end', () => to.end());
    };
    relay('up', client, upstream);
    relay('down', upstream, client);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
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
    captured: (direction, index) => Buffer.concat((index === undefined ? streams : [streams[index]!]).flatMap((s) => s[direction])),
    connections: () => streams.length,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A TLS handshake message found in a captured stream: its type and its extension types. */
export interface HandshakeMessage {
  type: number;
  extensions: Map<number, Buffer>;
}

/**
 * The first handshake message of the first TLS record of `stream` (a ClientHello, type 1, or a
 * ServerHello, type 2, both in clear in TLS 1.3), parsed as RFC 8446 §4.1.2/§4.1.3 lay them out.
 */
export function firstHandshake(stream: Buffer): HandshakeMessage {
  if (stream[0] !== 0x16) throw new Error(`not a TLS handshake record: ${stream.subarray(0, 4).toString('hex')}`);
  const body = stream.subarray(5, 5 + stream.readUInt16BE(3));
  const type = body[0]!;
  let at = 4 + 2 + 32; // handshake header, legacy_version, random
  at += 1 + body[at]!; // legacy_session_id
  if (type === 1) {
    at += 2 + body.readUInt16BE(at); // cipher_suites
    at += 1 + body[at]!; // legacy_compression_methods
  } else {
    at += 2 + 1; // cipher_suite, legacy_compression_method
  }
  const end = at + 2 + body.readUInt16BE(at);
  at += 2;
  const extensions = new Map<number, Buffer>();
  while (at < end) {
    const kind = body.readUInt16BE(at);
    const length = body.readUInt16BE(at + 2);
    extensions.set(kind, body.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { type, extensions };
}
