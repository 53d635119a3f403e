// The per-thread CPU part of the 1g case (issue 15): CPU seconds per GiB of each side split by
// thread kind, the projected two-machine rate and its goals. Rows carry `cpu: [{client, server}]`
// per run (bench/lib/threads.mjs cpuByKind); every figure is the median over the runs.
import { median } from './harness.mjs';
import { goal } from './report.mjs';

const GIB = 1 << 30;
/**
 * Client + server CPU per GiB of the 1 GiB put before the hash moved off the event loop, as a
 * multiple of md5sum's CPU for the same bytes (commit 95a19eb, median of 3 runs on the shared 2-core
 * box: client 2.73 + server 3.36 s/GiB, md5sum 2.05 s/GiB).
 */
const BASELINE_TOTAL_CPU_IN_MD5SUMS = 2.97;

const perGiB = (seconds, bytes) => (seconds * GIB) / bytes;
const medianOf = (runs, pick) => {
  const values = runs.map(pick).filter((v) => Number.isFinite(v));
  return values.length ? median(values) : null;
};
const fmt = (v) => (v === null ? '—' : v.toFixed(3));

/** Per run: bytes / the busiest thread's CPU seconds on the busier side, in bytes per second. */
function projectedRates(row, bytes) {
  return row.cpu.map((c) => bytes / Math.max(c.client?.busiest ?? 0, c.server?.busiest ?? 0));
}

/**
 * md5sum's CPU seconds, its rate on one core (bytes / CPU seconds) and its wall-clock rate in this
 * run, medians; nulls when missing. The projected rate is compared with the CPU rate: both are CPU
 * figures, so a busy machine slows neither (the wall rate drops when md5sum waits for a core).
 */
function md5Figures(md5Row, bytes) {
  const cpu = md5Row ? medianOf(md5Row.cpu, (c) => c.client?.total) : null;
  const wall = md5Row?.seconds.length ? median(md5Row.seconds) : null;
  return { cpu, rate: cpu ? bytes / cpu : null, wallRate: wall ? bytes / wall : null };
}

/** Markdown: one line per side of each measured ftx row, then the projected rates. */
export function cpuTable(rows, md5Row, bytes) {
  const lines = [
    'CPU seconds per GiB by thread (median of the runs; /proc/PID/task/*/stat, 10 ms ticks; "other" = libuv pool and V8 helper threads, which /proc does not tell apart):',
    '',
    '| run | side | event loop | hash thread(s) | other threads | busiest other | total | busiest thread |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const md5 = md5Figures(md5Row, bytes);
  const notes = [];
  for (const row of rows.filter((r) => r.cpu.length && !r.md5sum)) {
    for (const side of ['client', 'server']) {
      const v = (key) => medianOf(row.cpu, (c) => (c[side] ? perGiB(c[side][key], bytes) : NaN));
      const hashThreads = medianOf(row.cpu, (c) => c[side]?.hashThreads);
      lines.push(`| ${row.label} | ${side} | ${fmt(v('loop'))} | ${fmt(v('hash'))}${hashThreads ? ` (${hashThreads})` : ''} | ${fmt(v('other'))} | ${fmt(v('otherMax'))} | ${fmt(v('total'))} | ${fmt(v('busiest'))} |`);
    }
    const projected = median(projectedRates(row, bytes));
    const versus = projected && md5.rate ? ` = ${(projected / md5.rate).toFixed(2)} × md5sum's rate on one core (${(md5.rate / 1e6).toFixed(0)} MB/s = 1 GiB / its CPU seconds; wall clock ${(md5.wallRate / 1e6).toFixed(0)} MB/s)` : '';
    notes.push(`- ${row.label}: projected two-machine rate (1 GiB / busiest thread's CPU on the busier side) ${projected ? (projected / 1e6).toFixed(0) : '—'} MB/s${versus}`);
  }
  if (md5.cpu !== null) lines.push(`| md5sum of the file | — | ${fmt(perGiB(md5.cpu, bytes))} | | | | ${fmt(perGiB(md5.cpu, bytes))} | ${fmt(perGiB(md5.cpu, bytes))} |`);
  return [...lines, '', ...notes].join('\n');
}

/** The issue-15 goals of the 1g case, from the first (unpinned) ftx row. */
export function cpuGoals(rows, md5Row, bytes) {
  const ftx = rows.find((r) => r.ftx);
  const md5 = md5Figures(md5Row, bytes);
  const why = md5Row?.skipped ?? md5Row?.error ?? (ftx?.cpu.length ? 'no md5sum result' : 'no per-thread figures');
  const projected = ftx?.cpu.length ? median(projectedRates(ftx, bytes)) : null;
  const loop = ftx?.cpu.length ? medianOf(ftx.cpu, (c) => Math.max(c.client?.loop ?? 0, c.server?.loop ?? 0)) : null;
  const total = ftx?.cpu.length ? medianOf(ftx.cpu, (c) => (c.client?.total ?? 0) + (c.server?.total ?? 0)) : null;
  const has = (v) => v !== null && md5.cpu !== null && md5.rate !== null;
  return [
    goal('1 GiB: projected two-machine rate ≥ 0.95 × md5sum rate', has(projected) ? projected / md5.rate : null, { atLeast: 0.95, unit: '×', why }),
    goal('1 GiB: busier event loop ≤ 0.5 × md5sum CPU', has(loop) ? loop / md5.cpu : null, { atMost: 0.5, unit: '×', why }),
    goal(`1 GiB: client + server CPU ≤ 1.1 × before (${BASELINE_TOTAL_CPU_IN_MD5SUMS} × md5sum CPU)`, has(total) ? total / md5.cpu : null,
      { atMost: BASELINE_TOTAL_CPU_IN_MD5SUMS * 1.1, unit: '×', why }),
  ];
}
