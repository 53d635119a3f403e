/**
 * Connection limits (docs/PROTOCOL.md §4.1, README "Limits"): how many connections the server holds
 * at once, in total and per client address. A connection over either limit is refused with
 * `503 server_busy` instead of the hello, before it costs more than its socket.
 */
import { isIPv6 } from 'node:net';
import { StatusError } from '../../errors.js';
import { ERROR_CODE, STATUS } from '../../protocol/constants.js';

/** Most connections open at once, all clients together (default of `ftx serve --max-connections`). */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Most connections open at once from one address (default of `--max-connections-per-address`). */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 32;

/**
 * The key a client is counted under: its IPv4 address (also when it arrives IPv4-mapped), or the
 * /64 prefix of its IPv6 address (one host or site usually holds a whole /64).
 */
export function addressKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return mapped[1]!;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  const [head = '', tail = ''] = remoteAddress.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = remoteAddress.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** Counts open connections and admits or refuses new ones. */
export class Admission {
  private total = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly maxTotal = DEFAULT_MAX_CONNECTIONS, private readonly maxPerAddress = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS) {}

  /** Admits a connection from `remoteAddress` (call `release` once it has closed), or says why not. */
  admit(remoteAddress: string | undefined): { release: () => void } | StatusError {
    const key = addressKey(remoteAddress);
    const mine = this.perAddress.get(key) ?? 0;
    if (this.total >= this.maxTotal) {
      return new StatusError(STATUS.SERVICE_UNAVAILABLE, ERROR_CODE.SERVER_BUSY,
        `the server has ${this.total} connections open, its limit; try again later`);
    }
    if (mine >= this.maxPerAddress) {
      return new StatusError(STATUS.SERVICE_UNAVAILABLE, ERROR_CODE.SERVER_BUSY,
        `${mine} connections from ${key} are open, the server's limit per address; try again later`);
    }
    this.total++;
    this.perAddress.set(key, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.perAddress.get(key) ?? 1) - 1;
        if (left > 0) this.perAddress.set(key, left);
        else this.perAddress.delete(key);
      },
    };
  }
}
