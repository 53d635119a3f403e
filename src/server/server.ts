/** `ftx serve`: accept connections, run a session for each, shut down cleanly. */
import { createServer, type Socket } from 'node:net';
import type { FtxError, StatusError } from '../errors.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_PORT } from '../protocol/constants.js';
import { encodeFrame } from '../protocol/frame.js';
import { errorReply } from '../protocol/messages.js';
import { FramedConnection } from '../transport/framed-connection.js';
import { addressKey, Admission } from './limits/admission.js';
import { AuthThrottle } from './limits/auth-throttle.js';
import { BodyBudget } from './limits/body-budget.js';
import { BurstLog } from './log/burst-log.js';
import type { ServerContext } from './context.js';
import { ClientRegistry } from './client-registry.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_PARTIAL_TTL_MS, MAX_EXPIRY_INTERVAL_MS } from './defaults.js';
import { DiskStorage } from './storage/disk/disk-storage.js';
import type { Storage } from './storage/storage.js';
import { Uploads } from './uploads/uploads.js';
import { formatTransferRecord, type TransferRecord } from './log/transfer-log.js';
import { runSession } from './session.js';
import { TokenSet } from './auth/token-set.js';
import { DEFAULT_VERIFY_RATE, ReadRate } from './limits/read-rate.js';
import { secureAccepted, tlsSetupFor } from './tls-listener.js';
import type { CertificatePair } from '../transport/tls-config.js';

/** Options of startServer. */
export interface ServerOptions {
  /** Directory to serve (must exist): a disk storage is opened on it. Needed unless `storage` is given. */
  root?: string;
  /**
   * Where files land, any Storage implementation (instead of `root`). The server owns it once it
   * listens: it is closed when the server closes. If listening fails it is left open (the caller's
   * to close, or to serve on another address).
   */
  storage?: Storage;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default 7420; 0 picks a free one). */
  port?: number;
  /**
   * Shared secret clients must prove; without one, anyone who can connect may upload. With one the
   * server speaks TLS 1.3 with a PSK derived from it (docs/PROTOCOL.md §14), unless `insecurePlaintext`.
   */
  token?: string;
  /** Several tokens with scopes (a tokens file); instead of `token`. */
  tokens?: TokenSet;
  /** A certificate to speak TLS with (also without a token); clients check it by CA or fingerprint. */
  certificate?: CertificatePair;
  /** With a token and no certificate: plain TCP and the in-band HMAC only (readable and alterable on the path). */
  insecurePlaintext?: boolean;
  /** Largest file accepted, in bytes. */
  maxSize?: number;
  /** Threads hashing uploads into `root` (default: one per core); `storage` hashes its own way. */
  hashThreads?: number;
  /** Remove kept partial uploads not touched for this long (default 24 h). */
  partialTtlMs?: number;
  /** Close a connection that sends and receives nothing for this long (default 120 s). */
  idleTimeoutMs?: number;
  /**
   * Heartbeat interval offered in the hello (default 5 s; 0 = none). A client that agrees is
   * dropped after 3 intervals of silence instead of the idle timeout (docs/PROTOCOL.md §10.1).
   */
  heartbeatMs?: number;
  /** Most connections open at once (default DEFAULT_MAX_CONNECTIONS); more are refused 503. */
  maxConnections?: number;
  /** Most connections open at once from one address (IPv6: one /64); more are refused 503. */
  maxConnectionsPerAddress?: number;
  /** Most upload bytes held in memory by all connections together (default DEFAULT_MAX_BUFFER_BYTES). */
  maxBufferBytes?: number;
  /** Bytes per second all scrubs (`verify`) together may read (default DEFAULT_VERIFY_RATE). */
  verifyRate?: number;
  /** Receives each log line (default: none). */
  log?: (line: string) => void;
  /** Receives each transfer record (for tests and embedding). */
  onTransfer?: (record: TransferRecord) => void;
}

/** A listening server. */
export interface RunningServer {
  host: string;
  port: number;
  /** What is served (the storage's location: for a directory, its real path). */
  root: string;
  /** False when the directory could not be locked (flock(1) missing): another server would not be refused. */
  exclusive: boolean;
  /** Stops accepting, drops connections; in-flight uploads are kept as partials for a resume. */
  close(): Promise<void>;
}

/** Starts listening; resolves once the port is bound. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const storage = await openStorage(options);
  const uploads = new Uploads(storage, options.maxSize !== undefined ? { maxSize: options.maxSize } : {});
  const log = options.log ?? (() => undefined);
  const ttlMs = options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
  const expire = async (): Promise<void> => {
    const removed = await uploads.expirePartials(ttlMs).catch(() => 0);
    if (removed > 0) log(`${new Date().toISOString()} removed ${removed} expired partial upload(s)`);
  };
  await expire();
  // Clean expired partials periodically: every quarter of the TTL, at most hourly.
  const expiryTimer = setInterval(() => void expire(), Math.max(1000, Math.min(ttlMs / 4, MAX_EXPIRY_INTERVAL_MS)));
  expiryTimer.unref();
  const context: ServerContext = {
    storage,
    uploads,
    ...(options.tokens ? { tokens: options.tokens } : options.token ? { tokens: TokenSet.single(options.token) } : {}),
    scoped: options.tokens !== undefined,
    authThrottle: new AuthThrottle(),
    bodyBudget: new BodyBudget(options.maxBufferBytes),
    ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    verifyRate: new ReadRate(options.verifyRate ?? DEFAULT_VERIFY_RATE),
    clients: new ClientRegistry(),
    logTransfer: (record) => {
      options.onTransfer?.(record);
      // A quiet server (no log) does not format a line per file only to drop it.
      if (options.log) log(formatTransferRecord(record));
    },
  };
  const sockets = new Set<Socket>();
  const sessions = new Set<Promise<void>>();
  // Failed hellos and refused connections can come thousands per second: one line per burst and address.
  const bursts = new BurstLog(log);
  const onHandshakeFailure = (socket: Socket, peer: string) => (error: FtxError): void => {
    bursts.note(addressKey(socket.remoteAddress), `failed hellos (${error.code})`,
      `${new Date().toISOString()} ${peer} hello FAILED ${error.code}: ${error.message}`);
  };
  const admission = new Admission(options.maxConnections, options.maxConnectionsPerAddress);
  const tls = tlsSetupFor({ ...options, ...(context.tokens ? { tokens: context.tokens } : {}) });
  const startSession = (socket: Socket, tokenId?: string): void => {
    // Every accepted socket reads into one reusable buffer: a plain one from here (it was paused on
    // connect), a TLS one since before its handshake (tls-accept.ts claimed its reads).
    const conn = new FramedConnection(socket, { idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, reuseReadBuffer: true });
    conn.tlsTokenId = tokenId;
    const peer = conn.peer;
    const session = runSession(conn, context, onHandshakeFailure(socket, peer)).catch((error: unknown) => {
      // The session already replied 500 and is closing the connection after its linger.
      log(`${new Date().toISOString()} ${peer} internal error: ${(error as Error).stack ?? String(error)}`);
    });
    sessions.add(session);
    void session.finally(() => sessions.delete(session));
  };
  // Paused on connect: nothing is read before the connection installs its reusable read buffer.
  const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const admitted = admission.admit(socket.remoteAddress);
    const refused = 'status' in admitted ? admitted : undefined;
    if (refused) {
      bursts.note(addressKey(socket.remoteAddress), 'connections refused (server_busy)',
        `${new Date().toISOString()} ${socket.remoteAddress ?? 'unknown'} connection refused: ${refused.message}`);
    } else if (!('status' in admitted)) {
      socket.once('close', admitted.release);
    }
    if (!tls) {
      if (refused) refuseConnection(socket, refused);
      else startSession(socket);
      return;
    }
    // Over TLS even a refusal is sent inside TLS: a TLS client could not read it otherwise.
    void secureAccepted(socket, tls, context.authThrottle, (key, label, line) => bursts.note(key, label, line)).then((accepted) => {
      if (!accepted) return;
      sockets.add(accepted.socket);
      accepted.socket.once('close', () => sockets.delete(accepted.socket));
      // The TLS socket owns the handle now: its close is the connection's close.
      if (!('status' in admitted)) accepted.socket.once('close', admitted.release);
      if (refused) refuseConnection(accepted.socket, refused);
      else startSession(accepted.socket, accepted.tokenId);
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? DEFAULT_PORT }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // Not serving after all: let go of the directory (a retry on another address takes it again).
    // A storage given by the caller stays open: it is the caller's to close, or to serve on another address.
    clearInterval(expiryTimer);
    if (!options.storage) await storage.close();
    throw error;
  }
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  let closing: Promise<void> | undefined;
  return {
    host: address.address,
    port: address.port,
    root: storage.location,
    exclusive: storage.exclusive,
    close() {
      closing ??= (async () => {
        clearInterval(expiryTimer);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await Promise.allSettled([...sessions]);
        await uploads.suspendAll();
        await storage.close();
        await stopped;
        bursts.close();
      })();
      return closing;
    },
  };
}

/** The storage given, or a disk storage on `root`. */
async function openStorage(options: ServerOptions): Promise<Storage> {
  if (options.storage) return options.storage;
  if (options.root === undefined) throw new TypeError('startServer needs a root directory or a storage');
  return DiskStorage.open(options.root, options.hashThreads !== undefined ? { hashThreads: options.hashThreads } : {});
}

/** Answers a connection over a limit with its refusal in place of the hello (docs/PROTOCOL.md §4.1), then closes it. */
function refuseConnection(socket: Socket, refusal: StatusError): void {
  socket.on('error', () => undefined);
  socket.end(encodeFrame(errorReply(refusal)));
  socket.resume(); // whatever the client sends meanwhile is dropped
  setTimeout(() => socket.destroy(), 1000).unref();
}
