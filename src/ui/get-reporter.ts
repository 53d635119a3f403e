/**
 * What `ftx get` shows: a line per file (stdout), failures and the summary (stderr), a bar on a
 * terminal; or NDJSON events with the same names as put's (plan, start, progress, done, skip,
 * fail, dry-run, retry, error, summary). No protocol knowledge.
 */
import type { GetItem } from '../client/get-plan.js';
import type { GetJobEvents, GetSummary } from '../client/get-job.js';
import { FtxError, StatusError } from '../errors.js';
import { formatBytes, formatSeconds } from './format.js';
import { createProgressBoard, type ProgressBar, type ProgressBoard } from './progress.js';
import { describeFailure } from './reporters.js';

/** A get reporter also hears about the end of the run. */
export interface GetReporter extends GetJobEvents {
  retry(message: string): void;
  finish(summary: GetSummary, exitCode: number): void;
  fatal(error: unknown, exitCode: number): void;
}

const nameOf = (item: GetItem): string => item.remote;
const localOf = (item: GetItem): string => item.segments.join('/');

function describe(error: unknown): { code: string; status?: number; message: string } {
  if (error instanceof StatusError) return { code: error.code, status: error.status, message: error.message };
  if (error instanceof FtxError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

/** NDJSON on `out`; the summary is always the last line. */
export function createGetJsonReporter(out: NodeJS.WritableStream): GetReporter {
  const emit = (event: Record<string, unknown>): void => { out.write(`${JSON.stringify(event)}\n`); };
  const file = (item: GetItem): { file: string; local: string } => ({ file: nameOf(item), local: localOf(item) });
  const last = new Map<string, number>();
  const soFar: GetSummary = { fetched: 0, skipped: 0, failed: 0, bytes: 0, seconds: 0 };
  const started = Date.now();
  const summary = (s: GetSummary, exitCode: number): void => emit({
    event: 'summary', fetched: s.fetched, skipped: s.skipped, failed: s.failed, bytes: s.bytes, seconds: Number(s.seconds.toFixed(3)),
    ...(s.dryRun ? { dryRun: s.dryRun } : {}), exitCode,
  });
  return {
    planned: (items, bytes) => emit({ event: 'plan', files: items.length, bytes }),
    started: (item, from) => emit({ event: 'start', ...file(item), size: item.size, resumedFrom: from }),
    progressed: (item, done) => {
      const now = Date.now();
      if (now - (last.get(item.remote) ?? 0) < 1000) return;
      last.set(item.remote, now);
      emit({ event: 'progress', ...file(item), bytes: done, size: item.size });
    },
    fetched: (item, r) => {
      soFar.fetched++;
      soFar.bytes += r.size;
      emit({ event: 'done', ...file(item), landedAs: r.path, size: r.size, md5: r.md5, verified: r.verified, seconds: Number(r.seconds.toFixed(3)), resumedFrom: r.resumedFrom });
    },
    skipped: (item, reason) => { soFar.skipped++; emit({ event: 'skip', ...file(item), reason }); },
    failed: (item, error) => { soFar.failed++; emit({ event: 'fail', ...file(item), ...describe(error) }); },
    wouldGet: (item, action) => emit({ event: 'dry-run', ...file(item), action, size: item.size }),
    retry: (message) => emit({ event: 'retry', message }),
    finish: summary,
    fatal: (error, exitCode) => {
      emit({ event: 'error', ...describe(error), exitCode });
      summary({ ...soFar, seconds: (Date.now() - started) / 1000 }, exitCode);
    },
  };
}

/** Where human output goes. */
export interface GetHumanOptions {
  /** Per-file lines; undefined with --json or when the file itself goes to stdout. */
  lines: NodeJS.WritableStream | undefined;
  stderr: NodeJS.WriteStream;
  bars: boolean;
  quiet: boolean;
  source: string;
}

/** Lines for people, and one bar for the whole run on a terminal. */
export function createGetHumanReporter(options: GetHumanOptions): GetReporter {
  const { stderr, quiet } = options;
  let board: ProgressBoard | undefined;
  let bar: ProgressBar | undefined;
  let total = 0;
  let done = 0;
  const inFlight = new Map<string, number>();
  const line = (stream: NodeJS.WritableStream | undefined, text: string): void => {
    if (!stream) return;
    // On the terminal the bar is drawn on, a line goes above the bar (never through it): stdout too
    // when it is a terminal, as put's receipts do.
    if (board && (stream === stderr || (stream as NodeJS.WriteStream).isTTY)) board.log(text);
    else stream.write(`${text}\n`);
  };
  const update = (): void => bar?.update(done + [...inFlight.values()].reduce((a, b) => a + b, 0));
  return {
    planned: (items, bytes) => {
      total = bytes;
      if (options.bars && !quiet && items.length > 0) {
        board = createProgressBoard(stderr);
        bar = board.add(items.length === 1 ? 'file' : 'overall', items.length === 1 ? nameOf(items[0]!) : `${items.length} files`, bytes);
      }
    },
    started: () => undefined,
    progressed: (item, bytes) => { inFlight.set(item.remote, bytes); update(); },
    fetched: (item, r) => {
      inFlight.delete(item.remote);
      done += r.size;
      update();
      const how = r.verified === 'recorded' ? `verified md5 ${r.md5}` : `unrecorded: md5 ${r.md5} as read by the server, no md5 was recorded at upload`;
      const resumed = r.resumedFrom > 0 ? `, resumed at ${formatBytes(r.resumedFrom)}` : '';
      if (!quiet) line(options.lines, `${r.path}  ${formatBytes(r.size)}  ${how}${resumed}`);
    },
    skipped: (item, reason) => { if (!quiet) line(options.lines, `${localOf(item)}  skipped: ${reason}`); },
    failed: (item, error) => { inFlight.delete(item.remote); line(stderr, `ftx: ${describeFailure(nameOf(item), error)}`); },
    wouldGet: (item, action) => line(options.lines ?? stderr, `would ${action} ${nameOf(item)} -> ${localOf(item)} (${formatBytes(item.size)})`),
    retry: (message) => line(stderr, `ftx: ${message}`),
    finish: (s) => {
      board?.stop();
      if (quiet) return;
      const dry = s.dryRun ? ` (dry run: ${s.dryRun.get} would be fetched)` : '';
      stderr.write(`ftx: ${s.fetched} fetched, ${s.skipped} skipped, ${s.failed} failed, ${formatBytes(s.bytes)} in ${formatSeconds(s.seconds)} from ${options.source}${dry}\n`);
      void total;
    },
    fatal: () => board?.stop(),
  };
}
