/**
 * What `ftx put` shows: human lines and bars (cli-progress) for people, NDJSON for scripts.
 * Both implement UploadEvents; neither knows the protocol.
 */
import type { FileResult, JobFile, UploadEvents, UploadSummary } from '../client/upload-tree.js';
import { FtxError, ProducerError, StatusError } from '../errors.js';
import { formatBytes, formatSeconds } from './format.js';
import { createProgressBoard, type ProgressBar, type ProgressBoard } from './progress.js';
import { formatUploadSummary } from './summary.js';

/** A reporter also hears about retries and the end of the run. */
export interface Reporter extends UploadEvents {
  retry(message: string): void;
  finish(summary: UploadSummary, exitCode: number): void;
  fatal(error: unknown, exitCode: number): void;
}

function describe(error: unknown): { code: string; status?: number; message: string; producer?: object } {
  if (error instanceof StatusError) return { code: error.code, status: error.status, message: error.message };
  if (error instanceof ProducerError) {
    return { code: error.code, message: error.message, producer: { command: error.command, exitCode: error.exitCode, signal: error.signal } };
  }
  if (error instanceof FtxError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

/** One line per failure: "<name>: <message> (server: 409 exists)". */
export function describeFailure(name: string, error: unknown): string {
  const d = describe(error);
  return `${name}: ${d.message}${d.status !== undefined ? ` (server: ${d.status} ${d.code})` : ''}`;
}

/**
 * NDJSON events on `out`, one object per line; progress at most once a second per file. Each file
 * event carries the file's remote name and its local `source` ("-" for a stream). The `summary` is
 * always the last line: after a fatal error it follows the `error` event, with what was done so far.
 */
export function createJsonReporter(out: NodeJS.WritableStream): Reporter {
  const emit = (event: Record<string, unknown>): void => {
    out.write(`${JSON.stringify(event)}\n`);
  };
  const file = (f: JobFile): { file: string; source: string } => ({ file: f.name, source: f.localPath });
  const lastProgress = new Map<string, number>();
  const started = Date.now();
  const soFar = { sent: 0, skipped: 0, failed: 0, bytes: 0 };
  const summary = (s: typeof soFar & { seconds: number; dryRun?: UploadSummary['dryRun'] }, exitCode: number): void => emit({
    event: 'summary', sent: s.sent, skipped: s.skipped, failed: s.failed, bytes: s.bytes, seconds: Number(s.seconds.toFixed(3)),
    ...(s.dryRun ? { dryRun: s.dryRun } : {}), exitCode,
  });
  return {
    // A stream's size is not known in advance: the plan says so (null) rather than 0.
    planned: (files, bytes) => emit({ event: 'plan', files: files.length, bytes: files.some((f) => f.size === null) ? null : bytes }),
    started: (f) => emit({ event: 'start', ...file(f), size: f.size }),
    progressed: (f, done) => {
      const now = Date.now();
      if (now - (lastProgress.get(f.name) ?? 0) < 1000) return;
      lastProgress.set(f.name, now);
      emit({ event: 'progress', ...file(f), bytes: done, size: f.size });
    },
    sent: (f, r) => {
      lastProgress.delete(f.name);
      soFar.sent++;
      soFar.bytes += r.size;
      emit({ event: 'done', ...file(f), landedAs: r.filename, size: r.size, md5: r.md5, seconds: Number(r.seconds.toFixed(3)), resumedFrom: r.resumedFrom });
    },
    skipped: (f, reason) => {
      soFar.skipped++;
      emit({ event: 'skip', ...file(f), reason });
    },
    failed: (f, error) => {
      soFar.failed++;
      emit({ event: 'fail', ...file(f), ...describe(error) });
    },
    wouldSend: (f, how) => emit({ event: 'dry-run', ...file(f), action: how }),
    note: (message) => emit({ event: 'warning', message }),
    retry: (message) => emit({ event: 'retry', message }),
    finish: (s, exitCode) => summary(s, exitCode),
    fatal: (error, exitCode) => {
      emit({ event: 'error', ...describe(error), exitCode });
      summary({ ...soFar, seconds: (Date.now() - started) / 1000 }, exitCode);
    },
  };
}

/** Where human output goes and how much of it. */
export interface HumanOptions {
  /** Per-file lines (receipts, skips): stdout; undefined with --json (NDJSON carries them). */
  lines: NodeJS.WritableStream | undefined;
  stderr: NodeJS.WriteStream;
  /** Draw bars on stderr (a TTY, not --quiet / --no-progress). */
  bars: boolean;
  quiet: boolean;
  destination: string;
}

/** Bars while it runs, a line per file, a summary line at the end. */
export function createHumanReporter(options: HumanOptions): Reporter {
  const { stderr, quiet } = options;
  let files = 0;
  let totalBytes = 0;
  let doneFiles = 0;
  let doneBytes = 0;
  const fileProgress = new Map<string, number>();
  /** Sum of fileProgress's values, kept as they change (a batch has hundreds of files in flight). */
  let inFlightBytes = 0;
  const setProgress = (name: string, done: number | undefined): void => {
    inFlightBytes += (done ?? 0) - (fileProgress.get(name) ?? 0);
    if (done === undefined) fileProgress.delete(name);
    else fileProgress.set(name, done);
  };
  let board: ProgressBoard | undefined;
  /** A tree's total; undefined for a run of one file. */
  let overall: ProgressBar | undefined;
  /** The bar of the file being sent (one file, or a tree's large files one after the other). */
  let current: { bar: ProgressBar; file: JobFile } | undefined;
  /** After a retry, the next progress is the resumed offset: the bars start over from there. */
  let resumed = false;
  const filesLabel = (): string => `${doneFiles}/${files} files`;
  // While bars are drawn, lines for the same terminal go above them (stdout too, when it is that terminal).
  const print = (stream: NodeJS.WritableStream, line: string): void => {
    if (board && (stream === stderr || (stream as NodeJS.WriteStream).isTTY)) board.log(line);
    else stream.write(`${line}\n`);
  };
  const updateOverall = (): void => {
    overall?.update(Math.min(doneBytes + inFlightBytes, totalBytes), filesLabel());
  };
  const showCurrent = (file: JobFile): void => {
    if (!board) return;
    if (current) current.bar.restart(file.name, file.size, 0);
    else current = { bar: board.add(overall ? 'current' : file.size === null ? 'stream' : 'file', file.name, file.size), file };
    current.file = file;
  };
  const stopBars = (): void => {
    board?.stop();
    board = undefined;
  };
  return {
    planned(list, bytes) {
      files = list.length;
      totalBytes = bytes;
      if (!options.bars) return;
      board = createProgressBoard(stderr);
      if (list.length > 1) overall = board.add('overall', filesLabel(), bytes);
    },
    started(file) {
      // In a tree, only files large enough to take a while get the current-file bar.
      if (!overall || (file.size !== null && file.size > 1024 * 1024)) showCurrent(file);
    },
    progressed(file, done) {
      setProgress(file.name, done);
      if (resumed) {
        resumed = false;
        if (current?.file.name === file.name) current.bar.restart(file.name, file.size, done);
        overall?.restart(filesLabel(), totalBytes, Math.min(doneBytes + inFlightBytes, totalBytes));
      } else {
        if (current?.file.name === file.name) current.bar.update(done);
        updateOverall();
      }
    },
    sent(file, result: FileResult) {
      if (current?.file.name === file.name) current.bar.update(result.size);
      setProgress(file.name, undefined);
      doneFiles++;
      doneBytes += result.size;
      updateOverall();
      if (!quiet && options.lines) print(options.lines, formatUploadSummary({ ...result, localPath: file.localPath }, options.destination));
    },
    skipped(file, reason) {
      doneFiles++;
      doneBytes += file.size ?? 0;
      updateOverall();
      if (!quiet && options.lines) print(options.lines, `skipped ${file.localPath} -> ${file.name}: ${reason}`);
    },
    failed(file, error) {
      doneFiles++;
      setProgress(file.name, undefined);
      updateOverall();
      print(stderr, `ftx: ${describeFailure(file.name, error)}`);
    },
    wouldSend(file, how) {
      if (options.lines) print(options.lines, `would ${how.startsWith('fail') ? how : `${how}:`} ${how.startsWith('fail') ? file.name : `${file.localPath} -> ${file.name}`}`);
    },
    note(message) {
      if (!quiet) print(stderr, `ftx: ${message}`);
    },
    retry(message) {
      resumed = true;
      if (!quiet) print(stderr, `ftx: ${message}`);
    },
    finish(s) {
      stopBars();
      if (!quiet && s.dryRun) {
        stderr.write(`ftx: dry run: ${s.dryRun.send} to send or create, ${s.skipped} to skip, ${s.dryRun.fail} would fail; nothing was sent\n`);
      } else if (!quiet && (files !== 1 || s.skipped > 0 || s.failed > 0)) {
        stderr.write(`ftx: ${s.sent} sent, ${s.skipped} skipped, ${s.failed} failed; ${formatBytes(s.bytes)} in ${formatSeconds(s.seconds)}\n`);
      }
    },
    fatal() {
      // Also on SIGINT/SIGTERM (src/cli/signals.ts): every queued line out, cursor back.
      stopBars();
    },
  };
}

/** Sends every event to each reporter. */
export function combineReporters(...reporters: Reporter[]): Reporter {
  const all = <K extends keyof Reporter>(key: K) => (...args: Parameters<Reporter[K]>): void => {
    for (const r of reporters) (r[key] as (...a: Parameters<Reporter[K]>) => void)(...args);
  };
  return {
    planned: all('planned'), started: all('started'), progressed: all('progressed'), sent: all('sent'), skipped: all('skipped'),
    failed: all('failed'), wouldSend: all('wouldSend'), note: all('note'), retry: all('retry'), finish: all('finish'), fatal: all('fatal'),
  };
}

export type { JobFile };
