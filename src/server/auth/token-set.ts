/**
 * The tokens a server accepts, each with its scopes (docs/PROTOCOL.md §4.5), looked up by token id.
 * One `--token` is a set of one token with every scope; a tokens file (README, "Tokens file") holds
 * one `LABEL SCOPES TOKEN` line per token. The file must not be readable by group or others.
 */
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { isScope, SCOPES, type Scope } from '../../protocol/scopes.js';
import { deriveTokenId } from '../../protocol/token-keys.js';

/** What one token may do, and under which name it shows in logs. */
export interface TokenGrant {
  /** From the tokens file (the single --token is "token"); safe to log. */
  readonly label: string;
  readonly scopes: ReadonlySet<Scope>;
}

/** A token with its id and grant. The token itself stays inside the server. */
export interface TokenEntry extends TokenGrant {
  readonly token: string;
  readonly tokenId: string;
}

/** Every scope: what a server without scopes grants. */
export const ALL_SCOPES: ReadonlySet<Scope> = new Set(SCOPES);

const LABEL = /^[A-Za-z0-9._@-]{1,64}$/;

/** The tokens of a server, by token id. */
export class TokenSet {
  private readonly byId = new Map<string, TokenEntry>();

  private constructor(entries: TokenEntry[]) {
    for (const entry of entries) this.byId.set(entry.tokenId, entry);
  }

  /** One token with every scope (`ftx serve --token`). */
  static single(token: string): TokenSet {
    return new TokenSet([{ label: 'token', scopes: ALL_SCOPES, token, tokenId: deriveTokenId(token) }]);
  }

  /** Parses tokens-file text; throws UsageError naming `source` and the line (never the token). */
  static parse(text: string, source: string): TokenSet {
    const entries: TokenEntry[] = [];
    const labels = new Set<string>();
    const ids = new Set<string>();
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `${source} line ${index + 1}`;
      const fields = line.split(/\s+/);
      if (fields.length !== 3) throw new UsageError(`${where}: expected "LABEL SCOPES TOKEN" (3 fields), found ${fields.length}`);
      const [label, scopeList, token] = fields as [string, string, string];
      if (!LABEL.test(label)) throw new UsageError(`${where}: label must be 1-64 of A-Z a-z 0-9 . _ @ -`);
      if (labels.has(label)) throw new UsageError(`${where}: label ${label} appears twice`);
      const scopes = parseScopes(scopeList, where);
      const tokenId = deriveTokenId(token);
      if (ids.has(tokenId)) throw new UsageError(`${where}: the token of ${label} appears twice`);
      labels.add(label);
      ids.add(tokenId);
      entries.push({ label, scopes, token, tokenId });
    });
    if (entries.length === 0) throw new UsageError(`${source}: no tokens (one "LABEL SCOPES TOKEN" line per token)`);
    return new TokenSet(entries);
  }

  /** The token with this id, or null. */
  lookup(tokenId: string): TokenEntry | null {
    return this.byId.get(tokenId) ?? null;
  }

  /** Every token (to check a proof that came without a token id). */
  entries(): IterableIterator<TokenEntry> {
    return this.byId.values();
  }

  /** How many tokens. */
  get size(): number {
    return this.byId.size;
  }
}

function parseScopes(list: string, where: string): ReadonlySet<Scope> {
  if (list === 'all') return ALL_SCOPES;
  const scopes = new Set<Scope>();
  for (const name of list.split(',')) {
    if (!isScope(name)) throw new UsageError(`${where}: unknown scope "${name.slice(0, 32)}" (use ${SCOPES.join(', ')} or all)`);
    scopes.add(name);
  }
  return scopes;
}

/**
 * Reads a tokens file. Like ssh with a private key, refuses one that group or others may read or
 * write (the tokens are secrets), and anything but a regular file.
 */
export function loadTokensFile(path: string): TokenSet {
  let mode: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new UsageError(`--tokens: ${path} is not a regular file`);
    mode = stat.mode & 0o777;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--tokens: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(`--tokens: ${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--tokens: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return TokenSet.parse(text, path);
}

/** The tokens-file line of a token: `LABEL SCOPES TOKEN`. */
export function tokensFileLine(label: string, scopes: readonly Scope[] | 'all', token: string): string {
  return `${label} ${scopes === 'all' ? 'all' : scopes.join(',')} ${token}`;
}
