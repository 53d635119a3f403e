#!/usr/bin/env node
// `npm run bench:read`: the way back (issue 13). get of 1 GiB vs put of it and vs an rsync daemon
// download (md5 checksums), get of 2,000 x 4 KiB vs rsync, ls -r of 100,000 files (time and the
// server's peak RSS), verify of 1 GiB vs md5sum. Medians of --runs (default 3), runs alternated,
// data generated in a temp dir (removed at the end). Markdown tables on stdout, progress on stderr.
//   node bench/read-side.mjs [--runs 3] [--tmp-dir DIR] [--case big,small,ls]   (big = get/put/rsync and verify of 1 GiB)
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FTX_BIN, median, run, startFtxServer, writeRandomFile } from './lib/harness.mjs';
import { readVmHwmKiB, which } from './lib/procs.mjs';
import { startRsyncDaemon } from './lib/tools.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'tmp-dir': { type: 'string' }, case: { type: 'string', default: 'big,small,ls' } } });
const CASES = new Set(values.case.split(','));
const RUNS = Math.max(1, Number(values.runs));
const GIB_MIB = 1024;
const log = (line) => process.stderr.write(`bench: ${line}\n`);
const ftx = (...args) => run(process.execPath, [FTX_BIN, ...args], { env: { ...process.env, FTX_TOKEN: '' } });

async function timed(label, fn) {
  const result = await fn();
  if (result.code !== 0) throw new Error(`${label} failed (${result.code}): ${result.stderr.slice(-400)}`);
  return result.seconds;
}

function table(title, rows, bytes) {
  console.log(`\n### ${title}\n\n| tool | median s | runs | MB/s | vs first |\n| --- | --- | --- | --- | --- |`);
  const base = median(rows[0].seconds);
  for (const row of rows) {
    const m = median(row.seconds);
    const rate = bytes ? (bytes / 1e6 / m).toFixed(1) : '-';
    console.log(`| ${row.tool} | ${m.toFixed(3)} | ${row.seconds.map((s) => s.toFixed(3)).join(', ')} | ${rate} | ${(m / base).toFixed(2)}x |`);
  }
}

const work = await mkdtemp(join(values['tmp-dir'] ?? tmpdir(), 'ftx-bench-read-'));
const stops = [];
try {
  const root = join(work, 'root');
  const src = join(work, 'src');
  await mkdir(root);
  await mkdir(src);
  const server = await startFtxServer(root, ['--quiet', '--verify-rate', '100000']);
  stops.push(() => server.stop());
  const host = `127.0.0.1:${server.port}`;
  const rsync = which('rsync');
  const daemon = rsync ? await startRsyncDaemon(rsync, join(work, 'rsyncd'), root) : undefined;
  if (daemon) stops.push(() => daemon.stop());
  else log('rsync not found: rsync rows skipped');

  if (CASES.has('big')) {
  log('1 GiB file');
  await writeRandomFile(join(src, 'big.bin'), GIB_MIB);
  const big = { put: [], get: [], rsync: [] };
  for (let i = 0; i < RUNS; i++) {
    await rm(join(root, 'big.bin'), { force: true });
    big.put.push(await timed('put', () => ftx('put', join(src, 'big.bin'), host, '--quiet')));
    const out = join(work, `out-${i}`);
    await mkdir(out);
    big.get.push(await timed('get', () => ftx('get', host, 'big.bin', out, '--quiet')));
    await rm(out, { recursive: true, force: true });
    if (daemon) {
      await mkdir(out);
      big.rsync.push(await timed('rsync', () => run(rsync, ['-a', '--checksum-choice=md5', `${daemon.url}big.bin`, `${out}/`])));
      await rm(out, { recursive: true, force: true });
    }
  }
  table('get 1 GiB vs put, vs rsync daemon download', [
    { tool: 'ftx get', seconds: big.get }, { tool: 'ftx put', seconds: big.put },
    ...(daemon ? [{ tool: 'rsync daemon (md5)', seconds: big.rsync }] : []),
  ], GIB_MIB * 2 ** 20);

  log('verify 1 GiB');
  const ver = { remote: [], local: [], md5sum: [] };
  for (let i = 0; i < RUNS; i++) {
    ver.remote.push(await timed('verify', () => ftx('verify', host, 'big.bin', '--quiet')));
    ver.local.push(await timed('verify local', () => ftx('verify', root, 'big.bin', '--quiet')));
    ver.md5sum.push(await timed('md5sum', () => run('md5sum', [join(root, 'big.bin')])));
  }
  table('verify 1 GiB (server --verify-rate unlimited for the measure) vs md5sum', [
    { tool: 'ftx verify host', seconds: ver.remote }, { tool: 'ftx verify DIR (local)', seconds: ver.local }, { tool: 'md5sum', seconds: ver.md5sum },
  ], GIB_MIB * 2 ** 20);
  await rm(join(root, 'big.bin'), { force: true });
  await rm(join(src, 'big.bin'), { force: true });
  }

  if (CASES.has('small')) {
  log('2,000 x 4 KiB');
  const tree = join(src, 'small');
  await mkdir(tree);
  for (let i = 0; i < 2000; i++) await writeFile(join(tree, `f${i}.bin`), Buffer.alloc(4096, i % 251));
  if ((await ftx('put', tree, host, '--quiet')).code !== 0) throw new Error('put of the small tree failed');
  const small = { get: [], rsync: [], rsyncFsync: [] };
  for (let i = 0; i < RUNS; i++) {
    const out = join(work, `small-out-${i}`);
    await mkdir(out);
    small.get.push(await timed('get small', () => ftx('get', host, 'small', out, '--quiet')));
    await rm(out, { recursive: true, force: true });
    if (daemon) {
      await mkdir(out);
      small.rsync.push(await timed('rsync small', () => run(rsync, ['-a', '--checksum-choice=md5', `${daemon.url}small`, `${out}/`])));
      await rm(out, { recursive: true, force: true });
      // At ftx's durability: every received file fsynced before it is renamed into place.
      await mkdir(out);
      small.rsyncFsync.push(await timed('rsync small --fsync', () => run(rsync, ['-a', '--fsync', '--checksum-choice=md5', `${daemon.url}small`, `${out}/`])));
      await rm(out, { recursive: true, force: true });
    }
  }
  table('get 2,000 x 4 KiB vs rsync daemon download', [{ tool: 'ftx get', seconds: small.get }, ...(daemon ? [{ tool: 'rsync daemon (md5)', seconds: small.rsync }, { tool: 'rsync daemon (md5, --fsync)', seconds: small.rsyncFsync }] : [])], 2000 * 4096);
  }

  if (CASES.has('ls')) {
  log('100,000 files');
  // A fresh server of its own, so that its peak RSS is the listing's, not the 1 GiB cases'.
  const root2 = join(work, 'root2');
  await mkdir(root2);
  const lister = await startFtxServer(root2, ['--quiet']);
  stops.push(() => lister.stop());
  const host2 = `127.0.0.1:${lister.port}`;
  const many = join(root2, 'many');
  for (let d = 0; d < 100; d++) {
    await mkdir(join(many, `d${d}`), { recursive: true });
    await Promise.all(Array.from({ length: 1000 }, (_, f) => writeFile(join(many, `d${d}`, `file-${f}.dat`), '')));
  }
  const before = readVmHwmKiB(lister.child.pid);
  const ls = [];
  for (let i = 0; i < RUNS; i++) {
    const result = await ftx('ls', host2, 'many', '-r');
    if (result.code !== 0) throw new Error(`ls failed: ${result.stderr}`);
    const lines = result.stdout.trim().split('\n').length;
    if (lines !== 100_100) throw new Error(`ls listed ${lines} entries, expected 100,100`);
    ls.push(result.seconds);
  }
  const after = readVmHwmKiB(lister.child.pid);
  table('ls -r of 100,000 files (100 directories)', [{ tool: 'ftx ls -r', seconds: ls }]);
  console.log(`\nserver peak RSS (VmHWM): ${(before / 1024).toFixed(1)} MiB before the listings (a fresh server), ${(after / 1024).toFixed(1)} MiB after ${RUNS} listings of 100,100 entries`);
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
