/**
 * Tokens as secrets (docs/PROTOCOL.md §14.2): the form `ftx token new` prints, and the rule a token
 * must meet before a server accepts connections from the network with it. A recorded TLS-PSK
 * handshake (like a recorded HMAC hello) lets an eavesdropper test guesses offline at GPU speed, so
 * only a token that cannot be guessed protects the traffic. No I/O.
 */
import { randomBytes } from 'node:crypto';

/** Prefix of generated tokens: names the format (version 1) and makes them easy to find in configs and leaks. */
export const TOKEN_PREFIX = 'ftx1_';
/** Random bytes in a generated token (256 bits). */
export const TOKEN_RANDOM_BYTES = 32;
/** Shortest token accepted for a network address (32 random hex digits are 128 bits). */
export const MIN_NETWORK_TOKEN_CHARS = 32;
/** Fewest different characters in such a token. */
export const MIN_NETWORK_TOKEN_DISTINCT = 10;

/** A fresh token: `ftx1_` + base64url of 32 random bytes (48 characters). */
export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(TOKEN_RANDOM_BYTES).toString('base64url')}`;
}

/** The shortest p such that `text` is a prefix of p-periodic repetition, if p ≤ half its length. */
function shortPeriod(text: string): number | undefined {
  for (let p = 1; p <= text.length / 2; p++) {
    let periodic = true;
    for (let i = p; i < text.length && periodic; i++) periodic = text[i] === text[i - p];
    if (periodic) return p;
  }
  return undefined;
}

/**
 * Why `token` is too weak for a network address (one line), or undefined when it is strong enough:
 * at least 32 characters, at least 10 different ones, not a short pattern repeated.
 */
export function tokenWeakness(token: string): string | undefined {
  const chars = [...token];
  const advice = 'anyone who records one connection can test guesses offline; generate one with `ftx token new`';
  if (chars.length < MIN_NETWORK_TOKEN_CHARS) {
    return `the token has ${chars.length} characters, fewer than the ${MIN_NETWORK_TOKEN_CHARS} a network address needs: ${advice}`;
  }
  const distinct = new Set(chars).size;
  if (distinct < MIN_NETWORK_TOKEN_DISTINCT) {
    return `the token has only ${distinct} different characters (a network address needs ${MIN_NETWORK_TOKEN_DISTINCT}): ${advice}`;
  }
  const period = shortPeriod(token);
  if (period !== undefined) return `the token repeats a pattern of ${period} characters: ${advice}`;
  return undefined;
}
