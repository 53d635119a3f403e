// Markdown output of bench/run.mjs: one table per case, goals with PASS/MISS.
// Units: s = seconds, MB = 10^6 bytes (MB/s like ftx's own log lines), MiB = 2^20 bytes.
import { median } from './harness.mjs';

const MB = 1e6;
const MIB = 1 << 20;

export const fmtSeconds = (s) => (s < 10 ? s.toFixed(3) : s.toFixed(2));
export const fmtRate = (bytes, s) => (bytes / MB / s).toFixed(1);
/** "62.3 MB (59.4 MiB)": goals are checked in MB; MiB is what top and ps show. */
export const fmtRss = (kib) => `${((kib * 1024) / MB).toFixed(1)} MB (${((kib * 1024) / MIB).toFixed(1)} MiB)`;
export const kibToMB = (kib) => (kib * 1024) / MB;

/** {median, min, max} of a row's times, or null when it has none. */
export function stats(seconds) {
  if (seconds.length === 0) return null;
  return { median: median(seconds), min: Math.min(...seconds), max: Math.max(...seconds) };
}

/** Speed ratio of ftx against a reference row: reference median time / ftx median time. */
export function speedRatio(ftxRow, refRow) {
  const f = stats(ftxRow?.seconds ?? []);
  const r = stats(refRow?.seconds ?? []);
  return f && r ? r.median / f.median : null;
}

/**
 * The markdown table of one case. Rows: {label, ftx, bytes, seconds[], error, skipped}.
 * `runsWanted` is shown as "ok/wanted" so a failed or skipped run is visible.
 */
export function caseTable(rows, runsWanted) {
  const ftxRow = rows.find((r) => r.ftx);
  const withBytes = rows.some((r) => r.bytes);
  const head = ['tool', 'runs', 'median s', 'min s', 'max s', ...(withBytes ? ['median MB/s', 'min MB/s', 'max MB/s'] : []), 'speed ratio ref/ftx (>1: ftx faster)'];
  const lines = [`| ${head.join(' | ')} |`, `| --- | ${head.slice(1).map(() => '---:').join(' | ')} |`];
  const notes = [];
  for (const row of rows) {
    const s = stats(row.seconds);
    const runs = row.skipped ? 'skipped' : `${row.seconds.length}/${runsWanted}${row.error ? ' failed' : ''}`;
    const cells = [row.label.replaceAll('|', '\\|'), runs]; // a | would end the cell
    if (s) {
      cells.push(fmtSeconds(s.median), fmtSeconds(s.min), fmtSeconds(s.max));
      if (withBytes) cells.push(...(row.bytes ? [fmtRate(row.bytes, s.median), fmtRate(row.bytes, s.max), fmtRate(row.bytes, s.min)] : ['', '', '']));
    } else {
      cells.push('—', '—', '—', ...(withBytes ? ['—', '—', '—'] : []));
    }
    const ratio = row.ftx ? null : speedRatio(ftxRow, row);
    cells.push(row.ftx ? '(ftx)' : ratio === null ? '—' : ratio.toFixed(2));
    lines.push(`| ${cells.join(' | ')} |`);
    if (row.skipped) notes.push(`- ${row.label}: skipped: ${row.skipped}`);
    if (row.error) notes.push(`- ${row.label}: failed after ${row.seconds.length} run(s): ${row.error}`);
  }
  return [...lines, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/**
 * A goal: `value` compared with `target` (`at least` or `at most`). value null => SKIP with `why`.
 * Returns {status, line}.
 */
export function goal(text, value, { atLeast, atMost, unit = '', why = 'not measured' }) {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return { status: 'SKIP', line: `- SKIP ${text} (${why})` };
  }
  const pass = atLeast !== undefined ? value >= atLeast : value <= atMost;
  const shown = unit === '×' ? `${value.toFixed(2)}×` : `${value.toFixed(unit === 'ms' ? 0 : 1)} ${unit}`;
  return { status: pass ? 'PASS' : 'MISS', line: `- ${pass ? 'PASS' : 'MISS'} ${text}: measured ${shown}` };
}
