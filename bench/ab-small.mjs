// A/B of the small-files case between builds: `ftx put DIR` of 2,000 x 4 KiB files to an `ftx serve`
// of each build, alternated run by run (order reversed every other round, one warm-up round not
// counted), on tmpfs (/dev/shm) and on disk; optionally beside the rsync daemon with --fsync.
// Reports median wall time and the CPU seconds of each side: the client's from GNU time (user +
// sys), the server's from /proc/PID/task/*/schedstat before and after the run (all its threads), with
// the load.
//
//   node bench/ab-small.mjs --build old=/tmp/ftx-old --build new=. [--runs 7] [--where tmpfs,disk]
//                           [--clients N] [--rsync] [--disk-dir DIR]
// A build is a directory with a built dist/ (and node_modules), e.g. `git archive REV | tar -x -C DIR
// && cd DIR && npm ci && npm run build`. Take a copy of dist/ for the build under work: `npm test`
// rebuilds it. With --clients N, N clients run at once, each into its own --dir.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median, startFtxServer, useFtxBin } from './lib/harness.mjs';
import { killAllSync, runTimed, spawnTracked, stopAll, stopChild, which } from './lib/procs.mjs';
import { startRsyncDaemon } from './lib/tools.mjs';

const FILES = 2000;
const SIZE = 4096;
const { values: opts } = parseArgs({
  options: {
    build: { type: 'string', multiple: true, default: [] },
    runs: { type: 'string', default: '7' },
    where: { type: 'string', default: 'tmpfs,disk' },
    clients: { type: 'string', default: '1' },
    rsync: { type: 'boolean', default: false },
    'disk-dir': { type: 'string', default: tmpdir() },
  },
});
const builds = opts.build.map((spec) => {
  const [label, dir] = spec.includes('=') ? spec.split('=') : [spec, spec];
  return { label, bin: join(resolve(dir), 'dist/cli/bin.js') };
});
if (builds.length === 0) throw new Error('give at least one --build LABEL=DIR');
const clients = Number(opts.clients);
const timeBin = which('time') ? '/usr/bin/time' : null;
if (!timeBin) throw new Error('GNU time (/usr/bin/time) is needed for the client CPU: apt-get install time');

/** CPU seconds of every thread of `pid` so far (schedstat: nanoseconds, where stat counts 10 ms ticks). */
const cpuOf = async (pid) => {
  let ns = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    ns += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0')).split(' ')[0]);
  }
  return ns / 1e9;
};
const landedFiles = async (dir) => (await readdir(dir)).filter((n) => !n.startsWith('.ftx-')).length;

async function clean(dest) {
  for (const name of await readdir(dest)) if (!name.startsWith('.ftx-')) await rm(join(dest, name), { recursive: true, force: true });
}

/** One client command under GNU time: wall and user + sys seconds. */
async function timedClient(argv) {
  const r = await runTimed(timeBin, ['-f', '@cpu %U %S', ...argv]);
  const m = /@cpu ([\d.]+) ([\d.]+)/.exec(r.stderr ?? '');
  if (r.code !== 0 || !m) throw new Error(`${argv.slice(0, 3).join(' ')} failed (${r.code}): ${r.stderr}`);
  return Number(m[1]) + Number(m[2]);
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'ftx-ab-'));
  const roots = { tmpfs: await mkdtemp('/dev/shm/ftx-ab-'), disk: await mkdtemp(join(opts['disk-dir'], 'ftx-ab-')) };
  process.on('exit', killAllSync);
  try {
    const src = join(work, 'tree');
    await mkdir(src);
    for (let i = 0; i < FILES; i++) await writeFile(join(src, `f${String(i).padStart(4, '0')}.bin`), randomBytes(SIZE));
    const load = [loadavg()[0]];
    const rows = [];
    for (const where of opts.where.split(',')) rows.push(...(await measureOn(where, roots[where], src, work)));
    load.push(loadavg()[0]);
    console.log(`2,000 x 4 KiB, ${clients} client(s) at once; medians of ${opts.runs} runs each (+1 warm-up), alternated; load ${load.map((l) => l.toFixed(2)).join(' -> ')}\n`);
    console.log('| case | wall s | client CPU s | server CPU s | walls |\n| --- | --- | --- | --- | --- |');
    for (const r of rows) {
      const cpu = (v) => (v.length ? median(v).toFixed(3) : '');
      console.log(`| ${r.label} | ${median(r.wall).toFixed(3)} | ${cpu(r.client)} | ${cpu(r.server)} | ${r.wall.map((x) => x.toFixed(2)).join(' ')} |`);
    }
  } finally {
    await stopAll();
    for (const dir of [work, ...Object.values(roots)]) await rm(dir, { recursive: true, force: true });
  }
}

/** Every build (and rsync) on one file system, alternated. */
async function measureOn(where, root, src, work) {
  const sides = [];
  for (const build of builds) {
    const dest = join(root, build.label);
    await mkdir(dest);
    useFtxBin(build.bin);
    const server = await startFtxServer(dest, ['--quiet'], { spawnChild: spawnTracked, timeoutMs: 15_000 });
    const put = [process.execPath, build.bin, 'put', src, `127.0.0.1:${server.port}`, '--force', '--retries', '0', '--no-progress'];
    sides.push({ label: `${where} ${build.label}`, dest, pid: server.child.pid, child: server.child, argvs: Array.from({ length: clients }, (_, k) => (clients === 1 ? put : [...put, '--dir', `c${k}`])) });
  }
  if (opts.rsync) {
    const dest = join(root, 'rsync');
    await mkdir(dest);
    const daemon = await startRsyncDaemon(which('rsync'), join(work, `rsyncd-${where}`), dest);
    const argv = (k) => ['rsync', '-a', '--whole-file', '--fsync', ...(clients === 1 ? [] : ['--mkpath']), `${src}/`, `${daemon.url}${clients === 1 ? '' : `c${k}/`}tree/`];
    sides.push({ label: `${where} rsync daemon --fsync`, dest, argvs: Array.from({ length: clients }, (_, k) => argv(k)), stop: daemon.stop });
  }
  for (const side of sides) Object.assign(side, { wall: [], client: [], server: [] });
  for (let round = 0; round <= Number(opts.runs); round++) {
    for (const side of round % 2 ? [...sides].reverse() : sides) {
      await clean(side.dest);
      if (where === 'disk') execFileSync('sync');
      const before = side.pid ? await cpuOf(side.pid) : 0;
      const started = performance.now();
      const cpus = await Promise.all(side.argvs.map((argv) => timedClient(argv)));
      const wall = (performance.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 100));
      const server = side.pid ? (await cpuOf(side.pid)) - before : undefined;
      for (let k = 0; k < clients; k++) {
        const n = await landedFiles(join(side.dest, ...(clients === 1 ? [] : [`c${k}`]), 'tree'));
        if (n !== FILES) throw new Error(`${side.label}: ${n} of ${FILES} files landed`);
      }
      if (round === 0) continue;
      side.wall.push(wall);
      side.client.push(cpus.reduce((a, b) => a + b, 0));
      if (server !== undefined) side.server.push(server);
    }
  }
  for (const side of sides) await (side.child ? stopChild(side.child) : side.stop?.());
  return sides.map(({ label, wall, client, server }) => ({ label, wall, client: label.includes('rsync') ? [] : client, server }));
}

await main();
