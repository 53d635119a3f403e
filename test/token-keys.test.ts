import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveTlsPsk, deriveTokenId, deriveTokenKeys, isTokenId } from '../src/protocol/token-keys.js';

// Vectors computed independently with OpenSSL 3:
//   openssl kdf -keylen 16 -kdfopt digest:SHA256 -kdfopt key:$T -kdfopt salt:ftx-psk-v1 -kdfopt info:identity HKDF
//   openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt key:$T -kdfopt salt:ftx-psk-v1 -kdfopt info:tls13-psk HKDF
const TOKEN = 'ftx1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const TOKEN_ID = '480b86ff191309ec70b2a36f6ed1eecc';
const PSK = 'f4a5742fdbf3e74e09fc073ffa2eab4fae9c4072c9281cfc6fb8d52f5ff8d35a';

/** RFC 5869 written out with HMAC, a second independent implementation. */
function rfc5869(ikm: Buffer, salt: string, info: string, length: number): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  let block = Buffer.alloc(0);
  const out: Buffer[] = [];
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    block = createHmac('sha256', prk).update(Buffer.concat([block, Buffer.from(info), Buffer.from([i])])).digest();
    out.push(block);
  }
  return Buffer.concat(out).subarray(0, length);
}

describe('token keys', () => {
  it('match the OpenSSL vectors', () => {
    expect(deriveTokenId(TOKEN)).toBe(TOKEN_ID);
    expect(deriveTlsPsk(TOKEN).toString('hex')).toBe(PSK);
    expect(deriveTokenKeys(TOKEN)).toEqual({ tokenId: TOKEN_ID, psk: Buffer.from(PSK, 'hex') });
  });

  it('match RFC 5869 over the UTF-8 bytes, for non-ASCII tokens too', () => {
    for (const token of ['s3cret-token-with-enough-length', 'jetón-ünïcode-ключ-🔑']) {
      const ikm = Buffer.from(token, 'utf8');
      expect(deriveTokenId(token)).toBe(rfc5869(ikm, 'ftx-psk-v1', 'identity', 16).toString('hex'));
      expect(deriveTlsPsk(token)).toEqual(rfc5869(ikm, 'ftx-psk-v1', 'tls13-psk', 32));
    }
  });

  it('gives unrelated id and key, and different tokens different ids', () => {
    const { tokenId, psk } = deriveTokenKeys(TOKEN);
    expect(psk.toString('hex').startsWith(tokenId)).toBe(false);
    expect(deriveTokenId(`${TOKEN}x`)).not.toBe(tokenId);
    expect(psk.toString('hex')).not.toContain(Buffer.from(TOKEN).toString('hex'));
  });

  it('recognises the exact shape of a token id only', () => {
    expect(isTokenId(TOKEN_ID)).toBe(true);
    for (const bad of [TOKEN_ID.toUpperCase(), `${TOKEN_ID}0`, TOKEN_ID.slice(1), `${TOKEN_ID.slice(1)}g`, 42, null]) {
      expect(isTokenId(bad)).toBe(false);
    }
  });
});
