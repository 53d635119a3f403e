/** Token authentication of protocol v1: HMAC-SHA256(key = token, message = nonce), lowercase hex. */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh random nonce for a server hello: 32 random bytes as 64 lowercase hex digits. */
export function createNonce(): string {
  return randomBytes(32).toString('hex');
}

/** The proof a client sends: HMAC-SHA256 keyed with the token's UTF-8 bytes over the nonce's ASCII bytes. */
export function computeAuthProof(token: string, nonce: string): string {
  return createHmac('sha256', Buffer.from(token, 'utf8')).update(Buffer.from(nonce, 'ascii')).digest('hex');
}

/** Checks a client's proof in constant time (independent of where the first differing byte is). */
export function verifyAuthProof(token: string, nonce: string, proof: unknown): boolean {
  if (typeof proof !== 'string') return false;
  const expected = Buffer.from(computeAuthProof(token, nonce), 'ascii');
  const given = Buffer.from(proof, 'utf8');
  // Compare equal-length buffers only; a wrong length is as wrong as a wrong byte.
  const sameLength = given.length === expected.length;
  return timingSafeEqual(expected, sameLength ? given : expected) && sameLength;
}
