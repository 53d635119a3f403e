/**
 * A connected, authenticated protocol session on the client side: request ids, and one reader that
 * hands each reply to whoever expects that id (reply-dispatcher.ts). Operations (put/, requests.ts)
 * talk to the server only through this class.
 */
import { ConnectionLostError, ProtocolError, StatusError } from '../errors.js';
import { computeAuthProof } from '../protocol/auth.js';
import { deriveTokenId } from '../protocol/token-keys.js';
import { AUTH_HMAC_SHA256, AUTH_NONE, AUTH_TLS_PSK, ERROR_CODE, HEARTBEAT_DATA_FRAME, PROTOCOL_VERSION, STATUS } from '../protocol/constants.js';
import { describeForeignGreeting } from '../protocol/foreign-peer.js';
import {
  parseReply, parseServerHello, replyError, type ClientHello, type ClientPing, type EndRequest, type MkdirRequest,
  type CheckRequest, type PutManyRequest, type PutRequest, type ServerHello, type WaitNotice,
} from '../protocol/messages.js';
import type { FrameObject } from '../protocol/frame.js';
import { DEFAULT_CLIENT_IDLE_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from './defaults.js';
import { ReplyDispatcher } from './reply-dispatcher.js';
import { formatHostPort, openConnection } from '../transport/connect.js';
import type { BodyHandler, FramedConnection } from '../transport/framed-connection.js';
import type { GetRequest, ListRequest, VerifyRequest } from '../protocol/read-requests.js';
import type { ClientTls } from '../transport/tls-config.js';
import { FTX_VERSION } from '../version.js';

/** How to reach and authenticate to a server. */
export interface ClientOptions {
  host: string;
  port: number;
  /** The server's token. By default the connection then speaks TLS 1.3 with a PSK derived from it (docs/PROTOCOL.md §14). */
  token?: string;
  /**
   * How to speak TLS: `{ kind: 'certificate', ca | fingerprint }` checks the server's certificate
   * (the token, if any, is then proved in-band). Default: PSK from `token`, plain TCP without one.
   */
  tls?: ClientTls;
  /** With a token: plain TCP and the in-band HMAC only, as to a server run with --insecure-plaintext. */
  insecurePlaintext?: boolean;
  /** Give up connecting after this long (default DEFAULT_CONNECT_TIMEOUT_MS, 10 s). */
  connectTimeoutMs?: number;
  /** Fail when the connection is silent this long (default DEFAULT_CLIENT_IDLE_TIMEOUT_MS, 60 s). */
  idleTimeoutMs?: number;
  /**
   * This job's secret id (16-64 printable characters, e.g. clientIdFor()): a connection presenting
   * it takes over the earlier connections with it that went quiet (docs/PROTOCOL.md §4.4).
   */
  clientId?: string;
  /** The server's hello must arrive this long after the TCP connect (default HELLO_TIMEOUT_MS). */
  helloTimeoutMs?: number;
  /**
   * This address answered as an ftx server before (a reconnect): silence instead of a hello is then
   * a lost connection (retryable), not a peer that is not an ftx server.
   */
  knownServer?: boolean;
}

/**
 * An ftx server sends its hello as soon as it accepts (docs/PROTOCOL.md, "Connection"). A peer that
 * stays silent this long is taken for another kind of server (HTTP, TLS, a database) that waits for
 * the client to speak first.
 */
export const HELLO_TIMEOUT_MS = 5000;

/** How many of a wrong peer's first bytes are looked at (and partly quoted) to name it. */
const GREETING_SAMPLE_BYTES = 128;

/** Any frame a client sends between hellos. */
export type ClientRequest = PutRequest | EndRequest | CheckRequest | MkdirRequest | PutManyRequest | GetRequest | ListRequest | VerifyRequest;

/**
 * After sending failed: if the server had already answered with a refusal (say, 507 when its disk
 * filled) or does so within half a second, throws that refusal, which explains the failure better
 * than the broken pipe. Returns when there is no such answer.
 */
export async function throwEarlyRefusal(verdict: Promise<unknown>): Promise<void> {
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 500).unref());
  const early = await Promise.race([verdict.then(() => undefined, (error: unknown) => error), timeout]);
  if (early instanceof StatusError) throw early;
}

/**
 * The server's hello, within `helloTimeoutMs`. Anything else means the peer is not an ftx server:
 * a ProtocolError that names what it seems to be from its first bytes (never "frame length 1397966893").
 */
async function receiveServerHello(conn: FramedConnection, options: ClientOptions): Promise<ServerHello> {
  const where = formatHostPort(options.host, options.port);
  const waitMs = options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
  const read = async (): Promise<ServerHello | null> => {
    try {
      const frame = await conn.receive();
      if (frame === null) return null;
      // A server at its connection limit refuses with a reply instead of its hello (PROTOCOL.md §4.1).
      if (frame.type === 'reply') throw replyError(parseReply(frame));
      return parseServerHello(frame);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      const head = conn.peekReceived(GREETING_SAMPLE_BYTES);
      throw new ProtocolError(`${where} is not an ftx server: ${head.length > 0 ? describeForeignGreeting(head) : error.message}`);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<'silent'>((resolve) => (timer = setTimeout(() => resolve('silent'), waitMs)));
  try {
    const hello = await Promise.race([read(), silence]);
    if (hello === null) throw new ConnectionLostError(`${where} closed the connection before its hello`);
    if (hello !== 'silent') return hello;
    if (options.knownServer) throw new ConnectionLostError(`no hello from ${where} within ${waitMs / 1000} s`);
    throw new ProtocolError(`${where} is not an ftx server: no ftx hello within ${waitMs / 1000} s (it may wait for the client to speak first, as HTTP and TLS servers do)`);
  } finally {
    clearTimeout(timer);
  }
}

/** The TLS a client speaks: `options.tls`, else PSK from the token, else none (plain TCP). */
export function tlsFor(options: Pick<ClientOptions, 'token' | 'tls' | 'insecurePlaintext'>): ClientTls | undefined {
  if (options.tls) return options.tls;
  return options.token !== undefined && !options.insecurePlaintext ? { kind: 'psk', token: options.token } : undefined;
}

/** A heartbeat data frame inside a stream body: the length 0xFFFFFFFF and no payload. */
const HEARTBEAT_FRAME_BYTES = Buffer.alloc(4);
HEARTBEAT_FRAME_BYTES.writeUInt32BE(HEARTBEAT_DATA_FRAME, 0);

/** One authenticated connection with an id allocator and a reply dispatcher. */
export class ClientConnection {
  private lastId = 0;
  private readonly replies: ReplyDispatcher;

  private constructor(private readonly conn: FramedConnection, readonly server: ServerHello) {
    this.replies = new ReplyDispatcher(() => conn.receive());
  }

  /** Connects, reads the server hello and authenticates. */
  static async open(options: ClientOptions): Promise<ClientConnection> {
    const tls = tlsFor(options);
    const conn = await openConnection({
      host: options.host,
      port: options.port,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_CLIENT_IDLE_TIMEOUT_MS,
      // A TLS ftx server answers the ClientHello at once, as a plain one sends its hello at once.
      ...(tls ? { tls, handshakeTimeoutMs: options.helloTimeoutMs ?? HELLO_TIMEOUT_MS, knownServer: options.knownServer ?? false } : {}),
    });
    try {
      const hello = await receiveServerHello(conn, options);
      if (hello.protocol !== PROTOCOL_VERSION) {
        throw new ProtocolError(`the server speaks protocol ${hello.protocol}; this client speaks ${PROTOCOL_VERSION}`);
      }
      const answer: ClientHello = { action: 'hello', protocol: PROTOCOL_VERSION, client: `ftx/${FTX_VERSION}` };
      if (hello.auth === AUTH_HMAC_SHA256) {
        if (!options.token) {
          throw new StatusError(STATUS.UNAUTHORIZED, ERROR_CODE.AUTH_FAILED, 'the server requires a token (--token, --token-file or FTX_TOKEN)');
        }
        // The id names the token, so a server with several checks this one only (docs/PROTOCOL.md §4.5).
        answer.tokenId = deriveTokenId(options.token);
        answer.hmac = computeAuthProof(options.token, hello.nonce);
      } else if (hello.auth === AUTH_TLS_PSK) {
        // Only the TLS layer can have authenticated this client; over plain TCP the claim is false.
        if (tls?.kind !== 'psk') throw new ProtocolError('the server claims the token was proved in TLS, but this connection is not TLS with a token');
      } else if (hello.auth !== AUTH_NONE) {
        throw new ProtocolError(`the server asks for unknown authentication "${hello.auth}"`);
      }
      if (hello.heartbeat !== undefined) answer.heartbeat = true; // docs/PROTOCOL.md §10.1
      if (options.clientId !== undefined) answer.clientId = options.clientId;
      conn.send(answer);
      const replyFrame = await conn.receive();
      if (replyFrame === null) throw new ConnectionLostError('the server closed the connection');
      const reply = parseReply(replyFrame);
      if (reply.status !== STATUS.OK) throw replyError(reply);
      const link = new ClientConnection(conn, hello);
      if (hello.heartbeat !== undefined) {
        conn.startHeartbeat({ intervalMs: hello.heartbeat, onlyWhileReading: false, ping: () => link.sendHeartbeat() });
      }
      return link;
    } catch (error) {
      conn.destroy();
      throw error;
    }
  }

  /**
   * Where the client is in its byte stream, for heartbeats (docs/PROTOCOL.md §10.1): between
   * requests a ping frame may go out; inside a stream body a heartbeat data frame; between a classic
   * put's request and the end of its body nothing may (the server reads body bytes there).
   */
  sending: 'requests' | 'body' | 'stream' = 'requests';

  private sendHeartbeat(): void {
    if (this.sending === 'requests') this.conn.send({ action: 'ping' } satisfies ClientPing);
    else if (this.sending === 'stream') this.conn.sendRaw(HEARTBEAT_FRAME_BYTES);
  }

  /** A fresh request id. */
  nextId(): number {
    return ++this.lastId;
  }

  /** True when the server announced `name` among its actions or put features. */
  supports(name: string): boolean {
    return this.server.actions.includes(name) || this.server.features.includes(name);
  }

  /** Sends a request frame (frames sent in one tick leave in one write). */
  send(request: ClientRequest): boolean {
    return this.conn.send(request);
  }

  /**
   * The next frame, read directly, for an exchange that reads its own answer (get, list, verify:
   * docs/PROTOCOL.md §6.11-§6.13). Only while no reply is expected through `expect`.
   */
  receiveFrame(): Promise<FrameObject | null> {
    return this.conn.receive();
  }

  /** A download body of data frames (docs/PROTOCOL.md §6.11), read directly like receiveFrame. */
  readDataFrames(maxLength: number, onData: BodyHandler): Promise<number> {
    return this.conn.readDataFrames(maxLength, onData);
  }

  /** Sends raw body bytes; `onDone` once the kernel has taken them (or with the error). */
  sendRaw(data: Buffer, onDone?: (error?: Error) => void): boolean {
    return this.conn.sendRaw(data, onDone);
  }

  /** Resolves when the socket's send buffer has room again. */
  drain(): Promise<void> {
    return this.conn.drain();
  }

  /** Runs `work` with the idle timer off: the client computes, sending and awaiting nothing meanwhile. */
  async withoutIdleTimeout<T>(work: () => Promise<T>): Promise<T> {
    const idle = this.conn.idleTimeoutMs;
    this.conn.setIdleTimeout(0);
    try {
      return await work();
    } finally {
      this.conn.setIdleTimeout(idle);
    }
  }

  /**
   * Resolves with the next reply for `id`, parsed by `parse` (keep-alives go to `onWait`); a reply
   * that is not 200 rejects with its StatusError (see ReplyDispatcher).
   */
  expect<T>(id: number, parse: (frame: FrameObject) => T, onWait?: (notice: WaitNotice) => void): Promise<T> {
    return this.replies.expect(id, parse, onWait);
  }

  /** Half-closes and waits (at most 2 s) for the server to close. */
  async close(): Promise<void> {
    this.conn.end();
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref()).then(() => this.conn.destroy());
    await Promise.race([this.conn.closed(), timer]);
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.conn.destroy();
  }
}
