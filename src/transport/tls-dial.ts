/**
 * Opening a TLS 1.3 connection (docs/PROTOCOL.md §14) and turning every way it can fail into one
 * clear error: a wrong token or an impostor server (auth_failed), a certificate that is not the
 * expected one (certificate_mismatch), a server that speaks plain text (protocol_error).
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ConnectError, ConnectionLostError, ProtocolError, TlsAuthError } from '../errors.js';
import { describeForeignGreeting } from '../protocol/foreign-peer.js';
import { certificateFingerprint, clientTlsOptions, type ClientTls } from './tls-config.js';

/** OpenSSL's complaints about bytes that are not TLS records at all: the peer speaks something else. */
const NOT_TLS = /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNEXPECTED_RECORD|HTTP_REQUEST|RECORD_LAYER_FAILURE|UNEXPECTED_EOF/;
/** Alerts a TLS server sends when it does not accept the client's PSK (unknown identity, wrong key). */
const PSK_REFUSED = /ALERT_HANDSHAKE_FAILURE|ALERT_ILLEGAL_PARAMETER|ALERT_DECRYPT_ERROR|ALERT_UNKNOWN_PSK_IDENTITY|ALERT_BAD_RECORD_MAC/;
/** Certificate checks that failed (Node's verify error codes). */
const CERTIFICATE_REFUSED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT/;

/** Where to connect and how. */
export interface TlsDialTarget {
  host: string;
  port: number;
  where: string;
  tls: ClientTls;
  connectTimeoutMs: number;
  /**
   * Once the TCP connection is up, the handshake must be over this long after (a TLS ftx server
   * answers a ClientHello at once, as a plain one sends its hello at once). Default: no bound but
   * connectTimeoutMs.
   */
  handshakeTimeoutMs?: number;
  /** This address answered as an ftx server before: silence is then a lost connection, not a wrong peer. */
  knownServer?: boolean;
}

/** The server's certificate fingerprint, or undefined when it sent none. */
function peerFingerprint(socket: TLSSocket): string | undefined {
  try {
    const raw = socket.getPeerCertificate().raw as Buffer | undefined;
    return raw && raw.length > 0 ? certificateFingerprint(raw) : undefined;
  } catch {
    return undefined; // the socket is gone already
  }
}

/** After a handshake: the server proved what this client asked for, else the error to fail with. */
function checkServer(socket: TLSSocket, target: TlsDialTarget): Error | undefined {
  const seen = peerFingerprint(socket);
  if (target.tls.kind === 'psk') {
    // With PSK the server is authenticated by knowing the token; a certificate instead proves nothing here.
    if (seen !== undefined) return impostor(target.where, `it presented a certificate (${seen}) instead of proving the token`);
    return undefined;
  }
  if (seen === undefined) return new TlsAuthError('certificate_mismatch', `${target.where} sent no certificate`);
  const expected = target.tls.fingerprint;
  if (expected !== undefined && seen !== expected) {
    return new TlsAuthError('certificate_mismatch', `certificate mismatch at ${target.where}: expected ${expected}, the server presented ${seen}`);
  }
  if (expected === undefined && !socket.authorized) {
    const why = String(socket.authorizationError ?? 'not trusted');
    return new TlsAuthError('certificate_mismatch', `the certificate of ${target.where} (${seen}) is not signed by the --tls-ca certificate (${why})`);
  }
  return undefined;
}

function impostor(where: string, why: string): TlsAuthError {
  return new TlsAuthError('auth_failed', `authentication failed: ${where} did not prove it knows the token (${why}): wrong token, or not the server you meant`);
}

/** Maps a failed handshake to the error the user sees. */
async function handshakeError(error: NodeJS.ErrnoException, socket: TLSSocket, target: TlsDialTarget): Promise<Error> {
  const code = error.code ?? '';
  const { where } = target;
  if (error instanceof TlsAuthError) return error;
  if (NOT_TLS.test(code)) return await describePlainPeer(target);
  if (target.tls.kind === 'psk') {
    if (PSK_REFUSED.test(code)) return new TlsAuthError('auth_failed', `authentication failed: ${where} does not accept this token`);
    if (CERTIFICATE_REFUSED.test(code)) {
      const seen = peerFingerprint(socket);
      return impostor(where, `it presented a certificate${seen ? ` (${seen})` : ''} instead`);
    }
  } else {
    if (CERTIFICATE_REFUSED.test(code)) {
      const seen = peerFingerprint(socket);
      return new TlsAuthError('certificate_mismatch', `the certificate of ${where}${seen ? ` (${seen})` : ''} is not signed by the --tls-ca certificate (${code})`);
    }
    if (PSK_REFUSED.test(code)) {
      return new TlsAuthError('auth_failed', `authentication failed: ${where} has no certificate (it authenticates clients by token, TLS-PSK): connect with the token, without --tls-ca/--tls-fingerprint`);
    }
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') return new ConnectionLostError(`${where} closed the connection during the TLS handshake`, { cause: error });
  return new ProtocolError(`TLS handshake with ${where} failed: ${code || error.message}`);
}

/**
 * The peer does not speak TLS: a second, plain connection reads its greeting to say what it speaks
 * (an ftx server sends its hello at once, §4.1).
 */
function describePlainPeer(target: TlsDialTarget): Promise<Error> {
  const prefix = `${target.where} speaks plain text, not TLS, and this client speaks TLS (it has a token or --tls-ca/--tls-fingerprint)`;
  return new Promise((resolve) => {
    const probe = netConnect({ host: target.host, port: target.port });
    let head = Buffer.alloc(0);
    const done = (): void => {
      clearTimeout(timer);
      probe.destroy();
      const ftx = head.length > 4 && head.readUInt32BE(0) <= 0xffff && head.subarray(4).toString('latin1').startsWith('{"type":"hello"');
      // Nothing within the second: it waits for the client to speak first, so it is no ftx server (§4.1).
      const other = head.length > 0 ? describeForeignGreeting(head) : 'it is not an ftx server (it sends nothing until the client speaks, as HTTP servers do)';
      resolve(new ProtocolError(ftx
        ? `${prefix}: it is an ftx server without TLS (no token, or --insecure-plaintext); give it the token, or use --insecure-plaintext on both sides on a trusted network only`
        : `${prefix}: ${other}`));
    };
    const timer = setTimeout(done, 1000);
    probe.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length >= 64) done();
    });
    probe.on('error', done);
    probe.on('close', done);
  });
}

/**
 * A peer that accepted the connection but did not finish the handshake in time: as for a plain
 * client that gets no hello (exit 8 on a first connect, a lost connection on a reconnect).
 */
function silentPeer(target: TlsDialTarget, waitMs: number): Error {
  if (target.knownServer) return new ConnectionLostError(`no TLS handshake from ${target.where} within ${waitMs / 1000} s`);
  return new ProtocolError(`${target.where} is not an ftx server: it accepted the connection but did not complete a TLS handshake within ${waitMs / 1000} s`);
}

/** Connects and completes the TLS handshake; rejects with ConnectError, TlsAuthError, ProtocolError or ConnectionLostError. */
export function dialTls(target: TlsDialTarget): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    const options = clientTlsOptions(target.tls);
    if (target.tls.kind === 'psk') {
      // Called only for a certificate that verified (a public CA's, say): it still does not prove the token.
      options.checkServerIdentity = (_host, cert) => impostor(target.where, `it presented a certificate (${certificateFingerprint(cert.raw)}) instead`);
    }
    const socket = tlsConnect({ host: target.host, port: target.port, ...options });
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(silence);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(connected
      ? new ConnectError(`TLS handshake with ${target.where} timed out after ${target.connectTimeoutMs} ms`)
      : new ConnectError(`cannot connect to ${target.where}: timed out after ${target.connectTimeoutMs} ms`)), target.connectTimeoutMs);
    let silence: NodeJS.Timeout | undefined;
    socket.once('connect', () => {
      connected = true;
      if (target.handshakeTimeoutMs === undefined) return;
      silence = setTimeout(() => fail(silentPeer(target, target.handshakeTimeoutMs!)), target.handshakeTimeoutMs);
    });
    socket.once('secureConnect', () => {
      const refusal = checkServer(socket, target);
      if (refusal) {
        fail(refusal);
        return;
      }
      settled = true;
      clearTimeout(timer);
      clearTimeout(silence);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      if (!connected) {
        fail(new ConnectError(`cannot connect to ${target.where}: ${error.code ?? error.message}`, { cause: error }));
        return;
      }
      // Keep the timer until the mapping is done; nothing else settles meanwhile.
      void handshakeError(error, socket, target).then(fail, fail);
    });
  });
}
