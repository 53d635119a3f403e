/**
 * Progress display for uploads: a cli-progress bar on a terminal, nothing otherwise.
 * Knows nothing of the protocol: it is told names, totals and counts.
 */
import { cliProgress, type CliProgress } from './lazy-cli-progress.js';
import { formatBytes, formatRate } from './format.js';

/** Receives progress of one file at a time. */
export interface ProgressView {
  /**
   * Shows a bar for `name` starting at `done` (a resumed upload starts past 0). With a null total
   * (a stream), only bytes and rate are shown: no percent or ETA without a total.
   */
  start(name: string, total: number | null, done?: number): void;
  update(done: number): void;
  /** Removes the bar (before the summary line is printed). */
  stop(): void;
}

/** Shortens a name to fit the bar line, keeping its end (the extension and last characters). */
function fitName(name: string, width: number): string {
  return name.length <= width ? name.padEnd(width) : `…${name.slice(name.length - width + 1)}`;
}

/** A single cli-progress bar on `stream` (a TTY): name, bar, percent, done/total, rate, ETA. */
export function createBarView(stream: NodeJS.WriteStream): ProgressView {
  let bar: CliProgress.SingleBar | undefined;
  let started = 0;
  let shown = 0;
  let base = 0;
  return {
    start(name, total, done = 0) {
      started = Date.now();
      shown = done;
      base = done;
      bar = new (cliProgress().SingleBar)({
        stream,
        format: total === null
          ? '{name} | {value} | {rate}'
          : '{name} |{bar}| {percentage}% | {value} / {total} | {rate} | ETA {eta_formatted}',
        formatValue: (value, _options, type) =>
          type === 'value' || type === 'total' ? formatBytes(value) : String(value),
        barCompleteChar: '█',
        barIncompleteChar: '░',
        barsize: 24,
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
        clearOnComplete: false,
        stopOnComplete: false,
      });
      bar.start(total ?? Number.MAX_SAFE_INTEGER, done, { name: fitName(name, 24), rate: formatRate(0) });
    },
    update(done) {
      // Progress never goes backwards, even if a caller reports out of order.
      shown = Math.max(shown, done);
      const seconds = (Date.now() - started) / 1000;
      bar?.update(shown, { rate: formatRate(seconds > 0 ? (shown - base) / seconds : 0) });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
