/**
 * Accepting a connection on a TLS listener (docs/PROTOCOL.md §14.5): a TLS client speaks first
 * (its ClientHello), a plain ftx client waits for the server's hello. So the first byte tells them
 * apart: 0x16 (a TLS handshake record) goes on to the TLS 1.3 handshake on the same socket; silence
 * or anything else gets a plain-text refusal saying that this server speaks TLS.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { TlsAcceptError } from '../errors.js';
import { claimReadsEarly } from './reusable-read.js';
import type { PskLookup } from './tls-config.js';

/** The clear-text read buffer of an accepted TLS socket: one TLS record's worth (16 KiB) at most per read. */
const REUSED_TLS_READ_BUFFER_BYTES = 16 * 1024;

/** The first byte of a TLS record carrying a handshake message (a ClientHello). */
const TLS_HANDSHAKE_RECORD = 0x16;

/** How a connection was secured. */
export interface AcceptedTls {
  socket: TLSSocket;
  /** The token id the client proved in the handshake (its PSK identity); absent for a certificate handshake. */
  tokenId?: string;
}

/** Options of acceptTls. */
export interface TlsAcceptOptions {
  context: SecureContext;
  /** Looks up the client's PSK identity; absent: certificate handshakes only. */
  psk?: PskLookup;
  /** A client silent this long after the accept is a plain client waiting for a server hello. */
  plainWaitMs: number;
  /** The whole handshake must be over this long after the accept. */
  handshakeTimeoutMs: number;
  /** What a plain client gets before the connection closes (an ftx refusal frame, in plain text). */
  plainRefusal: Buffer;
}

/** Resolves with the TLS socket once the handshake is over; rejects with TlsAcceptError (the socket is then closed). */
export function acceptTls(socket: Socket, options: TlsAcceptOptions): Promise<AcceptedTls> {
  return new Promise<AcceptedTls>((resolve, reject) => {
    let settled = false;
    const fail = (failure: TlsAcceptError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(failure);
    };
    const timer = setTimeout(() => {
      fail(new TlsAcceptError('handshake', 'timeout', `no TLS handshake within ${options.handshakeTimeoutMs / 1000} s`));
      socket.destroy();
    }, options.handshakeTimeoutMs);
    socket.on('error', () => undefined); // reported as the failure below, or by the TLS socket
    const plainTimer = setTimeout(() => refusePlain('the client sent nothing: a plain-text client waiting for the hello'), options.plainWaitMs);
    function refusePlain(why: string): void {
      socket.removeListener('data', onFirst);
      socket.end(options.plainRefusal);
      setTimeout(() => socket.destroy(), 1000).unref();
      fail(new TlsAcceptError('plain', 'plain', why));
    }
    function onFirst(chunk: Buffer): void {
      clearTimeout(plainTimer);
      socket.pause();
      socket.removeListener('data', onFirst);
      if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
        refusePlain('the client spoke first, but not TLS');
        return;
      }
      socket.unshift(chunk); // TLSSocket feeds what is buffered to OpenSSL before it reads on
      handshake();
    }
    function handshake(): void {
      let offered: string | undefined;
      let tokenId: string | undefined;
      const psk = options.psk;
      const secure = new TLSSocket(socket, {
        isServer: true,
        secureContext: options.context,
        ...(psk ? {
          pskCallback: (_socket: TLSSocket, identity: string): Buffer | null => {
            offered = identity.slice(0, 64);
            const key = psk(identity);
            if (key) tokenId = identity;
            return key;
          },
        } : {}),
      });
      // Before the TLSSocket's first read (next tick): its clear text then goes into one reusable
      // buffer, as on a plain server socket (reusable-read.ts), instead of a new Buffer per 16 KiB.
      claimReadsEarly(secure, Buffer.allocUnsafeSlow(REUSED_TLS_READ_BUFFER_BYTES));
      secure.once('secure', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        secure.removeAllListeners('error');
        resolve(tokenId !== undefined ? { socket: secure, tokenId } : { socket: secure });
      });
      secure.once('error', (error: NodeJS.ErrnoException) => {
        secure.destroy();
        fail(new TlsAcceptError('handshake', error.code ?? 'tls_error', error.message.split('\n')[0]!, offered));
      });
    }
    socket.on('data', onFirst);
    socket.resume();
  });
}
