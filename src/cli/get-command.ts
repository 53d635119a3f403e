/**
 * `ftx get host[:port] REMOTE... [LOCAL]`: plan from the arguments (pure), then fetch. Destination
 * rules as cp/scp: one remote file into a LOCAL that is not a directory lands under that name; else
 * LOCAL (default ".") is a directory and each REMOTE lands below it under its own name ("dir/" =
 * its contents); LOCAL "-" writes one file to stdout, verified before the first byte is written.
 */
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseDestination, type Destination } from '../client/address.js';
import { FtxClient } from '../client/client.js';
import { DEFAULT_CLIENT_IDLE_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from '../client/defaults.js';
import type { GetJob, GetSummary } from '../client/get-job.js';
import type { LocalIfExists } from '../client/local-landing.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../client/retry.js';
import { UsageError } from '../errors.js';
import { formatHostPort } from '../transport/connect.js';
import { canDrawBars } from '../ui/progress.js';
import { createGetHumanReporter, createGetJsonReporter, type GetReporter } from '../ui/get-reporter.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import type { CliIo } from './io.js';
import { resolveToken } from './option-parsers.js';
import { planClientTls, type ClientTlsCliOptions, type ClientTlsPlan } from './tls-options.js';

/** Commander's options of `get`. */
export interface GetCliOptions extends ClientTlsCliOptions {
  token?: string;
  tokenFile?: string;
  force?: boolean;
  ifExists?: LocalIfExists;
  checksum?: boolean;
  exclude?: string[];
  dryRun?: boolean;
  json?: boolean;
  connectTimeout?: number;
  idleTimeout?: number;
  retries?: number;
  retryWait?: number;
  progress?: boolean;
  quiet?: boolean;
}

/** Everything `get` will do. */
export interface GetPlan {
  source: Destination;
  token?: string;
  /** TLS or plain text (docs/PROTOCOL.md §14). */
  security: ClientTlsPlan;
  /** Remote names as given, normalized ("" = the root); `contents` for "dir/". */
  remotes: { path: string; contents: boolean }[];
  /** The local target as given; "-" = stdout. */
  local: string;
  ifExists: LocalIfExists;
  checksum: boolean;
  exclude: string[];
  dryRun: boolean;
  json: boolean;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  retry: RetryPolicy;
  progress: boolean;
  quiet: boolean;
}

function remoteOf(text: string): { path: string; contents: boolean } {
  const path = text.replace(/^\.\/+/, '').replace(/^\/+/, '').replace(/\/+$/, '');
  return { path: path === '.' ? '' : path, contents: text.endsWith('/') || path === '' || path === '.' };
}

/** Turns `get`'s arguments into a plan; throws UsageError. */
export function planGet(args: string[], options: GetCliOptions, stderrIsTty: boolean): GetPlan {
  if (args.length < 2) throw new UsageError('get needs a server and what to get: ftx get <host[:port]> <remote...> [local]');
  const source = parseDestination(args[0]!);
  const rest = args.slice(1);
  const local = rest.length >= 2 ? rest[rest.length - 1]! : '.';
  const remotes = (rest.length >= 2 ? rest.slice(0, -1) : rest).map(remoteOf);
  if (local === '-' && (remotes.length !== 1 || remotes[0]!.contents)) throw new UsageError('"-" (stdout) takes exactly one remote file');
  const token = resolveToken(options);
  const quiet = options.quiet ?? false;
  return {
    source, remotes, local,
    ...(token !== undefined ? { token } : {}),
    security: planClientTls(options, source.host, token),
    ifExists: options.force ? 'overwrite' : options.ifExists ?? 'fail',
    checksum: options.checksum ?? false,
    exclude: options.exclude ?? [],
    dryRun: options.dryRun ?? false,
    json: options.json ?? false,
    connectTimeoutMs: options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: options.idleTimeout ?? DEFAULT_CLIENT_IDLE_TIMEOUT_MS,
    retry: {
      ...DEFAULT_RETRY_POLICY,
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.retryWait !== undefined ? { baseDelayMs: options.retryWait } : {}),
    },
    progress: options.progress !== false && !quiet && stderrIsTty,
    quiet,
  };
}

/** The job of a plan: where the local root is and what each remote becomes below it. */
async function jobOf(plan: GetPlan, spool: string | undefined): Promise<GetJob> {
  const base = { ifExists: plan.ifExists, checksum: plan.checksum, exclude: plan.exclude, dryRun: plan.dryRun };
  if (spool !== undefined) return { ...base, ifExists: 'overwrite', rootDir: spool, remotes: [{ path: plan.remotes[0]!.path, landAs: 'file' }] };
  const localInfo = await lstat(plan.local).catch(() => undefined);
  const intoDir = plan.remotes.length > 1 || plan.local.endsWith('/') || localInfo?.isDirectory() === true || plan.remotes.some((r) => r.contents);
  if (!intoDir) {
    // One remote name into a local name: a file, or a directory whose contents land as LOCAL/….
    return { ...base, rootDir: resolve(dirname(plan.local)), remotes: [{ path: plan.remotes[0]!.path, landAs: basename(plan.local) }] };
  }
  if (!plan.dryRun) await mkdir(plan.local, { recursive: true });
  return { ...base, rootDir: resolve(plan.local), remotes: plan.remotes.map((r) => ({ path: r.path, landAs: r.contents ? '' : basename(r.path) })) };
}

/** The run's exit code: 0, "partial" when some files failed and others made it, else the failure's. */
export function exitCodeForGet(summary: GetSummary): number {
  if (summary.failed === 0) return EXIT.OK;
  if (summary.fetched + summary.skipped + (summary.dryRun?.get ?? 0) > 0) return EXIT.PARTIAL;
  return exitCodeFor(summary.firstError);
}

/** Runs a plan; resolves with the exit code. Fatal failures are reported, then thrown. */
export async function runGetCommand(plan: GetPlan, io: CliIo): Promise<number> {
  const where = formatHostPort(plan.source.host, plan.source.port);
  const toStdout = plan.local === '-';
  const bars = plan.progress && canDrawBars(io.stderr, process.env) && !(plan.json && (io.stdout as NodeJS.WriteStream).isTTY);
  const human = createGetHumanReporter({ lines: plan.json || toStdout ? undefined : io.stdout, stderr: io.stderr, bars, quiet: plan.quiet, source: where });
  const reporter: GetReporter = plan.json && !toStdout ? combine(createGetJsonReporter(io.stdout), human) : human;
  const client = new FtxClient({
    host: plan.source.host, port: plan.source.port, connectTimeoutMs: plan.connectTimeoutMs, idleTimeoutMs: plan.idleTimeoutMs, retry: plan.retry,
    onRetry: (notice) => reporter.retry(`${notice.reason}${notice.delayMs > 0 ? `; retry ${notice.attempt}/${notice.of} in ${(notice.delayMs / 1000).toFixed(1)} s` : ''}`),
    ...(plan.token !== undefined ? { token: plan.token } : {}),
    ...plan.security,
  });
  const spool = toStdout ? await mkdtemp(join(tmpdir(), 'ftx-get-')) : undefined;
  try {
    if (!(await client.supports('get')) || !(await client.supports('list'))) {
      throw new UsageError(`${where} does not offer downloads (an older ftx server: it lists no "get" action)`);
    }
    const { runGetJob } = await import('../client/get-job.js');
    const summary = await runGetJob(client, await jobOf(plan, spool), reporter);
    const code = exitCodeForGet(summary);
    if (spool !== undefined && code === EXIT.OK && !plan.dryRun) {
      const landed = await lstat(join(spool, 'file')).catch(() => undefined);
      if (!landed?.isFile()) throw new UsageError(`${plan.remotes[0]!.path} is not a file: "-" (stdout) takes exactly one remote file`);
      // Verified and landed in the spool: only now does a byte reach stdout.
      await pipeline(createReadStream(join(spool, 'file')), io.stdout, { end: false });
    }
    reporter.finish(summary, code);
    return code;
  } catch (error) {
    reporter.fatal(error, exitCodeFor(error));
    throw error;
  } finally {
    await client.close().catch(() => client.destroy());
    if (spool !== undefined) await rm(spool, { recursive: true, force: true });
  }
}

function combine(a: GetReporter, b: GetReporter): GetReporter {
  const both = {} as Record<string, (...args: unknown[]) => void>;
  for (const key of Object.keys(a) as (keyof GetReporter)[]) {
    both[key] = (...args: unknown[]) => {
      (a[key] as (...x: unknown[]) => void)(...args);
      (b[key] as (...x: unknown[]) => void)(...args);
    };
  }
  return both as unknown as GetReporter;
}
