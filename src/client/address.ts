/** Parsing `host[:port]` destinations, IPv6 literals included. */
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { DEFAULT_PORT } from '../protocol/constants.js';

/** A server address. */
export interface Destination {
  host: string;
  port: number;
}

function parsePort(text: string, whole: string): number {
  if (text === '') throw new UsageError(`invalid destination "${whole}": missing port after ":"`);
  if (!/^\d+$/.test(text)) {
    // scp's "host:/path" habit: a destination has no path, the remote directory is --dir.
    const dir = text.replace(/^\d+\//, '');
    throw new UsageError(`invalid destination "${whole}": "${text}" is not a port; for a directory on the server use --dir ${dir}`);
  }
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`invalid port in "${whole}": expected 1-65535`);
  }
  return Number(text);
}

/**
 * Parses "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal ("::1", no port).
 * Throws UsageError for anything else ("127.0.0.1:7420:1" is not an IPv6 address).
 */
export function parseDestination(text: string, defaultPort = DEFAULT_PORT): Destination {
  const whole = text.trim();
  if (whole === '') throw new UsageError('missing destination host');
  if (whole.startsWith('[')) {
    const match = /^\[([^\]]+)\](?::(.*))?$/.exec(whole);
    if (!match || isIP(match[1]!) !== 6) throw new UsageError(`invalid destination "${whole}": expected [ipv6]:port`);
    return { host: match[1]!, port: match[2] === undefined ? defaultPort : parsePort(match[2], whole) };
  }
  const colons = whole.split(':').length - 1;
  if (colons > 1) {
    if (isIP(whole) !== 6) throw new UsageError(`invalid destination "${whole}": expected host:port, [ipv6]:port or an IPv6 address`);
    return { host: whole, port: defaultPort };
  }
  if (colons === 1) {
    const [host, port] = whole.split(':') as [string, string];
    if (host === '') throw new UsageError(`invalid destination "${whole}": missing host`);
    return { host, port: parsePort(port, whole) };
  }
  return { host: whole, port: defaultPort };
}
