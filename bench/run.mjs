#!/usr/bin/env node
// `npm run bench`: ftx against reference tools (md5sum, raw TCP, rsync daemon, scp) on 127.0.0.1.
// Generates its data in temp dirs (removed at the end, on failure and on Ctrl-C), installs nothing,
// alternates runs (ftx, ref A, ref B, ftx, ...) and prints one markdown table per case on stdout,
// then the goals from the issue with PASS/MISS. Progress goes to stderr. See bench/README.md.
//   node bench/run.mjs [--runs 3] [--case 1g,small] [--dest-dir /dev/shm] [--disk-dir DIR] [--tmp-dir DIR]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statfsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FTX_BIN, median, startFtxServer, useFtxBin, writeRandomFile } from './lib/harness.mjs';
import { freePort, killAllSync, killTree, pipeline, readVmHwmKiB, runTimed, spawnTracked, stopAll, stopChild, waitExit, waitListening } from './lib/procs.mjs';
import { caseTable, fmtRss, goal, kibToMB, speedRatio } from './lib/report.mjs';
import { cpuByKind, readThreads, sampleThreads } from './lib/threads.mjs';
import { cpuGoals, cpuTable } from './lib/cpu-report.mjs';
import { detectTools, installHint, rawTcp, startRsyncDaemon, startSshd, versionLine } from './lib/tools.mjs';
import { tlsCases } from './lib/tls-case.mjs';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));
const MIB = 1 << 20;
const GIB = 1 << 30;
const TMPFS_MAGIC = 0x01021994;
const CASES = ['1g', '256m', 'small', 'tls', 'stdin', 'concurrent', 'version', 's3'];
const SMALL_FILES = 2000;
const SMALL_SIZE = 4096;
const CONCURRENT = 8;
const CONCURRENT_MIB = 128;
const VERSION_RUNS = 10;
/** Reference tools that --without can turn off (to test the skip paths, or to save time). */
const WITHOUT = ['md5sum', 'socat', 'nc', 'rsync', 'scp', 'tar', 'time', 'taskset'];

const USAGE = `usage: node bench/run.mjs [options]   (npm run bench builds first)
  --runs N          runs of each tool per case (default 3)
  --case NAME       case(s) to run, repeatable or comma-separated (default all):
                    ${CASES.join(', ')}
  --dest-dir DIR    where single-file and concurrent uploads land (default /dev/shm, a tmpfs)
  --disk-dir DIR    on-disk destination of the small-files case (default: os.tmpdir() unless it is
                    a tmpfs, else the project directory)
  --tmp-dir DIR     where the source data is generated (default os.tmpdir())
  --timeout S       give up on one run after S seconds (default 300)
  --without TOOLS   act as if these reference tools were missing (comma-separated):
                    ${WITHOUT.join(', ')}`;

// ---------------------------------------------------------------- options, temp dirs, cleanup

function parseOptions() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      case: { type: 'string', multiple: true },
      'dest-dir': { type: 'string' },
      'disk-dir': { type: 'string' },
      'tmp-dir': { type: 'string' },
      timeout: { type: 'string', default: '300' },
      without: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { console.log(USAGE); process.exit(0); }
  const runs = Number(values.runs);
  const timeout = Number(values.timeout);
  const cases = (values.case ?? CASES).flatMap((c) => c.split(',')).map((c) => c.trim()).filter(Boolean);
  const unknown = cases.filter((c) => !CASES.includes(c));
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) usage('--runs must be an integer from 1 to 50');
  if (!(timeout > 0)) usage('--timeout must be a positive number of seconds');
  if (unknown.length) usage(`unknown case ${unknown.join(', ')}`);
  const without = (values.without ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  if (without.some((t) => !WITHOUT.includes(t))) usage(`--without takes ${WITHOUT.join(', ')}`);
  return {
    runs,
    timeoutMs: timeout * 1000,
    cases: new Set(cases),
    without: new Set(without),
    tmpDir: values['tmp-dir'] ?? tmpdir(),
    destDir: values['dest-dir'] ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir()),
    diskDir: values['disk-dir'] ?? (isTmpfs(tmpdir()) ? PROJECT : tmpdir()),
  };
}

function usage(message) {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function isTmpfs(path) {
  try { return statfsSync(path).type === TMPFS_MAGIC; } catch { return false; }
}

function fsLabel(path) {
  return isTmpfs(path) ? 'tmpfs' : 'disk';
}

/** Temp dirs to remove; removed once, by the normal end or by the signal/exit handlers. */
const tempDirs = [];
let cleanedUp = false;

async function makeTempDir(parent, prefix) {
  const dir = await mkdtemp(join(parent, prefix));
  tempDirs.push(dir);
  return dir;
}

function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  killAllSync();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

async function cleanup() {
  await stopAll();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  cleanedUp = true;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}: killing servers and removing temp dirs\n`);
    cleanupSync();
    process.exit(code);
  });
}
process.on('exit', cleanupSync); // crashes too

const log = (line) => process.stderr.write(`bench: ${line}\n`);
const out = (text = '') => process.stdout.write(`${text}\n`);

// ---------------------------------------------------------------- running and checking one run

let opts;
let tools;
let raw;
let work; // temp dir for sources, configs, keys

/**
 * The telling part of a failed command's output: ftx's first `ftx: error: ...` line (and its
 * summary line when it sent several files), else the first line naming an Error (a crash prints a
 * stack and then "Node.js v20..."), else the last line of stderr, else of stdout.
 */
function lastLine(r) {
  const lines = (text) => text.split('\n').map((l) => l.trim()).filter(Boolean);
  const err = lines(r.stderr);
  const ftxError = err.find((l) => l.startsWith('ftx: error'));
  if (ftxError) return ftxError === err.at(-1) ? ftxError : `${ftxError} … ${err.at(-1)}`;
  return err.find((l) => /\b\w*Error\b/.test(l)) ?? err.at(-1) ?? lines(r.stdout).at(-1) ?? '';
}

/** Runs argv and throws unless it exits 0 within the per-run timeout. */
async function timed(argv, options = {}) {
  const r = await runTimed(argv[0], argv.slice(1), { timeoutMs: opts.timeoutMs, timeBin: tools.time, rssFile: join(work, 'rss.txt'), ...options });
  if (r.timedOut) throw new Error(`timed out after ${opts.timeoutMs / 1000} s`);
  if (r.code !== 0) throw new Error(`exit ${r.code ?? r.signal}: ${lastLine(r)}`);
  return r;
}

/** Removes what earlier runs landed, keeping ftx's own `.ftx-*` state of the running server. */
async function cleanDest(dest) {
  for (const name of await readdir(dest)) {
    if (!name.startsWith('.ftx-')) await rm(join(dest, name), { recursive: true, force: true });
  }
}

/** Before each run, untimed: an empty destination, and on a disk nothing dirty left to flush. */
async function prepareDest(dest) {
  await cleanDest(dest);
  if (!isTmpfs(dest) && tools.sync) await timed([tools.sync]);
}

/** {files, bytes} of regular files under dir, not counting ftx's `.ftx-*` state and partials. */
async function landed(dir) {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.ftx-')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = await landed(path);
      files += sub.files;
      bytes += sub.bytes;
    } else if (entry.isFile()) {
      files += 1;
      bytes += (await stat(path)).size;
    }
  }
  return { files, bytes };
}

/** A run only counts when everything arrived: a broken reference command must not look fast. */
async function verifyLanded(dest, expect) {
  const got = await landed(dest);
  if (got.files !== expect.files || got.bytes !== expect.bytes) {
    throw new Error(`landed ${got.files} file(s), ${got.bytes} B; expected ${expect.files}, ${expect.bytes} B`);
  }
}

/** One run of a client command (ftx put, rsync, scp) whose upload lands in `dest`. */
async function clientRun(dest, expect, argv, options) {
  await prepareDest(dest);
  const r = await timed(argv, options);
  await verifyLanded(dest, expect);
  return { seconds: r.seconds, rssKiB: r.rssKiB };
}

/**
 * clientRun plus CPU seconds by thread kind of the client (sampled every 10 ms until it exits) and
 * of the server `serverPid` (its threads read just before and after the run; null: no server).
 */
async function cpuRun(dest, expect, argv, serverPid, options = {}) {
  await prepareDest(dest);
  const before = serverPid ? readThreads(serverPid) : null;
  const onSpawn = (child, how) => { const sampler = sampleThreads(child, how); return () => sampler.stop(); };
  const r = await timed(argv, { ...options, onSpawn });
  const server = serverPid ? cpuByKind(serverPid, before, readThreads(serverPid)) : null;
  if (expect) await verifyLanded(dest, expect);
  const client = r.sampled?.pid ? cpuByKind(r.sampled.pid, new Map(), r.sampled.threads) : null;
  return { seconds: r.seconds, rssKiB: r.rssKiB, cpu: { client, server } };
}

/** Several client commands at once; the time is until the last one is done. */
async function parallelRun(dest, expect, argvs) {
  await prepareDest(dest);
  const started = performance.now();
  const results = await Promise.allSettled(argvs.map((argv) => timed(argv)));
  const seconds = (performance.now() - started) / 1000;
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  await verifyLanded(dest, expect);
  return { seconds };
}

/**
 * One run over raw TCP: start the receiver, wait until it listens, then time from the sender's
 * start until the receiver has exited (its data is written). Specs are {argv, stdinFile?, stdoutFile?}.
 */
async function rawRun(dest, expect, receiverSpec, senderSpec) {
  await prepareDest(dest);
  const port = await freePort();
  const receive = receiverSpec(port);
  const receiver = spawnTracked(receive.argv[0], receive.argv.slice(1), { stdoutFile: receive.stdoutFile });
  let receiverLog = '';
  receiver.stderr.on('data', (d) => { receiverLog = (receiverLog + d).slice(-4096); });
  receiver.stdout?.resume();
  try {
    await waitListening(port, receiver);
    const started = performance.now();
    const send = senderSpec(port);
    await timed(send.argv, { stdinFile: send.stdinFile });
    const code = await waitExit(receiver, opts.timeoutMs);
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`receiver exit ${code}: ${receiverLog.trim().split('\n').at(-1) ?? ''}`);
    await verifyLanded(dest, expect);
    return { seconds };
  } finally {
    if (receiver.exitCode === null && receiver.signalCode === null) killTree(receiver, 'SIGKILL');
  }
}

// ---------------------------------------------------------------- measuring a case

/**
 * Alternates the contenders run by run (ftx, ref A, ref B, ftx, ...) so that a change in machine
 * load hits all of them alike. A contender that fails is not run again (its error is reported).
 * Contender: {label, ftx?, bytes?, skipped?, once: async () => ({seconds, rssKiB?})}.
 */
async function measure(caseName, contenders, runs = opts.runs) {
  const rows = contenders.map((c) => ({ ...c, seconds: [], error: null, rssKiB: null, cpu: [] }));
  for (let i = 1; i <= runs; i++) {
    for (const row of rows) {
      if (row.skipped || row.error) continue;
      try {
        const { seconds, rssKiB, cpu } = await row.once();
        row.seconds.push(seconds);
        if (cpu) row.cpu.push(cpu);
        if (rssKiB) row.rssKiB = Math.max(row.rssKiB ?? 0, rssKiB);
        const rate = row.bytes ? `  ${(row.bytes / 1e6 / seconds).toFixed(1)} MB/s` : '';
        log(`[${caseName} ${i}/${runs}] ${row.label}: ${seconds.toFixed(3)} s${rate}`);
      } catch (error) {
        row.error = error.message;
        log(`[${caseName} ${i}/${runs}] ${row.label}: FAILED ${error.message}`);
      }
    }
  }
  return rows;
}

const ftxPut = (paths, port, extra = []) => [process.execPath, FTX_BIN, 'put', ...paths, `127.0.0.1:${port}`, '--force', '--retries', '0', '--no-progress', ...extra];

/** Starts an ftx server (tracked, so it is killed on failure) serving `dest`; `wrap` e.g. taskset. */
function startFtx(dest, wrap = [], extra = []) {
  return startFtxServer(dest, ['--quiet', ...extra], { spawnChild: spawnTracked, timeoutMs: 15_000, wrap });
}

/** An rsync daemon for `dest`, or {skipped: reason}. */
async function startRsync(dest, name) {
  if (!tools.rsync) return { skipped: absent('rsync') };
  try {
    return await startRsyncDaemon(tools.rsync, join(work, `rsyncd-${name}`), dest);
  } catch (error) {
    return { skipped: `rsync daemon did not start: ${error.message}` };
  }
}

/** Why tools are unavailable: "rsync missing (apt-get install rsync)" or "... turned off with --without". */
function absent(...names) {
  const off = names.filter((n) => opts.without.has(n));
  const missing = names.filter((n) => !opts.without.has(n));
  const what = (n) => (n === 'nc' && tools.otherNc ? `OpenBSD nc (${tools.otherNc} is another netcat)` : n);
  return [missing.length && `${missing.map(what).join(', ')} missing (${installHint(...missing)})`, off.length && `${off.join(', ')} turned off with --without`].filter(Boolean).join('; ');
}

const rawMissing = () => absent('socat', 'nc');

// ---------------------------------------------------------------- cases

/** `1g` and `256m`: one file into the tmpfs destination, against every reference. */
async function singleFileCase(name, src, bytes, sshd) {
  const dest = join(opts.shm, name);
  await mkdir(dest, { recursive: true });
  const ftx = await startFtx(dest);
  const oneGiB = name === '1g';
  // 1g only: a second server pinned to core 1, its client to core 0 (what two machines would do, minus the wire).
  const pinnedDest = join(opts.shm, `${name}-pinned`); // one server per directory
  if (oneGiB) await mkdir(pinnedDest, { recursive: true });
  const pinned = oneGiB && tools.taskset && cpus().length >= 2 ? await startFtx(pinnedDest, [tools.taskset, '-c', '1']) : null;
  const rsyncd = await startRsync(dest, name);
  const expect = { files: 1, bytes };
  const rssMode = tools.time ? 'time' : 'poll';
  const rsyncClient = (extra) => [tools.rsync, '--whole-file', ...extra, src, rsyncd.url];
  let serverFirstKiB = null; // the server's peak after its first upload: the goal is one 1 GiB file
  const ftxRun = oneGiB
    ? async () => {
      const result = await cpuRun(dest, expect, ftxPut([src], ftx.port), ftx.child.pid, { rss: rssMode });
      serverFirstKiB ??= readVmHwmKiB(ftx.child.pid);
      return result;
    }
    : () => clientRun(dest, expect, ftxPut([src], ftx.port));
  const rows = await measure(name, [
    { label: 'ftx put', ftx: true, bytes, once: ftxRun },
    {
      label: 'ftx put, client on core 0, server on core 1 (taskset)', bytes, pinned: true,
      skipped: !oneGiB ? 'only in the 1g case' : pinned ? null : tools.taskset ? 'needs 2 cores' : absent('taskset'),
      once: () => cpuRun(pinnedDest, expect, [tools.taskset, '-c', '0', ...ftxPut([src], pinned.port)], pinned.child.pid),
    },
    {
      label: 'md5sum of the file (no transfer)', bytes, md5sum: true,
      skipped: tools.md5sum ? null : absent('md5sum'),
      once: oneGiB ? () => cpuRun(dest, null, [tools.md5sum, src], null) : async () => ({ seconds: (await timed([tools.md5sum, src])).seconds }),
    },
    {
      label: `raw TCP, ${raw?.name ?? 'socat'} (unverified)`, bytes,
      skipped: raw ? null : rawMissing(),
      once: () => rawRun(dest, expect, (port) => raw.receiveToFile(port, join(dest, basename(src))), (port) => raw.sendFile(port, src)),
    },
    { label: 'rsync daemon, --checksum-choice=md5', bytes, skipped: rsyncd.skipped, once: () => clientRun(dest, expect, rsyncClient(['--checksum-choice=md5'])) },
    { label: 'rsync daemon, default checksum', bytes, skipped: rsyncd.skipped, once: () => clientRun(dest, expect, rsyncClient([])) },
    { label: 'scp to sshd, aes128-gcm', bytes, skipped: sshd.skipped, once: () => clientRun(dest, expect, [tools.scp, ...(sshd.scpArgs?.(src, `${dest}/`) ?? [])]) },
  ].filter((row) => oneGiB || !row.pinned));
  const serverKiB = readVmHwmKiB(ftx.child.pid); // the server's peak so far, read before it exits
  await stopChild(ftx.child);
  if (pinned) await stopChild(pinned.child);
  if (rsyncd.stop) await rsyncd.stop();

  const extra = [];
  const goals = [];
  if (oneGiB) {
    const clientKiB = rows[0].rssKiB;
    const how = tools.time ? 'GNU time %M' : `VmHWM sampled every 20 ms, as ${absent('time')}`;
    extra.push(`Peak RSS, ${GIB / MIB} MiB upload: ftx client ${clientKiB ? fmtRss(clientKiB) : '—'} (max over its runs, ${how}); ftx server ${serverFirstKiB ? fmtRss(serverFirstKiB) : '—'} after its first upload, ${serverKiB ? fmtRss(serverKiB) : '—'} after all ${opts.runs} (VmHWM; V8's young generation grows over a process's first GiBs and stays).`);
    const md5Row = rows.find((r) => r.md5sum);
    extra.push(cpuTable(rows, md5Row, bytes));
    const ratio = (label) => speedRatio(rows[0], rows.find((r) => r.label.startsWith(label)));
    const why = (label) => rows.find((r) => r.label.startsWith(label))?.skipped ?? rows.find((r) => r.label.startsWith(label))?.error ?? 'no result';
    goals.push(
      goal('1 GiB: ftx ≥ 0.7 × md5sum rate', ratio('md5sum'), { atLeast: 0.7, unit: '×', why: why('md5sum') }),
      goal('1 GiB: ftx ≥ 1.4 × rsync daemon (md5)', ratio('rsync daemon, --checksum'), { atLeast: 1.4, unit: '×', why: why('rsync daemon, --checksum') }),
      goal('1 GiB: ftx ≥ 1.4 × scp', ratio('scp'), { atLeast: 1.4, unit: '×', why: why('scp') }),
      ...cpuGoals(rows, md5Row, bytes),
      goal('1 GiB: ftx client peak RSS ≤ 80 MB', clientKiB && kibToMB(clientKiB), { atMost: 80, unit: 'MB' }),
      goal('1 GiB: ftx server peak RSS ≤ 80 MB (one file: after its first upload)', serverFirstKiB && kibToMB(serverFirstKiB), { atMost: 80, unit: 'MB' }),
    );
  }
  return { title: `${name}: one ${bytes >= GIB ? `${bytes / GIB} GiB` : `${bytes / MIB} MiB`} file → ${dest} (${fsLabel(dest)})`, rows, extra, goals };
}

/** `small`: 2,000 files of 4 KiB, once into tmpfs, once onto disk. */
async function smallCase(variant, parent, srcDir, features) {
  const dest = join(parent, `small-${variant}`);
  await mkdir(dest, { recursive: true });
  const ftx = await startFtx(dest);
  const rsyncd = await startRsync(dest, `small-${variant}`);
  const expect = { files: SMALL_FILES, bytes: SMALL_FILES * SMALL_SIZE };
  const paths = (await readdir(srcDir)).sort().map((n) => join(srcDir, n));
  const ftxArgv = features.dir ? ftxPut([srcDir], ftx.port) : ftxPut(paths, ftx.port, ['--dir', 'small']);
  const tarSkip = !tools.tar ? absent('tar') : !raw ? rawMissing() : null;
  const rows = await measure(`small ${variant}`, [
    { label: features.dir ? 'ftx put dir/' : `ftx put of ${SMALL_FILES} paths`, ftx: true, bytes: expect.bytes, once: () => clientRun(dest, expect, ftxArgv) },
    {
      label: 'rsync daemon -a --whole-file', bytes: expect.bytes, skipped: rsyncd.skipped,
      once: () => clientRun(dest, expect, [tools.rsync, '-a', '--whole-file', `${srcDir}/`, `${rsyncd.url}small/`]),
    },
    {
      // Same durability as ftx, which fsyncs each file before it becomes visible.
      label: 'rsync daemon -a --whole-file --fsync', bytes: expect.bytes, fsync: true,
      skipped: rsyncd.skipped ?? (tools.rsyncFsync ? null : 'this rsync has no --fsync (3.2.4 or later has)'),
      once: () => clientRun(dest, expect, [tools.rsync, '-a', '--whole-file', '--fsync', `${srcDir}/`, `${rsyncd.url}small/`]),
    },
    {
      label: `tar | ${raw?.name ?? 'socat'} → ${raw?.name ?? 'socat'} | tar -x (unverified)`, bytes: expect.bytes, skipped: tarSkip,
      once: () => rawRun(dest, expect,
        (port) => ({ argv: [tools.sh, '-c', pipeline(raw.receiveToStdout(port).argv, [tools.tar, '-C', dest, '-xf', '-'])] }),
        (port) => ({ argv: [tools.sh, '-c', pipeline([tools.tar, '-C', srcDir, '-cf', '-', '.'], raw.sendStdin(port).argv)] })),
    },
  ]);
  await stopChild(ftx.child);
  if (rsyncd.stop) await rsyncd.stop();
  const ratio = speedRatio(rows[0], rows[1]);
  const fsyncRow = rows.find((r) => r.fsync);
  const extra = features.dir ? [] : [`ftx has no directory upload yet (${features.dirWhy}): all ${SMALL_FILES} paths in one \`ftx put\`.`];
  return {
    title: `small (${variant}): ${SMALL_FILES} files of ${SMALL_SIZE / 1024} KiB → ${dest} (${fsLabel(dest)})`,
    rows,
    extra,
    goals: [
      goal(`small files (${variant}): ftx at least as fast as rsync daemon`, ratio, { atLeast: 1, unit: '×', why: rows[1].skipped ?? rows[1].error ?? 'no result' }),
      goal(`small files (${variant}): ftx at least as fast as rsync daemon --fsync`, speedRatio(rows[0], fsyncRow), { atLeast: 1, unit: '×', why: fsyncRow.skipped ?? fsyncRow.error ?? 'no result' }),
    ],
  };
}

/** `stdin`: a 1 GiB stream through `ftx put -` vs the same bytes from the file, and through socat/nc. */
async function stdinCase(src, bytes) {
  const dest = join(opts.shm, 'stdin');
  await mkdir(dest, { recursive: true });
  const ftx = await startFtx(dest);
  const expect = { files: 1, bytes };
  const rows = await measure('stdin', [
    {
      label: 'cat | ftx put - --name', ftx: true, bytes,
      once: () => clientRun(dest, expect, [tools.sh, '-c', pipeline([tools.cat, src], ftxPut(['-'], ftx.port, ['--name', 'stdin.bin']))]),
    },
    {
      label: `cat | ${raw?.name ?? 'socat'} (unverified)`, bytes, skipped: raw ? null : rawMissing(),
      once: () => rawRun(dest, expect, (port) => raw.receiveToFile(port, join(dest, 'stdin.bin')),
        (port) => ({ argv: [tools.sh, '-c', pipeline([tools.cat, src], raw.sendStdin(port).argv)] })),
    },
    {
      label: 'ftx put FILE (the same bytes from the file)', bytes, file: true,
      once: () => clientRun(dest, { files: 1, bytes }, ftxPut([src], ftx.port)),
    },
  ]);
  await stopChild(ftx.child);
  const fileRow = rows.find((r) => r.file);
  const slower = speedRatio(fileRow, rows[0]); // stdin median / file median
  return {
    title: `stdin: a ${bytes / GIB} GiB stream → ${dest} (${fsLabel(dest)})`, rows, extra: [],
    goals: [goal('1 GiB stdin stream within 10% of the same bytes from a file (stdin time / file time)', slower, { atMost: 1.1, unit: '×', why: fileRow.error ?? 'no result' })],
  };
}

/** `concurrent`: 8 uploads of 128 MiB at once to one ftx server vs 8 rsync clients at once. */
async function concurrentCase(srcs) {
  const dest = join(opts.shm, 'concurrent');
  await mkdir(dest, { recursive: true });
  const ftx = await startFtx(dest);
  const rsyncd = await startRsync(dest, 'concurrent');
  const bytes = CONCURRENT * CONCURRENT_MIB * MIB;
  const expect = { files: CONCURRENT, bytes };
  const rows = await measure('concurrent', [
    { label: `${CONCURRENT} × ftx put at once`, ftx: true, bytes, once: () => parallelRun(dest, expect, srcs.map((s) => ftxPut([s], ftx.port))) },
    {
      label: `${CONCURRENT} × rsync daemon (md5) at once`, bytes, skipped: rsyncd.skipped,
      once: () => parallelRun(dest, expect, srcs.map((s) => [tools.rsync, '--whole-file', '--checksum-choice=md5', s, rsyncd.url])),
    },
  ]);
  const serverKiB = readVmHwmKiB(ftx.child.pid);
  await stopChild(ftx.child);
  if (rsyncd.stop) await rsyncd.stop();
  return {
    title: `concurrent: ${CONCURRENT} uploads of ${CONCURRENT_MIB} MiB at once to one server → ${dest} (${fsLabel(dest)}); MB/s is the total`,
    rows,
    extra: [`Peak RSS of the ftx server with ${CONCURRENT} concurrent uploads: ${serverKiB ? fmtRss(serverKiB) : '—'} (VmHWM after all runs).`],
    goals: [
      goal(`${CONCURRENT} concurrent: ftx at least as fast as ${CONCURRENT} rsync daemons (md5)`, speedRatio(rows[0], rows[1]), { atLeast: 1, unit: '×', why: rows[1].skipped ?? rows[1].error ?? 'no result' }),
      goal(`${CONCURRENT} concurrent: ftx server peak RSS ≤ 150 MB`, serverKiB && kibToMB(serverKiB), { atMost: 150, unit: 'MB' }),
    ],
  };
}

/** `version`: start-up time of the CLI, `ftx --version`, median of 10. */
async function versionCase() {
  const times = [];
  for (let i = 0; i < VERSION_RUNS; i++) times.push((await timed([process.execPath, FTX_BIN, '--version'])).seconds * 1000);
  const ms = median(times);
  log(`[version] ftx --version: median ${ms.toFixed(0)} ms`);
  return {
    title: `version: \`ftx --version\` (${VERSION_RUNS} runs)`,
    text: ['| command | runs | median ms | min ms | max ms |', '| --- | ---: | ---: | ---: | ---: |',
      `| ftx --version | ${times.length} | ${ms.toFixed(0)} | ${Math.min(...times).toFixed(0)} | ${Math.max(...times).toFixed(0)} |`].join('\n'),
    goals: [goal('`ftx --version` ≤ 150 ms (median)', ms, { atMost: 150, unit: 'ms' })],
  };
}

// ---------------------------------------------------------------- probes for features in progress

/**
 * Colleagues are adding `ftx put <dir>` and `ftx put -`: try each once on a tiny input and use it
 * only when it exits 0 and the bytes landed.
 */
async function probeFtxFeatures(root) {
  const src = join(root, 'probe-src');
  const dest = join(root, 'probe-dest');
  await mkdir(join(src, 'dir'), { recursive: true });
  await mkdir(dest);
  const contents = { 'a.txt': 'probe a\n', 'b.txt': 'probe b\n' };
  for (const [name, text] of Object.entries(contents)) await writeFile(join(src, 'dir', name), text);
  const ftx = await startFtx(dest);
  const features = {};
  try {
    const dirArgv = ftxPut([join(src, 'dir')], ftx.port);
    const dirRun = await runTimed(dirArgv[0], dirArgv.slice(1), { timeoutMs: 30_000 });
    const found = await findFiles(dest);
    const allLanded = Object.entries(contents).every(([name, text]) => found.get(name) === text);
    features.dir = dirRun.code === 0 && allLanded;
    features.dirWhy = features.dir ? 'works' : `\`ftx put <dir>\` exited ${dirRun.code ?? dirRun.signal}${dirRun.code === 0 ? ' but the files did not land' : `: ${lastLine(dirRun)}`}`;

    await writeFile(join(src, 'stdin.txt'), 'probe stdin\n');
    const stdinRun = await runTimed(tools.sh, ['-c', pipeline([tools.cat, join(src, 'stdin.txt')], ftxPut(['-'], ftx.port, ['--name', 'probe-stdin.txt']))], { timeoutMs: 30_000 });
    const landedText = await readFile(join(dest, 'probe-stdin.txt'), 'utf8').catch(() => null);
    features.stdin = stdinRun.code === 0 && landedText === 'probe stdin\n';
    features.stdinWhy = features.stdin ? 'works' : `\`cat f | ftx put - host --name x\` exited ${stdinRun.code ?? stdinRun.signal}${stdinRun.code === 0 ? ' but the file did not land' : `: ${lastLine(stdinRun)}`}`;
  } finally {
    await stopChild(ftx.child);
  }
  return features;
}

/** name -> content of every regular file under dir (small probe dirs only). */
async function findFiles(dir, found = new Map()) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.ftx-')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await findFiles(path, found);
    else if (entry.isFile()) found.set(entry.name, await readFile(path, 'utf8'));
  }
  return found;
}

// ---------------------------------------------------------------- data, report header, main

/** Bytes each place needs for the selected cases (sources; the largest destination at once). */
function spaceNeeded(cases) {
  const src = (cases.has('1g') || cases.has('stdin') || cases.has('tls') ? GIB : 0) + (cases.has('256m') ? 256 * MIB : 0)
    + (cases.has('small') || cases.has('tls') ? SMALL_FILES * 8192 : 0) + (cases.has('concurrent') ? CONCURRENT * CONCURRENT_MIB * MIB : 0);
  const dest = Math.max(cases.has('1g') || cases.has('stdin') || cases.has('concurrent') ? GIB : 0, cases.has('256m') ? 256 * MIB : 0, cases.has('tls') ? 2 * GIB : 0)
    + (cases.has('small') || cases.has('tls') ? SMALL_FILES * 8192 * 2 : 0);
  return { src, dest };
}

function checkSpace(dir, need, what) {
  const { bavail, bsize } = statfsSync(dir);
  const free = bavail * bsize;
  if (free < need * 1.1) {
    console.error(`bench: ${what} ${dir} has ${(free / GIB).toFixed(2)} GiB free, needs ${((need * 1.1) / GIB).toFixed(2)} GiB; pick another with --${what === 'source dir' ? 'tmp' : 'dest'}-dir or fewer cases (--case)`);
    process.exit(1);
  }
}

async function generateData(cases) {
  const src = join(work, 'src');
  await mkdir(src);
  const data = {};
  if (cases.has('1g') || cases.has('stdin') || cases.has('tls')) {
    data.oneGiB = join(src, 'one-gib.bin');
    log(`generating ${data.oneGiB}`);
    await writeRandomFile(data.oneGiB, 1024);
  }
  if (cases.has('256m')) {
    data.quarter = join(src, 'quarter-gib.bin');
    log(`generating ${data.quarter}`);
    await writeRandomFile(data.quarter, 256);
  }
  if (cases.has('small') || cases.has('tls')) {
    data.smallDir = join(src, 'small');
    await mkdir(data.smallDir);
    log(`generating ${SMALL_FILES} files of ${SMALL_SIZE} B in ${data.smallDir}`);
    for (let i = 0; i < SMALL_FILES; i++) await writeFile(join(data.smallDir, `f${String(i).padStart(4, '0')}.bin`), randomBytes(SMALL_SIZE));
  }
  if (cases.has('concurrent')) {
    data.parts = [];
    log(`generating ${CONCURRENT} files of ${CONCURRENT_MIB} MiB`);
    for (let i = 0; i < CONCURRENT; i++) {
      data.parts.push(join(src, `part-${i}.bin`));
      await writeRandomFile(data.parts[i], CONCURRENT_MIB);
    }
  }
  // Write-back of the fresh data must not run during the first timed runs.
  if (tools.sync) await timed([tools.sync]);
  return data;
}

/**
 * Copies dist/ (with package.json, which makes it ESM and holds the version) into the temp dir and
 * links node_modules, so that a rebuild of dist/ while the bench runs (`npm test` rebuilds it) can
 * neither break nor change the ftx under test: every row measures the build the bench started with.
 */
async function snapshotFtx() {
  const root = join(work, 'ftx');
  await cp(join(PROJECT, 'dist'), join(root, 'dist'), { recursive: true });
  await cp(join(PROJECT, 'package.json'), join(root, 'package.json'));
  await symlink(join(PROJECT, 'node_modules'), join(root, 'node_modules'));
  useFtxBin(join(root, 'dist', 'cli', 'bin.js'));
}

function gitDescription() {
  try {
    const head = execFileSync('git', ['-C', PROJECT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', PROJECT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `git ${head}${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

function printHeader(ftxVersion) {
  out('# ftx benchmark');
  out();
  out(`- ${new Date().toISOString()}; ${cpus().length} × ${cpus()[0]?.model?.trim() ?? 'CPU'}, ${(totalmem() / GIB).toFixed(1)} GiB RAM, load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  out(`- ftx ${ftxVersion} (${gitDescription()}; a copy of dist/ taken at start), Node ${process.version}; all traffic on 127.0.0.1`);
  out(`- ${opts.runs} run(s) per tool and case, alternating (ftx, ref A, ref B, ftx, ...); sources in ${work} (${fsLabel(work)})`);
  out('- s = seconds, MB = 10^6 bytes. **speed ratio ref/ftx = reference median time / ftx median time: > 1 means ftx is faster.**');
  out('- Every run is checked afterwards (file count and bytes landed); a failed run is reported, not timed.');
  out();
}

/** Reference tools: found (with version) or missing (with how to get them and what is skipped). */
function printTools(sshd) {
  out('## Reference tools');
  out();
  const show = (label, name, args, skipped) => out(tools[name] ? `- ${label}: ${versionLine(tools[name], args)}` : `- ${label}: **${absent(name)}**; skipped: ${skipped}`);
  show('md5sum', 'md5sum', undefined, 'the md5sum rows');
  if (tools.socat) out(`- raw TCP: ${versionLine(tools.socat, ['-V'])}`);
  else if (tools.nc) out(`- raw TCP: **${absent('socat')}**; using OpenBSD nc instead`);
  else out(`- raw TCP: **${rawMissing()}**; skipped: the raw TCP and tar rows`);
  show('rsync', 'rsync', undefined, 'the rsync daemon rows');
  if (sshd.skipped) out(`- scp: **skipped**: ${sshd.skipped}`);
  else out(`- scp: ${versionLine(tools.ssh, ['-V'])} (an sshd started on 127.0.0.1 for the bench)`);
  show('tar', 'tar', undefined, 'the tar row of the small-files case');
  if (!tools.time) out(`- GNU time: **${absent('time')}**; the client's peak RSS is sampled from /proc/PID/status instead`);
  const missing = ['md5sum', 'socat', 'rsync', 'sshd', 'ssh', 'scp', 'ssh-keygen', 'tar', 'time'].filter((n) => !tools[n] && !opts.without.has(n));
  if (missing.length) out(`\nTo get the missing ones: \`${installHint(...missing)}\` (the bench installs nothing itself).`);
  out();
}

/** sshd for the scp rows, when its tools exist and it starts; else {skipped: why}. */
async function maybeStartSshd() {
  const missing = ['sshd', 'ssh', 'scp', 'ssh-keygen'].filter((n) => !tools[n]);
  if (missing.length) return { skipped: absent(...missing) };
  try {
    return await startSshd(tools, join(work, 'ssh'));
  } catch (error) {
    const hint = /privilege separation directory/.test(error.message) ? ' (sshd needs /run/sshd, which the ssh service creates at boot: `sudo mkdir -p /run/sshd` or start the service once)' : '';
    return { skipped: `sshd could not be started: ${error.message}${hint}` };
  }
}

/**
 * ftx serving an S3 bucket vs rclone and the SDK, by bench/s3.mjs, on the local Ceph RGW. It is
 * never installed or started from here (the bench installs nothing): without a running store the
 * case says how to start one.
 */
async function s3Case() {
  const script = join(PROJECT, 'scripts', 's3-local.sh');
  const up = await runTimed('bash', [script, 'status'], { timeoutMs: 30_000 });
  if (up.code !== 0) {
    return { title: 's3: skipped', text: 'Skipped: no local S3 store runs. Start one with `scripts/s3-local.sh start` (installs Ceph from Debian, as root), then `npm run bench -- --case s3` or `npm run bench:s3`.', goals: [] };
  }
  const run = await runTimed(process.execPath, [join(PROJECT, 'bench', 's3.mjs'), '--runs', String(opts.runs)], { timeoutMs: 3600_000 });
  if (run.code !== 0) throw new Error(`bench/s3.mjs exited ${run.code ?? run.signal}: ${run.stderr.slice(-2000)}`);
  return { title: 's3 (see bench/s3.mjs)', text: run.stdout.replace(/^## .*\n/, ''), goals: [] };
}

function printCase(result) {
  out(`## ${result.title}`);
  out();
  if (result.text) out(result.text);
  else out(caseTable(result.rows, opts.runs));
  for (const line of result.extra ?? []) out(`\n${line}`);
  if (result.goals?.length) out(`\nGoals:\n${result.goals.map((g) => g.line).join('\n')}`);
  out();
}

async function main() {
  opts = parseOptions();
  if (!existsSync(FTX_BIN)) usage(`${FTX_BIN} is missing: run \`npm run build\` first (npm run bench does)`);
  tools = detectTools();
  for (const name of opts.without) tools[name] = null;
  raw = rawTcp(tools);
  const cases = opts.cases;
  const need = spaceNeeded(cases);
  checkSpace(opts.tmpDir, need.src, 'source dir');
  checkSpace(opts.destDir, need.dest, 'destination dir');

  work = await makeTempDir(opts.tmpDir, 'ftx-bench-');
  opts.shm = await makeTempDir(opts.destDir, 'ftx-bench-dest-');
  const started = performance.now();
  await snapshotFtx();
  const ftxVersion = (await timed([process.execPath, FTX_BIN, '--version'])).stdout.trim();
  const sshd = cases.has('1g') || cases.has('256m') || cases.has('tls') ? await maybeStartSshd() : { skipped: 'not needed by the selected cases' };
  printHeader(ftxVersion);
  printTools(sshd);
  const features = cases.has('small') || cases.has('stdin') ? await probeFtxFeatures(join(work, 'probe')) : {};
  if (cases.has('stdin') && !features.stdin) log(`ftx does not support stdin yet (${features.stdinWhy}): the stdin case is skipped`);
  const data = await generateData(new Set([...cases].filter((c) => c !== 'stdin' || features.stdin)));

  const goals = [];
  // Each case is independent: one that fails is reported and the others still run.
  const runCase = async (name, fn) => {
    if (!cases.has(name)) return;
    try {
      for (const result of [await fn()].flat()) {
        printCase(result);
        goals.push(...(result.goals ?? []));
      }
    } catch (error) {
      out(`## ${name}: FAILED\n\n${error.message}\n`);
      log(`case ${name} failed: ${error.stack}`);
    }
  };
  await runCase('1g', () => singleFileCase('1g', data.oneGiB, GIB, sshd));
  await runCase('256m', () => singleFileCase('256m', data.quarter, 256 * MIB, sshd));
  await runCase('small', async () => {
    const disk = await makeTempDir(opts.diskDir, 'ftx-bench-disk-');
    return [await smallCase('tmpfs', opts.shm, data.smallDir, features), await smallCase('disk', disk, data.smallDir, features)];
  });
  await runCase('tls', () => tlsCases({ opts, work, tools, measure, cpuRun, clientRun, ftxPut, startFtx, stopChild },
    { oneGiB: data.oneGiB, smallDir: data.smallDir, smallFiles: SMALL_FILES, smallBytes: SMALL_SIZE }, sshd));
  await runCase('stdin', async () => {
    if (features.stdin) return stdinCase(data.oneGiB, GIB);
    return { title: 'stdin: skipped', text: `Skipped: ftx does not support stdin yet (${features.stdinWhy}).`, goals: [] };
  });
  await runCase('concurrent', () => concurrentCase(data.parts));
  await runCase('version', versionCase);
  await runCase('s3', s3Case);
  if (sshd.stop) await sshd.stop();

  out('## Goals (from the issue)');
  out();
  out(goals.map((g) => g.line).join('\n') || '(no goal among the selected cases)');
  const count = (s) => goals.filter((g) => g.status === s).length;
  out(`\n${count('PASS')} PASS, ${count('MISS')} MISS, ${count('SKIP')} SKIP; bench took ${((performance.now() - started) / 1000).toFixed(0)} s.`);
}

try {
  await main();
} catch (error) {
  console.error(`bench: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
