/** `ftx put <file...> <host[:port]>`: plan from argv (pure), then upload with progress and receipts. */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { parseDestination, type Destination } from '../client/address.js';
import { DEFAULT_RETRY_POLICY, putWithRetry, ReconnectingClient, type RetryPolicy } from '../client/put-with-retry.js';
import { LocalFileError, UsageError } from '../errors.js';
import { DEFAULT_CHUNK_SIZE } from '../protocol/constants.js';
import { createBarView, silentProgress, type ProgressView } from '../ui/progress.js';
import { formatUploadSummary } from '../ui/summary.js';
import type { CliIo } from './io.js';
import { parseCount, parseSeconds, parseSize, resolveToken } from './option-parsers.js';

/** Raw commander options of `put`. */
export interface PutCliOptions {
  dir?: string;
  token?: string;
  tokenFile?: string;
  force?: boolean;
  chunkSize?: string;
  connectTimeout?: string;
  idleTimeout?: string;
  progress?: boolean;
  quiet?: boolean;
  resume?: boolean;
  retries?: string;
  retryWait?: string;
}

/** Everything `put` will do, decided before any connection is made. */
export interface PutPlan {
  files: { localPath: string; remoteName: string }[];
  destination: Destination;
  token?: string;
  overwrite: boolean;
  chunkSize: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  quiet: boolean;
  progress: boolean;
  resume: boolean;
  retry: RetryPolicy;
}

/** Joins the remote directory (relative to the served root; surrounding slashes dropped) and a name. */
export function remoteNameFor(remoteDir: string | undefined, localPath: string): string {
  const dir = (remoteDir ?? '').replace(/^\/+|\/+$/g, '');
  const name = basename(localPath);
  return dir === '' ? name : `${dir}/${name}`;
}

/** Turns `put`'s arguments and options into a plan; throws UsageError / LocalFileError. Pure but for stat. */
export function planPut(args: string[], options: PutCliOptions, env: NodeJS.ProcessEnv, stderrIsTty: boolean): PutPlan {
  if (args.length < 2) throw new UsageError('put needs at least one file and a destination: ftx put <file...> <host[:port]>');
  const destination = parseDestination(args[args.length - 1]!);
  const files = args.slice(0, -1).map((localPath) => ({ localPath, remoteName: remoteNameFor(options.dir, localPath) }));
  const seen = new Set<string>();
  for (const file of files) {
    let isFile: boolean;
    try {
      isFile = statSync(file.localPath).isFile();
    } catch (error) {
      throw new LocalFileError(`cannot read ${file.localPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    if (!isFile) throw new LocalFileError(`${file.localPath} is not a regular file`);
    if (seen.has(file.remoteName)) throw new UsageError(`two files would land as ${file.remoteName}`);
    seen.add(file.remoteName);
  }
  const chunkSize = options.chunkSize === undefined ? DEFAULT_CHUNK_SIZE : parseSize(options.chunkSize, '--chunk-size');
  const token = resolveToken(options, env);
  const quiet = options.quiet ?? false;
  return {
    files,
    destination,
    ...(token !== undefined ? { token } : {}),
    overwrite: options.force ?? false,
    chunkSize,
    connectTimeoutMs: options.connectTimeout === undefined ? 10_000 : parseSeconds(options.connectTimeout, '--connect-timeout'),
    idleTimeoutMs: options.idleTimeout === undefined ? 60_000 : parseSeconds(options.idleTimeout, '--idle-timeout'),
    quiet,
    progress: options.progress !== false && !quiet && stderrIsTty,
    resume: options.resume !== false,
    retry: {
      ...DEFAULT_RETRY_POLICY,
      ...(options.retries !== undefined ? { retries: parseCount(options.retries, '--retries') } : {}),
      ...(options.retryWait !== undefined ? { baseDelayMs: parseSeconds(options.retryWait, '--retry-wait') } : {}),
    },
  };
}

/** Runs a plan: one connection (re-opened after a break), files in order, a receipt line per file. */
export async function runPut(plan: PutPlan, io: CliIo): Promise<void> {
  const view: ProgressView = plan.progress ? createBarView(io.stderr) : silentProgress;
  const { host, port } = plan.destination;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const session = new ReconnectingClient({
    host, port, connectTimeoutMs: plan.connectTimeoutMs, idleTimeoutMs: plan.idleTimeoutMs,
    ...(plan.token !== undefined ? { token: plan.token } : {}),
  });
  try {
    for (const file of plan.files) {
      let shown = 0;
      let barOpen = false;
      let receipt;
      try {
        receipt = await putWithRetry(session, file.localPath, {
          remoteName: file.remoteName,
          overwrite: plan.overwrite,
          chunkSize: plan.chunkSize,
          resume: plan.resume,
          onProgress: (done, total) => {
            // A new bar after a retry continues where the last one was: never backwards.
            shown = Math.max(shown, done);
            if (!barOpen) view.start(file.remoteName, total, shown);
            barOpen = true;
            view.update(shown);
          },
        }, plan.retry, (notice) => {
          view.stop();
          barOpen = false;
          if (!plan.quiet) {
            const wait = notice.delayMs > 0 ? `; retry ${notice.attempt}/${notice.of} in ${(notice.delayMs / 1000).toFixed(1)} s` : '';
            io.stderr.write(`ftx: ${file.remoteName}: ${notice.reason}${wait}\n`);
          }
        });
      } finally {
        view.stop();
      }
      if (!plan.quiet) io.stdout.write(`${formatUploadSummary(receipt, where)}\n`);
    }
  } catch (error) {
    session.drop();
    throw error;
  }
  await session.close();
}
