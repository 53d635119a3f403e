/**
 * Needs root: mounts a small tmpfs to make the disk fill up for real. Fails (never skips) when the
 * mount cannot be made, so a CI that lost its root rights shows red instead of silently passing.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FtxClient } from '../../src/client/client.js';
import { FtxError } from '../../src/errors.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { listPartialStates, listTree, makeTempDir } from '../helpers/server.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let mountPoint: string;
let server: RunningServer;

beforeAll(async () => {
  tmp = await makeTempDir('ftx-root-');
  mountPoint = join(tmp.dir, 'tmpfs');
  await mkdir(mountPoint);
  // Throws (and fails the suite) when not root or mount is unavailable.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  server = await startServer({ root: mountPoint, host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server?.close();
  if (mountPoint) execFileSync('umount', [mountPoint], { stdio: 'pipe' });
  await tmp?.cleanup();
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof FtxError ? error.code : String(error);
  }
  return 'resolved';
}

describe('a full disk (tmpfs of 16 MiB)', () => {
  it('refuses a file larger than the free space with 507 before any byte is sent', async () => {
    const source = join(tmp.dir, 'too-big.bin');
    await writeFile(source, randomBytes(20 * 1024 * 1024));
    const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port });
    let sent = 0;
    expect(await codeOf(client.put(source, { remoteName: 'too-big.bin', onProgress: (done) => (sent = done) }))).toBe('insufficient_storage');
    expect(sent).toBe(0);
    expect(await listTree(mountPoint)).toEqual([]);
    // The refusal came before the body: the same connection still works.
    const small = join(tmp.dir, 'small.bin');
    await writeFile(small, randomBytes(1000));
    await client.put(small, { remoteName: 'small.bin' });
    await client.close();
    expect(await listTree(mountPoint)).toEqual(['small.bin']);
    await rm(join(mountPoint, 'small.bin'));
  });

  it('answers 507 when the disk fills during the body; nothing half-written stays; server stays up', async () => {
    const source = join(tmp.dir, 'twelve.bin');
    await writeFile(source, randomBytes(12 * 1024 * 1024));
    const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port });
    let filled = false;
    const filler = join(mountPoint, 'filler');
    const outcome = codeOf(client.put(source, {
      remoteName: 'twelve.bin',
      onProgress: (done) => {
        // Once the server has said yes, someone else takes most of the space.
        if (!filled && done === 0) {
          filled = true;
          writeFileSync(filler, Buffer.alloc(10 * 1024 * 1024));
        }
      },
    }));
    expect(await outcome).toBe('insufficient_storage');
    client.destroy();
    const deadline = Date.now() + 3000;
    while ((await listTree(mountPoint)).some((n) => n !== 'filler') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await listTree(mountPoint)).toEqual(['filler']);
    // A refusal for lack of space discards the partial: it would only hold the space hostage.
    expect(await listPartialStates(mountPoint)).toEqual([]);
    await rm(filler);
    const small = join(tmp.dir, 'after.bin');
    await writeFile(small, randomBytes(1000));
    const again = await FtxClient.connect({ host: '127.0.0.1', port: server.port });
    await again.put(small, { remoteName: 'after.bin' });
    await again.close();
    expect(await listTree(mountPoint)).toEqual(['after.bin']);
  });
});
