// Process helpers for bench/run.mjs: every child is tracked so that it can be killed at the end,
// on failure and on SIGINT; every wait has a deadline.
import { spawn } from 'node:child_process';
import { accessSync, constants, closeSync, openSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** Children that have not exited yet. */
const live = new Set();

/**
 * Spawns a child in its own process group (detached), so that killing the group also kills what a
 * `sh -c 'a | b'` pipeline started. Detached children do not get the terminal's Ctrl-C: run.mjs
 * catches SIGINT and kills them itself (killAllSync).
 * `stdinFile` / `stdoutFile` redirect from / to a file without a shell.
 */
export function spawnTracked(file, args, { stdinFile, stdoutFile, ...options } = {}) {
  const fds = [];
  const stdin = stdinFile ? fds[fds.push(openSync(stdinFile, 'r')) - 1] : 'ignore';
  const stdout = stdoutFile ? fds[fds.push(openSync(stdoutFile, 'w')) - 1] : 'pipe';
  let child;
  try {
    child = spawn(file, args, { stdio: [stdin, stdout, 'pipe'], detached: true, ...options });
  } finally {
    for (const fd of fds) closeSync(fd); // the child has its own copies now
  }
  live.add(child);
  child.on('exit', () => live.delete(child));
  child.on('error', () => live.delete(child));
  return child;
}

/** Sends `signal` to the child's process group (and the child itself, in case it left the group). */
export function killTree(child, signal = 'SIGTERM') {
  for (const pid of [-child.pid, child.pid]) {
    try { process.kill(pid, signal); } catch { /* already gone */ }
  }
}

/** Synchronous last resort (SIGINT handler, process 'exit'): SIGKILL every child still running. */
export function killAllSync() {
  for (const child of live) killTree(child, 'SIGKILL');
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => killTree(child, 'SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    killTree(child, 'SIGTERM');
  });
}

/** Stops every child still running (normal end of the bench). */
export async function stopAll() {
  await Promise.all([...live].map((child) => stopChild(child)));
}

/** Keeps the last `max` characters of a stream (2,000 receipts must not grow without bound). */
function collect(stream, max = 64 * 1024) {
  let text = '';
  stream?.on('data', (d) => { text = (text + d).slice(-max); });
  return () => text;
}

/** Peak RSS (VmHWM) of a live process in KiB, or null when /proc does not have it. */
export function readVmHwmKiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Runs a command to completion, bounded by `timeoutMs` (then its group is killed).
 * Resolves with {code, signal, seconds, stdout, stderr, timedOut, rssKiB}.
 * `rss`: 'time' wraps the command in GNU time (`/usr/bin/time -f %M -o file`, exact peak RSS);
 * 'poll' samples /proc/PID/status VmHWM every 20 ms (the last sample before exit; used when GNU
 * time is missing). The wrapper costs about a millisecond.
 * `onSpawn(child, {viaWrapper})` may return a function called right after the exit, whose result
 * comes back as `sampled` (bench/lib/threads.mjs samples per-thread CPU this way).
 */
export async function runTimed(file, args, { timeoutMs = 300_000, rss, timeBin, rssFile, onSpawn, ...options } = {}) {
  if (rss === 'time') [file, args] = [timeBin, ['-f', '%M', '-o', rssFile, file, ...args]];
  const started = performance.now();
  const child = spawnTracked(file, args, options);
  const onExit = onSpawn?.(child, { viaWrapper: rss === 'time' });
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  let timedOut = false;
  let polledKiB = null;
  const timer = setTimeout(() => { timedOut = true; killTree(child, 'SIGKILL'); }, timeoutMs);
  const poller = rss === 'poll' ? setInterval(() => { polledKiB = readVmHwmKiB(child.pid) ?? polledKiB; }, 20) : null;
  const { code, signal } = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  }).finally(() => { clearTimeout(timer); if (poller) clearInterval(poller); });
  const seconds = (performance.now() - started) / 1000;
  const sampled = onExit?.();
  let rssKiB = polledKiB;
  if (rss === 'time') {
    // GNU time writes "Command exited with non-zero status N" first when the command fails.
    const lines = (await readFile(rssFile, 'utf8').catch(() => '')).trim().split('\n');
    rssKiB = Number(lines.at(-1)) || null;
    await rm(rssFile, { force: true });
  }
  return { code, signal, seconds, stdout: stdout(), stderr: stderr(), timedOut, rssKiB, sampled };
}

/** Waits for a child's exit, at most `timeoutMs` (then kills it). Resolves with its exit code. */
export function waitExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => killTree(child, 'SIGKILL'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether something listens on 127.0.0.1:port (or the any address), read from /proc/net/tcp.
 * Connecting to find out is not an option: socat without `fork` serves exactly one connection.
 */
function isListening(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let table = '';
  try { table = readFileSync('/proc/net/tcp', 'utf8'); } catch { return false; }
  return table.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[3] === '0A' && (fields[1] === `0100007F:${hexPort}` || fields[1] === `00000000:${hexPort}`);
  });
}

/** Resolves once `port` is listening; rejects when `child` exits first or after `timeoutMs`. */
export async function waitListening(port, child, timeoutMs = 10_000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (isListening(port)) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`not listening on port ${port} after ${timeoutMs / 1000} s`);
}

/**
 * Starts a long-running server and waits until it listens on `port`.
 * Resolves with {child, log(), stop()}; on failure rejects with the reason and its stderr.
 */
export async function startDaemon(file, args, port, { timeoutMs = 10_000, ...options } = {}) {
  const child = spawnTracked(file, args, options);
  const log = collect(child.stderr);
  collect(child.stdout);
  const spawnError = new Promise((_, reject) => child.once('error', reject));
  try {
    await Promise.race([waitListening(port, child, timeoutMs), spawnError]);
  } catch (error) {
    await stopChild(child);
    const lastLines = log().trim().split('\n').slice(-3).join(' / ');
    throw new Error(`${error.message}${lastLines ? `: ${lastLines}` : ''}`);
  }
  return { child, log, stop: () => stopChild(child) };
}

/** Absolute path of an executable on PATH (plus the sbin dirs, where sshd lives), or null. */
export function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch { /* next */ }
  }
  return null;
}

/** Single-quotes a string for sh. */
export function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** One sh command line from argv arrays joined by `|` (e.g. tar | socat). */
export function pipeline(...commands) {
  return commands.map((argv) => argv.map(shellQuote).join(' ')).join(' | ');
}
