/** `ftx put <source...> [host[:port]]`: plan from commander's options (pure), then run the upload. */
import { resolve } from 'node:path';
import { isatty } from 'node:tty';
import { parseDestination, type Destination } from '../client/address.js';
import { clientIdFor } from '../client/client-id.js';
import { FtxClient, type StreamInput } from '../client/client.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../client/retry.js';
import { runUpload, type IfExists, type UploadJob, type UploadSummary } from '../client/tree/upload-tree.js';
import { DEFAULT_CLIENT_IDLE_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from '../client/defaults.js';
import { UsageError } from '../errors.js';
import { formatHostPort } from '../transport/connect.js';
import { canDrawBars } from '../ui/progress.js';
import { combineReporters, createHumanReporter, createJsonReporter, type Reporter } from '../ui/reporters.js';
import { describeError, EXIT, exitCodeFor } from './exit-codes.js';
import type { CliIo } from './io.js';
import { resolveToken } from './option-parsers.js';
import { startProducer, type Producer } from './producer.js';
import { planClientTls, type ClientTlsCliOptions, type ClientTlsPlan } from './tls-options.js';
import { afterPendingSignals, exitBySignal, trapInterrupts } from './signals.js';

/** Commander's options of `put`, values already checked and converted (program.ts). */
export interface PutCliOptions extends ClientTlsCliOptions {
  /** --to or FTX_HOST. */
  to?: Destination;
  /** --dir or FTX_DIR. */
  dir?: string;
  name?: string;
  token?: string;
  tokenFile?: string;
  force?: boolean;
  /** --if-exists or FTX_IF_EXISTS. */
  ifExists?: IfExists;
  checksum?: boolean;
  exclude?: string[];
  followSymlinks?: boolean;
  dryRun?: boolean;
  json?: boolean;
  chunkSize?: number;
  connectTimeout?: number;
  idleTimeout?: number;
  progress?: boolean;
  quiet?: boolean;
  resume?: boolean;
  retries?: number;
  retryWait?: number;
}

/** Everything `put` will do, decided before any connection is made. */
export interface PutPlan {
  sources: string[];
  /** Upload stdin (source "-") or the producer's output under this name. */
  streamName?: string;
  /** `put -- COMMAND [ARGS...]`: run this and upload its stdout; commit only if it exits 0. */
  producer?: string[];
  destination: Destination;
  token?: string;
  /** TLS or plain text (docs/PROTOCOL.md §14). */
  security: ClientTlsPlan;
  remoteDir: string;
  ifExists: IfExists;
  checksum: boolean;
  exclude: string[];
  followSymlinks: boolean;
  dryRun: boolean;
  json: boolean;
  /** --chunk-size; unset: each kind's default (files 4096, streams STREAM_CHUNK_SIZE). */
  chunkSize: number | undefined;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  quiet: boolean;
  progress: boolean;
  resume: boolean;
  retry: RetryPolicy;
}

/** What a put uploads and where: files and trees, stdin ("-"), or a command's output. */
interface SourcePlan {
  sources: string[];
  destination: Destination;
  streamName?: string;
  producer?: string[];
}

/**
 * Sources and destination from the arguments. The destination is --to (or FTX_HOST: every
 * argument is then a source), else the last argument. `command` is what followed "--".
 */
function planSources(args: string[], options: PutCliOptions, command: string[] | undefined): SourcePlan {
  const last = args.length >= (command ? 1 : 2) ? args[args.length - 1] : undefined;
  const destination = options.to ?? (last !== undefined ? parseDestination(last) : undefined);
  const sources = options.to !== undefined ? args : args.slice(0, -1);
  if (command !== undefined) {
    const form = 'ftx put --name <name> <host[:port]> -- <command> [args...]';
    if (command.length === 0) throw new UsageError(`"--" must be followed by the command whose output to upload: ${form}`);
    if (destination === undefined) throw new UsageError(`put needs a destination: ${form} (or --to, or FTX_HOST)`);
    if (sources.length > 0) throw new UsageError(`a command's output is the only source: no files or "-" with "-- <command>" (${form})`);
    if (!options.name) throw new UsageError(`uploading a command's output needs a name: ${form}`);
    return { sources: [], destination, streamName: options.name, producer: command };
  }
  if (destination === undefined || sources.length === 0) {
    throw new UsageError('put needs sources and a destination: ftx put <source...> <host[:port]> (or --to, or FTX_HOST)');
  }
  if (!sources.includes('-')) {
    if (options.name !== undefined) throw new UsageError('--name is only for stdin ("-") or a command ("-- <command>")');
    return { sources, destination };
  }
  if (sources.length !== 1) throw new UsageError('"-" (stdin) cannot be combined with other sources');
  if (!options.name) throw new UsageError('uploading stdin needs a name: ftx put - <host> --name <name>');
  return { sources, destination, streamName: options.name };
}

/**
 * Turns `put`'s arguments and options into a plan; throws UsageError. `command` is what followed
 * "--" on the command line (`put --name NAME -- COMMAND [ARGS...]`).
 */
export function planPut(args: string[], options: PutCliOptions, stderrIsTty: boolean, command?: string[]): PutPlan {
  const { sources, destination, streamName, producer } = planSources(args, options, command);
  const token = resolveToken(options);
  const quiet = options.quiet ?? false;
  return {
    sources,
    ...(streamName !== undefined ? { streamName } : {}),
    ...(producer !== undefined ? { producer } : {}),
    destination,
    ...(token !== undefined ? { token } : {}),
    security: planClientTls(options, destination.host, token),
    remoteDir: (options.dir ?? '').replace(/^\/+|\/+$/g, ''),
    ifExists: options.force ? 'overwrite' : options.ifExists ?? 'fail',
    checksum: options.checksum ?? false,
    exclude: options.exclude ?? [],
    followSymlinks: options.followSymlinks ?? false,
    dryRun: options.dryRun ?? false,
    json: options.json ?? false,
    chunkSize: options.chunkSize,
    connectTimeoutMs: options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: options.idleTimeout ?? DEFAULT_CLIENT_IDLE_TIMEOUT_MS,
    quiet,
    progress: options.progress !== false && !quiet && stderrIsTty,
    resume: options.resume !== false,
    retry: {
      ...DEFAULT_RETRY_POLICY,
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.retryWait !== undefined ? { baseDelayMs: options.retryWait } : {}),
    },
  };
}

/**
 * The run's exit code: 0, "partial" when some files failed and others made it, else the failure's.
 * A dry run counts what it reports would be sent or would fail, so it exits as the real run would.
 */
export function exitCodeForRun(summary: Pick<UploadSummary, 'sent' | 'skipped' | 'failed' | 'dryRun' | 'firstError'>): number {
  const failed = summary.failed + (summary.dryRun?.fail ?? 0);
  if (failed === 0) return EXIT.OK;
  if (summary.sent + summary.skipped + (summary.dryRun?.send ?? 0) > 0) return EXIT.PARTIAL;
  return exitCodeFor(summary.firstError);
}

/**
 * The stream a plan uploads, if any: stdin, or the output of the producer command, which starts once
 * the server has accepted the upload and whose exit status decides the commit. Neither commits
 * before a signal that came with the end of input has been handled.
 */
function streamOf(plan: PutPlan, stdin: (() => StreamInput)): { stream?: UploadJob['stream']; producer: () => Producer | undefined } {
  let producer: Producer | undefined;
  const command = plan.producer;
  if (plan.streamName === undefined) return { producer: () => producer };
  if (command === undefined) return { stream: { input: stdin(), name: plan.streamName, beforeEnd: afterPendingSignals }, producer: () => producer };
  return {
    stream: {
      name: plan.streamName,
      from: `the output of: ${command.join(' ')}`,
      input: () => (producer = startProducer(command)).output,
      beforeEnd: async () => {
        await afterPendingSignals();
        await producer?.succeeded();
      },
    },
    producer: () => producer,
  };
}

/** The human reporter, and the NDJSON one with --json. */
function reporterFor(plan: PutPlan, io: CliIo, where: string): Reporter {
  // With --json on a terminal the NDJSON lines are the screen: bars only when stdout goes elsewhere.
  const bars = plan.progress && canDrawBars(io.stderr, process.env) && !(plan.json && (io.stdout as NodeJS.WriteStream).isTTY);
  const human = createHumanReporter({
    lines: plan.json ? undefined : io.stdout, stderr: io.stderr, bars, quiet: plan.quiet, destination: where,
  });
  return plan.json ? combineReporters(createJsonReporter(io.stdout), human) : human;
}

/** The client of a run: its timeouts, token, retry policy (retries reported), and this job's client id. */
function clientFor(plan: PutPlan, reporter: Reporter): FtxClient {
  const { host, port } = plan.destination;
  // The same job (destination, sources, remote names) has the same id in a new run: its retry may
  // take over what a dead connection of an earlier run still holds on the server.
  const jobIdentity = ['put', host, port, plan.remoteDir, plan.sources.map((source) => (source === '-' ? source : resolve(source))), plan.streamName ?? null];
  return new FtxClient({
    host, port, connectTimeoutMs: plan.connectTimeoutMs, idleTimeoutMs: plan.idleTimeoutMs, clientId: clientIdFor(jobIdentity, process.env),
    ...(plan.token !== undefined ? { token: plan.token } : {}),
    retry: plan.retry,
    onRetry: (notice) => {
      const wait = notice.delayMs > 0 ? `; retry ${notice.attempt}/${notice.of} in ${(notice.delayMs / 1000).toFixed(1)} s` : '';
      reporter.retry(`${notice.reason}${wait}`);
    },
    ...plan.security,
  });
}

/**
 * Stdin as a stream upload reads it: by its file descriptor (a pipe, a socket or a file, read
 * straight into the frame blocks), except a terminal, which is process.stdin (its modes and
 * signals stay Node's). process.stdin is not touched otherwise.
 */
function stdinInput(): StreamInput {
  return isatty(0) ? process.stdin : { fd: 0 };
}

/** Runs a plan; resolves with the exit code. Fatal failures are reported, then thrown. */
export async function runPut(plan: PutPlan, io: CliIo, stdin: () => StreamInput = stdinInput): Promise<number> {
  const reporter = reporterFor(plan, io, formatHostPort(plan.destination.host, plan.destination.port));
  const client = clientFor(plan, reporter);
  const job: UploadJob = {
    sources: plan.sources, remoteDir: plan.remoteDir, exclude: plan.exclude, followSymlinks: plan.followSymlinks,
    ifExists: plan.ifExists, checksum: plan.checksum, chunkSize: plan.chunkSize, resume: plan.resume, dryRun: plan.dryRun,
  };
  const { stream, producer } = streamOf(plan, stdin);
  if (stream) job.stream = stream;
  // A signal ends the run here and now: no reconnect, no commit after it (see signals.ts).
  const release = trapInterrupts((error) => {
    const code = exitCodeFor(error);
    producer()?.stop(error.signal);
    client.destroy();
    reporter.fatal(error, code);
    io.stderr.write(`ftx: error: ${describeError(error)}\n`);
    exitBySignal(error.signal, code, release);
  });
  try {
    const summary = await runUpload(client, job, reporter);
    const code = exitCodeForRun(summary);
    reporter.finish(summary, code);
    await client.close().catch(() => undefined);
    return code;
  } catch (error) {
    client.destroy();
    reporter.fatal(error, exitCodeFor(error));
    throw error;
  } finally {
    release();
    producer()?.stop('SIGTERM'); // still running only when the upload failed
  }
}
