/** One client connection: hello, authentication, then requests dispatched by action name. */
import { ConnectionLostError, FtxError, ProtocolError, StatusError } from '../errors.js';
import {
  AUTH_HMAC_SHA256, AUTH_NONE, AUTH_TLS_PSK, ERROR_CODE, MAX_FRAME_BYTES, PROTOCOL_VERSION, STATUS, V1_ACTIONS, V1_FEATURES,
} from '../protocol/constants.js';
import { createNonce, verifyAuthProof } from '../protocol/auth.js';
import { asRequest, errorReply, parseClientHello, type Reply, type ServerHello, type ServerPing } from '../protocol/messages.js';
import type { FramedConnection } from '../transport/framed-connection.js';
import { FTX_VERSION } from '../version.js';
import { handleCheck } from './handlers/check.js';
import { handleMkdir } from './handlers/mkdir.js';
import { handlePut } from './handlers/put.js';
import { handlePutMany } from './handlers/put-many.js';
import { handleGet } from './handlers/get.js';
import { handleList } from './handlers/list.js';
import { handleVerify } from './handlers/verify.js';
import { addressKey } from './limits/admission.js';
import type { ActionHandler, ServerContext } from './context.js';
import { scopeRefusal } from './auth/scope-check.js';
import { ALL_SCOPES, type TokenEntry } from './auth/token-set.js';
import type { Scope } from '../protocol/scopes.js';

/** Actions by wire name (docs/PROTOCOL.md, "Actions"). */
const ACTIONS: Record<string, ActionHandler> = {
  put: handlePut,
  check: handleCheck,
  mkdir: handleMkdir,
  putmany: handlePutMany,
  get: handleGet,
  list: handleList,
  verify: handleVerify,
};

/** Actions that send several frames in a row: the landings of earlier batches finish first (§6.11). */
const EXCLUSIVE_ACTIONS = new Set(['get', 'verify']);

/** Most putmany batches landing in the background per connection before reading pauses. */
const MAX_BACKGROUND = 64;
/** Most body bytes held in memory by those (a batch holds up to 8 MiB) before reading pauses. */
const MAX_BACKGROUND_BYTES = 32 * 1024 * 1024;

/** How long a new connection may take to send a valid hello. */
const HELLO_TIMEOUT_MS = 10_000;

function refuse(status: number, code: string, message: string): StatusError {
  return new StatusError(status, code, message);
}

/**
 * Runs the handshake; throws StatusError (401/426) or ProtocolError when the client may not go on.
 * Resolves with false when the client left, else with what to call when the session ends.
 */
/** The token a client's proof was made with: the one its tokenId names, else any that matches (older clients). */
function provenToken(context: ServerContext, nonce: string, tokenId: string | undefined, hmac: string | undefined): TokenEntry | null {
  const tokens = context.tokens!;
  if (tokenId !== undefined) {
    const entry = tokens.lookup(tokenId);
    return entry && verifyAuthProof(entry.token, nonce, hmac) ? entry : null;
  }
  for (const entry of tokens.entries()) if (verifyAuthProof(entry.token, nonce, hmac)) return entry;
  return null;
}

interface Joined {
  leave?: () => void;
  /** What this connection's token allows. */
  scopes: ReadonlySet<Scope>;
}

async function handshake(conn: FramedConnection, context: ServerContext): Promise<false | Joined> {
  const nonce = createNonce();
  const hello: ServerHello = {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    server: `ftx/${FTX_VERSION}`,
    // A client that proved its token in the TLS handshake (§14) sends no hmac.
    auth: conn.tlsTokenId !== undefined ? AUTH_TLS_PSK : context.tokens ? AUTH_HMAC_SHA256 : AUTH_NONE,
    nonce,
    actions: [...V1_ACTIONS, ...Object.keys(ACTIONS).filter((a) => !(V1_ACTIONS as readonly string[]).includes(a))],
    features: [...V1_FEATURES],
    maxFrame: MAX_FRAME_BYTES,
    ...(context.maxSize !== undefined ? { maxSize: context.maxSize } : {}),
    ...(context.heartbeatMs > 0 ? { heartbeat: context.heartbeatMs } : {}),
  };
  conn.send(hello);
  const timer = setTimeout(() => conn.destroy(new ConnectionLostError('no hello within 10 s')), HELLO_TIMEOUT_MS);
  let frame;
  try {
    frame = await conn.receive();
  } catch (error) {
    // A TLS ClientHello (a record of type 22, version 3.x) where the client hello frame should be.
    const head = conn.peekReceived(2);
    if (error instanceof ProtocolError && head[0] === 0x16 && head[1] === 0x03) {
      throw new ProtocolError('the client speaks TLS and this server plain text (no token, or --insecure-plaintext)');
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
  if (frame === null) return false;
  const clientHello = parseClientHello(asRequest(frame));
  if (clientHello.protocol !== PROTOCOL_VERSION) {
    throw refuse(STATUS.UPGRADE_REQUIRED, ERROR_CODE.UNSUPPORTED_VERSION,
      `protocol ${clientHello.protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`);
  }
  let scopes = ALL_SCOPES;
  const tlsEntry = conn.tlsTokenId !== undefined ? context.tokens?.lookup(conn.tlsTokenId) ?? null : null;
  if (conn.tlsTokenId !== undefined) {
    // The TLS layer looked this token up in the same set (tls-listener.ts); it cannot be missing.
    if (!tlsEntry) throw refuse(STATUS.UNAUTHORIZED, ERROR_CODE.AUTH_FAILED, 'unknown token');
    scopes = tlsEntry.scopes;
  } else if (context.tokens) {
    // Throttled per address before the check, so that a right guess is not answered faster.
    const attempt = await context.authThrottle.take(addressKey(conn.socket.remoteAddress));
    const entry = provenToken(context, nonce, clientHello.tokenId, clientHello.hmac);
    if (!entry) {
      throw refuse(STATUS.UNAUTHORIZED, ERROR_CODE.AUTH_FAILED,
        clientHello.hmac === undefined ? 'this server requires a token' : 'wrong token');
    }
    attempt.refund();
    scopes = entry.scopes;
  }
  // Only an authenticated client may take over (its earlier connections are dropped, §4.4).
  const leave = clientHello.clientId !== undefined ? await context.clients.join(clientHello.clientId, conn) : undefined;
  // A server with scopes tells the client what it may do (docs/PROTOCOL.md §4.5).
  const granted = context.scoped ? { scopes: [...scopes] } : {};
  conn.send({ type: 'reply', status: STATUS.OK, code: 'ok', message: 'welcome', ...granted } satisfies Reply);
  if (clientHello.heartbeat && context.heartbeatMs > 0) {
    // The server may send a heartbeat at any time after the welcome (docs/PROTOCOL.md §10.1).
    conn.startHeartbeat({ intervalMs: context.heartbeatMs, onlyWhileReading: true, ping: () => sendHeartbeat(conn) });
  }
  return leave ? { leave, scopes } : { scopes };
}

const HEARTBEAT_FRAME = Buffer.from([0xff, 0xff, 0xff, 0xff]);

/** A ping frame, or inside a download body the heartbeat data frame (docs/PROTOCOL.md §10.1). */
function sendHeartbeat(conn: FramedConnection): void {
  if (conn.sendingDataFrames) conn.sendRaw(HEARTBEAT_FRAME);
  else conn.send({ type: 'ping' } satisfies ServerPing);
}

/** Serves one connection until the client leaves, breaks the protocol, or the server shuts down. */
export async function runSession(conn: FramedConnection, context: ServerContext, onHandshakeFailure: (error: FtxError) => void): Promise<void> {
  const background = new Set<Promise<void>>();
  let backgroundBytes = 0;
  let leave: (() => void) | undefined;
  let scopes = ALL_SCOPES;
  try {
    // Until the peer has authenticated, it gets no read-ahead: nothing is buffered beyond a frame.
    const readAhead = conn.readAheadBytes;
    conn.readAheadBytes = 0;
    try {
      const joined = await handshake(conn, context);
      if (!joined) return;
      leave = joined.leave;
      scopes = joined.scopes;
      conn.readAheadBytes = readAhead;
    } catch (error) {
      if (error instanceof FtxError && !(error instanceof ConnectionLostError)) onHandshakeFailure(error);
      throw error;
    }
    for (;;) {
      // A client that does not read its replies gets no more requests read: the write queue stays bounded.
      await conn.drain();
      const frame = await conn.receive();
      if (frame === null) break;
      // Requests still buffered from a connection that is gone: no reply could reach the client,
      // which will ask again on a new connection. Acting on them now would race with that.
      if (conn.gone) throw new ConnectionLostError('connection closed with requests unanswered');
      const request = asRequest(frame);
      if (request.action === 'ping' && conn.heartbeating) continue; // a heartbeat: never answered
      const handler = Object.hasOwn(ACTIONS, request.action) ? ACTIONS[request.action] : undefined;
      const refusal = scopeRefusal(request, scopes);
      if (refusal) {
        conn.send(errorReply(refusal, idOf(request)));
        // A refused batch's body is already on the wire and is not drained (docs/PROTOCOL.md §4.5).
        if (request.action === 'putmany') {
          await Promise.allSettled([...background]);
          conn.closeAfterReply();
          return;
        }
        continue;
      }
      if (!handler) {
        conn.send(errorReply(refuse(STATUS.BAD_REQUEST, ERROR_CODE.UNKNOWN_ACTION,
          `unknown action "${request.action.slice(0, 64)}"; this server knows: ${Object.keys(ACTIONS).join(', ')}`), idOf(request)));
        continue;
      }
      try {
        // Their frames must not interleave with the verdicts of batches still landing.
        if (EXCLUSIVE_ACTIONS.has(request.action)) await Promise.allSettled([...background]);
        const outcome = await handler(conn, request, context);
        if (outcome === 'close') {
          await Promise.allSettled([...background]);
          conn.closeAfterReply();
          return;
        }
        if (outcome) {
          const work = outcome.background;
          const bytes = outcome.bytes ?? 0;
          background.add(work);
          backgroundBytes += bytes;
          void work.finally(() => {
            background.delete(work);
            backgroundBytes -= bytes;
          });
          while (background.size >= MAX_BACKGROUND || (background.size > 0 && backgroundBytes > MAX_BACKGROUND_BYTES)) {
            await Promise.race(background).catch(() => undefined);
          }
        }
      } catch (error) {
        if (!(error instanceof StatusError)) throw error;
        conn.send(errorReply(error, idOf(request)));
        // A malformed batch, or a put asking to be pipelined (wait: false, not supported): its body is
        // already on the wire and cannot be delimited.
        if ((request.action === 'put' && request.wait === false) || request.action === 'putmany') {
          await Promise.allSettled([...background]);
          conn.closeAfterReply();
          return;
        }
      }
    }
    await Promise.allSettled([...background]);
    conn.end();
  } catch (error) {
    // Files already received keep landing; their replies may no longer reach the client.
    await Promise.allSettled([...background]);
    if (error instanceof ConnectionLostError) {
      conn.destroy();
      return;
    }
    const refusal = error instanceof StatusError
      ? error
      : error instanceof ProtocolError
        ? refuse(STATUS.BAD_REQUEST, ERROR_CODE.PROTOCOL_ERROR, error.message)
        : refuse(STATUS.INTERNAL, ERROR_CODE.INTERNAL, 'internal server error');
    if (!conn.gone) {
      conn.send(errorReply(refusal));
      conn.closeAfterReply();
    }
    if (refusal.code === ERROR_CODE.INTERNAL) throw error;
  } finally {
    // What it held is released by now (kept or discarded): a take-over waiting for it goes on.
    leave?.();
  }
}

function idOf(request: Record<string, unknown>): number | undefined {
  return typeof request.id === 'number' && Number.isSafeInteger(request.id) && request.id >= 0 ? request.id : undefined;
}
