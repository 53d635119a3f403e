import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FtxError } from '../src/errors.js';
import { deriveTokenId } from '../src/protocol/token-keys.js';
import { loadTokensFile, TokenSet, tokensFileLine } from '../src/server/auth/token-set.js';

const BACKUP = 'ftx1_' + 'b'.repeat(43);
const ADMIN = 'ftx1_' + 'a'.repeat(43);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof FtxError ? error.code : 'not-ftx-error';
  }
  return undefined;
}

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'get-tokens-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('tokens file', () => {
  it('parses labels, scopes and tokens; looks tokens up by id', () => {
    const set = TokenSet.parse(`# backups\n\nlaptop write ${BACKUP}\r\n  admin   all  ${ADMIN}  \n`, 'tokens');
    expect(set.size).toBe(2);
    const laptop = set.lookup(deriveTokenId(BACKUP))!;
    expect(laptop.label).toBe('laptop');
    expect([...laptop.scopes]).toEqual(['write']);
    expect([...set.lookup(deriveTokenId(ADMIN))!.scopes].sort()).toEqual(['overwrite', 'read', 'verify', 'write']);
    expect(set.lookup('0'.repeat(32))).toBeNull();
    expect([...TokenSet.parse(`r read,verify ${BACKUP}`, 't').lookup(deriveTokenId(BACKUP))!.scopes]).toEqual(['read', 'verify']);
  });

  it('refuses malformed lines with a usage error that never shows the token', () => {
    const bad = [
      `laptop write`,
      `laptop write ${BACKUP} extra`,
      `lap/top write ${BACKUP}`,
      `laptop write,delete ${BACKUP}`,
      `laptop ,write ${BACKUP}`,
      `a write ${BACKUP}\nb read ${BACKUP}`,
      `a write ${BACKUP}\na read ${ADMIN}`,
      `# only comments\n`,
    ];
    for (const text of bad) {
      let message = '';
      try {
        TokenSet.parse(text, 'tokens');
      } catch (error) {
        message = (error as Error).message;
        expect((error as FtxError).code, text).toBe('usage');
      }
      expect(message, text).not.toBe('');
      expect(message).not.toContain(BACKUP);
    }
  });

  it('refuses a file readable or writable by group or others, like ssh', async () => {
    const path = join(dir, 'tokens');
    await writeFile(path, `laptop write ${BACKUP}\n`);
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602]) {
      await chmod(path, mode);
      expect(codeOf(() => loadTokensFile(path)), mode.toString(8)).toBe('usage');
    }
    await chmod(path, 0o600);
    expect(loadTokensFile(path).size).toBe(1);
    await chmod(path, 0o400);
    expect(loadTokensFile(path).size).toBe(1);
    expect(codeOf(() => loadTokensFile(join(dir, 'missing')))).toBe('usage');
    expect(codeOf(() => loadTokensFile(dir))).toBe('usage');
  });

  it('single --token means every scope; the line form round-trips', () => {
    const set = TokenSet.single(ADMIN);
    expect(set.lookup(deriveTokenId(ADMIN))!.scopes.size).toBe(4);
    const line = tokensFileLine('ci', ['write', 'verify'], BACKUP);
    expect(line).toBe(`ci write,verify ${BACKUP}`);
    expect([...TokenSet.parse(line, 't').lookup(deriveTokenId(BACKUP))!.scopes]).toEqual(['write', 'verify']);
  });
});

describe('ftx token new --label', () => {
  it('prints a tokens-file line that the tokens file accepts, with the scopes asked for', async () => {
    const { tokenNewLine, parseScopeList } = await import('../src/cli/token-command.js');
    expect(tokenNewLine(ADMIN, {})).toBe(ADMIN);
    const line = tokenNewLine(BACKUP, { label: 'laptop', scopes: parseScopeList('write,verify') });
    expect(line).toBe(`laptop write,verify ${BACKUP}`);
    expect([...TokenSet.parse(line, 't').lookup(deriveTokenId(BACKUP))!.scopes]).toEqual(['write', 'verify']);
    expect(tokenNewLine(ADMIN, { label: 'admin' })).toBe(`admin all ${ADMIN}`);
    expect(codeOf(() => parseScopeList('write,delete'))).toBe('usage');
    expect(codeOf(() => tokenNewLine(ADMIN, { label: 'a b' }))).toBe('usage');
    expect(codeOf(() => tokenNewLine(ADMIN, { scopes: 'all' }))).toBe('usage');
  });
});
