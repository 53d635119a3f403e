#!/usr/bin/env node
// `npm run demo`: a real transfer on loopback. Serves a temp dir with the built `ftx serve`,
// uploads fixtures/hello.txt and a freshly generated 512 MiB file with `ftx put` (progress bar
// on a terminal), checks the landed md5s, then stops the server and removes the temp dir.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/hello.txt', import.meta.url));
const sizeMiB = Number(process.env.FTX_DEMO_MIB ?? 512);

const md5 = (path) => new Promise((resolve, reject) => {
  const hash = createHash('md5');
  createReadStream(path, { highWaterMark: 1 << 20 }).on('data', (d) => hash.update(d)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
});

async function generate(path, mib) {
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) {
    if (!out.write(randomBytes(1 << 20))) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())));
}

function startServer(root) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'serve', root, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d) => {
      log += d;
      const match = /serving .* on [^\s]+:(\d+) /.exec(log);
      if (match) resolve({ child, port: Number(match[1]), log: () => log });
    });
    child.on('exit', (code) => reject(new Error(`ftx serve exited with ${code}: ${log}`)));
  });
}

const dir = await mkdtemp(join(tmpdir(), 'ftx-demo-'));
const root = join(dir, 'received');
const big = join(dir, `demo-${sizeMiB}MiB.bin`);
let server;
try {
  await import('node:fs/promises').then((fs) => fs.mkdir(root));
  process.stderr.write(`demo: generating ${sizeMiB} MiB of random data in ${dir}\n`);
  await generate(big, sizeMiB);
  server = await startServer(root);
  process.stderr.write(`demo: ftx serve ${root} is listening on 127.0.0.1:${server.port}\n`);
  process.stderr.write(`demo: ftx put ${fixture} ${big} 127.0.0.1:${server.port}\n`);
  const code = await new Promise((resolve) => {
    spawn(process.execPath, [bin, 'put', fixture, big, `127.0.0.1:${server.port}`], { stdio: 'inherit' }).on('exit', resolve);
  });
  if (code !== 0) throw new Error(`ftx put exited with ${code}`);
  for (const [source, name] of [[fixture, 'hello.txt'], [big, `demo-${sizeMiB}MiB.bin`]]) {
    const [a, b] = await Promise.all([md5(source), md5(join(root, name))]);
    if (a !== b) throw new Error(`md5 of the landed ${name} differs: ${b} != ${a}`);
  }
  process.stderr.write(`demo: server log:\n${server.log()}`);
  process.stderr.write('demo: OK, both files landed with matching md5s\n');
} catch (error) {
  process.stderr.write(`demo: FAILED: ${error.message}\n`);
  process.exitCode = 1;
} finally {
  server?.child.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}
