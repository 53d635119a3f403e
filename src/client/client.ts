/** The library API: connect to an ftx server, authenticate, upload files one after another. */
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { createMd5 } from '../checksum.js';
import { ConnectionLostError, LocalFileError, ProtocolError, StatusError, UsageError, VerificationError } from '../errors.js';
import { computeAuthProof } from '../protocol/auth.js';
import {
  AUTH_HMAC_SHA256, AUTH_NONE, DEFAULT_CHUNK_SIZE, ERROR_CODE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, PROTOCOL_VERSION, STATUS,
} from '../protocol/constants.js';
import { parseReply, parseServerHello, type ClientHello, type PutRequest, type Reply, type ServerHello } from '../protocol/messages.js';
import { openConnection } from '../transport/connect.js';
import type { FramedConnection } from '../transport/framed-connection.js';
import { FTX_VERSION } from '../version.js';
import { sendBody } from './send-body.js';

/** How to reach and authenticate to a server. */
export interface ClientOptions {
  host: string;
  port: number;
  token?: string;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Fail when the connection is silent this long (default 60 s). */
  idleTimeoutMs?: number;
}

/** Options of one upload. */
export interface PutOptions {
  /** Name on the server, relative to its root ("/"-separated). */
  remoteName: string;
  /** Replace an existing file (otherwise the server refuses with 409). */
  overwrite?: boolean;
  /** Protocol chunk size (default 4096). */
  chunkSize?: number;
  /** Called with (bytes accepted by the socket so far, total) as the upload progresses. */
  onProgress?: (done: number, total: number) => void;
}

/** What a successful, verified upload reports. */
export interface PutReceipt {
  localPath: string;
  filename: string;
  size: number;
  md5: string;
  seconds: number;
}

/** Turns a non-200 reply into the error the caller sees. */
function replyError(reply: Reply): StatusError {
  return new StatusError(reply.status, reply.code, reply.message);
}

/** A connected, authenticated client. Uploads run one at a time on its connection. */
export class FtxClient {
  private nextId = 1;

  private constructor(private readonly conn: FramedConnection, readonly server: ServerHello) {}

  /** Connects, reads the server hello and authenticates. */
  static async connect(options: ClientOptions): Promise<FtxClient> {
    const conn = await openConnection({
      host: options.host,
      port: options.port,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    });
    try {
      const frame = await conn.receive();
      if (frame === null) throw new ConnectionLostError('the server closed the connection before its hello');
      const hello = parseServerHello(frame);
      if (hello.protocol !== PROTOCOL_VERSION) {
        throw new ProtocolError(`the server speaks protocol ${hello.protocol}; this client speaks ${PROTOCOL_VERSION}`);
      }
      const answer: ClientHello = { action: 'hello', protocol: PROTOCOL_VERSION, client: `ftx/${FTX_VERSION}` };
      if (hello.auth === AUTH_HMAC_SHA256) {
        if (!options.token) {
          throw new StatusError(STATUS.UNAUTHORIZED, ERROR_CODE.AUTH_FAILED, 'the server requires a token (--token, --token-file or FTX_TOKEN)');
        }
        answer.hmac = computeAuthProof(options.token, hello.nonce);
      } else if (hello.auth !== AUTH_NONE) {
        throw new ProtocolError(`the server asks for unknown authentication "${hello.auth}"`);
      }
      conn.send(answer);
      const reply = await receiveReply(conn);
      if (reply.status !== STATUS.OK) throw replyError(reply);
      return new FtxClient(conn, hello);
    } catch (error) {
      conn.destroy();
      throw error;
    }
  }

  /** Uploads one file; resolves only when the server's md5 equals the one computed while reading. */
  async put(localPath: string, options: PutOptions): Promise<PutReceipt> {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
      throw new UsageError(`chunk size must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
    }
    const handle = await open(localPath, 'r').catch((error: NodeJS.ErrnoException) => {
      throw new LocalFileError(`cannot open ${localPath}: ${error.code ?? error.message}`, { cause: error });
    });
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new LocalFileError(`${localPath} is not a regular file`);
      const started = performance.now();
      const id = this.nextId++;
      const request: PutRequest = {
        action: 'put', id, filename: options.remoteName, size: info.size, chunkSize,
        overwrite: options.overwrite ?? false, mtime: Math.round(info.mtimeMs),
      };
      this.conn.send(request);
      const ack = await receiveReply(this.conn);
      if (ack.status !== STATUS.OK) throw replyError(ack);
      if ((ack.offset ?? 0) !== 0) throw new ProtocolError(`the server offered offset ${ack.offset}; this client sends whole files`);

      // The next reply is the verdict; a server may send it early (e.g. disk full) and stop reading.
      let verdict: Reply | undefined;
      const verdictPromise = receiveReply(this.conn).then((reply) => (verdict = reply));
      verdictPromise.catch(() => undefined);
      const hash = createMd5();
      let accepted = 0;
      options.onProgress?.(0, info.size);
      try {
        await sendBody(this.conn, handle, {
          size: info.size, chunkSize, hash,
          onAccepted: (bytes) => {
            accepted += bytes;
            options.onProgress?.(accepted, info.size);
          },
          shouldStop: () => verdict !== undefined,
        });
      } catch (error) {
        // Prefer the server's explanation when it answered before the connection broke.
        const early = await Promise.race([verdictPromise, delay(500)]).catch(() => undefined);
        if (early && early.status !== STATUS.OK) throw replyError(early);
        if (error instanceof LocalFileError) this.conn.destroy();
        throw error;
      }
      const md5 = hash.digest('hex');
      if (verdict === undefined) this.conn.send({ action: 'end', id, md5 });
      const reply = await verdictPromise;
      if (reply.status !== STATUS.OK) throw replyError(reply);
      if (!reply.receipt || reply.receipt.md5 !== md5 || reply.receipt.size !== info.size) {
        throw new VerificationError(`server reports md5 ${reply.receipt?.md5 ?? 'none'}, local file is ${md5}`);
      }
      const seconds = (performance.now() - started) / 1000;
      return { localPath, filename: reply.receipt.filename, size: info.size, md5, seconds };
    } finally {
      await handle.close();
    }
  }

  /** Says goodbye (FIN) and waits for the server to close. */
  async close(): Promise<void> {
    this.conn.end();
    const timer = delay(2000).then(() => this.conn.destroy());
    await Promise.race([this.conn.closed(), timer]);
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.conn.destroy();
  }
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}

async function receiveReply(conn: FramedConnection): Promise<Reply> {
  const frame = await conn.receive();
  if (frame === null) throw new ConnectionLostError('the server closed the connection');
  return parseReply(frame);
}
