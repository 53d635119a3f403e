#!/usr/bin/env node
// `npm run bench:s3` (also run by `npm run bench --case s3`): ftx serving an S3 bucket (the local Ceph
// RGW of scripts/s3-local.sh) against `rclone copy` and the AWS SDK's own PutObject to the same RGW,
// alternated in one run: 1 GiB, 2,000 x 4 KiB, server peak RSS, bytes re-sent after a kill -9 of the
// server at ~50%, 8 concurrent uploads through one server vs split across two. Markdown on stdout.
//   node bench/s3.mjs [--runs 2] [--case big,small,resume,two]
// The store: FTX_S3_DIR / FTX_S3_PORT / FTX_S3_MON_PORT choose the instance; started (and stopped
// again) if it does not run. rclone: `apt-get install rclone` (the case is reported as missing otherwise).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FTX_BIN, median, startFtxServer, writeRandomFile } from './lib/harness.mjs';
import { readVmHwmKiB } from './lib/procs.mjs';

const SCRIPT = fileURLToPath(new URL('../scripts/s3-local.sh', import.meta.url));
const MIB = 1 << 20;
const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '2' }, case: { type: 'string', multiple: true } } });
const RUNS = Number(opts.runs);
const CASES = (opts.case ?? ['big,small,resume,two']).flatMap((c) => c.split(','));
const log = (...a) => console.error('[bench:s3]', ...a);

// ------------------------------------------------------------------ the store and a bucket
const wasUp = spawnSync('bash', [SCRIPT, 'status'], { stdio: 'ignore' }).status === 0;
if (!wasUp) execFileSync('bash', [SCRIPT, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
for (const line of execFileSync('bash', [SCRIPT, 'env'], { encoding: 'utf8' }).split('\n')) {
  const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m) process.env[m[1]] = m[2];
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { S3Client, CreateBucketCommand, DeleteBucketCommand, HeadObjectCommand, PutObjectCommand, ListObjectsV2Command, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
const s3 = new S3Client({ forcePathStyle: true, region: process.env.AWS_REGION });
const BUCKET = `ftx-bench-${randomBytes(4).toString('hex')}`;
await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
const tmp = await mkdtemp(join(tmpdir(), 'ftx-s3-bench-'));
const cleanup = async () => {
  await emptyPrefix('');
  await s3.send(new DeleteBucketCommand({ Bucket: BUCKET })).catch(() => undefined);
  await rm(tmp, { recursive: true, force: true });
  if (!wasUp) spawnSync('bash', [SCRIPT, 'stop'], { stdio: 'ignore' });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function emptyPrefix(prefix) {
  let token;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    await Promise.all((page.Contents ?? []).map((o) => s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key }))));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

const md5File = (path) => new Promise((resolve, reject) => {
  const h = createHash('md5');
  createReadStream(path).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
});

function timed(file, args, env = {}, { cleanAws = false } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    // rclone reads AWS_* itself (and fails on some of them): it gets only its own config.
    const base = cleanAws ? Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))) : process.env;
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...base, ...env } });
    let err = '';
    child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

const rcloneEnv = {
  RCLONE_CONFIG_BENCH_TYPE: 's3', RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph', RCLONE_CONFIG_BENCH_ENDPOINT: process.env.FTX_S3_ENDPOINT,
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
  RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
};
const hasRclone = spawnSync('rclone', ['version'], { stdio: 'ignore' }).status === 0;

/** Uploads files with the SDK's PutObject (streamed, ContentLength), `concurrency` at a time. */
async function sdkPut(files, prefix, concurrency) {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < files.length) {
      const f = files[next++];
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}${f.name}`, Body: createReadStream(f.path), ContentLength: f.size }));
    }
  }));
  return (performance.now() - t0) / 1000;
}

async function ftxServer(prefix, extra = []) {
  return startFtxServer(`s3://${BUCKET}/${prefix}`, ['--quiet', ...extra], { timeoutMs: 20_000 });
}

async function storedMd5(key) {
  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  return head.Metadata?.['ftx-md5'];
}

const rows = [];
const row = (...cells) => rows.push(`| ${cells.join(' | ')} |`);
const mbps = (bytes, s) => (bytes / MIB / s).toFixed(1);

// ------------------------------------------------------------------ cases
async function bigCase() {
  const file = join(tmp, 'big.bin');
  await writeRandomFile(file, 1024);
  const sum = await md5File(file);
  const times = { ftx: [], rclone: [], sdk: [] };
  const rss = [];
  for (let run = 0; run < RUNS; run++) {
    log(`1 GiB run ${run + 1}/${RUNS}`);
    const server = await ftxServer(`ftx-${run}`);
    times.ftx.push(await timed(process.execPath, [FTX_BIN, 'put', file, `127.0.0.1:${server.port}`, '--no-progress']));
    rss.push(readVmHwmKiB(server.child.pid));
    await server.stop();
    if ((await storedMd5(`ftx-${run}/big.bin`)) !== sum) throw new Error('ftx stored a wrong md5');
    await emptyPrefix(`ftx-${run}/`);
    if (hasRclone) {
      times.rclone.push(await timed('rclone', ['copy', file, `bench:${BUCKET}/rclone-${run}/`], rcloneEnv, { cleanAws: true }));
      await emptyPrefix(`rclone-${run}/`);
    }
    times.sdk.push(await sdkPut([{ name: 'big.bin', path: file, size: 1024 * MIB }], `sdk-${run}/`, 1));
    await emptyPrefix(`sdk-${run}/`);
  }
  await rm(file);
  rows.push('', '### 1 GiB into the bucket', '', '| tool | median s | MiB/s | runs (s) | ratio vs ftx |', '| --- | --- | --- | --- | --- |');
  const f = median(times.ftx);
  for (const [tool, t] of Object.entries(times)) {
    if (t.length === 0) { row(tool, 'not installed', '', '', ''); continue; }
    row(tool === 'ftx' ? 'ftx put (md5 verified end to end)' : tool === 'sdk' ? 'SDK PutObject (one stream)' : 'rclone copy (defaults)', median(t).toFixed(2), mbps(1024 * MIB, median(t)), t.map((x) => x.toFixed(2)).join(', '), tool === 'ftx' ? '1.00' : (median(t) / f).toFixed(2));
  }
  rows.push('', `ftx server peak RSS (VmHWM) during the 1 GiB put: ${rss.map((k) => `${(k / 1024).toFixed(0)} MiB`).join(', ')}`);
}

async function smallCase() {
  const dir = join(tmp, 'small');
  await mkdir(dir);
  const files = [];
  for (let i = 0; i < 2000; i++) {
    const name = `f${String(i).padStart(4, '0')}.bin`;
    await writeFile(join(dir, name), randomBytes(4096));
    files.push({ name: `small/${name}`, path: join(dir, name), size: 4096 });
  }
  const times = { ftx: [], rclone: [], sdk: [] };
  const rss = [];
  for (let run = 0; run < RUNS; run++) {
    log(`2000 x 4 KiB run ${run + 1}/${RUNS}`);
    const server = await ftxServer(`ftx-s${run}`);
    times.ftx.push(await timed(process.execPath, [FTX_BIN, 'put', dir, `127.0.0.1:${server.port}`, '--no-progress']));
    rss.push(readVmHwmKiB(server.child.pid));
    await server.stop();
    await emptyPrefix(`ftx-s${run}/`);
    if (hasRclone) {
      times.rclone.push(await timed('rclone', ['copy', dir, `bench:${BUCKET}/rclone-s${run}/small/`], rcloneEnv, { cleanAws: true }));
      await emptyPrefix(`rclone-s${run}/`);
    }
    times.sdk.push(await sdkPut(files, `sdk-s${run}/`, 8));
    await emptyPrefix(`sdk-s${run}/`);
  }
  rows.push('', '### 2,000 x 4 KiB', '', '| tool | median s | files/s | runs (s) | ratio vs ftx |', '| --- | --- | --- | --- | --- |');
  const f = median(times.ftx);
  for (const [tool, t] of Object.entries(times)) {
    if (t.length === 0) { row(tool, 'not installed', '', '', ''); continue; }
    row(tool === 'ftx' ? 'ftx put DIR' : tool === 'sdk' ? 'SDK PutObject, 8 at a time' : 'rclone copy (defaults: 4 transfers)', median(t).toFixed(2), (2000 / median(t)).toFixed(0), t.map((x) => x.toFixed(2)).join(', '), tool === 'ftx' ? '1.00' : (median(t) / f).toFixed(2));
  }
  rows.push('', `ftx server peak RSS: ${rss.map((k) => `${(k / 1024).toFixed(0)} MiB`).join(', ')}`);
}

/** A TCP proxy that counts client bytes (in all, and per connection), connection i to targets()[i % n]. */
async function countingProxy(targets) {
  let forwarded = 0;
  let count = 0;
  const perConnection = [];
  const server = createServer((client) => {
    const list = targets();
    const index = count++;
    perConnection[index] = 0;
    const upstream = connect({ host: '127.0.0.1', port: list[index % list.length] });
    for (const s of [client, upstream]) s.on('error', () => { client.destroy(); upstream.destroy(); });
    client.on('data', (d) => { forwarded += d.length; perConnection[index] += d.length; if (!upstream.write(d)) client.pause(); });
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);
    client.on('end', () => upstream.end());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, forwarded: () => forwarded, forwardedFrom: (i) => perConnection.slice(i).reduce((a, b) => a + b, 0), close: () => new Promise((r) => { server.close(r); server.closeAllConnections?.(); }) };
}

async function resumeCase() {
  const file = join(tmp, 'resume.bin');
  await writeRandomFile(file, 1024);
  const sum = await md5File(file);
  log('resume after kill -9 at ~50%');
  let server = await ftxServer('resume');
  const port = server.port;
  const proxy = await countingProxy(() => [port]);
  const put = timed(process.execPath, [FTX_BIN, 'put', file, `127.0.0.1:${proxy.port}`, '--no-progress', '--retry-wait', '0.5']);
  while (proxy.forwarded() < 512 * MIB) await new Promise((r) => setTimeout(r, 10));
  await server.stop('SIGKILL');
  const atKill = proxy.forwarded();
  server = await ftxServer('resume', ['--port', String(port)]);
  const seconds = await put;
  const resent = proxy.forwarded() - 1024 * MIB;
  // What the retry connections carried: the file from the durable offset on, plus control frames
  // (test/s3/serve.e2e's measure). Re-sent = all the client sent beyond 1 GiB, in flight when the server died included.
  const afterKill = proxy.forwardedFrom(1);
  await server.stop();
  const ok = (await storedMd5('resume/resume.bin')) === sum;
  await emptyPrefix('resume/');
  await proxy.close();
  await rm(file);
  rows.push('', '### Resume after kill -9 of the server at ~50% of 1 GiB', '',
    `killed after ${(atKill / MIB).toFixed(0)} MiB sent; a new server on the same port; the client retried and resumed: `
    + `**${(resent / MIB).toFixed(1)} MiB re-sent** (${(proxy.forwarded() / MIB).toFixed(0)} MiB in all; the retry connections carried ${(afterKill / MIB).toFixed(1)} MiB, `
    + `so the resume started at ~${((1024 * MIB - afterKill) / MIB).toFixed(0)} MiB), ${seconds.toFixed(1)} s overall (includes the 5 s take-over wait for the dead server's lease), md5 ${ok ? 'verified' : 'WRONG'}`);
}

async function twoCase() {
  const files = [];
  for (let i = 0; i < 8; i++) {
    const path = join(tmp, `c${i}.bin`);
    await writeRandomFile(path, 128);
    files.push({ path, sum: await md5File(path) });
  }
  const times = { one: [], two: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const mode of ['one', 'two']) {
      log(`8 x 128 MiB, ${mode} server(s), run ${run + 1}/${RUNS}`);
      const prefix = `c-${mode}-${run}`;
      const servers = mode === 'one' ? [await ftxServer(prefix)] : [await ftxServer(prefix), await ftxServer(prefix)];
      const proxy = await countingProxy(() => servers.map((s) => s.port));
      const t0 = performance.now();
      await Promise.all(files.map((f) => timed(process.execPath, [FTX_BIN, 'put', f.path, `127.0.0.1:${proxy.port}`, '--no-progress'])));
      times[mode].push((performance.now() - t0) / 1000);
      await Promise.all(servers.map((s) => s.stop()));
      await proxy.close();
      for (const [i, f] of files.entries()) if ((await storedMd5(`${prefix}/c${i}.bin`)) !== f.sum) throw new Error(`wrong md5 for c${i}`);
      await emptyPrefix(`${prefix}/`);
    }
  }
  rows.push('', '### 8 concurrent uploads of 128 MiB (1 GiB), all md5-checked in the bucket afterwards', '', '| servers | median s | MiB/s | runs (s) |', '| --- | --- | --- | --- |');
  for (const [mode, t] of Object.entries(times)) row(mode === 'one' ? '1 server' : '2 servers, connections alternating', median(t).toFixed(2), mbps(1024 * MIB, median(t)), t.map((x) => x.toFixed(2)).join(', '));
}

try {
  const rgw = execFileSync('radosgw', ['--version'], { encoding: 'utf8' }).trim().split('\n')[0];
  console.log(`## ftx on S3 (${rgw}; ${hasRclone ? execFileSync('rclone', ['version'], { encoding: 'utf8' }).split('\n')[0] : 'rclone missing'}; ${RUNS} runs each, alternated)`);
  if (CASES.includes('big')) await bigCase();
  if (CASES.includes('small')) await smallCase();
  if (CASES.includes('resume')) await resumeCase();
  if (CASES.includes('two')) await twoCase();
  console.log(rows.join('\n'));
} finally {
  await cleanup();
}
