// A/B of the stdin case between builds: the same 1 GiB sent as `ftx put FILE` and as
// `cat FILE | ftx put - --name`, to an `ftx serve` of each build on tmpfs, alternated run by run
// (order reversed every other round, one warm-up round not counted). Beside them, once a round, the
// floor of a pipe on this machine: `md5sum FILE` against `cat FILE | md5sum`.
// Reports median wall time and CPU seconds: the client's and cat's from GNU time (user + sys), the
// server's from /proc/PID/task/*/schedstat before and after the run, by thread (event loop, ftx-md5
// threads, the rest), with the load.
//
//   node bench/ab-stdin.mjs --build old=/tmp/ftx-old --build new=. [--runs 5] [--mib 1024] [--src FILE]
// A build is a directory with a built dist/ (and node_modules): see ab-small.mjs.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median, startFtxServer, useFtxBin, writeRandomFile } from './lib/harness.mjs';
import { killAllSync, runTimed, spawnTracked, stopAll, stopChild, which } from './lib/procs.mjs';

const { values: opts } = parseArgs({
  options: {
    build: { type: 'string', multiple: true, default: [] },
    runs: { type: 'string', default: '5' },
    mib: { type: 'string', default: '1024' },
    src: { type: 'string' },
    kinds: { type: 'string', default: 'file,stdin' },
  },
});
const builds = opts.build.map((spec) => {
  const [label, dir] = spec.includes('=') ? spec.split('=') : [spec, spec];
  return { label, bin: join(resolve(dir), 'dist/cli/bin.js') };
});
if (builds.length === 0) throw new Error('give at least one --build LABEL=DIR');
const timeBin = which('time') ? '/usr/bin/time' : null;
if (!timeBin) throw new Error('GNU time (/usr/bin/time) is needed for the CPU figures: apt-get install time');
const kinds = opts.kinds.split(',');

/** CPU seconds of the threads of `pid` so far, by kind (schedstat: nanoseconds). */
async function threadCpu(pid) {
  const out = { loop: 0, md5: 0, other: 0 };
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const ns = Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0')).split(' ')[0]);
    const name = (await readFile(`/proc/${pid}/task/${tid}/comm`, 'utf8').catch(() => '')).trim();
    out[Number(tid) === pid ? 'loop' : name.startsWith('ftx-md5') ? 'md5' : 'other'] += ns / 1e9;
  }
  return out;
}
const minus = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] - b[k]]));

/** user + sys seconds from a GNU time output file. */
async function cpuFrom(file) {
  const m = /@cpu ([\d.]+) ([\d.]+)/.exec(await readFile(file, 'utf8'));
  if (!m) throw new Error(`no CPU figures in ${file}`);
  return Number(m[1]) + Number(m[2]);
}

/** Runs `script` under sh; resolves with its wall seconds. */
async function sh(script) {
  const started = performance.now();
  const r = await runTimed('sh', ['-c', script]);
  if (r.code !== 0) throw new Error(`${script} failed (${r.code}): ${r.stderr}`);
  return (performance.now() - started) / 1000;
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'ftx-ab-stdin-'));
  const root = await mkdtemp('/dev/shm/ftx-ab-stdin-');
  process.on('exit', killAllSync);
  try {
    const src = opts.src ?? join(work, 'src.bin');
    if (!opts.src) await writeRandomFile(src, Number(opts.mib));
    const bytes = (await stat(src)).size;
    const sides = [];
    for (const build of builds) {
      const dest = join(root, build.label);
      execFileSync('mkdir', ['-p', dest]);
      useFtxBin(build.bin);
      const server = await startFtxServer(dest, ['--quiet'], { spawnChild: spawnTracked, timeoutMs: 15_000 });
      const put = `${process.execPath} ${build.bin}`;
      const to = `127.0.0.1:${server.port}`;
      const tc = `${timeBin} -f '@cpu %U %S' -o ${work}/client`;
      const tcat = `${timeBin} -f '@cpu %U %S' -o ${work}/cat`;
      const scripts = {
        file: `${tc} ${put} put ${src} ${to} --no-progress --retries 0`,
        stdin: `${tcat} cat ${src} | ${tc} ${put} put - ${to} --name src.bin --no-progress --retries 0`,
        redirect: `${tc} ${put} put - ${to} --name src.bin --no-progress --retries 0 < ${src}`,
      };
      for (const kind of kinds) sides.push({ label: `${build.label} ${kind}`, kind, dest, pid: server.child.pid, child: server.child, script: scripts[kind], runs: [] });
    }
    const floor = { file: [], pipe: [], cat: [], fileWall: [], pipeWall: [] };
    const load = [loadavg()[0]];
    for (let round = 0; round <= Number(opts.runs); round++) {
      for (const side of round % 2 ? [...sides].reverse() : sides) {
        await rm(join(side.dest, 'src.bin'), { force: true });
        const before = await threadCpu(side.pid);
        const wall = await sh(side.script);
        await new Promise((r) => setTimeout(r, 100));
        const server = minus(await threadCpu(side.pid), before);
        if ((await stat(join(side.dest, 'src.bin'))).size !== bytes) throw new Error(`${side.label}: wrong size landed`);
        if (round === 0) continue;
        side.runs.push({ wall, client: await cpuFrom(`${work}/client`), cat: side.kind === 'stdin' ? await cpuFrom(`${work}/cat`) : 0, server });
      }
      if (round === 0) continue;
      floor.fileWall.push(await sh(`${timeBin} -f '@cpu %U %S' -o ${work}/client md5sum ${src} > /dev/null`));
      floor.file.push(await cpuFrom(`${work}/client`));
      floor.pipeWall.push(await sh(`${timeBin} -f '@cpu %U %S' -o ${work}/cat cat ${src} | ${timeBin} -f '@cpu %U %S' -o ${work}/client md5sum > /dev/null`));
      floor.pipe.push(await cpuFrom(`${work}/client`));
      floor.cat.push(await cpuFrom(`${work}/cat`));
    }
    load.push(loadavg()[0]);
    const f = (v) => median(v).toFixed(3);
    console.log(`${bytes / 2 ** 20} MiB to tmpfs; medians of ${opts.runs} runs each (+1 warm-up), alternated; load ${load.map((l) => l.toFixed(2)).join(' -> ')}\n`);
    console.log('| case | wall s | client CPU s | cat CPU s | server loop s | server md5 s | server other s | walls |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const s of sides) {
      const col = (get) => f(s.runs.map(get));
      console.log(`| ${s.label} | ${col((r) => r.wall)} | ${col((r) => r.client)} | ${col((r) => r.cat)} | ${col((r) => r.server.loop)} | ${col((r) => r.server.md5)} | ${col((r) => r.server.other)} | ${s.runs.map((r) => r.wall.toFixed(2)).join(' ')} |`);
    }
    console.log(`\nFloor: md5sum FILE ${f(floor.fileWall)} s wall, ${f(floor.file)} s CPU; cat FILE | md5sum ${f(floor.pipeWall)} s wall (${(median(floor.pipeWall) / median(floor.fileWall)).toFixed(2)}x), CPU md5sum ${f(floor.pipe)} + cat ${f(floor.cat)} s`);
    for (const build of builds) {
      const [file, stdin] = ['file', 'stdin'].map((kind) => sides.find((s) => s.label === `${build.label} ${kind}`));
      if (file && stdin) console.log(`${build.label}: stdin / file wall ${(median(stdin.runs.map((r) => r.wall)) / median(file.runs.map((r) => r.wall))).toFixed(2)}x`);
    }
    for (const side of sides) if (side.child.exitCode === null) await stopChild(side.child);
  } finally {
    await stopAll();
    for (const dir of [work, root]) await rm(dir, { recursive: true, force: true });
  }
}

await main();
