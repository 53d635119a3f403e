// The `tls` case of bench/run.mjs (issue 11): what TLS 1.3 with the token's PSK costs. In one
// measure() each, alternating run by run: a 1 GiB put over TLS, the same put in plain TCP and scp
// (which encrypts too, aes128-gcm), with per-thread CPU of both ftx sides and per-process CPU of
// scp's (for the two-machine projection of each); then 2,000 × 4 KiB files (a directory upload)
// over TLS and in plain TCP. Both servers listen on 127.0.0.1 only.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpuTable } from './cpu-report.mjs';
import { goal, speedRatio } from './report.mjs';

const GIB = 1 << 30;
const TICKS_PER_SECOND = 100;

/** The pid of the bench's sshd (the one whose command line names a config under `work`), or null. */
function findSshd(work) {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      // sshd rewrites its command line into one string ("sshd: /usr/sbin/sshd -D -e -f …/sshd_config [listener] …").
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(join(work, 'ssh', 'sshd_config')) && !cmdline.includes('[priv]') && /listener|-D/.test(cmdline)) return Number(pid);
    } catch { /* gone */ }
  }
  return null;
}

/** CPU seconds of `pid` and of its children it has reaped (utime + stime + cutime + cstime). */
function treeSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

/** CPU seconds (utime + stime) and parent of every process now: pid → {ppid, comm, cpu}. */
function processTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpu: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND });
    } catch { /* gone */ }
  }
  return table;
}

/** True when `pid` descends from `root` in `table`. */
function descends(table, pid, root) {
  for (let at = table.get(pid)?.ppid, depth = 0; at && at > 1 && depth < 32; at = table.get(at)?.ppid, depth++) if (at === root) return true;
  return false;
}

/**
 * Samples every 50 ms, until stopped, the CPU of each process of an scp run: the client's scp and
 * ssh (under this bench, not under its sshd) and the session's processes under the bench sshd. On
 * two machines each side runs at most as fast as its busiest process (each is single-threaded);
 * stop() gives that busiest process's CPU seconds per side (a process's last < 50 ms may be missed).
 */
function sampleScpProcesses(sshdPid) {
  const seen = new Map();
  const scan = () => {
    const table = processTable();
    for (const [pid, p] of table) {
      const side = sshdPid && descends(table, pid, sshdPid) ? 'server'
        : (p.comm === 'scp' || p.comm === 'ssh') && descends(table, pid, process.pid) ? 'client' : null;
      if (side) seen.set(pid, { side, comm: p.comm, cpu: p.cpu });
    }
  };
  const timer = setInterval(scan, 50);
  return {
    stop() {
      clearInterval(timer);
      const busiest = { client: null, server: null };
      for (const p of seen.values()) if (!busiest[p.side] || p.cpu > busiest[p.side].cpu) busiest[p.side] = p;
      return busiest;
    },
  };
}

/**
 * One scp run with the CPU of both ends: the client's (scp and its ssh, by GNU time) and the
 * server's (the session's sshd processes, reaped into the bench sshd's children time).
 */
async function scpRun(ctx, dest, expect, argv, sshdPid) {
  const timesFile = join(ctx.work, 'scp-times.txt');
  const wrapped = ctx.tools.time ? [ctx.tools.time, '-f', '%U %S', '-o', timesFile, ...argv] : argv;
  const before = sshdPid ? treeSeconds(sshdPid) : null;
  const sampler = sampleScpProcesses(sshdPid);
  const run = await ctx.clientRun(dest, expect, wrapped);
  await new Promise((resolve) => setTimeout(resolve, 200)); // the session's sshd exits after scp does
  const busiest = sampler.stop();
  const server = sshdPid ? treeSeconds(sshdPid) - before : null;
  const times = ctx.tools.time ? (await readFile(timesFile, 'utf8')).trim().split('\n').at(-1).split(' ').map(Number) : null;
  await rm(timesFile, { force: true });
  return { ...run, scpCpu: { client: times ? times[0] + times[1] : null, server, busiest } };
}

/**
 * Runs both parts; `ctx` holds bench/run.mjs's helpers: {opts, work, tools, measure, cpuRun,
 * clientRun, ftxPut, startFtx, stopChild}. `data` = {oneGiB, smallDir, smallFiles, smallBytes}.
 */
export async function tlsCases(ctx, data, sshd) {
  const tokenFile = join(ctx.work, 'tls-bench.token');
  await writeFile(tokenFile, `ftx1_${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  return [await bigFile(ctx, data.oneGiB, sshd, tokenFile), await smallFiles(ctx, data, tokenFile)];
}

/** A plain server and a TLS one (its token from `tokenFile`), each on its own directory under `name`. */
async function startPair(ctx, name, tokenFile) {
  const plainDest = join(ctx.opts.shm, `${name}-plain`);
  const tlsDest = join(ctx.opts.shm, `${name}-tls`);
  await mkdir(plainDest, { recursive: true });
  await mkdir(tlsDest, { recursive: true });
  const plain = await ctx.startFtx(plainDest);
  const secured = await ctx.startFtx(tlsDest, [], ['--token-file', tokenFile, '--host', '127.0.0.1']);
  return { plainDest, tlsDest, plain, secured, stop: async () => { await ctx.stopChild(plain.child); await ctx.stopChild(secured.child); } };
}

async function bigFile(ctx, src, sshd, tokenFile) {
  const pair = await startPair(ctx, 'tls-1g', tokenFile);
  const expect = { files: 1, bytes: GIB };
  const scpDest = pair.plainDest; // scp lands beside the plain runs (each run starts from an empty directory)
  const sshdPid = sshd.skipped ? null : findSshd(ctx.work);
  const scpCpu = [];
  let rows;
  try {
    rows = await ctx.measure('tls 1g', [
      {
        label: 'ftx put over TLS 1.3 (PSK from the token)', ftx: true, bytes: GIB,
        once: () => ctx.cpuRun(pair.tlsDest, expect, ctx.ftxPut([src], pair.secured.port, ['--token-file', tokenFile]), pair.secured.child.pid),
      },
      {
        label: 'ftx put, plain TCP (no token)', plain: true, bytes: GIB,
        once: () => ctx.cpuRun(pair.plainDest, expect, ctx.ftxPut([src], pair.plain.port), pair.plain.child.pid),
      },
      {
        label: 'scp to sshd, aes128-gcm', scp: true, bytes: GIB, skipped: sshd.skipped,
        once: async () => {
          const run = await scpRun(ctx, scpDest, expect, [ctx.tools.scp, ...(sshd.scpArgs?.(src, `${scpDest}/`) ?? [])], sshdPid);
          scpCpu.push(run.scpCpu);
          return run;
        },
      },
    ]);
  } finally {
    await pair.stop();
  }
  const [tls, plain, scp] = rows;
  const vsPlain = speedRatio(tls, plain); // plain time / TLS time
  const why = (row) => row.skipped ?? row.error ?? 'no result';
  return {
    title: `tls 1g: one 1 GiB file, TLS vs plain TCP vs scp → ${ctx.opts.shm}`,
    rows,
    extra: [
      `TLS / plain time: ${vsPlain ? (1 / vsPlain).toFixed(3) : '—'} (1.000 = no cost); scp / TLS time: ${speedRatio(tls, scp)?.toFixed(2) ?? '—'}.`,
      `scp CPU seconds per GiB (median): client (scp + ssh) ${medianText(scpCpu.map((c) => c.client))}, server (the session's sshd) ${medianText(scpCpu.map((c) => c.server))}; neither end hashes the data (ftx computes md5 on both).`,
      cpuTable([tls, plain], null, GIB),
      twoMachines(tls, scpCpu),
    ],
    goals: [
      goal('1 GiB over TLS within 10% of plain TCP (TLS time / plain time)', vsPlain ? 1 / vsPlain : null, { atMost: 1.1, unit: '×', why: why(plain) }),
      goal('1 GiB over TLS ≥ 1.3 × scp', speedRatio(tls, scp), { atLeast: 1.3, unit: '×', why: why(scp) }),
    ],
  };
}

/**
 * The two-machine comparison: each tool at 1 GiB / the CPU seconds of its busiest thread (ftx) or
 * process (scp) on its busier side, where client and server no longer share cores.
 */
function twoMachines(tls, scpCpu) {
  const ftxRates = (tls.cpu ?? []).map((c) => GIB / Math.max(c.client?.busiest ?? 0, c.server?.busiest ?? 0));
  const scpRates = scpCpu.map((c) => GIB / Math.max(c.busiest?.client?.cpu ?? 0, c.busiest?.server?.cpu ?? 0));
  const who = (side) => scpCpu.map((c) => c.busiest?.[side] ? `${c.busiest[side].comm} ${c.busiest[side].cpu.toFixed(2)} s` : '—').join(', ');
  const ftx = medianOf(ftxRates);
  const scp = medianOf(scpRates);
  return `Projected two-machine rate (1 GiB / busiest thread's or process's CPU on the busier side, median): ftx over TLS ${ftx ? (ftx / 1e6).toFixed(0) : '—'} MB/s, `
    + `scp ${scp ? (scp / 1e6).toFixed(0) : '—'} MB/s (busiest scp process per run, client: ${who('client')}; server: ${who('server')}); ftx / scp ${ftx && scp ? (ftx / scp).toFixed(2) : '—'} ×.`;
}

function medianOf(values) {
  const known = values.filter(Number.isFinite).sort((a, b) => a - b);
  return known.length ? known[Math.floor(known.length / 2)] : null;
}

function medianText(values) {
  return medianOf(values)?.toFixed(2) ?? '—';
}

async function smallFiles(ctx, data, tokenFile) {
  const pair = await startPair(ctx, 'tls-small', tokenFile);
  const expect = { files: data.smallFiles, bytes: data.smallFiles * data.smallBytes };
  let rows;
  try {
    rows = await ctx.measure('tls small', [
      {
        label: 'ftx put dir/ over TLS 1.3', ftx: true, bytes: expect.bytes,
        once: () => ctx.cpuRun(pair.tlsDest, expect, ctx.ftxPut([data.smallDir], pair.secured.port, ['--token-file', tokenFile]), pair.secured.child.pid),
      },
      {
        label: 'ftx put dir/, plain TCP', bytes: expect.bytes,
        once: () => ctx.cpuRun(pair.plainDest, expect, ctx.ftxPut([data.smallDir], pair.plain.port), pair.plain.child.pid),
      },
    ]);
  } finally {
    await pair.stop();
  }
  const vsPlain = speedRatio(rows[0], rows[1]);
  const cpu = (row, side) => {
    const totals = row.cpu.map((c) => c[side]?.total).filter(Number.isFinite).sort((a, b) => a - b);
    return totals.length ? totals[Math.floor(totals.length / 2)].toFixed(2) : '—';
  };
  return {
    title: `tls small: ${data.smallFiles} files of ${data.smallBytes / 1024} KiB, TLS vs plain TCP → ${ctx.opts.shm}`,
    rows,
    extra: [
      `TLS / plain time: ${vsPlain ? (1 / vsPlain).toFixed(3) : '—'}. CPU seconds (median) client/server: TLS ${cpu(rows[0], 'client')}/${cpu(rows[0], 'server')}, plain ${cpu(rows[1], 'client')}/${cpu(rows[1], 'server')}.`,
    ],
    goals: [],
  };
}
