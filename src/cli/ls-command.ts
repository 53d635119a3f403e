/**
 * `ftx ls host[:port] [REMOTE]`: names, sizes, mtimes and recorded md5s, page by page (a listing of
 * 100,000 files is never held whole): aligned columns like `ls -l`, or one JSON object per line.
 */
import { parseDestination } from '../client/address.js';
import { FtxClient } from '../client/client.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../client/defaults.js';
import { UsageError } from '../errors.js';
import type { ListEntry } from '../protocol/read-replies.js';
import { formatHostPort } from '../transport/connect.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { resolveToken, type TokenOptions } from './option-parsers.js';
import { planClientTls, type ClientTlsCliOptions } from './tls-options.js';

/** Commander's options of `ls`. */
export interface LsCliOptions extends TokenOptions, ClientTlsCliOptions {
  recursive?: boolean;
  json?: boolean;
  connectTimeout?: number;
}

const TYPE_CHAR: Record<ListEntry['type'], string> = { file: '-', dir: 'd', other: '?' };

/** `-rw-r--r--` of an entry. */
export function modeString(entry: ListEntry): string {
  const bits = 'rwxrwxrwx';
  let text = TYPE_CHAR[entry.type];
  for (let i = 0; i < 9; i++) text += entry.mode & (1 << (8 - i)) ? bits[i] : '-';
  return text;
}

/** One aligned line: mode, size, mtime (UTC), md5 (or "-"), name; names are printed as JSON when they hold odd characters. */
export function formatEntry(entry: ListEntry): string {
  const size = String(entry.type === 'file' ? entry.size : 0).padStart(15);
  const mtime = new Date(entry.mtime).toISOString().slice(0, 16).replace('T', ' ');
  const md5 = (entry.type === 'file' ? entry.md5 ?? 'unrecorded' : '-').padEnd(32);
  const name = /^[\x21-\x7e\u00a0-\uffff][\x20-\x7e\u00a0-\uffff]*$/.test(entry.name) ? entry.name : JSON.stringify(entry.name);
  return `${modeString(entry)} ${size} ${mtime} ${md5} ${name}${entry.type === 'dir' ? '/' : ''}`;
}

/** Lists; resolves with the exit code. */
export async function runLs(args: string[], options: LsCliOptions, io: CliIo): Promise<number> {
  if (args.length < 1 || args.length > 2) throw new UsageError('ls needs a server and at most one remote path: ftx ls <host[:port]> [remote]');
  const { host, port } = parseDestination(args[0]!);
  const path = (args[1] ?? '').replace(/^\.\/+/, '').replace(/^\/+|\/+$/g, '').replace(/^\.$/, '');
  const token = resolveToken(options);
  const security = planClientTls(options, host, token);
  const client = new FtxClient({ host, port, connectTimeoutMs: options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, ...(token !== undefined ? { token } : {}), ...security });
  try {
    if (!(await client.supports('list'))) throw new UsageError(`${formatHostPort(host, port)} does not offer listings (an older ftx server)`);
    await client.listPages(path, options.recursive === true, (entries) => {
      io.stdout.write(entries.map((e) => (options.json ? JSON.stringify(e) : formatEntry(e))).join('\n') + (entries.length > 0 ? '\n' : ''));
    });
  } finally {
    await client.close().catch(() => client.destroy());
  }
  return EXIT.OK;
}
