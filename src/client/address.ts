/** Parsing `host[:port]` destinations, IPv6 literals included. */
import { UsageError } from '../errors.js';
import { DEFAULT_PORT } from '../protocol/constants.js';

/** A server address. */
export interface Destination {
  host: string;
  port: number;
}

function parsePort(text: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`invalid port in "${whole}": expected 1-65535`);
  }
  return Number(text);
}

/**
 * Parses "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal ("::1", no port).
 * Throws UsageError for anything else.
 */
export function parseDestination(text: string, defaultPort = DEFAULT_PORT): Destination {
  const whole = text.trim();
  if (whole === '') throw new UsageError('missing destination host');
  if (whole.startsWith('[')) {
    const match = /^\[([0-9A-Fa-f:.%\w-]+)\](?::(.*))?$/.exec(whole);
    if (!match) throw new UsageError(`invalid destination "${whole}": expected [ipv6]:port`);
    return { host: match[1]!, port: match[2] === undefined ? defaultPort : parsePort(match[2], whole) };
  }
  const colons = whole.split(':').length - 1;
  if (colons > 1) return { host: whole, port: defaultPort }; // bare IPv6 literal
  if (colons === 1) {
    const [host, port] = whole.split(':') as [string, string];
    if (host === '') throw new UsageError(`invalid destination "${whole}": missing host`);
    return { host, port: parsePort(port, whole) };
  }
  return { host: whole, port: defaultPort };
}
