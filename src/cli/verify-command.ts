/**
 * `ftx verify host[:port] [REMOTE]` asks the server to scrub; `ftx verify DIR [PATH]` (an argument
 * with a "/", or "."/"..") scrubs a served directory on this machine, without a connection and
 * without a rate limit. Problems are one line each, the totals one line; exit 6 when anything is
 * corrupt or missing. `--forget-missing` (local, no server running) drops the records of files
 * removed on purpose.
 */
import { parseDestination } from '../client/address.js';
import { FtxClient } from '../client/client.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../client/defaults.js';
import { UsageError } from '../errors.js';
import type { VerifyResult, VerifySummary } from '../protocol/read-replies.js';
import type { ScrubEvents } from '../server/scrub.js';
import type { StorageMaintainer } from '../server/storage/disk/disk-reader.js';
import { formatHostPort } from '../transport/connect.js';
import { formatBytes } from '../ui/format.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { resolveToken, type TokenOptions } from './option-parsers.js';
import { planClientTls, type ClientTlsCliOptions } from './tls-options.js';

/** Commander's options of `verify`. */
export interface VerifyCliOptions extends TokenOptions, ClientTlsCliOptions {
  json?: boolean;
  quiet?: boolean;
  connectTimeout?: number;
  /** Local only: drop the records of files found missing (removed on purpose). */
  forgetMissing?: boolean;
}

/** True when the first argument names a local directory rather than a server. */
export function isLocalTarget(text: string): boolean {
  return text.includes('/') || text === '.' || text === '..';
}

function describeResult(r: VerifyResult): string {
  const what = r.state === 'corrupt' ? `CORRUPT: ${r.message ?? ''}${r.recorded ? ` (recorded ${r.recorded}, read ${r.md5 ?? '?'})` : ''}`
    : r.state === 'missing' ? 'MISSING' : `unrecorded: ${r.message ?? 'no md5 was recorded at upload'}; read ${r.md5 ?? '?'}`;
  return `${r.filename}: ${what}`;
}

/** A one-line progress on a terminal's stderr, redrawn at most once a second; clear() leaves nothing of it. */
function progressLine(io: CliIo, wanted: boolean): { show: (text: string) => void; clear: () => void } {
  const on = wanted && io.stderr.isTTY === true;
  let shownAt = 0;
  let onScreen = false;
  return {
    show: (text) => {
      if (!on || Date.now() - shownAt < 1000) return;
      shownAt = Date.now();
      onScreen = true;
      io.stderr.write(`\r\x1b[K${text}`);
    },
    clear: () => {
      if (!onScreen) return;
      onScreen = false;
      io.stderr.write('\r\x1b[K');
    },
  };
}

/**
 * A scrub of a local served directory, no connection. With `forget`, it holds the directory's lock
 * (refused while `ftx serve` runs on it) and afterwards drops the records of the files it found
 * missing, so that later scrubs stop reporting files removed on purpose.
 */
async function verifyLocal(dir: string, path: string, forget: boolean, events: ScrubEvents): Promise<{ summary: VerifySummary; forgotten: number }> {
  const [{ openDiskReader }, { scrub }, { ReadRate }] = await Promise.all([
    import('../server/storage/disk/disk-reader.js'), import('../server/scrub.js'), import('../server/limits/read-rate.js'),
  ]);
  const reader = forget ? await openDiskReader(dir, { lock: true }) : await openDiskReader(dir);
  try {
    const missing: string[] = [];
    const summary = await scrub(reader, path, new ReadRate(Infinity), {
      ...events,
      result: (r) => {
        if (r.state === 'missing') missing.push(r.filename);
        events.result(r);
      },
    });
    if (forget && missing.length > 0) await (reader as StorageMaintainer).forget(missing);
    return { summary, forgotten: forget ? missing.length : 0 };
  } finally {
    await reader.close();
  }
}

/** Runs a verify; resolves with the exit code (6 when anything is corrupt or missing). */
export async function runVerify(args: string[], options: VerifyCliOptions, io: CliIo): Promise<number> {
  if (args.length < 1 || args.length > 2) throw new UsageError('verify needs a server or a local directory, and at most one path: ftx verify <host[:port] | dir> [path]');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(args[0]!)) throw new UsageError(`${args[0]!} is a URL: an object store is scrubbed through a server that serves it (ftx verify <host[:port]>)`);
  const path = (args[1] ?? '').replace(/^\.\/+/, '').replace(/^\/+|\/+$/g, '').replace(/^\.$/, '');
  const progress = progressLine(io, !options.json && !options.quiet);
  const onResult = (r: VerifyResult): void => {
    if (options.json) io.stdout.write(`${JSON.stringify({ event: 'file', ...r })}\n`);
    else if (r.state !== 'ok' && !(options.quiet && r.state === 'unrecorded')) {
      // On a terminal the line goes where the progress line was, not after its text.
      progress.clear();
      io.stdout.write(`${describeResult(r)}${r.state === 'missing' && options.forgetMissing ? ', its record dropped (--forget-missing)' : ''}\n`);
    }
  };
  const onProgress = (bytes: number): void => progress.show(`ftx: verifying… ${formatBytes(bytes)} read`);
  let summary: VerifySummary;
  let where: string;
  let forgotten = 0;
  if (isLocalTarget(args[0]!)) {
    where = args[0]!;
    ({ summary, forgotten } = await verifyLocal(args[0]!, path, options.forgetMissing === true, { result: onResult, progress: onProgress }));
  } else {
    if (options.forgetMissing) throw new UsageError('--forget-missing works on the server box, on the directory itself: ftx verify DIR --forget-missing');
    const { host, port } = parseDestination(args[0]!);
    where = formatHostPort(host, port);
    const token = resolveToken(options);
    const security = planClientTls(options, host, token);
    const client = new FtxClient({ host, port, connectTimeoutMs: options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, ...(token !== undefined ? { token } : {}), ...security });
    try {
      if (!(await client.supports('verify'))) throw new UsageError(`${where} does not offer verify (an older ftx server)`);
      summary = await client.verify(path, onResult, onProgress);
    } finally {
      await client.close().catch(() => client.destroy());
    }
  }
  progress.clear();
  // Files removed on purpose and forgotten now are no longer a failure; corruption always is.
  const code = summary.corrupt + summary.missing - forgotten > 0 ? EXIT.VERIFICATION : EXIT.OK;
  if (options.json) io.stdout.write(`${JSON.stringify({ event: 'summary', ...summary, ...(options.forgetMissing ? { forgotten } : {}), exitCode: code })}\n`);
  else if (!options.quiet || code !== EXIT.OK) {
    const forgot = options.forgetMissing ? ` (${forgotten} forgotten)` : '';
    io.stderr.write(`ftx: ${where}: ${summary.files} files, ${formatBytes(summary.bytes)}: ${summary.ok} ok, ${summary.corrupt} corrupt, ${summary.missing} missing${forgot}, ${summary.unrecorded} unrecorded\n`);
  }
  return code;
}
