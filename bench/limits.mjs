#!/usr/bin/env node
// What hostile or heavy load costs an `ftx serve` process (the README's "Limits" figures): resident
// memory with many idle connections, with connections each holding an unfinished 64 KiB frame, during
// concurrent tree uploads, and how fast wrong tokens can be tried. Loopback only, bounded in count
// and time; the server is a child process so that its RSS is its own.
//   npm run build && node bench/limits.mjs [--case idle,partial,trees,auth] [--connections 1000] [-- serve flags...]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FTX_BIN, startFtxServer } from './lib/harness.mjs';

const split = process.argv.indexOf('--');
const { values } = parseArgs({
  args: process.argv.slice(2, split < 0 ? undefined : split),
  options: { case: { type: 'string', default: 'idle,partial,preauth,trees,auth' }, connections: { type: 'string', default: '1000' } },
});
const serveFlags = split < 0 ? [] : process.argv.slice(split + 1);
const CONNECTIONS = Number(values.connections);
const TOKEN = 'bench-token-0123456789';
const mb = (kib) => `${(kib / 1024).toFixed(0)} MB`;

function rssKiB(pid, field = 'VmRSS') {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)/.exec(line)[1]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a socket and resolves with what the server sent first (a frame's JSON), or 'closed'. */
function openAndRead(port, onOpen) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    let answered = false;
    const answer = (value) => { if (!answered) { answered = true; resolve({ socket, first: value }); } };
    socket.on('connect', () => onOpen?.(socket));
    socket.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 4 && data.length >= 4 + data.readUInt32BE(0)) answer(JSON.parse(data.subarray(4, 4 + data.readUInt32BE(0)).toString()));
    });
    socket.on('error', () => answer('closed'));
    socket.on('close', () => answer('closed'));
  });
}

function frame(object) {
  const json = Buffer.from(JSON.stringify(object));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(json.length);
  return Buffer.concat([header, json]);
}

/** Opens `count` connections, each doing `onOpen`; returns the sockets and how many got a hello. */
async function openMany(port, count, onOpen) {
  const results = [];
  for (let i = 0; i < count; i += 100) {
    results.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => openAndRead(port, onOpen)))));
  }
  const hellos = results.filter((r) => r.first !== 'closed' && r.first.type === 'hello').length;
  const refusals = results.filter((r) => r.first !== 'closed' && r.first.type === 'reply').map((r) => `${r.first.status} ${r.first.code}`);
  return { sockets: results.map((r) => r.socket), hellos, refusals };
}

async function withServer(extra, fn, quiet = true) {
  const dir = await mkdtemp(join(tmpdir(), 'ftx-limits-'));
  const root = join(dir, 'root');
  await mkdir(root);
  const server = await startFtxServer(root, [...(quiet ? ['--quiet'] : []), ...serveFlags, ...extra]);
  try {
    await sleep(300);
    return await fn(server, dir);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function report(name, before, after, peak, extra) {
  console.log(`| ${name} | ${mb(before)} | ${mb(after)} | ${mb(peak)} | ${extra} |`);
}

const cases = {
  async idle() {
    await withServer([], async (server) => {
      const before = rssKiB(server.child.pid);
      const { sockets, hellos, refusals } = await openMany(server.port, CONNECTIONS);
      await sleep(500);
      report(`${CONNECTIONS} idle connections`, before, rssKiB(server.child.pid), rssKiB(server.child.pid, 'VmHWM'), `${hellos} got a hello, ${refusals.length} refused${refusals[0] ? ` (${refusals[0]})` : ''}`);
      for (const s of sockets) s.destroy();
    });
  },
  async partial() {
    await withServer([], async (server) => {
      const before = rssKiB(server.child.pid);
      // The first frame announces 65536 bytes and sends all but the last one.
      const unfinished = Buffer.concat([Buffer.from([0, 1, 0, 0]), randomBytes(65535)]);
      const { sockets, hellos, refusals } = await openMany(server.port, CONNECTIONS, (socket) => socket.write(unfinished));
      await sleep(1000);
      report(`${CONNECTIONS} connections, each 64 KiB into an unfinished frame`, before, rssKiB(server.child.pid), rssKiB(server.child.pid, 'VmHWM'), `${hellos} got a hello, ${refusals.length} refused${refusals[0] ? ` (${refusals[0]})` : ''}`);
      for (const s of sockets) s.destroy();
    });
  },
  async preauth() {
    // Wrong tokens from 16 addresses, each followed by 1 MiB: hellos past an address's burst wait for the throttle.
    await withServer(['--token', TOKEN, '--host', '127.0.0.1'], async (server) => {
      const before = rssKiB(server.child.pid);
      const junk = randomBytes(1024 * 1024);
      const results = await Promise.all(Array.from({ length: 256 }, (_, i) => new Promise((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: server.port, localAddress: `127.0.0.${1 + (i % 16)}` });
        socket.on('error', () => undefined);
        socket.once('data', () => { socket.write(frame({ action: 'hello', protocol: 1, client: 'guess', hmac: '0'.repeat(64) })); socket.write(junk); resolve(socket); });
      })));
      await sleep(1500);
      report('256 wrong hellos from 16 addresses, each followed by 1 MiB', before, rssKiB(server.child.pid), rssKiB(server.child.pid, 'VmHWM'), '');
      for (const s of results) s.destroy();
    });
  },
  async trees() {
    await withServer([], async (server, dir) => {
      const trees = Number(process.env.TREES ?? 5);
      for (let t = 0; t < trees; t++) {
        const tree = join(dir, `src${t}`, 'tree');
        await mkdir(tree, { recursive: true });
        for (let i = 0; i < 160; i++) await writeFile(join(tree, `f${i}.bin`), randomBytes(512 * 1024));
      }
      const before = rssKiB(server.child.pid);
      let peak = before;
      const poll = setInterval(() => { peak = Math.max(peak, rssKiB(server.child.pid)); }, 20);
      const started = performance.now();
      const codes = await Promise.all(Array.from({ length: trees }, (_, t) => new Promise((resolve) => {
        const child = spawn(process.execPath, [FTX_BIN, 'put', 'tree', `127.0.0.1:${server.port}`, '--dir', `t${t}`, '-q'], { cwd: join(dir, `src${t}`), stdio: 'ignore' });
        child.on('exit', resolve);
      })));
      clearInterval(poll);
      const seconds = (performance.now() - started) / 1000;
      report(`${trees} concurrent tree(s) (160 x 512 KiB each)`, before, rssKiB(server.child.pid), peak, `exit codes ${codes.join(',')}, ${((trees * 80) / seconds).toFixed(0)} MiB/s together`);
    });
  },
  async auth() {
    await withServer(['--token', TOKEN, '--host', '127.0.0.1'], async (server) => {
      const seconds = 3;
      const until = performance.now() + seconds * 1000;
      let tries = 0;
      let slowest = 0;
      const statuses = new Map();
      const worker = async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          const { socket, first } = await openAndRead(server.port);
          if (first === 'closed') { statuses.set('closed', (statuses.get('closed') ?? 0) + 1); continue; }
          const reply = await new Promise((resolve) => {
            let data = Buffer.alloc(0);
            socket.removeAllListeners('data');
            socket.on('data', (d) => {
              data = Buffer.concat([data, d]);
              if (data.length >= 4 && data.length >= 4 + data.readUInt32BE(0)) resolve(JSON.parse(data.subarray(4, 4 + data.readUInt32BE(0)).toString()));
            });
            socket.on('close', () => resolve({ status: 'closed' }));
            socket.write(frame({ action: 'hello', protocol: 1, client: 'guess', hmac: randomBytes(32).toString('hex') }));
          });
          socket.destroy();
          tries++;
          slowest = Math.max(slowest, performance.now() - t0);
          statuses.set(String(reply.status), (statuses.get(String(reply.status)) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const lines = server.log().split('\n').filter((l) => /auth|FAILED|hello/.test(l)).length;
      console.log(`| wrong tokens, 8 parallel guessers, ${seconds} s | ${(tries / seconds).toFixed(0)} guesses/s | answers ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(', ')} | slowest answer ${(slowest / 1000).toFixed(1)} s | ${lines} log lines |`);
    }, false);
  },
};

console.log('| case | server RSS before | after | peak | notes |');
console.log('| --- | --- | --- | --- | --- |');
for (const name of values.case.split(',')) await cases[name]();
