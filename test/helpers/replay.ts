/**
 * Replays the wire lines of one documented connection (test/helpers/doc-examples.ts) against a real
 * server: C→S lines are sent as written, S→C lines are read and compared byte for byte. Only what
 * cannot be the same is substituted: the server's random nonce (documented as fixed), and the hmac the
 * client derives from it (checked against the documented nonce first).
 */
import { connect, type Socket } from 'node:net';
import { computeAuthProof } from '../../src/protocol/auth.js';
import type { WireLine } from './doc-examples.js';

/** What a documented session assumes beyond its bytes. */
export interface ReplayFixture {
  /** The server's token, when the example's hello says hmac-sha256. */
  token?: string;
  /** The example's file, for `bytes A..B` lines. */
  file?: Buffer;
}

/** Raw frames (prefix included) from a socket, in arrival order. */
class RawFrameReader {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  /** Exactly `n` raw bytes (a download body's data frames, docs/PROTOCOL.md §6.11). */
  take(n: number, waitingFor: string, timeoutMs = 10_000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new Error(`no ${n} bytes from the server in time; waiting for ${waitingFor}`));
      }, timeoutMs);
      const attempt = (): void => {
        if (this.buffer.length >= n || this.ended) {
          clearTimeout(timer);
          this.wake = undefined;
          const bytes = this.buffer.subarray(0, n);
          this.buffer = this.buffer.subarray(bytes.length);
          if (bytes.length === n) resolve(bytes);
          else reject(new Error(`the connection ended; waiting for ${waitingFor}`));
        } else {
          this.wake = attempt;
        }
      };
      attempt();
    });
  }

  /** The next whole frame, or null at a clean end; fails after `timeoutMs` saying what it waited for. */
  next(waitingFor: string, timeoutMs = 10_000): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new Error(`no frame from the server in time; waiting for ${waitingFor}`));
      }, timeoutMs);
      const attempt = (): void => {
        const length = this.buffer.length >= 4 ? this.buffer.readUInt32BE(0) : -1;
        const done = (value: Buffer | null, error?: Error): void => {
          clearTimeout(timer);
          this.wake = undefined;
          if (error) reject(error);
          else resolve(value);
        };
        if (length >= 0 && this.buffer.length >= 4 + length) {
          const frame = this.buffer.subarray(0, 4 + length);
          this.buffer = this.buffer.subarray(4 + length);
          done(frame);
        } else if (this.ended) {
          done(null, this.buffer.length > 0 ? new Error(`connection ended inside a frame (${this.buffer.toString('hex')}); waiting for ${waitingFor}`) : undefined);
        } else {
          this.wake = attempt;
        }
      };
      attempt();
    });
  }
}

const jsonOf = (frame: Buffer): Record<string, unknown> => JSON.parse(frame.subarray(4).toString('utf8')) as Record<string, unknown>;
const textOf = (frame: Buffer): string => `${frame.subarray(0, 4).toString('hex')}  ${frame.subarray(4).toString('utf8')}`;

/** State of one replayed connection. */
interface Nonces {
  documented?: string;
  actual?: string;
}

/** The bytes a C→S line puts on the wire (the hello's hmac recomputed for the actual nonce). */
function outgoing(wire: WireLine, fixture: ReplayFixture, nonces: Nonces): Buffer {
  if (wire.kind === 'raw') return wire.bytes;
  if (wire.kind === 'range') {
    if (!fixture.file) throw new Error(`PROTOCOL.md line ${wire.line}: a byte range, but the test gives this section no file`);
    return fixture.file.subarray(wire.from, wire.to + 1);
  }
  if (wire.kind !== 'frame') return Buffer.alloc(0);
  const json = jsonOf(wire.bytes);
  if (json.action !== 'hello' || typeof json.hmac !== 'string') return wire.bytes;
  if (!fixture.token || !nonces.documented || !nonces.actual) throw new Error(`PROTOCOL.md line ${wire.line}: an hmac without a token or a nonce`);
  const documented = computeAuthProof(fixture.token, nonces.documented);
  if (json.hmac !== documented) throw new Error(`PROTOCOL.md line ${wire.line}: hmac ${json.hmac} should be ${documented}`);
  return Buffer.from(wire.bytes.toString('latin1').replace(documented, computeAuthProof(fixture.token, nonces.actual)), 'latin1');
}

/**
 * Reads as many frames as the group of consecutive S→C lines documents and matches each to one of
 * them (replies of batches landing in the background may come in either order). Undocumented `wait` frames are skipped.
 */
async function expectGroup(reader: RawFrameReader, group: WireLine[], nonces: Nonces): Promise<void> {
  const expected = group.map((wire) => ({ wire, bytes: (wire as { bytes: Buffer }).bytes }));
  const skipWaits = !group.some((wire) => wire.kind === 'frame' && jsonOf(wire.bytes).type === 'wait');
  while (expected.length > 0) {
    const waitingFor = expected.map((e) => `line ${e.wire.line}`).join(' or ');
    const frame = await reader.next(waitingFor);
    if (frame === null) throw new Error(`the server closed the connection; expected PROTOCOL.md ${waitingFor}`);
    const json = jsonOf(frame);
    if (skipWaits && json.type === 'wait') continue;
    if (json.type === 'hello' && typeof json.nonce === 'string') {
      nonces.actual = json.nonce;
      const documented = jsonOf(expected[0]!.bytes).nonce;
      if (typeof documented === 'string') nonces.documented = documented;
    }
    const normalized = nonces.actual && nonces.documented
      ? Buffer.from(frame.toString('latin1').replace(nonces.actual, nonces.documented), 'latin1')
      : frame;
    const match = expected.findIndex((e) => e.bytes.equals(normalized));
    if (match < 0) {
      throw new Error(`the server sent\n  ${textOf(normalized)}\nwhere PROTOCOL.md documents\n  ${expected.map((e) => `line ${e.wire.line}: ${textOf(e.bytes)}`).join('\n  ')}`);
    }
    expected.splice(match, 1);
  }
}

/** Replays one connection's lines against 127.0.0.1:port; throws on the first difference. */
export async function replayConnection(port: number, wires: WireLine[], fixture: ReplayFixture): Promise<void> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
  const reader = new RawFrameReader(socket);
  const nonces: Nonces = {};
  let finished = false;
  try {
    for (let i = 0; i < wires.length;) {
      const direction = wires[i]!.direction;
      let j = i;
      while (j < wires.length && wires[j]!.direction === direction && wires[j]!.kind !== 'fin') j++;
      const group = wires.slice(i, j);
      if (direction === 'S→C') {
        const unframed = group.find((wire) => wire.kind !== 'frame' && wire.kind !== 'raw');
        if (unframed) throw new Error(`PROTOCOL.md line ${unframed.line}: the server sends only frames and, in a download, data frames`);
        if (group.some((wire) => wire.kind === 'raw')) {
          // A download (§6.11): frames and body bytes in exactly the documented order.
          for (const wire of group) {
            if (wire.kind === 'frame') await expectGroup(reader, [wire], nonces);
            else if (wire.kind === 'raw') {
              const got = await reader.take(wire.bytes.length, `line ${wire.line}`);
              if (!got.equals(wire.bytes)) throw new Error(`the server sent ${got.toString('hex')} where PROTOCOL.md line ${wire.line} documents ${wire.bytes.toString('hex')}`);
            }
          }
        } else {
          await expectGroup(reader, group, nonces);
        }
      } else if (group.length > 0) {
        socket.write(Buffer.concat(group.map((wire) => outgoing(wire, fixture, nonces))));
      }
      if (wires[j]?.kind === 'fin') {
        socket.end();
        finished = true;
        j++;
      }
      i = j;
    }
    if (finished) {
      const extra = await reader.next('the server to close the connection');
      if (extra !== null) throw new Error(`after the documented session the server sent ${textOf(extra)}`);
    }
  } finally {
    socket.destroy();
  }
}
