import { describe, expect, it } from 'vitest';
import { FtxError } from '../src/errors.js';
import { nameBelow, NameGuard, safeLocalSegments } from '../src/client/local-names.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof FtxError ? error.code : 'not-ftx-error';
  }
  return undefined;
}

describe('names a server sends back', () => {
  it('are split into safe segments', () => {
    expect(safeLocalSegments('a/b c/é.txt')).toEqual(['a', 'b c', 'é.txt']);
    expect(safeLocalSegments('.hidden/..dots..')).toEqual(['.hidden', '..dots..']);
  });

  it('that could leave the target are refused (unsafe_name)', () => {
    for (const name of ['', '/etc/passwd', '../x', 'a/../../x', 'a/..', './a', 'a/./b', 'a//b', 'a/', 'a\\..\\b', 'a\u0000b', 'a\nb', 'a\u009bb', 'x\ud800', `${'x'.repeat(256)}/y`]) {
      expect(codeOf(() => safeLocalSegments(name)), JSON.stringify(name)).toBe('unsafe_name');
    }
  });

  it('may not equal an earlier one after Unicode normalization', () => {
    const guard = new NameGuard();
    guard.admit('d/caf\u00e9');
    guard.admit('d/caf\u00e9'); // the same name again is the same file
    expect(codeOf(() => guard.admit('d/cafe\u0301'))).toBe('unsafe_name');
    guard.admit('d/Caf\u00e9'); // case is not folded: another name on a case-sensitive system
  });

  it('must be below the remote directory asked for', () => {
    expect(nameBelow('site', 'site', 'copy')).toBe('copy');
    expect(nameBelow('site', 'site/a/b', 'site')).toBe('site/a/b');
    expect(nameBelow('site', 'site/a', '')).toBe('a');
    expect(nameBelow('', 'x/y', '')).toBe('x/y');
    for (const entry of ['other/a', 'site2/a', 'sit', 'site/']) {
      expect(codeOf(() => nameBelow('site', entry, 'site')), entry).toBe('unsafe_name');
    }
  });
});
