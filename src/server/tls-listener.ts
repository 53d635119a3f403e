/**
 * The server side of the TLS layer (docs/PROTOCOL.md §14): which connections speak TLS, the PSK of
 * each token, and the handshake of each accepted socket, throttled and logged like failed hellos.
 */
import type { Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { ERROR_CODE, STATUS } from '../protocol/constants.js';
import { encodeFrame } from '../protocol/frame.js';
import { errorReply } from '../protocol/messages.js';
import { StatusError, TlsAcceptError } from '../errors.js';
import { acceptTls } from '../transport/tls-accept.js';
import { serverSecureContext, type CertificatePair, type PskLookup } from '../transport/tls-config.js';
import { deriveTlsPsk, isTokenId } from '../protocol/token-keys.js';
import type { TokenSet } from './auth/token-set.js';
import { addressKey } from './limits/admission.js';
import type { AuthThrottle } from './limits/auth-throttle.js';

/** A client silent this long after connecting is taken for a plain-text client (a TLS client speaks at once). */
const PLAIN_CLIENT_WAIT_MS = 2000;
/** The TLS handshake must be over this long after the TCP accept. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** How a server's connections are secured; undefined = plain TCP. */
export interface TlsSetup {
  context: SecureContext;
  psk?: PskLookup;
  plainRefusal: Buffer;
}

/** The PSK of each token of `tokens`, by token id (the identity a client offers). */
function pskLookupFor(tokens: TokenSet): PskLookup {
  const keys = new Map<string, Buffer>();
  for (const entry of tokens.entries()) keys.set(entry.tokenId, deriveTlsPsk(entry.token));
  return (tokenId) => (isTokenId(tokenId) ? keys.get(tokenId) ?? null : null);
}

/**
 * TLS whenever a token is in play (a PSK from each) or a certificate is given; plain TCP without
 * either, or with `insecurePlaintext` and no certificate.
 */
export function tlsSetupFor(options: { tokens?: TokenSet; certificate?: CertificatePair; insecurePlaintext?: boolean }): TlsSetup | undefined {
  const psk = options.tokens !== undefined && !options.insecurePlaintext ? pskLookupFor(options.tokens) : undefined;
  if (!psk && !options.certificate) return undefined;
  const how = psk ? 'with its token (--token, --token-file or FTX_TOKEN)' : 'with --tls-ca or --tls-fingerprint';
  const refusal = new StatusError(STATUS.UPGRADE_REQUIRED, ERROR_CODE.TLS_REQUIRED,
    `this server speaks TLS and this client plain text: connect ${how}`);
  return {
    context: serverSecureContext({ ...(psk ? { psk } : {}), ...(options.certificate ? { certificate: options.certificate } : {}) }),
    ...(psk ? { psk } : {}),
    plainRefusal: encodeFrame(errorReply(refusal)),
  };
}

/** OpenSSL's reason when the client's PSK binder does not verify: the token id is ours, the key is not. */
const WRONG_PSK_KEY = 'ERR_SSL_BINDER_DOES_NOT_VERIFY';

/**
 * One log line for a connection that did not become a TLS connection: [burst label, line]. A PSK
 * the server does not have is said as such: OpenSSL then goes on to a certificate handshake and
 * fails for want of one (ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM), which tells the operator nothing.
 * The offered identity is logged as JSON (a peer sends it); the token itself is never on the wire.
 */
function describeFailure(failure: TlsAcceptError, setup: TlsSetup): [string, string] {
  if (failure.kind === 'plain') return ['plain-text clients refused (tls_required)', `plain-text client refused (426 tls_required): ${failure.message}`];
  const id = failure.offered !== undefined ? JSON.stringify(failure.offered) : undefined;
  const auth = 'failed TLS handshakes (auth_failed)';
  if (id !== undefined && setup.psk?.(failure.offered!) == null) {
    return [auth, `authentication FAILED auth_failed: unknown token id ${id}: not a token this server accepts`];
  }
  if (id !== undefined && failure.reason === WRONG_PSK_KEY) {
    return [auth, `authentication FAILED auth_failed: wrong key for token id ${id}: the handshake was not made with that token`];
  }
  const offered = id !== undefined ? `; the client offered token id ${id}` : setup.psk ? '; the client offered no token' : '';
  return [`failed TLS handshakes (${failure.reason})`, `TLS handshake FAILED: ${failure.message} (${failure.reason}${offered})`];
}

/**
 * Runs the TLS handshake of an accepted socket. Every handshake takes an attempt from the address's
 * token-guessing budget first (a failed PSK handshake is a wrong guess, as a wrong hmac is); a
 * successful one gives it back. Resolves with the TLS socket, or undefined when it failed (logged).
 */
export async function secureAccepted(socket: Socket, setup: TlsSetup, throttle: AuthThrottle,
  note: (key: string, label: string, line: string) => void): Promise<{ socket: TLSSocket; tokenId?: string } | undefined> {
  const key = addressKey(socket.remoteAddress);
  const peer = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? ''}`;
  const attempt = await throttle.take(key);
  if (socket.destroyed) return undefined;
  try {
    const accepted = await acceptTls(socket, {
      context: setup.context, ...(setup.psk ? { psk: setup.psk } : {}),
      plainWaitMs: PLAIN_CLIENT_WAIT_MS, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, plainRefusal: setup.plainRefusal,
    });
    attempt.refund();
    return accepted;
  } catch (error) {
    if (!(error instanceof TlsAcceptError)) throw error;
    const [label, line] = describeFailure(error, setup);
    if (error.kind === 'plain') attempt.refund();
    note(key, label, `${new Date().toISOString()} ${peer} ${line}`);
    return undefined;
  }
}
