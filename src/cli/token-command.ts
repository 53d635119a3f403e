/**
 * `ftx token …`: token housekeeping. `ftx token new` prints a fresh token (README "Security"); with
 * `--label`, as the line of a tokens file (`LABEL SCOPES TOKEN`, README "Tokens file").
 */
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { generateToken } from '../protocol/tokens.js';
import { isScope, SCOPES, type Scope } from '../protocol/scopes.js';
import type { CliIo } from './io.js';

/** Options of `token new`. */
interface TokenNewOptions {
  label?: string;
  scopes?: readonly Scope[] | 'all';
}

/** `--scopes write,verify` or `all`: checked like the tokens file does. */
export function parseScopeList(text: string): readonly Scope[] | 'all' {
  if (text === 'all') return 'all';
  const names = text.split(',');
  for (const name of names) if (!isScope(name)) throw new UsageError(`--scopes: unknown scope "${name.slice(0, 32)}" (use ${SCOPES.join(', ')} or all)`);
  return names as Scope[];
}

/** The line `token new` prints. */
export function tokenNewLine(token: string, options: TokenNewOptions): string {
  if (options.label === undefined) {
    if (options.scopes !== undefined) throw new UsageError('--scopes goes with --label (the tokens-file line: LABEL SCOPES TOKEN)');
    return token;
  }
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(options.label)) throw new UsageError('--label must be 1-64 of A-Z a-z 0-9 . _ @ -');
  const scopes = options.scopes ?? 'all';
  return `${options.label} ${scopes === 'all' ? 'all' : scopes.join(',')} ${token}`;
}

/** Adds `token` and its subcommands to the program. */
export function addTokenCommand(program: Command, io: CliIo): Command {
  const token = program
    .command('token')
    .description('make tokens')
    .exitOverride();
  token
    .command('new')
    .description('print a new random token (ftx1_ + 32 random bytes, base64url) on stdout; with --label, as a line of a tokens file')
    .option('--label <label>', 'print "LABEL SCOPES TOKEN", a line for ftx serve --tokens FILE')
    .addOption(new Option('--scopes <list>', 'with --label: write, overwrite, read, verify (comma-separated) or all (default: all)').argParser(parseScopeList))
    .exitOverride()
    .action((options: TokenNewOptions) => {
      io.stdout.write(`${tokenNewLine(generateToken(), options)}\n`);
    });
  return token;
}
