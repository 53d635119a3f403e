import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { runFtx, spawnFtx, spawnServe } from './helpers/cli.js';
import { startStallProxy } from './helpers/stall-proxy.js';
import { listPartialStates, makeTempDir, PARTIALS_DIR } from './helpers/server.js';

async function writeRandom(path: string, mib: number): Promise<string> {
  const hash = createHash('md5');
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) {
    const block = randomBytes(1 << 20);
    hash.update(block);
    if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return hash.digest('hex');
}

async function durableOffset(root: string): Promise<number> {
  const [name] = await listPartialStates(root);
  if (!name) return 0;
  try {
    return (JSON.parse(await readFile(join(root, PARTIALS_DIR, name), 'utf8')) as { durable: number }).durable;
  } catch {
    return 0;
  }
}

describe('a server killed with SIGKILL in the middle of a large upload', () => {
  it('restarts on the same directory and the same put resumes from a non-zero offset', async () => {
    const tmp = await makeTempDir('ftx-crash-');
    const root = join(tmp.dir, 'root');
    await mkdir(root);
    try {
      const source = join(tmp.dir, 'big.bin');
      const sourceMd5 = await writeRandom(source, 160);
      const first = await spawnServe([root, '--port', '0']);
      // The first put goes through a proxy that stops after 100 MiB: past the first checkpoint
      // (64 MiB), short of the end, however fast or slow the machine (no race with the kill).
      const proxy = await startStallProxy(first.port, 100 * 1024 * 1024);
      try {
        const client = spawnFtx(['put', source, `127.0.0.1:${proxy.port}`, '--retries', '0']);
        const clientExit = new Promise<number | null>((resolve) => client.on('exit', resolve));
        // Kill once a checkpoint (fsync + state) has recorded some durable bytes.
        while ((await durableOffset(root)) === 0 && client.exitCode === null) await new Promise((r) => setTimeout(r, 20));
        expect(await durableOffset(root)).toBeGreaterThan(0);
        expect(await first.stop('SIGKILL')).toBeNull();
        expect(await clientExit).toBe(EXIT.CONNECTION_LOST);
      } finally {
        await proxy.close();
      }

      const second = await spawnServe([root, '--port', '0']);
      try {
        const again = await runFtx(['put', source, `127.0.0.1:${second.port}`]);
        expect(again.code, again.stderr).toBe(EXIT.OK);
        const resumedAt = Number(/resumed at (\d+) B/.exec(again.stdout)?.[1]);
        expect(resumedAt).toBeGreaterThan(0);
        expect(second.log()).toMatch(new RegExp(`resumed@${resumedAt} ok md5=${sourceMd5}`));
        const landed = createHash('md5').update(await readFile(join(root, 'big.bin'))).digest('hex');
        expect(landed).toBe(sourceMd5);
        expect(await listPartialStates(root)).toEqual([]);
      } finally {
        await second.stop();
      }
    } finally {
      await tmp.cleanup();
    }
  });
});
