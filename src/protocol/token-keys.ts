/**
 * Keys derived from a token (docs/PROTOCOL.md, TLS layer): the token id that names a token on the wire (TLS PSK
 * identity, tokens file lookups) and the TLS 1.3 external PSK. Both are HKDF-SHA256 (RFC 5869) over the token's
 * UTF-8 bytes, so the token itself never appears on the wire nor is used directly as a key. Pure: no I/O.
 */
import { hkdfSync } from 'node:crypto';

/** HKDF salt of every token derivation (ASCII). */
export const TOKEN_KDF_SALT = 'ftx-psk-v1';
/** HKDF info of the token id (ASCII). */
export const TOKEN_ID_INFO = 'identity';
/** HKDF info of the TLS 1.3 PSK (ASCII). */
export const TLS_PSK_INFO = 'tls13-psk';
/** Length in bytes of a token id before hex encoding (the wire form is twice as many lowercase hex digits). */
export const TOKEN_ID_BYTES = 16;
/** Length in bytes of the TLS 1.3 PSK (SHA-256 hash length, as TLS_AES_128_GCM_SHA256 needs). */
export const TLS_PSK_BYTES = 32;

const TOKEN_ID_PATTERN = /^[0-9a-f]{32}$/;

/** A token's public name and its TLS key. */
export interface TokenKeys {
  /** 32 lowercase hex digits; safe to log, to send in the clear, and to key a lookup table. */
  readonly tokenId: string;
  /** 32 secret bytes: the TLS 1.3 external pre-shared key. */
  readonly psk: Buffer;
}

function hkdf(token: string, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), TOKEN_KDF_SALT, info, length));
}

/** tokenId = hex(HKDF-SHA256(ikm = token, salt = "ftx-psk-v1", info = "identity", 16 bytes)). */
export function deriveTokenId(token: string): string {
  return hkdf(token, TOKEN_ID_INFO, TOKEN_ID_BYTES).toString('hex');
}

/** psk = HKDF-SHA256(ikm = token, salt = "ftx-psk-v1", info = "tls13-psk", 32 bytes). */
export function deriveTlsPsk(token: string): Buffer {
  return hkdf(token, TLS_PSK_INFO, TLS_PSK_BYTES);
}

/** Both derivations of one token. */
export function deriveTokenKeys(token: string): TokenKeys {
  return { tokenId: deriveTokenId(token), psk: deriveTlsPsk(token) };
}

/** True when a peer-sent value has the exact shape of a token id (check before any lookup). */
export function isTokenId(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_ID_PATTERN.test(value);
}
