import { describe, expect, it } from 'vitest';
import { generateToken, tokenWeakness } from '../src/protocol/tokens.js';

describe('tokens', () => {
  it('generates ftx1_ + base64url of 32 random bytes, strong by the rule', () => {
    const tokens = new Set(Array.from({ length: 50 }, generateToken));
    expect(tokens.size).toBe(50);
    for (const token of tokens) {
      expect(token).toMatch(/^ftx1_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token.slice(5), 'base64url')).toHaveLength(32);
      expect(tokenWeakness(token)).toBeUndefined();
    }
  });

  it('accepts random hex of 128 bits and a long random passphrase', () => {
    expect(tokenWeakness('3f9a0c7be1d24856a9f03c7e1b2d4a68')).toBeUndefined();
    expect(tokenWeakness('velvet-orbit-cactus-ninety-lamp-quiver')).toBeUndefined();
  });

  it('refuses short, repetitive and patterned tokens, saying why in one line', () => {
    for (const [token, why] of [
      ['s3cret', /6 characters, fewer than the 32/],
      ['a'.repeat(40), /only 1 different characters/],
      ['0101010101010101010101010101010123', /only 4 different/],
      ['abcdefghij'.repeat(4), /repeats a pattern of 10 characters/],
    ] as const) {
      const weakness = tokenWeakness(token);
      expect(weakness).toMatch(why);
      expect(weakness).toContain('ftx token new');
      expect(weakness).not.toContain('\n');
    }
  });
});
