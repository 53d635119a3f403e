// Shared bench helpers: spawn the built ftx, time commands, medians, random files, a cutting proxy.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The ftx CLI under test: the checkout's dist/ unless a bench switched to a snapshot (useFtxBin). */
export let FTX_BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

/** Points FTX_BIN (a live binding in every importer) and startFtxServer at another copy of bin.js. */
export function useFtxBin(path) {
  FTX_BIN = path;
}

/** Writes `mib` MiB of random data to `path`. */
export async function writeRandomFile(path, mib) {
  const out = createWriteStream(path);
  const block = randomBytes(1 << 20);
  for (let i = 0; i < mib; i++) {
    block.writeUInt32LE(i, 0); // distinct blocks, cheap
    if (!out.write(Buffer.from(block))) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())));
}

/** Runs a command; resolves with {code, stdout, stderr, seconds}. */
export function run(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

/**
 * Starts `ftx serve root --port 0 ...`; resolves with {child, port, stop()} once it printed its
 * "serving ... on host:port" line (printed even with --quiet).
 * Options: `wrap` is an argv prefix that execs the server (e.g. `taskset -c 1`); `spawnChild` replaces child_process.spawn (bench/run.mjs passes one that tracks the child
 * so it is killed on failure); `timeoutMs` > 0 rejects (and kills it) when the line does not come.
 */
export function startFtxServer(root, extra = [], { spawnChild = spawn, timeoutMs = 0, wrap = [] } = {}) {
  return new Promise((resolve, reject) => {
    const argv = [...wrap, process.execPath, FTX_BIN, 'serve', root, '--port', '0', ...extra];
    const child = spawnChild(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = timeoutMs > 0 ? setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`ftx serve did not start within ${timeoutMs} ms: ${log}`)); }, timeoutMs) : null;
    child.stderr.on('data', (d) => {
      log += d;
      const m = /serving .* on [^\s]+:(\d+) /.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), log: () => log, stop: (signal = 'SIGTERM') => new Promise((r) => { child.once('exit', r); child.kill(signal); }) });
      }
    });
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ftx serve exited ${code}: ${log}`)); });
  });
}

/** A proxy that cuts its first connection after `cutAfter` client bytes. */
export async function startCutProxy(targetPort, cutAfter) {
  let first = true;
  const sockets = new Set();
  const server = createServer((client) => {
    const cutting = first;
    first = false;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) { sockets.add(s); s.on('error', () => {}); s.on('close', () => sockets.delete(s)); }
    let sent = 0;
    client.on('data', (d) => {
      if (cutting && sent + d.length >= cutAfter) {
        upstream.write(d.subarray(0, cutAfter - sent));
        sent = cutAfter;
        client.destroy();
        upstream.end();
        return;
      }
      sent += d.length;
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); } };
}

/** Median of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
