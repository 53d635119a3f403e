/**
 * Parsers for option values, given to commander (`Option.argParser`): each throws commander's
 * InvalidArgumentError, which commander reports with the option's flags or environment variable.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { parseDestination, type Destination } from '../client/address.js';
import { FtxError, UsageError } from '../errors.js';
import { MAX_CHUNK_SIZE, MAX_HEARTBEAT_MS, MIN_CHUNK_SIZE, MIN_HEARTBEAT_MS } from '../protocol/constants.js';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "4096", "64K", "512M", "10G", "1.5GiB" → bytes (K/M/G/T are powers of 1024). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new InvalidArgumentError('Expected a size such as 4096, 64K or 10G.');
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('The size is too large.');
  return bytes;
}

/** `--max-buffer`: a size of at least 1 MiB (one small file). */
export function parseBufferSize(text: string): number {
  const bytes = parseSize(text);
  if (bytes < 2 ** 20) throw new InvalidArgumentError('Expected at least 1M.');
  return bytes;
}

/** A protocol chunk size: a size from 512 B to 16 MiB (docs/PROTOCOL.md, `chunkSize`). */
export function parseChunkSize(text: string): number {
  const bytes = parseSize(text);
  if (bytes < MIN_CHUNK_SIZE || bytes > MAX_CHUNK_SIZE) throw new InvalidArgumentError(`Expected ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes (512 B to 16M).`);
  return bytes;
}

function parsePositive(text: string, unit: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(value > 0)) throw new InvalidArgumentError(`Expected a positive number of ${unit}.`);
  return value;
}

/** "30", "0.5" → milliseconds; must be positive. */
export function parseSeconds(text: string): number {
  return Math.round(parsePositive(text, 'seconds') * 1000);
}

/** `--heartbeat`: seconds from 0.1 to 60 (docs/PROTOCOL.md §10.1) → milliseconds. */
export function parseHeartbeat(text: string): number {
  const ms = parseSeconds(text);
  if (ms < MIN_HEARTBEAT_MS || ms > MAX_HEARTBEAT_MS) throw new InvalidArgumentError('Expected 0.1 to 60 seconds.');
  return ms;
}

/** "24", "0.5" → milliseconds; must be positive. */
export function parseHours(text: string): number {
  return Math.round(parsePositive(text, 'hours') * 3600 * 1000);
}

/** "5" → 5: a non-negative integer. */
export function parseCount(text: string): number {
  if (!/^\d{1,6}$/.test(text.trim())) throw new InvalidArgumentError('Expected a whole number.');
  return Number(text);
}

/** "16" → 16: a whole number of at least 1. */
export function parsePositiveCount(text: string): number {
  const value = parseCount(text);
  if (value < 1) throw new InvalidArgumentError('Expected a whole number of at least 1.');
  return value;
}

/** "7420" → 7420; 0 picks a free port. */
export function parseListenPort(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535) throw new InvalidArgumentError('Expected a port from 0 to 65535.');
  return value;
}

/** "host[:port]" → a destination (see parseDestination). */
export function parseDestinationOption(text: string): Destination {
  try {
    return parseDestination(text);
  } catch (error) {
    throw error instanceof FtxError ? new InvalidArgumentError(`${error.message}.`) : error;
  }
}

/** Where a token was given: commander's options, already narrowed to the one that wins. */
export interface TokenOptions {
  token?: string;
  tokenFile?: string;
}

/** The token from `token`, else the first line of `tokenFile`; undefined when neither. */
export function resolveToken(options: TokenOptions): string | undefined {
  if (options.token !== undefined) {
    if (options.token === '') throw new UsageError('--token: empty token');
    return options.token;
  }
  if (options.tokenFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(options.tokenFile, 'utf8');
  } catch (error) {
    throw new UsageError(`--token-file: cannot read ${options.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token === '') throw new UsageError(`--token-file: ${options.tokenFile} is empty`);
  return token;
}
