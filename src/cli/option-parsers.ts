/** Pure parsers for option values; each throws UsageError with the option's name. */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "4096", "64K", "512M", "10G", "1.5GiB" → bytes (K/M/G/T are powers of 1024). */
export function parseSize(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new UsageError(`${option}: invalid size "${text}" (e.g. 4096, 64K, 10G)`);
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${option}: size "${text}" is too large`);
  return bytes;
}

/** "30", "0.5" → milliseconds; must be positive. */
export function parseSeconds(text: string, option: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(value > 0)) {
    throw new UsageError(`${option}: expected a positive number of seconds, got "${text}"`);
  }
  return Math.round(value * 1000);
}

/** "5" → 5: a non-negative integer. */
export function parseCount(text: string, option: string): number {
  if (!/^\d{1,6}$/.test(text.trim())) throw new UsageError(`${option}: expected a whole number, got "${text}"`);
  return Number(text);
}

/** "7420" → 7420; 0 allowed when `allowZero` (pick a free port). */
export function parsePort(text: string, option: string, allowZero = false): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535 || (value === 0 && !allowZero)) {
    throw new UsageError(`${option}: invalid port "${text}"`);
  }
  return value;
}

/** The token from --token, else --token-file (first line), else FTX_TOKEN; undefined when none. */
export function resolveToken(options: { token?: string; tokenFile?: string }, env: NodeJS.ProcessEnv): string | undefined {
  if (options.token !== undefined) {
    if (options.token === '') throw new UsageError('--token: empty token');
    return options.token;
  }
  if (options.tokenFile !== undefined) {
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
  const fromEnv = env.FTX_TOKEN;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}
