/**
 * Progress bars on a terminal (cli-progress's MultiBar, one bar or several) with lines printed
 * above them. Knows nothing of the protocol: it is told names, totals and counts.
 *
 * Every line logged appears whole (line wrap stays on; the bars are fitted to the width instead),
 * once and in order, also the ones still queued when the bars stop. The bars follow resizes.
 */
import { clearLine, cursorTo, moveCursor } from 'node:readline';
import { layoutBarLine, rewrappedRows, textColumns, type BarField, type BarLine } from './bar-line.js';
import { formatBytes, formatEta, formatRate } from './format.js';
import { cliProgress, type CliProgress } from './lazy-cli-progress.js';
import { RateMeter } from './rate-meter.js';

/**
 * What a bar is for, which decides what it keeps on a narrow terminal: a run of one file and a
 * tree's total keep the ETA, a tree's current file the rate; a stream (no size) shows bytes and rate.
 */
export type BarKind = 'file' | 'overall' | 'current' | 'stream';

const PRIORITY: Record<BarKind, BarField[]> = {
  file: ['percent', 'eta', 'bar', 'rate', 'bytes'],
  overall: ['percent', 'eta', 'bar', 'rate', 'bytes'],
  current: ['percent', 'rate', 'bar', 'eta', 'bytes'],
  stream: ['done', 'rate'],
};

/** Name columns wanted at most: the rest of a wide terminal goes to the bar. */
const NAME_MAX = 32;

/** One bar of a board. */
export interface ProgressBar {
  /** Shows `name` at `done` of `total` from now on; the rate starts over (a new file, or a resumed offset). */
  restart(name: string, total: number | null, done: number): void;
  /** `done` so far (and a new name, e.g. a count of files). */
  update(done: number, name?: string): void;
}

/** Bars on a terminal with lines above them. */
export interface ProgressBoard {
  add(kind: BarKind, name: string, total: number | null, done?: number): ProgressBar;
  /** Prints `line` above the bars (or just prints it when no bar is drawn). */
  log(line: string): void;
  /** Prints the lines still queued, removes the bars and shows the cursor again. Safe to call twice. */
  stop(): void;
}

interface BarState {
  kind: BarKind;
  name: string;
  total: number | null;
  meter: RateMeter;
  /** The line last drawn (to know what a resize did to it). */
  drawn: string;
}

/** The parts of a bar's line at `done`, its rate and ETA from its meter (blank until known). */
function describeBar(state: BarState, done: number, nameWidth: number): BarLine {
  const rate = state.meter.perSecond();
  const left = state.total === null ? 0 : state.total - done;
  const fraction = state.total === null ? 0 : state.total === 0 ? 1 : Math.min(1, done / state.total);
  return {
    name: state.name,
    progress: fraction,
    texts: {
      percent: state.total === null ? undefined : `${Math.floor(fraction * 100)}%`,
      bytes: state.total === null ? undefined : `${formatBytes(done).padStart(8)} / ${formatBytes(state.total)}`,
      done: formatBytes(done),
      rate: rate === undefined ? undefined : formatRate(rate),
      eta: rate !== undefined && rate > 0 && left > 0 ? `ETA ${formatEta(left / rate)}` : undefined,
    },
    priority: PRIORITY[state.kind],
    nameWidth,
  };
}

/** Bars on `stream` (a terminal: the caller decides that bars fit, see canDrawBars). */
export function createProgressBoard(stream: NodeJS.WriteStream): ProgressBoard {
  return new TerminalBoard(stream);
}

/** cli-progress's MultiBar with the lines above it kept whole and the bars fitted to the width. */
class TerminalBoard implements ProgressBoard {
  private readonly states: BarState[] = [];
  private multi: CliProgress.MultiBar | undefined;
  /** Rows from the bars' top holding stale text: bars that lines are printed over, or a resize rewrapped. */
  private staleRows = 0;
  private stopping = false;
  private readonly onResize = (): void => this.redrawAfterResize();

  constructor(private readonly stream: NodeJS.WriteStream) {}

  add(kind: BarKind, name: string, total: number | null, done = 0): ProgressBar {
    this.multi ??= this.start();
    const state: BarState = { kind, name, total, meter: new RateMeter(), drawn: '' };
    state.meter.reset(done);
    this.states.push(state);
    const bar = this.multi.create(total ?? 1, done, { state });
    return {
      restart(newName, newTotal, newDone) {
        Object.assign(state, { name: newName, total: newTotal });
        state.meter.reset(newDone);
        bar.setTotal(newTotal ?? 1);
        bar.update(newDone);
      },
      update(newDone, newName) {
        if (newName !== undefined) state.name = newName;
        state.meter.record(newDone);
        bar.update(newDone);
      },
    };
  }

  log(line: string): void {
    if (!this.multi?.isActive) {
      this.stream.write(`${line}\n`);
      return;
    }
    // A line longer than the bars wraps over their rows: blank them before it is written.
    this.staleRows = Math.max(this.staleRows, this.drawn().length);
    this.multi.log(`${line}\n`);
  }

  stop(): void {
    if (!this.multi?.isActive) return;
    this.multi.update(); // the lines still queued (MultiBar.stop() would drop them)
    // MultiBar.stop() draws each bar once more, here as a blank row, then goes below them: come back up.
    this.stopping = true;
    const rows = this.drawn().length;
    this.multi.stop();
    moveCursor(this.stream, 0, -rows);
    cursorTo(this.stream, 0);
    this.stream.off('resize', this.onResize);
  }

  private start(): CliProgress.MultiBar {
    const bars = new (cliProgress().MultiBar)({
      // forceRedraw: every frame is written, so the cursor always ends after the last bar (see redrawAfterResize).
      stream: this.stream, format: this.format, fps: 10, hideCursor: true, clearOnComplete: false, forceRedraw: true,
      // Line wrap stays on, so that logged lines are never cut: each bar is fitted to the width instead.
      linewrap: true,
      barsize: 40, barCompleteChar: '█', barIncompleteChar: '░',
    });
    // Emitted with the cursor at the bars' top, before the queued lines and the bars are written.
    bars.on('redraw-pre', () => {
      this.clearRows(this.staleRows);
      this.staleRows = 0;
    });
    this.stream.on('resize', this.onResize);
    return bars;
  }

  /** cli-progress's format function: the bar's line for the terminal's width now. */
  private readonly format: CliProgress.GenericFormatter = (options, params, payload: { state: BarState }) => {
    const nameWidth = Math.min(NAME_MAX, Math.max(...this.states.map((s) => textColumns(s.name))));
    const line = this.stopping ? '' : layoutBarLine(describeBar(payload.state, params.value, nameWidth), params.maxWidth,
      (progress, size) => cliProgress().Format.BarFormat(progress, { ...options, barsize: size }));
    payload.state.drawn = line;
    return line;
  };

  /** The bars the last frame drew (a bar added since is not on the screen yet). */
  private drawn(): BarState[] {
    return this.states.filter((s) => s.drawn !== '');
  }

  /**
   * Blanks `count` rows from the cursor down, one by one (not "clear to the end of the screen":
   * tmux copies a screen cleared from its top-left corner into the scrollback), then goes back up.
   */
  private clearRows(count: number): void {
    for (let row = 0; row < count; row++) {
      clearLine(this.stream, 0);
      if (row < count - 1) moveCursor(this.stream, 0, 1);
    }
    if (count > 1) moveCursor(this.stream, 0, -(count - 1));
  }

  /**
   * A terminal that got narrower rewraps the bar lines drawn at the old width (tmux, VTE, kitty,
   * iTerm2 do; the cursor stays on the rewrapped last line): go up to where the first one now
   * starts, blank what they cover, draw again at the new width.
   */
  private redrawAfterResize(): void {
    const shown = this.drawn();
    if (!this.multi?.isActive || shown.length === 0) return;
    const { rows, cursorRow } = rewrappedRows(shown.map((s) => textColumns(s.drawn)), Math.max(1, this.stream.columns));
    // cli-progress goes up one row per bar after the first (its newlines); the rest is ours.
    const extra = cursorRow - (shown.length - 1);
    if (extra > 0) moveCursor(this.stream, 0, -extra);
    this.staleRows = Math.max(this.staleRows, rows);
    this.multi.update();
  }
}

/** Bars need a terminal that moves its cursor: a TTY, not TERM=dumb, and no NO_COLOR (no escapes at all). */
export function canDrawBars(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && env.TERM !== 'dumb' && !env.NO_COLOR;
}
