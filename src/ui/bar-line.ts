/**
 * The text of one progress line, fitted to a terminal width: parts are kept by priority and the
 * name and the bar take the room that is left. Pure: the bar itself is drawn by the caller.
 */

/** The parts a line may show besides its name. */
export type BarField = 'bar' | 'percent' | 'bytes' | 'done' | 'rate' | 'eta';

/** What a line would show, all of it; undefined texts (a rate not known yet) keep their room blank. */
export interface BarLine {
  name: string;
  /** 0..1, for the bar. */
  progress: number;
  texts: Partial<Record<Exclude<BarField, 'bar'>, string | undefined>>;
  /** The fields this line may show, the most wanted first: on a narrow terminal the last ones go. */
  priority: BarField[];
  /** Width wanted for the name column (bars drawn together share it, so that they line up). */
  nameWidth: number;
}

const GAP = '  ';
const NAME_MIN = 8;
const BAR_MIN = 10;
const BAR_MAX = 40;
/** Fixed widths: "100%", "1023 KiB / 1023 KiB", "1023 KiB", "1023 KiB/s", "ETA 99h59m". */
const WIDTH: Record<Exclude<BarField, 'bar'>, number> = { percent: 4, bytes: 19, done: 8, rate: 10, eta: 10 };
const DISPLAY_ORDER: BarField[] = ['bar', 'percent', 'bytes', 'done', 'rate', 'eta'];

/** The main East Asian Wide and Fullwidth ranges (CJK, Hangul, fullwidth forms, emoji): 2 columns. */
const WIDE: Array<[number, number]> = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xff60], [0xffe0, 0xffe6], [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff], [0x20000, 0x3fffd],
];
/** Combining marks, zero-width spaces and joiners, variation selectors: 0 columns. */
const ZERO: Array<[number, number]> = [[0x0300, 0x036f], [0x200b, 0x200f], [0x20d0, 0x20ff], [0xfe00, 0xfe0f]];

const within = (ranges: Array<[number, number]>, code: number): boolean => ranges.some(([from, to]) => code >= from && code <= to);

/** Columns a character takes on a terminal: the bar's blocks and "…" take one, CJK two. */
function charColumns(char: string): number {
  const code = char.codePointAt(0)!;
  if (code < 0x300) return 1;
  return within(ZERO, code) ? 0 : within(WIDE, code) ? 2 : 1;
}

/** Columns `text` takes on a terminal. */
export function textColumns(text: string): number {
  let columns = 0;
  for (const char of text) columns += charColumns(char);
  return columns;
}

/** A name safe to draw: control characters (a newline, ESC) shown as "?". */
function printable(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** `name` in exactly `width` columns: padded, or shortened keeping its end ("…ong-name.bin"). */
export function fitName(name: string, width: number): string {
  const text = printable(name);
  const columns = textColumns(text);
  if (columns <= width) return text + ' '.repeat(width - columns);
  const kept: string[] = [];
  let used = 1;
  for (const char of [...text].reverse()) {
    if (used + charColumns(char) > width) break;
    kept.unshift(char);
    used += charColumns(char);
  }
  return `${width > 0 ? '…' : ''}${kept.join('')}${' '.repeat(Math.max(0, width - used))}`;
}

/**
 * The line in at most `columns - 1` columns (the last column is never written: a full row would
 * leave the cursor waiting to wrap). `drawBar(progress, size)` draws a bar of `size` columns.
 */
export function layoutBarLine(line: BarLine, columns: number, drawBar: (progress: number, size: number) => string): string {
  const room = Math.max(1, columns - 1);
  const shown = new Set<BarField>();
  let used = Math.min(NAME_MIN, room);
  for (const field of line.priority) {
    const width = GAP.length + (field === 'bar' ? BAR_MIN : WIDTH[field]);
    if (used + width > room) continue;
    shown.add(field);
    used += width;
  }
  let spare = room - used;
  const nameWidth = Math.min(room, Math.max(Math.min(NAME_MIN, room), Math.min(line.nameWidth, NAME_MIN + spare)));
  spare -= Math.max(0, nameWidth - NAME_MIN);
  const parts = [fitName(line.name, nameWidth)];
  for (const field of DISPLAY_ORDER) {
    if (!shown.has(field)) continue;
    if (field === 'bar') parts.push(drawBar(line.progress, Math.min(BAR_MAX, BAR_MIN + spare)));
    else if (field === 'eta') parts.push((line.texts.eta ?? '').padEnd(WIDTH.eta));
    else parts.push((line.texts[field] ?? '').padStart(WIDTH[field]));
  }
  return parts.join(GAP).trimEnd();
}

/**
 * Lines of these widths (columns), drawn one under the other with the cursor left after the last,
 * as a terminal rewraps them at `width`: the rows they take, and the row (from their top) the cursor is on.
 */
export function rewrappedRows(lineColumns: number[], width: number): { rows: number; cursorRow: number } {
  const rowsOf = (columns: number): number => Math.max(1, Math.ceil(columns / width));
  const above = lineColumns.slice(0, -1).reduce((sum, columns) => sum + rowsOf(columns), 0);
  const last = lineColumns.at(-1) ?? 0;
  // A last line that exactly fills its rows leaves the cursor on its last row: never count a row more
  // (going up too far would blank a line printed above the bars).
  return { rows: above + rowsOf(last), cursorRow: above + Math.min(rowsOf(last) - 1, Math.floor(last / width)) };
}
