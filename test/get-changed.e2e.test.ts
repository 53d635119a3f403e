/**
 * A file that changes on the server while a `get` reads it (docs/PROTOCOL.md §6.11 trailer): the
 * server's read is held at a known offset (a gate around the real disk storage, so no socket buffer
 * decides how far it read), the file is edited on disk, the read goes on. The client gets `409
 * changed` (exit 5) and nothing lands locally, not even a partial; bytes that are still the landed
 * ones (an append to a recorded file) are delivered as verified; the same edit with the mtime put
 * back is bit rot (422, exit 6).
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, open, readdir, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { FtxClient, FtxError } from '../src/index.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { DiskStorage } from '../src/server/storage/disk/disk-storage.js';
import type { Storage } from '../src/server/storage/storage.js';
import { runFtx } from './helpers/cli.js';
import { makeTempDir, md5 } from './helpers/server.js';
import { TEST_OVER_TLS, testServerAuth } from './helpers/transport-mode.js';

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
/** Where the server's read of a file is held (an fs read stream reads at most 64 KiB ahead of it). */
const HOLD_AT = 1 * MiB;

/** Holds the first read of each file at HOLD_AT until the test lets it go. */
class Gate {
  private arrived = new Map<string, (release: () => void) => void>();

  /** Resolves when the read of `name` is held; call what it resolves with to let it go on. */
  held(name: string): Promise<() => void> {
    return new Promise((resolve) => this.arrived.set(name, resolve));
  }

  /** `inner` passed on, paused once HOLD_AT bytes went by, when a test waits for `name`. */
  wrap(name: string, inner: Readable): Readable {
    const found = this.arrived.get(name);
    if (!found) return inner;
    const announce: (release: () => void) => void = found;
    this.arrived.delete(name);
    let passed = 0;
    let held = false;
    async function* gated(): AsyncGenerator<Buffer> {
      for await (const chunk of inner as AsyncIterable<Buffer>) {
        if (!held && passed + chunk.length > HOLD_AT) {
          held = true;
          const split = HOLD_AT - passed;
          yield chunk.subarray(0, split);
          await new Promise<void>((resolve) => announce(resolve));
          yield chunk.subarray(split);
        } else {
          yield chunk;
        }
        passed += chunk.length;
      }
    }
    return Readable.from(gated(), { objectMode: false });
  }
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let root: string;
let server: RunningServer;
let host: string;
const gate = new Gate();

/** A server over the disk storage of `dir`, its reads going through `gate`. */
async function startGatedServer(dir: string, extra: { heartbeatMs?: number } = {}): Promise<RunningServer> {
  const disk = await DiskStorage.open(dir);
  const storage = new Proxy(disk, {
    get(target, property) {
      if (property === 'read') {
        return async (name: string, range?: Parameters<Storage['read']>[1]) => {
          const stream = await target.read(name, range);
          return stream && (range?.start ?? 0) === 0 ? gate.wrap(name, stream) : stream;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return startServer({ storage, host: '127.0.0.1', port: 0, ...testServerAuth(), ...extra });
}

beforeAll(async () => {
  tmp = await makeTempDir('ftx-changed-');
  root = join(tmp.dir, 'root');
  await mkdir(root);
  server = await startGatedServer(root);
  host = `127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.close();
  await tmp?.cleanup();
});

/** Lands `name` through ftx (its md5 recorded) or places it by hand (unrecorded); returns its bytes. */
async function place(name: string, recorded: boolean): Promise<Buffer> {
  const data = randomBytes(SIZE);
  if (!recorded) {
    await writeFile(join(root, name), data);
    return data;
  }
  await mkdir(join(tmp.dir, 'src'), { recursive: true });
  const src = join(tmp.dir, 'src', name);
  await writeFile(src, data);
  const put = await runFtx(['put', src, host]);
  expect(put.code, put.stderr).toBe(0);
  return data;
}

/** Gets `name` while `edit` changes it on the server, the read held at HOLD_AT; returns the run and the local dir. */
async function getWhileEdited(name: string, edit: (path: string) => Promise<void>): Promise<{ code: number | null; stderr: string; dest: string }> {
  const dest = join(tmp.dir, `dest-${name}`);
  await mkdir(dest);
  const held = gate.held(name);
  const run = runFtx(['get', host, name, `${dest}/`]);
  const release = await held;
  await edit(join(root, name));
  release();
  const result = await run;
  return { code: result.code, stderr: result.stderr, dest };
}

/** Rewrites the last 2 MiB (beyond where the read is held) with other bytes, same size. */
async function rewriteTail(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  await handle.write(randomBytes(2 * MiB), 0, 2 * MiB, SIZE - 2 * MiB);
  await handle.close();
}

describe('the transport of this file\'s server', () => {
  it('is the mode\'s: in the tls project a client without the token is refused (tls_required), in plain it gets in', async () => {
    const outcome = await FtxClient.connect({ host: '127.0.0.1', port: server.port }).then(
      async (client) => {
        await client.close();
        return 'connected';
      },
      (error: unknown) => (error instanceof FtxError ? error.code : String(error)));
    expect(outcome).toBe(TEST_OVER_TLS ? 'tls_required' : 'connected');
  });
});

describe('get of a file that changes on the server while it is sent', () => {
  it('rewritten in place (mtime moves): 409 changed, exit 5, nothing lands, no partial kept', async () => {
    await place('rewritten.bin', true);
    const { code, stderr, dest } = await getWhileEdited('rewritten.bin', async (path) => {
      const before = await stat(path);
      await rewriteTail(path);
      await utimes(path, before.atime, new Date(before.mtimeMs + 5000));
    });
    expect(code, stderr).toBe(EXIT.REJECTED);
    expect(stderr).toMatch(/rewritten\.bin: .*changed/);
    expect(stderr.trim().split('\n').filter((line) => !/ fetched, .* failed/.test(line))).toHaveLength(1);
    expect(await readdir(dest)).toEqual([]);
  });

  it('truncated: 409 changed, exit 5, nothing lands', async () => {
    await place('truncated.bin', true);
    const { code, stderr, dest } = await getWhileEdited('truncated.bin', (path) => truncate(path, 2 * MiB));
    expect(code, stderr).toBe(EXIT.REJECTED);
    expect(stderr).toMatch(/truncated\.bin: .*changed/);
    expect(await readdir(dest)).toEqual([]);
  });

  it('placed by hand (no recorded md5) and grown: 409 changed, exit 5, nothing lands', async () => {
    await place('by-hand.bin', false);
    const { code, stderr, dest } = await getWhileEdited('by-hand.bin', (path) => appendFile(path, 'more'));
    expect(code, stderr).toBe(EXIT.REJECTED);
    expect(stderr).toMatch(/by-hand\.bin: .*changed/);
    expect(await readdir(dest)).toEqual([]);
  });

  it('a recorded file appended to: the bytes read are the landed ones, delivered verified (exit 0)', async () => {
    const data = await place('appended.bin', true);
    const { code, stderr, dest } = await getWhileEdited('appended.bin', (path) => appendFile(path, 'more'));
    expect(code, stderr).toBe(EXIT.OK);
    expect(md5(await readFile(join(dest, 'appended.bin')))).toBe(md5(data));
  });

  it('the same rewrite with the mtime put back is bit rot, not a change: 422, exit 6, nothing lands', async () => {
    await place('rotted.bin', true);
    const { code, stderr, dest } = await getWhileEdited('rotted.bin', async (path) => {
      const before = await stat(path);
      await rewriteTail(path);
      await utimes(path, before.atime, before.mtime);
    });
    expect(code, stderr).toBe(EXIT.VERIFICATION);
    expect(stderr).toMatch(/rotted\.bin: .*corrupt/);
    expect(await readdir(dest)).toEqual([]);
  });
});

describe('the server\'s heartbeat inside a download body', () => {
  it('keeps a client alive while the server\'s read stalls mid-body for many heartbeat intervals', async () => {
    const dir = join(tmp.dir, 'beating');
    await mkdir(dir);
    // 400 ms heartbeats: the client takes 1.2 s without a byte from the server for a dead one
    // (PROTOCOL.md §10.1); the read stalls for 3 s.
    const beating = await startGatedServer(dir, { heartbeatMs: 400 });
    try {
      const data = randomBytes(SIZE);
      await writeFile(join(dir, 'stalled.bin'), data);
      const dest = join(tmp.dir, 'dest-stalled');
      await mkdir(dest);
      const held = gate.held('stalled.bin');
      const run = runFtx(['get', '--retries', '0', `127.0.0.1:${beating.port}`, 'stalled.bin', `${dest}/`]);
      const release = await held;
      // Inside the body the server can only speak heartbeat data frames (FF FF FF FF).
      await new Promise((resolve) => setTimeout(resolve, 3000));
      release();
      const result = await run;
      expect(result.code, result.stderr).toBe(EXIT.OK);
      expect(md5(await readFile(join(dest, 'stalled.bin')))).toBe(md5(data));
    } finally {
      await beating.close();
    }
  });
});
