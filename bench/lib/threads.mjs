// Per-thread CPU time of a process, read from /proc/<pid>/task/<tid>/stat (utime + stime, in clock
// ticks of 1/100 s). The main thread (tid = pid) runs the event loop; ftx's hash threads name
// themselves "ftx-md5" (/proc/thread-self/comm); every other thread is libuv's pool or V8's helpers
// (GC, compiler), which /proc cannot tell apart: they are reported together, with the busiest one.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** tid -> {name, ticks} of every thread of `pid` now (an empty Map when it is gone). */
export function readThreads(pid) {
  const threads = new Map();
  let tids = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return threads; }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' '); // fields[0] is field 3 (state)
      threads.set(Number(tid), { name: stat.slice(stat.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch { /* the thread just ended */ }
  }
  return threads;
}

/** The first child of `pid` (GNU time runs the measured command as its child), or null. */
function firstChild(pid) {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0];
    return first ? Number(first) : null;
  } catch {
    return null;
  }
}

/**
 * Samples a short-lived process every `intervalMs` and keeps the last figures seen for each thread,
 * so threads that ended before the process are still counted. The process's final few ms after the
 * last sample are lost (≤ intervalMs per thread). `child` is the spawned process; with
 * `viaWrapper` (GNU time) its first child is sampled instead.
 */
export function sampleThreads(child, { intervalMs = 10, viaWrapper = false } = {}) {
  const last = new Map();
  let pid = viaWrapper ? null : child.pid;
  const sample = () => {
    pid ??= firstChild(child.pid);
    if (pid === null) return;
    for (const [tid, t] of readThreads(pid)) last.set(tid, t);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return { pid, threads: last };
    },
  };
}

/**
 * CPU seconds by kind between two readings of one process: {loop, hash, other, otherMax, total,
 * busiest}. Threads absent from `before` started in between (counted from 0).
 */
export function cpuByKind(pid, before, after) {
  const out = { loop: 0, hash: 0, hashThreads: 0, other: 0, otherMax: 0, total: 0, busiest: 0 };
  for (const [tid, t] of after) {
    const seconds = (t.ticks - (before.get(tid)?.ticks ?? 0)) / TICKS_PER_SECOND;
    if (seconds <= 0) continue;
    out.total += seconds;
    out.busiest = Math.max(out.busiest, seconds);
    if (tid === pid) out.loop += seconds;
    else if (t.name.startsWith('ftx-md5')) { out.hash += seconds; out.hashThreads += 1; }
    else { out.other += seconds; out.otherMax = Math.max(out.otherMax, seconds); }
  }
  return out;
}
