/**
 * The TLS layer's settings (docs/PROTOCOL.md §14): TLS 1.3 only; the client authenticated by an
 * external PSK derived from its token (identity = token id), or the server by a certificate.
 * (EC)DHE is always part of the key exchange (psk_dhe_ke): OpenSSL offers and accepts only that
 * PSK mode unless SSL_OP_ALLOW_NO_DHE_KEX is set, which ftx never sets.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import { deriveTokenKeys } from '../protocol/token-keys.js';

/**
 * TLS 1.3 cipher suites, in order of preference. An external PSK from the token is 32 bytes bound
 * to SHA-256, so only the SHA-256 suites can use it; AES-256-GCM-SHA384 serves certificate handshakes.
 */
export const TLS_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384';
/** The one TLS version spoken. */
export const TLS_VERSION = 'TLSv1.3';

/** Looks up a PSK identity (a token id): the 32-byte key, or null for an unknown one. */
export type PskLookup = (tokenId: string) => Buffer | null;

/** A server certificate and its private key, PEM. */
export interface CertificatePair {
  cert: string | Buffer;
  key: string | Buffer;
}

/** How a server speaks TLS: with PSKs (any client token), a certificate, or both. */
export interface ServerTls {
  psk?: PskLookup;
  certificate?: CertificatePair;
}

/** How a client speaks TLS: PSK from its token, or checking the server's certificate. */
export type ClientTls =
  | { kind: 'psk'; token: string }
  | { kind: 'certificate'; ca?: string | Buffer; fingerprint?: string };

/** The context every accepted TLS connection of a server shares (certificate, suites, version). */
export function serverSecureContext(tls: ServerTls): SecureContext {
  return createSecureContext({
    minVersion: TLS_VERSION,
    maxVersion: TLS_VERSION,
    ciphers: TLS_CIPHERSUITES,
    ...(tls.certificate ? { cert: tls.certificate.cert, key: tls.certificate.key } : {}),
  });
}

/** tls.connect options for `tls` (the caller adds host, port and, for PSK, the checks of tls-dial.ts). */
export function clientTlsOptions(tls: ClientTls): ConnectionOptions {
  const base: ConnectionOptions = { minVersion: TLS_VERSION, maxVersion: TLS_VERSION, ciphers: TLS_CIPHERSUITES };
  if (tls.kind === 'psk') {
    const { tokenId, psk } = deriveTokenKeys(tls.token);
    // A certificate never authenticates a PSK client's server, only proving the token does (tls-dial.ts refuses one).
    return { ...base, pskCallback: () => ({ psk, identity: tokenId }), checkServerIdentity: () => new Error('a certificate instead of the PSK') };
  }
  // Both checks are made after the handshake, before a byte is sent (tls-dial.ts), so that the refusal
  // can name the certificate seen: the fingerprint against the pin, or the chain against the CA. The
  // name is not checked (the CA or the pin is the user's own).
  return { ...base, rejectUnauthorized: false, ...(tls.ca !== undefined ? { ca: tls.ca } : {}), checkServerIdentity: () => undefined };
}

const FINGERPRINT_PATTERN = /^sha256:((?:[0-9a-f]{2}:?){31}[0-9a-f]{2})$/i;

/** "sha256:AB:CD:…" or "sha256:abcd…" (64 hex digits) → "sha256:abcd…" lowercase; undefined when malformed. */
export function normalizeFingerprint(text: string): string | undefined {
  const match = FINGERPRINT_PATTERN.exec(text.trim());
  return match ? `sha256:${match[1]!.replace(/:/g, '').toLowerCase()}` : undefined;
}

/** "sha256:" + lowercase hex SHA-256 of a certificate's DER bytes (as `openssl x509 -fingerprint -sha256`). */
export function certificateFingerprint(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** The fingerprint of a PEM certificate. */
export function pemFingerprint(pem: string | Buffer): string {
  return certificateFingerprint(new X509Certificate(pem).raw);
}
