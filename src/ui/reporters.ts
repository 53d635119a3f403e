/**
 * What `ftx put` shows: human lines and bars (cli-progress) for people, NDJSON for scripts.
 * Both implement UploadEvents; neither knows the protocol.
 */
import type { FileResult, JobFile, UploadEvents, UploadSummary } from '../client/tree/upload-tree.js';
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
  return new HumanReporter(options);
}

/**
 * The human reporter's state: counts for the overall bar, bytes in flight per file, the bars. Its
 * events are arrow properties: they are handed around unbound (e.g. `onWarning: events.note`).
 */
class HumanReporter implements Reporter {
  private files = 0;
  private totalBytes = 0;
  private doneFiles = 0;
  private doneBytes = 0;
  private readonly fileProgress = new Map<string, number>();
  /** Sum of fileProgress's values, kept as they change (a batch has hundreds of files in flight). */
  private inFlightBytes = 0;
  private board: ProgressBoard | undefined;
  /** A tree's total; undefined for a run of one file. */
  private overall: ProgressBar | undefined;
  /** The bar of the file being sent (one file, or a tree's large files one after the other). */
  private current: { bar: ProgressBar; file: JobFile } | undefined;
  /** After a retry, the next progress is the resumed offset: the bars start over from there. */
  private resumed = false;

  constructor(private readonly options: HumanOptions) {}

  private setProgress(name: string, done: number | undefined): void {
    this.inFlightBytes += (done ?? 0) - (this.fileProgress.get(name) ?? 0);
    if (done === undefined) this.fileProgress.delete(name);
    else this.fileProgress.set(name, done);
  }

  private filesLabel(): string {
    return `${this.doneFiles}/${this.files} files`;
  }

  /** While bars are drawn, lines for the same terminal go above them (stdout too, when it is that terminal). */
  private print(stream: NodeJS.WritableStream, line: string): void {
    if (this.board && (stream === this.options.stderr || (stream as NodeJS.WriteStream).isTTY)) this.board.log(line);
    else stream.write(`${line}\n`);
  }

  private updateOverall(): void {
    this.overall?.update(Math.min(this.doneBytes + this.inFlightBytes, this.totalBytes), this.filesLabel());
  }

  private showCurrent(file: JobFile): void {
    if (!this.board) return;
    if (this.current) this.current.bar.restart(file.name, file.size, 0);
    else this.current = { bar: this.board.add(this.overall ? 'current' : file.size === null ? 'stream' : 'file', file.name, file.size), file };
    this.current.file = file;
  }

  private stopBars(): void {
    this.board?.stop();
    this.board = undefined;
  }

  planned = (list: JobFile[], bytes: number): void => {
    this.files = list.length;
    this.totalBytes = bytes;
    if (!this.options.bars) return;
    this.board = createProgressBoard(this.options.stderr);
    if (list.length > 1) this.overall = this.board.add('overall', this.filesLabel(), bytes);
  };

  started = (file: JobFile): void => {
    // In a tree, only files large enough to take a while get the current-file bar.
    if (!this.overall || (file.size !== null && file.size > 1024 * 1024)) this.showCurrent(file);
  };

  progressed = (file: JobFile, done: number): void => {
    this.setProgress(file.name, done);
    const current = this.current?.file.name === file.name ? this.current : undefined;
    if (this.resumed) {
      this.resumed = false;
      current?.bar.restart(file.name, file.size, done);
      this.overall?.restart(this.filesLabel(), this.totalBytes, Math.min(this.doneBytes + this.inFlightBytes, this.totalBytes));
    } else {
      current?.bar.update(done);
      this.updateOverall();
    }
  };

  sent = (file: JobFile, result: FileResult): void => {
    if (this.current?.file.name === file.name) this.current.bar.update(result.size);
    this.setProgress(file.name, undefined);
    this.doneFiles++;
    this.doneBytes += result.size;
    this.updateOverall();
    if (!this.options.quiet && this.options.lines) this.print(this.options.lines, formatUploadSummary({ ...result, localPath: file.localPath }, this.options.destination));
  };

  skipped = (file: JobFile, reason: string): void => {
    this.doneFiles++;
    this.doneBytes += file.size ?? 0;
    this.updateOverall();
    if (!this.options.quiet && this.options.lines) this.print(this.options.lines, `skipped ${file.localPath} -> ${file.name}: ${reason}`);
  };

  failed = (file: JobFile, error: unknown): void => {
    this.doneFiles++;
    this.setProgress(file.name, undefined);
    this.updateOverall();
    this.print(this.options.stderr, `ftx: ${describeFailure(file.name, error)}`);
  };

  wouldSend = (file: JobFile, how: string): void => {
    const fails = how.startsWith('fail');
    if (this.options.lines) this.print(this.options.lines, `would ${fails ? how : `${how}:`} ${fails ? file.name : `${file.localPath} -> ${file.name}`}`);
  };

  note = (message: string): void => {
    if (!this.options.quiet) this.print(this.options.stderr, `ftx: ${message}`);
  };

  retry = (message: string): void => {
    this.resumed = true;
    if (!this.options.quiet) this.print(this.options.stderr, `ftx: ${message}`);
  };

  finish = (s: UploadSummary): void => {
    this.stopBars();
    const { stderr, quiet } = this.options;
    if (!quiet && s.dryRun) {
      stderr.write(`ftx: dry run: ${s.dryRun.send} to send or create, ${s.skipped} to skip, ${s.dryRun.fail} would fail; nothing was sent\n`);
    } else if (!quiet && (this.files !== 1 || s.skipped > 0 || s.failed > 0)) {
      stderr.write(`ftx: ${s.sent} sent, ${s.skipped} skipped, ${s.failed} failed; ${formatBytes(s.bytes)} in ${formatSeconds(s.seconds)}\n`);
    }
  };

  /** Also on SIGINT/SIGTERM (src/cli/signals.ts): every queued line out, cursor back. */
  fatal = (): void => {
    this.stopBars();
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
