#!/usr/bin/env node
// Resume figures: a 1 GiB upload cut at ~90%, then continued three ways, against a full upload.
//   npm run build && node bench/resume.mjs [--mib 1024] [--dir /path/on/disk]
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FTX_BIN, median, run, startCutProxy, startFtxServer, writeRandomFile } from './lib/harness.mjs';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, dir: { type: 'string' }, runs: { type: 'string', default: '3' } } });
const mib = Number(values.mib);
const size = mib * 1024 * 1024;
const base = await mkdtemp(join(values.dir ?? tmpdir(), 'ftx-bench-resume-'));
const source = join(base, 'source.bin');
const root = join(base, 'root');
await mkdir(root);

const put = (port, extra = []) => run(process.execPath, [FTX_BIN, 'put', source, `127.0.0.1:${port}`, '--force', ...extra]);
const sentBytes = (stdout) => { const m = /resumed at (\d+) B/.exec(stdout); return size - (m ? Number(m[1]) : 0); };
const clean = () => rm(join(root, 'source.bin'), { force: true });

try {
  console.error(`bench/resume: ${mib} MiB source in ${base}`);
  await writeRandomFile(source, mib);
  let server = await startFtxServer(root);
  const full = [];
  for (let i = 0; i < Number(values.runs); i++) {
    await clean();
    const r = await put(server.port);
    if (r.code !== 0) throw new Error(r.stderr);
    full.push(r.seconds);
  }
  const fullMedian = median(full);
  const cutAt = Math.floor(size * 0.9);
  const rows = [];

  async function interrupted() {
    await clean();
    const proxy = await startCutProxy(server.port, cutAt);
    const r = await put(proxy.port, ['--retries', '0']);
    await proxy.close();
    if (r.code !== 7) throw new Error(`expected exit 7 after the cut, got ${r.code}: ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }

  // 1. In-process retry: the client keeps md5 snapshots, the server its in-memory state.
  await clean();
  {
    const proxy = await startCutProxy(server.port, cutAt);
    const r = await put(proxy.port, ['--retries', '3', '--retry-wait', '0.1']);
    await proxy.close();
    if (r.code !== 0) throw new Error(r.stderr);
    const seconds = Number(/in ([\d.]+) s/.exec(r.stdout)[1]);
    rows.push(['automatic retry (same process)', sentBytes(r.stdout), seconds]);
  }
  // 2. A new `ftx put` run: the client re-hashes its prefix; the live server uses its snapshot.
  await interrupted();
  {
    const r = await put(server.port);
    if (r.code !== 0) throw new Error(r.stderr);
    rows.push(['new ftx put run, server alive', sentBytes(r.stdout), r.seconds]);
  }
  // 3. Server killed (SIGKILL) and restarted: both sides re-hash the prefix from disk.
  await interrupted();
  await server.stop('SIGKILL');
  server = await startFtxServer(root);
  {
    const r = await put(server.port);
    if (r.code !== 0) throw new Error(r.stderr);
    rows.push(['new run after server SIGKILL + restart', sentBytes(r.stdout), r.seconds]);
  }
  await server.stop();

  console.log(`\nfull upload of ${mib} MiB: median ${fullMedian.toFixed(2)} s (runs: ${full.map((s) => s.toFixed(2)).join(', ')})`);
  console.log(`cut after ${cutAt} client bytes (~90%)\n`);
  console.log('| resumed attempt | body bytes sent after the cut | time | fraction of a full upload |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, bytes, seconds] of rows) {
    console.log(`| ${name} | ${bytes} (${((bytes / size) * 100).toFixed(1)}%) | ${seconds.toFixed(2)} s | ${(seconds / fullMedian).toFixed(2)} |`);
  }
} finally {
  await rm(base, { recursive: true, force: true });
}
