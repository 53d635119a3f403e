/** A hand-driven protocol peer over a raw socket, for feeding a server bad input. */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { computeAuthProof } from '../../src/protocol/auth.js';
import { deriveTokenKeys } from '../../src/protocol/token-keys.js';
import { TEST_OVER_TLS, TEST_TLS_TOKEN } from './transport-mode.js';
import { encodeFrame, FrameReader, type FrameObject } from '../../src/protocol/frame.js';

/** A raw TCP connection that decodes the server's frames and sends anything. */
export class RawPeer {
  private readonly reader = new FrameReader();
  private waiting: (() => void) | undefined;
  private ended = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiting?.();
    });
    socket.on('error', () => undefined);
  }

  /** Connects to 127.0.0.1:port over TLS 1.3 with the PSK of `token` (docs/PROTOCOL.md §14.3). */
  static connectTls(port: number, token: string): Promise<RawPeer> {
    const { tokenId, psk } = deriveTokenKeys(token);
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', pskCallback: () => ({ psk, identity: tokenId }) },
        () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  /** Connects to 127.0.0.1:port (over TLS with the test token in the "tls" project, helpers/transport-mode.ts). */
  static connect(port: number): Promise<RawPeer> {
    if (TEST_OVER_TLS) return RawPeer.connectTls(port, TEST_TLS_TOKEN);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  /** Next frame from the server, or null once the server has closed. Fails after `timeoutMs`. */
  frame(timeoutMs = 5000): Promise<FrameObject | null> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame from server in time')), timeoutMs);
      const attempt = (): void => {
        const frame = this.reader.readFrame();
        if (frame !== undefined || this.ended) {
          clearTimeout(timer);
          this.waiting = undefined;
          resolve(frame ?? null);
        } else {
          this.waiting = attempt;
        }
      };
      attempt();
    });
  }

  /**
   * Reads a body of data frames up to the empty one (docs/PROTOCOL.md §6.6, §6.11); returns the
   * payloads concatenated and how many frames carried them. Heartbeat frames (FF FF FF FF) are skipped.
   */
  async dataFrames(timeoutMs = 5000): Promise<{ data: Buffer; frames: number }> {
    const parts: Buffer[] = [];
    for (;;) {
      const header = await this.bytes(4, timeoutMs);
      const length = header.readUInt32BE(0);
      if (length === 0) return { data: Buffer.concat(parts), frames: parts.length };
      if (length === 0xffffffff) continue;
      parts.push(await this.bytes(length, timeoutMs));
    }
  }

  /** Exactly `n` raw bytes from the server. */
  bytes(n: number, timeoutMs = 5000): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${n} bytes from server in time`)), timeoutMs);
      const attempt = (): void => {
        for (let piece = this.reader.readBody(n - got); piece !== undefined; piece = this.reader.readBody(n - got)) {
          parts.push(Buffer.from(piece));
          got += piece.length;
        }
        if (got === n || this.ended) {
          clearTimeout(timer);
          this.waiting = undefined;
          if (got === n) resolve(Buffer.concat(parts));
          else reject(new Error('server closed before sending the bytes'));
        } else {
          this.waiting = attempt;
        }
      };
      attempt();
    });
  }

  /** Sends one frame. */
  send(message: object): void {
    this.socket.write(encodeFrame(message));
  }

  /** Sends raw bytes. */
  sendRaw(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Reads the server hello and answers it (with an HMAC when `token` is given); returns the reply. */
  async handshake(token?: string): Promise<FrameObject | null> {
    const hello = await this.frame();
    if (!hello) throw new Error('no hello');
    this.send({ action: 'hello', protocol: 1, client: 'raw-peer', ...(token ? { hmac: computeAuthProof(token, String(hello.nonce)) } : {}) });
    return this.frame();
  }

  /** Resolves when the server has closed the connection. */
  closed(timeoutMs = 5000): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not close the connection')), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Closes our side at once. */
  destroy(): void {
    this.socket.destroy();
  }
}
